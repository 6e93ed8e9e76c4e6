"""pyx12, the HIPAA X12 validator, called through its Python API.

Its ``x12valid`` command always exits 1 (its entry point turns ``main()``'s True into an
exit status), so the API's return value and the 999 it writes are what count.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from dexacode.formats.x12.pyx12_import import import_pyx12


@dataclass(frozen=True)
class Validation:
    ok: bool
    ack_999: str
    errors: list[dict[str, Any]]

    @property
    def accepted(self) -> bool:
        """The 999 accepts every transaction set (IK5*A and AK9*A)."""
        return self.ok and "AK9*A" in self.ack_999 and "IK5*R" not in self.ack_999


def validate_837(text: str) -> Validation:
    pyx12 = import_pyx12()
    param = pyx12.params.params()
    fd_999, fd_json = io.StringIO(), io.StringIO()
    ok = pyx12.x12n_document.x12n_document(
        param=param,
        src_file=io.StringIO(text),
        fd_997=fd_999,
        fd_html=None,
        fd_xmldoc=None,
        fd_json=fd_json,
    )
    errors: list[dict[str, Any]] = []
    raw = fd_json.getvalue().strip()
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = []
        errors = parsed if isinstance(parsed, list) else [parsed]
    return Validation(ok=bool(ok), ack_999=fd_999.getvalue(), errors=errors)
