"""Quoting a user's value back in a message, only when it cannot identify a patient.

Error messages name the field; they repeat the value itself only when it is shaped like a
code (``'medicare_plus'``, ``'77099'``, ``'Z13.82'``): one short word with no spaces, no
date, no long run of digits (a member or record number), no SSN shape, and not a
capitalised word like a surname (``'Smith'``). Anything else
(``'Jane Doe 1956-05-14'`` typed in the payer field) is described, never repeated: an
errors file is passed around a billing office.
"""

from __future__ import annotations

import re

# A code-like word: what dexacode's vocabularies and code sets are made of.
_CODE_SHAPED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+\-]{0,23}$")
# Shapes inside a code-like word that still identify someone: a date in any order and
# with any separator, six digits or more in a row (member and record numbers), an SSN, and
# a capitalised word (a surname: dexacode's own words are lower case, codes upper case).
_IDENTIFYING = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{6,}"
    r"|\d{3}-\d{2}-\d{4}|^[A-Z][a-z]+$"
)

NOT_REPEATED = "a value not repeated here (it may identify a patient)"


def quoted(value: object) -> str:
    """``repr(value)`` for a code-shaped string, number or boolean; else a description
    that does not repeat it."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value) if len(repr(value)) <= 12 else NOT_REPEATED
    if isinstance(value, str) and _CODE_SHAPED.match(value) and not _IDENTIFYING.search(value):
        return repr(value)
    return NOT_REPEATED
