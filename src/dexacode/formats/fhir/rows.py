"""FHIR Bundles as scrubber rows: one row per Bundle (a .fhir.json Bundle, a JSON array
of Bundles, a Bundle of Bundles, or NDJSON with a Bundle per line)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dexacode.formats.batch_io import BatchInputError, RawRow
from dexacode.formats.fhir.read import (
    FhirInputError,
    entries_of,
    load_json,
    to_encounter,
    validate_resource,
)


def _bundles(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        inner = [e.get("resource") for e in data.get("entry") or [] if isinstance(e, dict)]
        if inner and all(isinstance(r, dict) and r.get("resourceType") == "Bundle" for r in inner):
            return inner
    return [data]


def _row(number: int, bundle: Any) -> RawRow:
    where = f"bundle {number}"
    try:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise FhirInputError(f"{where}: not a FHIR Bundle")
        entries = list(entries_of(bundle, where))  # with fullUrls, for references
        for entry in entries:
            validate_resource(entry.resource, where)
        imported = to_encounter(entries)
    except FhirInputError as exc:
        return RawRow(number, problem=str(exc))
    if imported.missing:
        lacking = ", ".join(m.field for m in imported.missing)
        return RawRow(
            number,
            problem=f"{where}: the FHIR input lacks {lacking}; add them with "
            "`dexacode fhir-import --overlay` and scrub the encounter it writes",
        )
    return RawRow(number, text=json.dumps(imported.encounter))


def read_fhir_rows(path: Path) -> Iterator[tuple[RawRow, int]]:
    """Each Bundle of the file as a RawRow: the encounter as JSON text, or a problem
    naming the bundle and what it lacks; the row is the bundle's ordinal in the file."""
    if not path.exists():
        raise BatchInputError(f"{path}: no such file")
    try:
        bundles = _bundles(load_json(path))
    except FhirInputError as exc:
        raise BatchInputError(str(exc)) from None
    if not bundles:
        raise BatchInputError(f"{path.name}: no FHIR Bundle in the file")
    size = path.stat().st_size
    base, extra = divmod(size, len(bundles))
    for number, bundle in enumerate(bundles, 1):
        yield _row(number, bundle), base + (1 if number <= extra else 0)
