"""The 837P subset dexacode writes and reads: one billing provider, claims of one
subscriber who is the patient (or, read only, of a dependent patient: loop 2000C), one to a
few service lines each.

Plain frozen dataclasses: the builder fills them from checked data (the provider file,
a coded result), and the reader fills them from pyx12's parse; ``checks`` judges both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

# CLM05-3, the claim frequency code: 1 an original claim, 7 a replacement of an earlier
# one, 8 a void of an earlier one (both name it in REF*F8).
FREQUENCY_ORIGINAL = "1"
FREQUENCY_REPLACEMENT = "7"
FREQUENCY_VOID = "8"


@dataclass(frozen=True, slots=True)
class Person:
    """The subscriber (loop 2010BA), who is the patient when SBR02 = 18; or a dependent
    patient (loop 2010CA), who has no member id of their own."""

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
    # The patient when it is not the subscriber: a dependent (loops 2000C/2010CA, read
    # only), with the relationship PAT01 gives (01 spouse, 19 child...).
    patient: Person | None = None
    patient_relationship: str = ""
    frequency: str = FREQUENCY_ORIGINAL  # CLM05-3
    referring_npi: str = ""
    referring_last: str = ""
    referring_first: str = ""
    # The billing provider's NPI and ZIP as a file read back carries them (loop 2010AA);
    # empty on a claim being written, whose provider file was checked when loaded.
    billing_npi: str = ""
    billing_zip: str = ""

    @property
    def patient_id(self) -> str:
        """The patient's id for dexacode: the subscriber's member id, or for a dependent
        patient that member id, ``-DEP-`` and a digest of the dependent's first given name
        and birth date (``dependent_id``)."""
        if self.patient is None:
            return self.subscriber.member_id
        return dependent_id(self.subscriber.member_id, self.patient)

    @property
    def total_charge(self) -> Decimal:
        return sum((line.charge for line in self.lines), Decimal("0"))


def dependent_id(member_id: str, patient: Person) -> str:
    """A dependent patient's id: the subscriber's member id, ``-DEP-`` and the first eight
    hex digits of SHA-256 over the given names (NM104's words of two letters or more,
    letters only, upper case, space-separated) and the birth date (CCYYMMDD), joined by
    ``|``.

    The surname is left out (it changes at marriage, and a dependent often bears the
    subscriber's), and so are initials (NM104 holds 'MARY' in one file and 'MARY A' in the
    next): the same dependent keeps one id across files. Twins keep two ('MARY ANN' and
    'MARY BETH'); two dependents of one subscriber share one only if their given names
    and birth dates are the same. The id is a pseudonym, not an anonymisation (a birth date
    can be found from it by trial), so like any patient id it never goes into a message."""
    born = patient.birth_date.strftime("%Y%m%d") if patient.birth_date else ""
    words = ("".join(ch for ch in w if ch.isalpha()) for w in patient.first_name.upper().split())
    given = " ".join(w for w in words if len(w) > 1)
    digest = hashlib.sha256(f"{given}|{born}".encode()).hexdigest()[:8].upper()
    return f"{member_id}-DEP-{digest}"


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
