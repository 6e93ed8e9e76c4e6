"""Quoting a user's value back in a message, only when it cannot identify a patient.

Error messages name the field; they repeat the value itself only when it is shaped like a
code (``'medicare_plus'``, ``'77099'``, ``'Z13.82'``, ``'XU'``), with no year and no long
run of digits (a member or record number) in it. A surname, a date in any form, an SSN,
anything else (``'Jane Doe 1956-05-14'`` typed in the payer field) is described, never
repeated: an errors file is passed around a billing office.
"""

from __future__ import annotations

import re

# The shapes a value of dexacode's own vocabularies and code sets takes, and nothing
# else: a lower-case vocabulary word (`lumbar_spine`, `screen`), a CPT code (`77099`), an
# ICD-10-CM or HCPCS code (`Z13.82`, `G0130`: a capital, then digits and capitals) or a
# two-character modifier (`XU`). A name has none of these shapes unless typed all in
# lower case with an underscore.
_CODE_SHAPED = re.compile(
    r"^(?:[a-z][a-z0-9_]{0,31}|\d{5}|[A-Z](?=[A-Z0-9.]*\d)[A-Z0-9.]{1,7}|[A-Z0-9]{2})$"
)
# Shapes that identify someone even inside a code-like word: a year, six digits or more.
_IDENTIFYING = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)|\d{6,}")

NOT_REPEATED = "a value not repeated here (it may identify a patient)"


def quoted(value: object) -> str:
    """``repr(value)`` for a code-shaped string, number or boolean; else a description
    that does not repeat it."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        text = repr(value)  # a birth year typed into a number field is not repeated
        return text if len(text) <= 12 and not _IDENTIFYING.search(text) else NOT_REPEATED
    if isinstance(value, str) and _CODE_SHAPED.match(value) and not _IDENTIFYING.search(value):
        return repr(value)
    return NOT_REPEATED
