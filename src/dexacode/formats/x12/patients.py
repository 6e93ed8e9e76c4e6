"""Subscriber names, member ids and addresses: a CSV the user supplies.

The encounter contract carries no name or address (dexacode does not need them to code),
but a payer needs them on the claim. Columns: ``patient_id,member_id,last_name,
first_name,address,city,state,zip``. Without the file the 837 carries the patient id as
member id and name and is marked as a test interchange.
"""

from __future__ import annotations

import csv
from pathlib import Path

from dexacode.formats.x12.model import Person

COLUMNS = ("patient_id", "member_id", "last_name", "first_name", "address", "city", "state", "zip")


class PatientFileError(ValueError):
    """The patients file cannot be used; the message names the line (never its data)."""


def load_patients(path: Path) -> dict[str, Person]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PatientFileError(f"{path}: no such patients file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PatientFileError(f"{path}: cannot be read ({type(exc).__name__})") from None
    reader = csv.DictReader(text.splitlines())
    missing = [
        c for c in ("patient_id", "member_id", "last_name") if c not in (reader.fieldnames or [])
    ]
    if missing:
        raise PatientFileError(
            f"{path.name}: no {missing[0]} column (columns: {', '.join(COLUMNS)})"
        )
    people: dict[str, Person] = {}
    for number, record in enumerate(reader, 2):
        pid = (record.get("patient_id") or "").strip()
        member = (record.get("member_id") or "").strip()
        last = (record.get("last_name") or "").strip()
        if not pid or not member or not last:
            raise PatientFileError(
                f"{path.name} line {number}: patient_id, member_id and last_name are required"
            )
        zip_code = (record.get("zip") or "").strip().replace("-", "")
        if zip_code and (not zip_code.isdigit() or len(zip_code) not in (5, 9)):
            raise PatientFileError(f"{path.name} line {number}: zip must be 5 or 9 digits")
        people[pid] = Person(
            member_id=member,
            last_name=last,
            first_name=(record.get("first_name") or "").strip(),
            address=(record.get("address") or "").strip(),
            city=(record.get("city") or "").strip(),
            state=(record.get("state") or "").strip().upper(),
            zip=zip_code,
        )
    return people
