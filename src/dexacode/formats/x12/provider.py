"""The practice's fixed data for 837P files: a TOML provider file.

``examples/provider.toml`` beside this module documents every field. Loading checks the
shapes (NPI check digit, 9-digit ZIP, EIN, state) so a file that a clearinghouse would
reject is refused here, with the field named.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from dexacode.formats.x12.checks import npi_problem, zip9_problem

EXAMPLE_PROVIDER = "provider.toml"
US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "AS",
        "GU",
        "MP",
        "PR",
        "VI",
    ]
)
# Claim filing indicator (SBR09) by payer family, used when a payer entry names none.
DEFAULT_FILING_CODES = {
    "medicare": "MB",
    "medicare_advantage": "16",
    "medicaid": "MC",
    "commercial": "CI",
}


class ProviderFileError(ValueError):
    """The provider file cannot be used; the message names the field."""


def _npi(value: str) -> str:
    problem = npi_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _zip9(value: str) -> str:
    problem = zip9_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _state(value: str) -> str:
    if value not in US_STATES:
        raise ValueError(f"{value!r} is not a US state or territory code (e.g. OK, TX)")
    return value


Npi = Annotated[str, AfterValidator(_npi)]
Zip9 = Annotated[str, AfterValidator(_zip9)]
State = Annotated[str, AfterValidator(_state)]
Name = Annotated[str, Field(min_length=1, max_length=60)]
Id = Annotated[str, Field(min_length=2, max_length=15, pattern=r"^[A-Za-z0-9]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Model):
    name: Name
    id: Id


class Submitter(Party):
    contact: Name
    phone: Annotated[str, Field(pattern=r"^[0-9]{10}$")]


class Interchange(_Model):
    sender_qualifier: Annotated[str, Field(pattern=r"^[0-9A-Z]{2}$")] = "ZZ"
    sender_id: Id
    receiver_qualifier: Annotated[str, Field(pattern=r"^[0-9A-Z]{2}$")] = "ZZ"
    receiver_id: Id
    usage: Literal["P", "T"] = "T"
    acknowledgment_requested: bool = False


class Address(_Model):
    address: Annotated[str, Field(min_length=1, max_length=55)]
    city: Annotated[str, Field(min_length=2, max_length=30)]
    state: State


class BillingProvider(Address):
    name: Name
    npi: Npi
    tax_id: Annotated[str, Field(pattern=r"^[0-9]{9}$")]
    taxonomy: Annotated[str, Field(pattern=r"^[0-9]{3}[0-9A-Z]{6}X$")] | None = None
    zip: Zip9
    place_of_service: Annotated[str, Field(pattern=r"^[0-9]{2}$")] = "11"


class Referring(_Model):
    last_name: Name
    first_name: Annotated[str, Field(max_length=35)] = ""
    npi: Npi


class PayerEntry(_Model):
    name: Name
    id: Id
    filing_code: Annotated[str, Field(pattern=r"^[0-9A-Z]{2}$")] | None = None


class ProviderFile(_Model):
    submitter: Submitter
    receiver: Party
    interchange: Interchange
    billing: BillingProvider
    referring: Referring | None = None
    payers: dict[str, PayerEntry] = Field(min_length=1)

    def payer(self, profile: str) -> PayerEntry | None:
        return self.payers.get(profile)

    def filing_code(self, profile: str, family: str) -> str:
        entry = self.payers.get(profile)
        if entry is not None and entry.filing_code:
            return entry.filing_code
        return DEFAULT_FILING_CODES.get(profile) or DEFAULT_FILING_CODES.get(family, "CI")


def _where(err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        msg = "required field is missing"
    elif first["type"] == "extra_forbidden":
        msg = "unknown field"
    return f"{field}: {msg}"


def load_provider(path: Path) -> ProviderFile:
    """Read and check a provider file; ProviderFileError names what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProviderFileError(f"{path}: no such provider file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProviderFileError(f"{path}: cannot be read ({type(exc).__name__})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProviderFileError(f"{path.name}: not valid TOML ({exc})") from None
    try:
        return ProviderFile.model_validate(data)
    except ValidationError as exc:
        raise ProviderFileError(f"{path.name}: {_where(exc)}") from None


def example_provider_path() -> Path:
    """The documented example shipped with the package."""
    return Path(str(resources.files("dexacode.formats.x12") / "examples" / EXAMPLE_PROVIDER))
