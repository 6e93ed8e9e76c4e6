"""The encounter contract (spec/contract.md) as pydantic models.

Input models are strict: unknown fields, wrong types, impossible dates, names outside the
vocabulary and out-of-range scores are refused, and every error names its field. Output
models are what every door (CLI, batch files, web) writes.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from dexacode.quoting import quoted
from dexacode.rulebook import vocabulary

# --- value types -------------------------------------------------------------------------


def _iso_date(value: object) -> object:
    """Dates are ISO YYYY-MM-DD strings (or date objects from Python callers)."""
    if isinstance(value, dt.datetime):
        raise ValueError("expected a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a date as a string YYYY-MM-DD")
    # The value is never echoed: a birth date is identifying.
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise ValueError("expected a date written YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("not a real calendar date (expected YYYY-MM-DD)") from None


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


def _in_vocabulary(kind: str, what: str) -> AfterValidator:
    def check(value: str) -> str:
        allowed = vocabulary()[kind]
        if value not in allowed:
            # A known word in the wrong case identifies no one, and shows the typo.
            shown = repr(value) if value.lower() in allowed else quoted(value)
            raise ValueError(f"unknown {what} {shown}; expected one of: {', '.join(allowed)}")
        return value

    return AfterValidator(check)


SiteName = Annotated[
    str,
    _in_vocabulary("sites", "site"),
    Field(json_schema_extra={"enum": list(vocabulary()["sites"])}),
]
RiskFactorName = Annotated[
    str,
    _in_vocabulary("risk_factors", "risk factor"),
    Field(json_schema_extra={"enum": list(vocabulary()["risk_factors"])}),
]
NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]
# An id read the same from every door: a CSV cell is trimmed, so JSON's "P-1 " is too (else
# one patient's studies would be two patients' in the history store).
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Score = Annotated[float, Field(ge=-10.0, le=10.0, allow_inf_nan=False)]

Sex = Literal["F", "M"]
MenopausalStatus = Literal["premenopausal", "perimenopausal", "postmenopausal"]
OrderReason = Literal[
    "screening", "diagnostic", "monitoring", "glucocorticoid_monitoring", "confirm_baseline"
]
ExamStatus = Literal["completed", "discontinued", "reduced"]
ClaimForm = Literal["professional", "institutional"]
Component = Literal["global", "professional", "technical"]
EquipmentOwner = Literal["billing_provider", "other"]
Substitute = Literal["fee_for_time", "reciprocal"]
SeverityName = Literal["error", "warning", "info"]
# Facts a source format cannot carry (an 837 claim has no results or risk factors): the
# encounter fills them with placeholders and names them, and rules that need them are
# reported as not judged instead of firing on the placeholders.
UnknownFact = Literal[
    "exam.sites",
    "results",
    "patient.risk_factors",
    "patient.medications",
    "patient.conditions",
    "patient.menopausal_status",
    "order.reason",
    "billing.equipment_owner",
    # The source held a submitted claim it could not read faithfully (a FHIR Claim whose
    # units or pointers make no sense): the claim checks are not judged, rather than
    # silently skipped as if no claim had been sent.
    "submitted",
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- input -------------------------------------------------------------------------------


class Medication(_Input):
    name: NonEmpty = Field(description="Generic drug name, case-insensitive.")
    status: Literal["current", "completed"] = "current"


class Patient(_Input):
    id: Identifier = Field(description="The practice's patient id (never printed in logs).")
    sex: Sex
    birth_date: IsoDate
    menopausal_status: MenopausalStatus | None = None
    risk_factors: list[RiskFactorName] = Field(default_factory=list)
    medications: list[Medication] = Field(default_factory=list)
    conditions: list[Annotated[str, Field(min_length=3, max_length=10)]] = Field(
        default_factory=list,
        description="ICD-10-CM codes already documented, dotted or not.",
    )

    @model_validator(mode="after")
    def _status_for_women_only(self) -> Patient:
        if self.sex == "M" and self.menopausal_status is not None:
            raise ValueError(
                "patient.menopausal_status::must be null for a man (sex 'M'), "
                f"got {quoted(self.menopausal_status)}"
            )
        return self


class Order(_Input):
    reason: OrderReason


class Exam(_Input):
    sites: list[SiteName] = Field(
        description="Sites whose density was measured; empty when only VFA was done."
    )
    vfa: bool = False
    status: ExamStatus = "completed"
    will_repeat: bool = False
    peripheral_reason: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _something_done(self) -> Exam:
        if not self.sites and not self.vfa:
            raise ValueError(
                "the exam has no site and no VFA, so there is nothing to bill; give at least "
                f"one site ({', '.join(vocabulary()['sites'])}) or vfa: true"
            )
        if len(set(self.sites)) != len(self.sites):
            raise ValueError("a site is listed twice")
        return self


class Billing(_Input):
    claim_form: ClaimForm = "professional"
    component: Component | None = None
    equipment_owner: EquipmentOwner = "billing_provider"
    interprets: bool = True
    substitute: Substitute | None = None
    substitute_days: Annotated[int, Field(ge=0, le=3660)] | None = None
    abn_signed: bool = False


class Result(_Input):
    site: SiteName
    region: Annotated[str, Field(min_length=1, max_length=40)]
    bmd: Annotated[float, Field(gt=0.0, le=3.0, allow_inf_nan=False)] | None = None
    t_score: Score | None = None
    z_score: Score | None = None


class PriorStudy(_Input):
    date_of_service: IsoDate
    # Upper-cased as read: the rule book's code lists are, and g0130 is G0130.
    cpt: Annotated[str, StringConstraints(min_length=5, max_length=5, to_upper=True)]
    covered: bool = True


class SubmittedLine(_Input):
    cpt: Annotated[str, Field(min_length=5, max_length=5)]
    modifiers: list[Annotated[str, Field(min_length=2, max_length=2)]] = Field(default_factory=list)
    units: Annotated[int, Field(ge=1, le=99)] = 1
    diagnosis_pointers: list[Annotated[int, Field(ge=1)]] | None = Field(
        default=None,
        description="1-based positions in the submitted diagnoses the line points to, as "
        "entered; null when the source does not say (then they are not checked).",
    )


class SubmittedClaim(_Input):
    lines: list[SubmittedLine] = Field(min_length=1)
    diagnoses: list[Annotated[str, Field(min_length=3, max_length=10)]] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _pointers_name_a_diagnosis(self) -> SubmittedClaim:
        for i, line in enumerate(self.lines):
            past = [p for p in line.diagnosis_pointers or [] if p > len(self.diagnoses)]
            if past:
                raise ValueError(
                    f"submitted.lines[{i}].diagnosis_pointers::pointer {past[0]} is past the "
                    f"{len(self.diagnoses)} submitted diagnoses"
                )
        return self


class Encounter(_Input):
    claim_id: Identifier
    date_of_service: IsoDate
    payer: NonEmpty = Field(
        description="medicare, medicare_advantage, medicaid, commercial, or a user profile."
    )
    patient: Patient
    order: Order
    exam: Exam
    billing: Billing = Field(default_factory=Billing)
    results: list[Result] = Field(default_factory=list)
    history: list[PriorStudy] = Field(default_factory=list)
    submitted: SubmittedClaim | None = None
    unknown: list[UnknownFact] = Field(
        default_factory=list,
        description="Facts the source could not carry (e.g. an 837 claim has no results); "
        "rules that need them are not judged (finding NOT-JUDGED).",
    )

    @model_validator(mode="after")
    def _dates_make_sense(self) -> Encounter:
        born = self.patient.birth_date
        if born > self.date_of_service:
            raise ValueError(
                "patient.birth_date::is after date_of_service: the patient was not yet born"
            )
        if self.date_of_service.year - born.year > 125:
            raise ValueError("patient.birth_date::makes the patient older than 125 years")
        if self.submitted is not None and "submitted" in self.unknown:
            # It would silence every check of the claim that is right here.
            raise ValueError(
                "unknown::names submitted, yet a submitted claim is given: a claim the "
                "source could not give is left out, not sent"
            )
        return self


# --- output ------------------------------------------------------------------------------


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Line(_Output):
    cpt: str
    modifiers: list[str]
    units: int
    diagnosis_pointers: list[int]
    description: str = ""
    modifier_reasons: dict[str, str] = Field(default_factory=dict)
    unplaced_modifiers: list[str] = Field(
        default_factory=list,
        description="Modifiers that apply but did not fit the four a line carries "
        "(MODIFIER-OVERFLOW): for the claim note or the payer's overflow rule.",
    )


class Basis(_Output):
    site: str
    region: str
    t_score: float | None
    z_score: float | None = None


class Interpretation(_Output):
    category: str | None
    basis: Basis | None
    scale: Literal["t_score", "z_score"]
    label: str | None = None
    results_read: list[Basis] = Field(
        default_factory=list,
        description="Every result the reading weighed, rounded as read: the one lumbar "
        "region that counts, the hip regions and the one-third radius of the sites measured, "
        "each with a score on the scale. The lowest is the basis; a result not listed here "
        "did not count.",
    )


class Coverage(_Output):
    medicare_category: str | None
    guideline_indicated: bool | None
    next_eligible_date: dt.date | None
    abn_advised: bool


class Finding(_Output):
    id: str
    severity: SeverityName
    message: str
    line: str | None = None
    sources: list[str]
    action: str = ""


class DiagnosisDetail(_Output):
    code: str
    description: str
    reason: str


class CodingResult(_Output):
    """The result of coding one encounter (the contract's ``Result``)."""

    claim_id: str
    rules_version: str
    icd10cm_release: str
    lines: list[Line]
    diagnoses: list[str]
    interpretation: Interpretation
    coverage: Coverage
    findings: list[Finding]
    diagnosis_details: list[DiagnosisDetail] = Field(default_factory=list)
    payer: str = ""
    # The editions the result was checked against: rule book, ICD-10-CM, loaded CMS data.
    editions: list[str] = Field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


_OutputT = TypeVar("_OutputT", bound=_Output)
_set = object.__setattr__


@functools.cache
def _field_names(cls: type[_Output]) -> tuple[str, ...]:
    return tuple(cls.model_fields)


def build(cls: type[_OutputT], /, **values: Any) -> _OutputT:
    """An output model from values the engine made itself, without validating them again.

    What ``model_construct`` does, minus its per-call bookkeeping, which cost a fifth of
    the time of coding an encounter. Fields not given take their defaults.
    """
    for name in _field_names(cls):
        if name not in values:
            values[name] = cls.model_fields[name].get_default(call_default_factory=True)
    obj = cls.__new__(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


# --- reading input -----------------------------------------------------------------------


class ContractError(ValueError):
    """Input that breaks the contract; ``field`` is a dotted path, ``message`` one line."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "list[", "dict[")) or part in ("str", "float", "int"):
            continue
        else:
            out += f".{part}" if out else part
    return out


# Fields whose values identify a patient: error messages never repeat them.
_PRIVATE_FIELDS = ("patient.id", "patient.birth_date")


def contract_error(exc: ValidationError) -> ContractError:
    """The first problem of a validation error, as one line naming the field."""
    first = exc.errors()[0]
    field = _loc(tuple(first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    kind = first["type"]
    private = field in _PRIVATE_FIELDS
    if not field and kind in ("model_type", "model_attributes_type"):
        message = "the input must be one encounter: a JSON object with claim_id, patient, ..."
    elif kind == "extra_forbidden":
        message = "unknown field (not part of the encounter contract)"
    elif kind == "missing":
        message = "required field is missing"
    elif private:
        message = message.split(", got")[0]
    elif kind == "literal_error":
        message = f"{message}, got {quoted(first['input'])}"
    elif kind in ("string_type", "float_type", "int_type", "bool_type", "list_type"):
        message = f"{message}, got {type(first['input']).__name__} {quoted(first['input'])}"
    if "::" in message:  # a model-level check names the field it is about
        field, message = message.split("::", 1)
    extra = len(exc.errors()) - 1
    if extra:
        message += f" (and {extra} more problem{'s' if extra > 1 else ''})"
    return ContractError(field, message)


def parse_encounter(data: str | bytes | dict[str, Any]) -> Encounter:
    """Read one encounter from JSON text or a dict; raise ContractError on bad input."""
    try:
        if isinstance(data, dict):
            return Encounter.model_validate(data)
        return Encounter.model_validate_json(data)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise ContractError("", f"not valid JSON: {exc.errors()[0]['msg']}") from None
        fhir = _fhir_resource_type(data)
        if fhir is not None:
            raise ContractError(
                "resourceType",
                f"this is a FHIR {fhir}, not a dexacode encounter: read FHIR with "
                "`dexacode fhir-import`, or scrub the file as FHIR (`dexacode scrub "
                "FILE.fhir.json`, or the web's batch upload)",
            ) from None
        raise contract_error(exc) from None


def _fhir_resource_type(data: str | bytes | dict[str, Any]) -> str | None:
    """The resourceType of a FHIR resource given where an encounter was expected (only on
    a refusal, so the cost is not every encounter's); None for anything else."""
    try:
        body = data if isinstance(data, dict) else json.loads(data)
    except ValueError:
        return None
    kind = body.get("resourceType") if isinstance(body, dict) else None
    # A resource type is one word of letters (Bundle, Patient); anything else is not echoed.
    if isinstance(kind, str) and kind.isalpha() and kind[:1].isupper() and len(kind) <= 40:
        return kind
    return None


def encounter_schema() -> dict[str, Any]:
    """The encounter's JSON Schema (``dexacode schema``)."""
    schema = Encounter.model_json_schema()
    schema["$id"] = "https://dexacode.org/schema/encounter.json"
    schema["title"] = "dexacode encounter"
    return schema


def dump_result(result: CodingResult) -> str:
    return json.dumps(result.model_dump(mode="json"), indent=2)
