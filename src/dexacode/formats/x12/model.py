"""The 837P subset dexacode writes and reads: one billing provider, claims of one
subscriber who is the patient, one to a few service lines each.

Plain frozen dataclasses: the builder fills them from checked data (the provider file,
a coded result), and the reader fills them from pyx12's parse; ``checks`` judges both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Person:
    """The subscriber, who is also the patient (SBR02 = 18)."""

    member_id: str
    last_name: str
    first_name: str = ""
    sex: str = "U"  # DMG03: F, M, U
    birth_date: dt.date | None = None
    address: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""


@dataclass(frozen=True, slots=True)
class ServiceLine:
    cpt: str
    modifiers: tuple[str, ...]
    units: int
    charge: Decimal
    pointers: tuple[int, ...]  # 1-based into the claim's diagnoses, at most four
    date_of_service: dt.date


@dataclass(frozen=True, slots=True)
class Claim837:
    claim_id: str  # CLM01, the patient control number
    payer_profile: str  # the dexacode payer profile the claim was coded under
    payer_name: str
    payer_id: str
    filing_code: str  # SBR09
    relationship: str  # SBR02; "18" self
    subscriber: Person
    place_of_service: str
    diagnoses: tuple[str, ...]  # undotted ICD-10-CM, principal first
    lines: tuple[ServiceLine, ...]
    referring_npi: str = ""
    referring_last: str = ""
    referring_first: str = ""
    # The billing provider's NPI and ZIP as a file read back carries them (loop 2010AA);
    # empty on a claim being written, whose provider file was checked when loaded.
    billing_npi: str = ""
    billing_zip: str = ""

    @property
    def total_charge(self) -> Decimal:
        return sum((line.charge for line in self.lines), Decimal("0"))


@dataclass(frozen=True, slots=True)
class Envelope:
    """Control numbers and the moment the interchange was made."""

    control_number: int  # ISA13 and GS06; ST02 counts up from 1 within the group
    created: dt.datetime
    claims_per_transaction: int = 5000  # the implementation guide's recommended ceiling


@dataclass(frozen=True, slots=True)
class HeldBack:
    """An encounter left out of the 837, with the reasons a person reads."""

    row: int
    claim_id: str | None
    reasons: tuple[str, ...] = field(default_factory=tuple)
