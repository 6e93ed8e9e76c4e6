"""FHIR Bundles as scrubber rows: one row per Bundle (a .fhir.json Bundle, a JSON array
of Bundles, a Bundle of Bundles, or NDJSON with a Bundle per line).

Rows are numbered as in JSON Lines: in NDJSON row N is line N of the file, blank lines
counted (and skipped), and a line that is not valid JSON is that one row not coded. In a
JSON document (one Bundle, an array or a Bundle of Bundles) row N is its Nth Bundle.
A row not coded carries the claim id of its Bundle's Claim when it gives one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dexacode.formats.batch_io import BatchInputError, RawRow
from dexacode.formats.fhir.claim import not_a_claim
from dexacode.formats.fhir.read import (
    CLAIM_ID_SYSTEM,
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


def _claim_id(bundle: Any) -> str | None:
    """The claim id the Bundle's Claim gives (``urn:dexacode:claim-id``), for the errors
    file; read before anything is judged, so a row refused for any reason names it. A
    Claim entered in error or cancelled is not the Bundle's claim, nor is one about
    another Patient than the Bundle's; when that cannot be told, no id is given rather
    than another claim's."""
    if not isinstance(bundle, dict):
        return None
    resources = [
        (entry, entry["resource"])
        for entry in bundle.get("entry") or []
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
    ]
    patients = {
        ref
        for entry, res in resources
        if res.get("resourceType") == "Patient"
        for ref in (f"Patient/{res.get('id')}", entry.get("fullUrl"))
        if isinstance(ref, str)
    }
    claims: list[tuple[str | None, str]] = []  # (the patient it names, its claim id)
    for _, res in resources:
        if res.get("resourceType") != "Claim" or not_a_claim(res) is not None:
            continue
        patient = res.get("patient")
        ref = patient.get("reference") if isinstance(patient, dict) else None
        for ident in res.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("system") == CLAIM_ID_SYSTEM:
                value = ident.get("value")
                if isinstance(value, str) and value.strip():
                    claims.append((ref if isinstance(ref, str) else None, value.strip()))
                    break
    if len(claims) > 1:
        claims = [(ref, cid) for ref, cid in claims if ref is None or ref in patients]
    return claims[0][1] if len(claims) == 1 else None


def _row(number: int, bundle: Any, where: str) -> RawRow:
    claim_id = _claim_id(bundle)
    try:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise FhirInputError(f"{where}: not a FHIR Bundle")
        entries = list(entries_of(bundle, where))  # with fullUrls, for references
        for n, entry in enumerate(entries, 1):
            validate_resource(entry.resource, f"{where} entry {n}")
        imported = to_encounter(entries)
    except FhirInputError as exc:
        problem = str(exc) if str(exc).startswith(where) else f"{where}: {exc}"
        return RawRow(number, problem=problem, claim_id=claim_id)
    if imported.unread:
        return RawRow(
            number,
            problem=f"{where}: a DXA result could not be read, and the reading would change "
            f"without it: {'; '.join(imported.unread)}. Correct the Observation (a numeric "
            "value with its UCUM unit) and scrub again",
            claim_id=claim_id,
        )
    if imported.missing:
        lacking = ", ".join(m.field for m in imported.missing)
        return RawRow(
            number,
            problem=f"{where}: the FHIR input lacks {lacking}; add them with "
            "`dexacode fhir-import --overlay` (on the command line) and scrub the encounter it "
            "writes",
            claim_id=claim_id,
        )
    return RawRow(number, text=json.dumps(imported.encounter))


def _is_ndjson(path: Path) -> bool:
    """Whether the file is NDJSON (a JSON value on each line) rather than one JSON
    document: its first non-blank line is a whole JSON value on its own, and the file as a
    whole is not one (a one-line file is one document)."""
    with path.open("rb") as fh:
        first = b""
        for line in fh:
            if line.strip():
                first = line
                break
        rest = fh.read(1).strip() or any(line.strip() for line in fh)
    if not rest:
        return False
    try:
        json.loads(first.lstrip(b"\xef\xbb\xbf"))
    except ValueError:
        return False
    return True


def _ndjson_rows(path: Path) -> Iterator[tuple[RawRow, int]]:
    """Each line its own row, numbered by its line: a line that is not JSON is a problem
    of that row alone, as in JSON Lines."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
            if not line.strip():
                yield RawRow(number, blank=True), len(raw)
                continue
            try:
                data = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as exc:
                problem = f"line {number}: not UTF-8 text (byte {exc.start + 1} of the line)"
                yield RawRow(number, problem=problem), len(raw)
                continue
            except json.JSONDecodeError as exc:
                problem = f"line {number}: not valid JSON ({exc.msg})"
                yield RawRow(number, problem=problem), len(raw)
                continue
            yield _row(number, data, f"line {number}"), len(raw)


def read_fhir_rows(path: Path) -> Iterator[tuple[RawRow, int]]:
    """Each Bundle of the file as a RawRow: the encounter as JSON text, or a problem
    naming the line or bundle and what it lacks."""
    if not path.exists():
        raise BatchInputError(f"{path}: no such file")
    if _is_ndjson(path):
        yield from _ndjson_rows(path)
        return
    try:
        bundles = _bundles(load_json(path))
    except FhirInputError as exc:
        raise BatchInputError(str(exc)) from None
    if not bundles:
        raise BatchInputError(f"{path.name}: no FHIR Bundle in the file")
    size = path.stat().st_size
    base, extra = divmod(size, len(bundles))
    for number, bundle in enumerate(bundles, 1):
        row = _row(number, bundle, f"bundle {number}")
        yield row, base + (1 if number <= extra else 0)
