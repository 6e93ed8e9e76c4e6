"""FHIR R4 in: a Bundle, NDJSON or loose resources to an encounter, and the facts the
input lacked.

Every resource is first validated with fhir.resources' R4B models (R4-compatible). Then:

- Coverage: the payer profile, when its payor names one in dexacode's payer system.
- Patient: sex from ``gender``, else the US Core sex or birth-sex extension; birth date;
  the id from the identifier ``identity.toml`` prefers (medical record number, member id,
  subscriber id, another), else the resource id; never an SSN, driver's licence or
  passport number.
- ServiceRequest / Procedure: the order reason and sites, when coded in dexacode's code
  systems (``ORDER_REASON_SYSTEM``, ``SITE_SYSTEM``); a VFA procedure code (77085/77086).
- Condition: ICD-10-CM codes as documented conditions.
- MedicationStatement / MedicationRequest: the drug's name and whether it is current.
- Claim (one per import): the submitted claim (``claim.py``: lines with codes,
  modifiers, units and diagnosis pointers; diagnoses in sequence order), the claim form,
  and the billing and exam facts of its supportingInfo (else what its modifiers say,
  derived again by ``supply`` once an overlay or option gives the payer). What of
  another system's Claim cannot be read is left out, or the Claim not checked, with a
  note: a Claim never refuses the import.
- List / Observation / Procedure in dexacode's encounter-fact system (what
  ``write.py`` writes): menopausal status, risk factors, and which of risk factors,
  medications, conditions and prior studies the input gives in full (a List, empty or
  not); the prior studies are the Procedures of the history List.
- DiagnosticReport (DXA panel) and its Observations: BMD, T- and Z-scores per site and
  region by LOINC code (``loinc.toml``). Its date is the date of service: the day of
  effectiveDateTime, else of effectivePeriod.start (noted when the period ends on
  another day), else of issued; else the first dated result's. A lumbar code's
  region is the vertebrae its code.text or bodySite.text names (else L1-L4); a "Radius
  and Ulna" code's, the forearm region they name (else the one-third radius). T- and
  Z-scores may be in any UCUM annotation ("{T-Score}") or "1".

References are resolved as in a Bundle: by fullUrl (urn:uuid: too), else ResourceType/id.
One patient and one DXA report per import; what cannot be this patient's reading is kept
out rather than guessed at:

- refused (FhirInputError): more than one Patient, DXA report or Claim (counted once
  the Claims below are left out); a report entered-in-error or cancelled, or about
  another patient; two Observations giving one site, region and measure different values.
- left out with a note: a result entered-in-error, cancelled or registered; a result the
  sender says is absent (dataAbsentReason, or the data-absent-reason extension on its
  valueQuantity); a Claim entered-in-error or cancelled; a resource whose subject is not
  the Patient, a Claim's included (the note names neither patient).

What FHIR does not say (the payer, usually the order reason and the sites) is listed in
``FhirImport.missing``, with the option or overlay key that supplies it. A result of a
DXA LOINC code that cannot be read (no value and no reason given for its absence, a
non-numeric value, a unit not read, no side, a region its text does not settle) is
named in ``FhirImport.unread`` and stands in the way as a missing fact does: left out,
it would change the reading without a word (osteoporosis read as low bone mass). The
facts the rules need that the input does not carry (risk factors, medications,
conditions, menopausal status, who owns the equipment; the results when there is no DXA
report or result at all) are named in the encounter's ``unknown``, so the rules needing
them report NOT-JUDGED instead of judging defaults; an overlay that gives one takes it
off the list. Messages name a Patient or Coverage by its type only, never
by its id, and repeat no identifier.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dexacode.engine.interpret import vertebrae
from dexacode.formats.fhir.claim import facts_from_modifiers, not_a_claim, read_claim
from dexacode.formats.fhir.forearm import forearm_region
from dexacode.formats.fhir.identity import patient_id
from dexacode.formats.fhir.terms import (
    CLAIM_FACTS,
    CPT_SYSTEMS,
    DATA_ABSENT_EXTENSION,
    DATA_ABSENT_REASON,
    FACT_SYSTEM,
    ICD10CM,
    LISTED_FACTS,
    LOINC,
    MENOPAUSAL_STATUS_SYSTEM,
    NOT_COVERED_EXTENSION,
    ORDER_REASON_SYSTEM,
    PAYER_SYSTEM,
    RISK_FACTOR_SYSTEM,
    SITE_SYSTEM,
    SNOMED_SEX,
    UCUM,
    US_CORE_BIRTHSEX,
    US_CORE_SEX,
    LoincCode,
    code_in,
    codes_in,
    codings,
    import_r4b,
    procedure_codes,
    terms,
)
from dexacode.iscd import region_name
from dexacode.quoting import quoted

CLAIM_ID_SYSTEM = "urn:dexacode:claim-id"
READ_TYPES = (
    "Patient",
    "Claim",
    "Coverage",
    "ServiceRequest",
    "Procedure",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "DiagnosticReport",
    "Observation",
    "List",
)
# Passed over without a note: the findings of a Bundle dexacode wrote (coding the encounter
# gives them again).
PASSED_OVER = ("OperationOutcome",)
VFA_CODES = ("77085", "77086")
VFA_ALONE = "77086"  # VFA without a density site: exam.sites is empty
# The facts a FHIR input may not carry, named in Encounter.unknown when it does not (the
# order reason and the sites are asked for instead: see SUPPLY).
UNKNOWN_FROM_FHIR = (
    "results",
    "patient.risk_factors",
    "patient.medications",
    "patient.conditions",
    "patient.menopausal_status",
    "billing.equipment_owner",
)


class FhirInputError(ValueError):
    """The FHIR input cannot be read; the message names the resource and the field."""


@dataclass(frozen=True)
class Missing:
    field: str  # contract path
    how: str  # how to supply it


# How each required fact is supplied when FHIR lacks it.
SUPPLY = {
    "claim_id": "--claim-id, or claim_id in the overlay",
    "date_of_service": 'date_of_service = "YYYY-MM-DD" in the overlay',
    "payer": "--payer, or payer in the overlay",
    "patient.id": "[patient] id in the overlay",
    "patient.sex": '[patient] sex = "F" or "M" in the overlay',
    "patient.birth_date": "[patient] birth_date in the overlay",
    "order.reason": "--reason, or [order] reason in the overlay",
    "exam.sites": "--sites, or [exam] sites in the overlay",
}


@dataclass
class FhirImport:
    encounter: dict[str, Any]
    missing: list[Missing] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # DXA results the input gives that could not be read: each says which and why. The
    # reading would change without them, so they stand in the way as a missing fact does.
    unread: list[str] = field(default_factory=list)
    # None when no Claim was read; else the facts not to take from its modifiers (those
    # its supportingInfo or an overlay gave), so ``supply`` derives the others once the
    # payer and date are known, whatever gives them.
    claim_facts: frozenset[str] | None = None


# --- resources from files ------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A resource, and the fullUrl its Bundle entry gave it (None for a loose resource):
    references inside a Bundle may name a resource by either."""

    resource: dict[str, Any]
    full_url: str | None = None


def entries_of(data: Any, where: str, full_url: str | None = None) -> Iterator[Entry]:
    if isinstance(data, list):
        for item in data:
            yield from entries_of(item, where)
        return
    if not isinstance(data, dict) or "resourceType" not in data:
        raise FhirInputError(f"{where}: not a FHIR resource (no resourceType)")
    if data["resourceType"] == "Bundle":
        for n, entry in enumerate(data.get("entry") or [], 1):
            res = entry.get("resource") if isinstance(entry, dict) else None
            if res is None:
                raise FhirInputError(f"{where}: Bundle entry {n} has no resource")
            url = entry.get("fullUrl")
            yield from entries_of(res, f"{where} entry {n}", url if isinstance(url, str) else None)
        return
    yield Entry(data, full_url)


# An element name as FHIR spells them (birthDate, valueQuantity): one shaped otherwise (a
# key the sender made up, which may be anything, a name included) is not repeated.
_ELEMENT_NAME = re.compile(r"^[a-z_][A-Za-z0-9_]{0,63}$")


def _element_path(loc: Sequence[Any]) -> str:
    parts = [
        str(p) if isinstance(p, int) or _ELEMENT_NAME.match(str(p)) else "(an element name)"
        for p in loc
    ]
    return ".".join(parts) or "(the resource)"


def validate_resource(resource: dict[str, Any], where: str) -> None:
    r4b = import_r4b()
    rtype = resource.get("resourceType")
    try:
        model = r4b.get_fhir_model_class(rtype)
    except (KeyError, ValueError, AttributeError):
        raise FhirInputError(
            f"{where}: the resourceType is not one FHIR R4 defines (got {quoted(rtype)})"
        ) from None
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise FhirInputError(
            f"{where}: {_label(resource)} is not valid FHIR R4 at {_element_path(first['loc'])}: "
            f"{first['msg']}"
        ) from None


def load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FhirInputError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise FhirInputError(f"{path.name}: not UTF-8 text") from None
    stripped = text.strip()
    if not stripped:
        raise FhirInputError(f"{path.name}: the file is empty")
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    items = []  # NDJSON: one resource or Bundle per line
    for number, line in enumerate(stripped.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise FhirInputError(f"{path.name} line {number}: not valid JSON ({exc.msg})") from None
    return items


def gather_entries(paths: Sequence[Path]) -> list[Entry]:
    """Every resource of the files (Bundles opened) with its fullUrl, each validated as R4."""
    out: list[Entry] = []
    for path in paths:
        for entry in entries_of(load_json(path), path.name):
            validate_resource(entry.resource, path.name)
            out.append(entry)
    return out


def gather(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Every resource of the files (Bundles opened), each validated as R4."""
    return [entry.resource for entry in gather_entries(paths)]


# --- references and whose record it is -----------------------------------------------------


# Resources whose ids and fullUrls may hold a patient's record or member number: a
# message names their type only.
IDENTIFYING_TYPES = ("Patient", "Coverage", "RelatedPerson", "Person")


def _label(res: Mapping[str, Any], full_url: str | None = None) -> str:
    """How a note names a resource: type and id, else its fullUrl; a Patient (or another
    resource about a person or their insurance) by its type alone."""
    rtype = res.get("resourceType")
    if rtype in IDENTIFYING_TYPES:
        return f"the {rtype}"
    return f"{rtype}/{res['id']}" if res.get("id") else f"{rtype} {full_url or '(no id)'}"


def _once(items: Iterable[Mapping[str, Any] | Entry]) -> list[Entry]:
    """The entries, a resource given twice (a Bundle and a loose file) read once. Two
    different resources under one type and id are both kept: neither is dropped unseen."""
    out: list[Entry] = []
    seen: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        entry = item if isinstance(item, Entry) else Entry(dict(item))
        res = entry.resource
        key = f"{res.get('resourceType')}/{res['id']}" if res.get("id") else entry.full_url
        if key is not None:
            if res in seen.get(key, []):
                continue
            seen.setdefault(key, []).append(res)
        out.append(entry)
    return out


class _Index:
    """Reference resolution as in a FHIR Bundle: a reference is matched against each
    entry's fullUrl (urn:uuid:, urn:oid: or absolute), else as ResourceType/id."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self._by_url: dict[str, Entry] = {}
        self._by_key: dict[str, Entry] = {}
        for entry in entries:
            rid = entry.resource.get("id")
            if entry.full_url:
                self._by_url.setdefault(entry.full_url, entry)
            if isinstance(rid, str) and rid:
                self._by_key.setdefault(f"{entry.resource.get('resourceType')}/{rid}", entry)
                if not entry.full_url:
                    # dexacode's own Bundles give each resource its urn:uuid as id: read
                    # without their fullUrls, their references still find them.
                    self._by_url.setdefault(f"urn:uuid:{rid}", entry)

    def resolve(self, ref: Any) -> Entry | None:
        text = _reference_text(ref)
        if text is None:
            return None
        if text in self._by_url:
            return self._by_url[text]
        if text.startswith(("urn:", "#")):
            return None
        found = self._by_key.get(_type_and_id(text))
        # An absolute reference names a server: it finds a resource by type and id only
        # when that resource came without a fullUrl (a loose file) to compare it with.
        if found is not None and "://" in text and found.full_url is not None:
            return None
        return found


def _reference_text(ref: Any) -> str | None:
    if not isinstance(ref, Mapping) or not isinstance(ref.get("reference"), str):
        return None
    return str(ref["reference"]).split("/_history/")[0]


def _type_and_id(text: str) -> str:
    return "/".join(text.rstrip("/").split("/")[-2:])


# The element naming whose record a resource is ("subject" unless listed).
SUBJECT_ELEMENT = {"Claim": "patient", "Coverage": "beneficiary"}


class _Subject:
    """Whose record the import is: the Patient resource of the input, else (no Patient,
    or one no reference can name) the subject of the DXA report."""

    def __init__(self, patient: Entry | None, report: Entry | None, index: _Index) -> None:
        referable = patient is not None and bool(patient.full_url or patient.resource.get("id"))
        self._patient = patient if referable else None
        self._index = index
        self._report_subject: str | None = None
        if self._patient is None and report is not None:
            self._report_subject = self._plain(report.resource.get("subject"))

    @staticmethod
    def _plain(ref: Any) -> str | None:
        text = _reference_text(ref)
        if text is None or text.startswith("urn:"):
            return text
        return _type_and_id(text)

    def holds(self, ref: Any) -> bool:
        """Whether a subject element names this patient; an absent one is not contradicted."""
        if ref is None:
            return True
        if self._patient is not None:
            if _reference_text(ref) is not None:
                return self._index.resolve(ref) is self._patient
            ident = ref.get("identifier") if isinstance(ref, Mapping) else None
            if isinstance(ident, Mapping) and ident.get("value"):
                return any(
                    own.get("system") == ident.get("system") and own.get("value") == ident["value"]
                    for own in self._patient.resource.get("identifier") or []
                )
            return False  # a display alone: nothing shows it is this patient
        if self._report_subject is not None:
            return self._plain(ref) == self._report_subject
        return True


# --- resources to facts --------------------------------------------------------------------


_codings = codings
_code_in = code_in


def _date_part(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


def _effective_day(res: Mapping[str, Any], label: str, notes: list[str]) -> str | None:
    """The day of ``effectiveDateTime``, else of ``effectivePeriod.start``; a period
    ending on another day is noted (its start is the day taken)."""
    day = _date_part(res.get("effectiveDateTime"))
    period = res.get("effectivePeriod")
    if day or not isinstance(period, Mapping):
        return day
    start = _date_part(period.get("start"))
    end = _date_part(period.get("end"))
    if start and end and end != start:
        notes.append(
            f"{label}: its effectivePeriod ends on another day than it starts; its start "
            "is taken as the date of service"
        )
    return start


def _sex(patient: Mapping[str, Any]) -> str | None:
    gender = patient.get("gender")
    if gender in ("female", "male"):
        return "F" if gender == "female" else "M"
    for ext in patient.get("extension") or []:
        url = ext.get("url")
        if url == US_CORE_SEX:
            code = ext.get("valueCode") or (ext.get("valueCoding") or {}).get("code")
            if code in SNOMED_SEX:
                return SNOMED_SEX[code]
    for ext in patient.get("extension") or []:
        if ext.get("url") == US_CORE_BIRTHSEX and ext.get("valueCode") in ("F", "M"):
            return str(ext["valueCode"])
    return None


def _patient(res: Mapping[str, Any], enc: dict[str, Any], notes: list[str]) -> None:
    patient = enc.setdefault("patient", {})
    patient["id"], note = patient_id(res)
    if note:
        notes.append(note)
    sex = _sex(res)
    if sex:
        patient["sex"] = sex
    birth = res.get("birthDate")
    if isinstance(birth, str) and len(birth) == 10:
        patient["birth_date"] = birth
    elif birth:
        notes.append("Patient.birthDate is not a full date (YYYY-MM-DD); not used")


def _order(res: Mapping[str, Any], enc: dict[str, Any]) -> None:
    for concept in res.get("reasonCode") or []:
        reasons = _code_in(concept, ORDER_REASON_SYSTEM)
        if reasons:
            enc.setdefault("order", {})["reason"] = reasons[0]
        for code in _code_in(concept, ICD10CM):
            _add_condition(enc, code)
    sites = [s for concept in res.get("bodySite") or [] for s in _code_in(concept, SITE_SYSTEM)]
    if sites:
        exam = enc.setdefault("exam", {})
        exam["sites"] = list(dict.fromkeys([*exam.get("sites", []), *sites]))
    vfa = [code for code in codes_in(res.get("code"), CPT_SYSTEMS) if code in VFA_CODES]
    if vfa:
        exam = enc.setdefault("exam", {})
        exam["vfa"] = True
        if vfa[0] == VFA_ALONE:
            exam.setdefault("sites", [])


def _coverage(res: Mapping[str, Any], enc: dict[str, Any]) -> None:
    """The payer profile, when the Coverage names one in dexacode's payer system."""
    for payor in res.get("payor") or []:
        ident = payor.get("identifier") or {}
        if ident.get("system") == PAYER_SYSTEM and ident.get("value"):
            enc["payer"] = str(ident["value"])
            return


def _add_condition(enc: dict[str, Any], code: str) -> None:
    conditions = enc.setdefault("patient", {}).setdefault("conditions", [])
    if code not in conditions:
        conditions.append(code)


def _medication(res: Mapping[str, Any], enc: dict[str, Any], notes: list[str]) -> None:
    concept = res.get("medicationCodeableConcept") or {}
    name = concept.get("text") or next(
        (c.get("display") for c in _codings(concept) if c.get("display")), None
    )
    if not name:
        notes.append(f"{_label(res)}: no drug name; not used")
        return
    status = "completed" if res.get("status") in ("completed", "stopped") else "current"
    meds = enc.setdefault("patient", {}).setdefault("medications", [])
    meds.append({"name": str(name).lower(), "status": status})


# --- the lumbar region an Observation names ------------------------------------------------

# A vertebra or a range: "L2", "L2-L4", "L2-4", "L2 – L4".
_VERTEBRAE = re.compile(r"(?<![A-Za-z0-9])L\s?([1-5])(?:\s*[-–—]\s*L?\s?([1-5]))?(?![0-9])", re.I)
_LIST_GAP = re.compile(r"\s*,\s*")


@functools.cache
def _exclusion_words() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Patterns for the words (``loinc.toml`` [region_text]) after an excluded vertebra
    and before an excluded list."""
    table = terms()
    after = "|".join(map(re.escape, table.excluded_after))
    before = "|".join(map(re.escape, table.excluded_before))
    return (
        re.compile(rf"\s*\)?\s*(?:{after})\b", re.I),
        re.compile(rf"\b(?:{before})\.?:?\s*$", re.I),
    )


def _named_regions(text: str, default: tuple[int, ...]) -> set[tuple[int, ...]]:
    """The lumbar regions a text names: none when it names no vertebra, more than one
    when it names several combinations (which then cannot be told apart).

    A comma list of vertebrae and ranges is one region; one followed by an exclusion word
    ("L1 excluded") or a list after one ("excluding L1") is taken out of the region named,
    or, when the text names no other, out of the code's own region.
    """
    after, before = _exclusion_words()
    runs: list[list[tuple[set[int], bool]]] = []  # each run: (levels, excluded) per item
    last_end = -1
    run_excluded = False
    for match in _VERTEBRAE.finditer(text):
        first = int(match.group(1))
        last = int(match.group(2) or first)
        levels = set(range(min(first, last), max(first, last) + 1))
        joined = last_end >= 0 and _LIST_GAP.fullmatch(text[last_end : match.start()])
        if not joined:
            run_excluded = bool(before.search(text[: match.start()]))
            runs.append([])
        excluded = run_excluded or bool(after.match(text, match.end()))
        runs[-1].append((levels, excluded))
        last_end = match.end()
    if not runs:
        return set()
    out_levels = {n for run in runs for levels, excluded in run if excluded for n in levels}
    named = [
        {n for levels, excluded in run if not excluded for n in levels}
        for run in runs
        if any(not excluded for _, excluded in run)
    ]
    return {tuple(sorted(levels - out_levels)) for levels in named or [set(default)]}


def _region(obs: Mapping[str, Any], code: LoincCode, label: str, notes: list[str]) -> str | None:
    """The region of a result: the code's own, or for a lumbar code the vertebrae its
    code.text or bodySite.text names, for a "Radius and Ulna" code the forearm region
    they name (one LOINC code serves every combination, and every forearm region)."""
    texts = [
        text
        for concept in (obs.get("code"), obs.get("bodySite"))
        if isinstance(concept, Mapping) and isinstance(text := concept.get("text"), str)
    ]
    if code.region == terms().forearm.code_region:
        region, why = forearm_region(texts)
        if why:
            notes.append(f"{label}: {why}")
        return region
    default = vertebrae(code.region)
    if default is None:
        return code.region
    named: set[tuple[int, ...]] = set()
    for text in texts:
        named |= _named_regions(text, default)
    if len(named) > 1:
        notes.append(f"{label}: its text names more than one lumbar region; not used")
        return None
    levels = next(iter(named), default)
    if not levels:
        notes.append(f"{label}: its text excludes every vertebra it names; not used")
        return None
    return region_name(levels)


# --- the DXA report and its results --------------------------------------------------------


def is_fact_observation(res: Mapping[str, Any]) -> bool:
    """An Observation of a patient fact dexacode writes (menopausal status, a risk
    factor), not a DXA result."""
    return res.get("resourceType") == "Observation" and bool(
        _code_in(res.get("code"), FACT_SYSTEM) or _code_in(res.get("code"), RISK_FACTOR_SYSTEM)
    )


def _absent_reason(obs: Mapping[str, Any]) -> str | None:
    """Why a result has no value, when the input says so: a dataAbsentReason and no
    value[x], or a valueQuantity with no value and the data-absent-reason extension. A
    result the sender says is absent is absent, not unreadable; None for one with a value
    (read, or unread when it cannot be) or with neither (unread)."""
    quantity = obs.get("valueQuantity")
    if isinstance(quantity, Mapping) and quantity.get("value") is None:
        for ext in quantity.get("extension") or []:
            if isinstance(ext, Mapping) and ext.get("url") == DATA_ABSENT_EXTENSION:
                return str(ext.get("valueCode") or "data-absent-reason")
    reason = obs.get("dataAbsentReason")
    if reason is None or any(key.startswith("value") for key in obs):
        return None
    # HL7's code only: a text, or another system's code, may say anything, a name included.
    said = code_in(reason, DATA_ABSENT_REASON)
    return said[0] if said else "dataAbsentReason"


def _results(
    report: Entry | None,
    entries: Sequence[Entry],
    index: _Index,
    subject: _Subject,
    enc: dict[str, Any],
    notes: list[str],
    unread: list[str],
) -> bool:
    """The DXA results into ``enc``; a result of a DXA code dexacode knows that cannot be
    read (no value, a unit it does not read, no side, a region its text does not settle)
    is named in ``unread``: the reading would silently change without it. Returns whether
    the input gives results at all (a DXA report, or an Observation of a DXA code)."""
    table = terms()
    observations = [
        e
        for e in entries
        if e.resource.get("resourceType") == "Observation" and not is_fact_observation(e.resource)
    ]
    chosen: list[Entry] = []
    if report is not None:
        absent: list[str] = []
        for ref in report.resource.get("result") or []:
            found = index.resolve(ref)
            if found is None or found.resource.get("resourceType") != "Observation":
                absent.append(_reference_text(ref) or "?")
            elif not any(found is c for c in chosen):
                chosen.append(found)
        if absent:
            notes.append(
                f"DiagnosticReport names {len(absent)} result(s) not in the input: "
                + ", ".join(absent)
            )
        left = [o for o in observations if not any(o is c for c in chosen)]
        if left:
            notes.append(f"{len(left)} Observation(s) are not results of the DXA report; not used")
    else:
        chosen = observations
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    given_by: dict[tuple[str, str, str], tuple[str, float]] = {}
    any_result = report is not None
    for entry in chosen:
        obs = entry.resource
        label = _label(obs, entry.full_url)
        status = obs.get("status")
        if status in table.observation_status.not_used:
            notes.append(f"{label}: status {status}; not used")
            continue
        if not subject.holds(obs.get("subject")):
            notes.append(f"{label}: its subject is not the Patient of this import; not used")
            continue
        codes = [table.codes[c] for c in _code_in(obs.get("code"), LOINC) if c in table.codes]
        if not codes:
            notes.append(f"{label}: not a DXA result dexacode knows (LOINC); not used")
            continue
        code = codes[0]
        any_result = True
        named = f"{label} ({code.display}, LOINC {code.loinc})"
        said_absent = _absent_reason(obs)
        if said_absent is not None:
            notes.append(f"{named}: no value, the input says why ({said_absent}); read as absent")
            continue
        if not code.site:
            unread.append(f"{named}: its code does not say which side")
            continue
        quantity = obs.get("valueQuantity") or {}
        value = quantity.get("value")
        if not isinstance(value, int | float):
            unread.append(f"{named}: no numeric valueQuantity.value")
            continue
        unit = table.units[code.measure]
        if not table.unit_reads_as(quantity.get("code"), code.measure):
            given = quantity.get("code")
            said = "no UCUM unit code" if given is None else f"the unit code {given!r}"
            unread.append(f"{named}: its valueQuantity has {said}, not {unit.code} (system {UCUM})")
            continue
        problems: list[str] = []
        region = _region(obs, code, label, problems)
        if region is None:
            unread += [
                f"{named}: {why.removeprefix(label + ': ').removesuffix('; not used')}"
                for why in problems
            ]
            continue
        notes += problems
        if status in table.observation_status.not_final:
            notes.append(f"{label}: status {status}, not final; used")
        key = (code.site, region, code.measure)
        if key in given_by:
            first_label, first_value = given_by[key]
            if first_value == float(value):
                notes.append(
                    f"{label} repeats {code.site} {region} {code.measure} of {first_label}; "
                    "read once"
                )
                continue
            # Two values for one region and measure: whichever were kept could decide the
            # category and the diagnosis codes, and notes do not reach a scrubbed batch.
            # Refused, so a person settles which one the reading used.
            hint = (
                ', or name each one\'s vertebrae in Observation.code.text (e.g. "L2-L4")'
                if vertebrae(code.region) is not None
                else ""
            )
            raise FhirInputError(
                f"{first_label} and {label} both give {code.site} {region} {code.measure}, "
                f"with different values; dexacode does not choose between them: remove the "
                f"one the reading did not use{hint}"
            )
        given_by[key] = (label, float(value))
        row = rows.setdefault((code.site, region), {"site": code.site, "region": region})
        row[code.measure] = float(value)
        if "date_of_service" not in enc:
            day = _effective_day(obs, label, notes)
            if day:
                enc["date_of_service"] = day
    if rows:
        enc["results"] = list(rows.values())
    return any_result


def _only_one(entries: Sequence[Entry], what: str, how: str) -> Entry | None:
    if len(entries) > 1:
        raise FhirInputError(f"the input holds {len(entries)} {what}: {how}")
    return entries[0] if entries else None


def _report(report: Entry, subject: _Subject, enc: dict[str, Any], notes: list[str]) -> None:
    """The DXA report's claim id and date; a report in error, or another patient's, is
    refused whole: none of its results may be read as this patient's."""
    res = report.resource
    label = _label(res, report.full_url)
    status = res.get("status")
    rule = terms().report_status
    if status in rule.not_used:
        raise FhirInputError(
            f"the DXA report ({label}) has status {status}: FHIR says it must not be used, "
            "so there is nothing to code; import the report that replaced it"
        )
    if not subject.holds(res.get("subject")):
        raise FhirInputError(
            f"the DXA report ({label}) is not about the Patient in the input; "
            "dexacode imports one patient's report at a time"
        )
    if status in rule.not_final:
        notes.append(f"the DXA report has status {status}, not final; read as it stands")
    tail = (report.full_url or "").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    enc.setdefault("claim_id", str(res.get("id") or tail or "fhir-import"))
    day = _effective_day(res, label, notes) or _date_part(res.get("issued"))
    if day:
        enc["date_of_service"] = day


def _listed_facts(
    entries: Sequence[Entry], index: _Index, subject: _Subject, notes: list[str]
) -> dict[str, list[Entry]]:
    """The Lists dexacode writes for the facts that may be empty (``LISTED_FACTS``): each
    says the fact is known, and names its items (none: "none known")."""
    listed: dict[str, list[Entry]] = {}
    for entry in entries:
        res = entry.resource
        if res.get("resourceType") != "List" or res.get("status") == "entered-in-error":
            continue
        paths = [p for p in _code_in(res.get("code"), FACT_SYSTEM) if p in LISTED_FACTS]
        if not paths:
            notes.append(f"{_label(res, entry.full_url)}: not a list dexacode reads; not used")
            continue
        if not subject.holds(res.get("subject")):
            notes.append(
                f"{_label(res, entry.full_url)}: not about the Patient of this import; not used"
            )
            continue
        items = []
        for item in res.get("entry") or []:
            found = index.resolve(item.get("item") if isinstance(item, Mapping) else None)
            if found is None:
                notes.append(f"{_label(res, entry.full_url)}: an entry is not in the input")
            else:
                items.append(found)
        listed[paths[0]] = items
    return listed


def _fact_observation(res: Mapping[str, Any], enc: dict[str, Any], known: set[str]) -> None:
    """Menopausal status (a value, or dataAbsentReason: not documented) or a risk factor."""
    if res.get("status") in terms().observation_status.not_used:
        return
    patient = enc.setdefault("patient", {})
    if "patient.menopausal_status" in _code_in(res.get("code"), FACT_SYSTEM):
        values = _code_in(res.get("valueCodeableConcept"), MENOPAUSAL_STATUS_SYSTEM)
        if values or res.get("dataAbsentReason"):
            patient["menopausal_status"] = values[0] if values else None
            known.add("patient.menopausal_status")
    if res.get("valueBoolean") is False:
        return  # a factor said absent
    factors = patient.setdefault("risk_factors", [])
    for factor in _code_in(res.get("code"), RISK_FACTOR_SYSTEM):
        if factor not in factors:
            factors.append(factor)
    if not factors:
        del patient["risk_factors"]


def _prior_study(res: Mapping[str, Any], enc: dict[str, Any], notes: list[str]) -> None:
    """A prior study of the history List: its code, date and whether it was paid."""
    if res.get("status") in ("entered-in-error", "not-done"):
        return
    concept = res.get("code")
    codes = procedure_codes(concept)
    period = res.get("performedPeriod")
    day = _date_part(res.get("performedDateTime")) or _date_part(
        period.get("start") if isinstance(period, Mapping) else None
    )
    if not codes or not day:
        notes.append(f"{_label(res)}: a prior study without a CPT code or a date; not used")
        return
    study: dict[str, Any] = {"date_of_service": day, "cpt": codes[0]}
    if any(
        isinstance(ext, Mapping)
        and ext.get("url") == NOT_COVERED_EXTENSION
        and ext.get("valueBoolean") is True
        for ext in res.get("extension") or []
    ):
        study["covered"] = False
    enc.setdefault("history", []).append(study)


def to_encounter(resources: Iterable[Mapping[str, Any] | Entry]) -> FhirImport:
    """The encounter the resources describe, with what is missing for coding it.

    One patient, one DXA report and one Claim per import: an input with more is refused,
    as is a report in error or about another patient. A resource about another patient,
    a result in error or said absent, or a Claim in error or cancelled, is left out with
    a note (before the Claims are counted). A DXA result that cannot be read is
    named in ``unread``. Facts the input does not carry are named in ``unknown``."""
    table = terms()
    entries = _once(resources)
    index = _Index(entries)

    def of_type(rtype: str) -> list[Entry]:
        return [e for e in entries if e.resource.get("resourceType") == rtype]

    patient = _only_one(
        of_type("Patient"),
        "Patient resources",
        "dexacode imports one patient's DXA report at a time; give each patient's "
        "resources in a Bundle or files of their own",
    )
    report = _only_one(
        [
            e
            for e in of_type("DiagnosticReport")
            if any(c in table.report_panels for c in _code_in(e.resource.get("code"), LOINC))
        ],
        "DXA reports (DiagnosticReport)",
        "dexacode imports one report at a time, as one encounter; give each report, with "
        "its Observations, in a Bundle or files of its own",
    )
    subject = _Subject(patient, report, index)
    enc: dict[str, Any] = {}
    notes: list[str] = []
    claim = _only_one(
        _live_claims(of_type("Claim"), subject, notes),
        "Claims",
        "dexacode checks one claim at a time, as one encounter; give each claim in a "
        "Bundle of its own",
    )
    known: set[str] = set()
    listed = _listed_facts(entries, index, subject, notes)
    known.update(listed)
    prior = {id(e) for e in listed.get("history", [])}
    for entry in entries:
        res = entry.resource
        rtype = res.get("resourceType")
        if rtype not in READ_TYPES:
            if rtype not in PASSED_OVER:
                notes.append(f"{rtype}: not read by dexacode")
            continue
        if rtype in ("DiagnosticReport", "List", "Claim") or (
            rtype == "Observation" and not is_fact_observation(res)
        ):
            continue  # the DXA report, its results and the Claim are read below, the Lists above
        if rtype != "Patient" and not subject.holds(res.get(SUBJECT_ELEMENT.get(rtype, "subject"))):
            notes.append(
                f"{_label(res, entry.full_url)}: not about the Patient of this import; not used"
            )
            continue
        if rtype == "Patient":
            _patient(res, enc, notes)
        elif rtype == "Coverage":
            _coverage(res, enc)
        elif rtype == "Procedure" and id(entry) in prior:
            _prior_study(res, enc, notes)
        elif rtype in ("ServiceRequest", "Procedure"):
            _order(res, enc)
        elif rtype == "Condition":
            for code in _code_in(res.get("code"), ICD10CM):
                _add_condition(enc, code)
        elif rtype in ("MedicationStatement", "MedicationRequest"):
            _medication(res, enc, notes)
        elif rtype == "Observation":
            _fact_observation(res, enc, known)
    if claim is not None:
        for ident in claim.resource.get("identifier") or []:
            if ident.get("system") == CLAIM_ID_SYSTEM and ident.get("value"):
                enc["claim_id"] = str(ident["value"])
    if report is not None:
        _report(report, subject, enc, notes)
    unread: list[str] = []
    if _results(report, entries, index, subject, enc, notes, unread):
        known.add("results")
    claim_facts: frozenset[str] | None = None
    if claim is not None:
        given = read_claim(claim.resource, lambda ref: _resolved(index, ref), enc, notes)
        known.update(given)
        facts_from_modifiers(enc, given)
        claim_facts = frozenset(given)
    if enc.get("patient", {}).get("sex") == "M":
        known.add("patient.menopausal_status")  # always null for a man
    unknown = [fact for fact in UNKNOWN_FROM_FHIR if fact not in known]
    if claim is not None and "submitted" not in known:
        unknown.append("submitted")  # a Claim was sent but not read: its checks say so
    if unknown:
        enc["unknown"] = unknown
    return FhirImport(enc, _missing(enc, unread), notes, unread, claim_facts)


def _live_claims(claims: Sequence[Entry], subject: _Subject, notes: list[str]) -> list[Entry]:
    """The Claims to check: one entered in error or cancelled is no claim, and one about
    another patient is not this encounter's; both are left out with a note."""
    live: list[Entry] = []
    for entry in claims:
        res = entry.resource
        label = _label(res, entry.full_url)
        why = not_a_claim(res)
        if why is not None:
            notes.append(f"{label}: {why}; not checked")
        elif not subject.holds(res.get("patient")):
            notes.append(f"{label}: not about the Patient of this import; not used")
        else:
            live.append(entry)
    return live


def _resolved(index: _Index, ref: Any) -> Mapping[str, Any] | None:
    found = index.resolve(ref)
    return found.resource if found is not None else None


# --- what is missing, and supplying it -----------------------------------------------------


_ABSENT = object()


def _at(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or _ABSENT when the path is not there."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def _get(data: Mapping[str, Any], path: str) -> Any:
    value = _at(data, path)
    return None if value is _ABSENT else value


def _has(data: Mapping[str, Any], path: str) -> bool:
    return _at(data, path) is not _ABSENT


def _lacks(enc: Mapping[str, Any], path: str) -> bool:
    value = _get(enc, path)
    if path == "exam.sites" and value == [] and _get(enc, "exam.vfa") is True:
        return False  # VFA alone: no density site was measured
    return value in (None, [], "")


def missing_facts(enc: Mapping[str, Any]) -> list[Missing]:
    return [Missing(path, how) for path, how in SUPPLY.items() if _lacks(enc, path)]


def _missing(enc: Mapping[str, Any], unread: Sequence[str]) -> list[Missing]:
    """The facts still to supply: the required ones FHIR lacked, and the results when one
    could not be read (unless results were supplied)."""
    out = missing_facts(enc)
    if unread:
        out.append(
            Missing(
                "results",
                "a corrected Observation (a numeric value in its UCUM unit), or [[results]] "
                "in the overlay; not read: " + "; ".join(unread),
            )
        )
    return out


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` laid over ``base``: tables merge, other values replace."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_overlay(path: Path) -> dict[str, Any]:
    """An overlay file: part of an encounter, as TOML (``.toml``) or JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FhirInputError(f"{path}: no such overlay file") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise FhirInputError(f"{path.name}: not valid {kind} ({exc})") from None
    if not isinstance(data, dict):
        raise FhirInputError(f"{path.name}: an overlay is a table of encounter fields")
    overlay: dict[str, Any] = _dates_as_text(data)
    return overlay


def _dates_as_text(data: Any) -> Any:
    """TOML dates become the contract's YYYY-MM-DD strings."""
    if isinstance(data, dict):
        return {k: _dates_as_text(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_dates_as_text(v) for v in data]
    if hasattr(data, "isoformat") and not isinstance(data, str):
        return data.isoformat()
    return data


def supply(imported: FhirImport, extra: Mapping[str, Any]) -> FhirImport:
    """The import with facts from an overlay or options laid over it: a fact given is no
    longer unknown, and results given stand in for those that could not be read."""
    enc = merge(imported.encounter, extra)
    if "unknown" not in extra and enc.get("unknown"):
        enc["unknown"] = [fact for fact in enc["unknown"] if not _has(extra, fact)]
        if not enc["unknown"]:
            del enc["unknown"]
    unread = [] if "results" in extra else list(imported.unread)
    claim_facts = imported.claim_facts
    if claim_facts is not None:
        # The Claim's modifiers read with the payer and date as given now (an overlay or
        # an option may be the first to give them); a fact given outright stays as given.
        claim_facts = claim_facts | {path for path in CLAIM_FACTS if _has(extra, path)}
        facts_from_modifiers(enc, set(claim_facts))
    return FhirImport(enc, _missing(enc, unread), list(imported.notes), unread, claim_facts)


def import_files(paths: Sequence[Path]) -> FhirImport:
    return to_encounter(gather_entries(paths))
