"""The rule book: TOML tables shipped in ``dexacode/rules`` plus payer profiles.

Loading validates every row (a broken file fails loudly, naming the file and the row);
``RuleBook.in_force(date, payer)`` answers with a ``RuleSet``: the rows in force on that
date of service, with the payer's profile applied. Rule sets are cached per stretch of
dates in which nothing changes, so coding many encounters costs one build per stretch.
"""

from __future__ import annotations

import bisect
import datetime as dt
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dexacode.quoting import quoted

Severity = Literal["error", "warning", "info"]


class RuleBookError(Exception):
    """A rule file is missing, malformed, or contradicts another."""


class PayerProfileError(RuleBookError):
    """A payer profile the user added (--payers, $DEXACODE_PAYERS, the config file) is
    malformed or contradicts the rule book: the user's file to fix, not dexacode's."""


class InputError(ValueError):
    """The encounter asks for something the rule book cannot answer (bad payer or date)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- row models --------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dated(_Model):
    """A row in force from ``effective`` through ``ends`` (inclusive), citing sources."""

    effective: dt.date
    ends: dt.date | None = None
    source: tuple[str, ...]

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    def in_force(self, day: dt.date) -> bool:
        return self.effective <= day and (self.ends is None or day <= self.ends)


class Source(_Model):
    title: str
    url: str


class Site(Dated):
    name: str
    group: Literal["axial", "appendicular"]
    label: str
    bone: str


class Procedure(Dated):
    cpt: str
    description: str
    group: Literal["axial", "peripheral", "vfa"]
    bmm: bool
    includes_vfa: bool = False
    mue: int = Field(ge=1)
    # The MUE adjudication indicator of a loaded MUE table (1, 2 or 3); 0 for the shipped
    # values. procedures.toml [[mue_adjudication]] says what each means.
    mue_indicator: int = Field(default=0, ge=0, le=3)
    derivable: bool = True


class MueAdjudication(Dated):
    """What an MUE adjudication indicator means: units counted per claim line or per
    date of service, and what happens to units past the limit."""

    indicator: int = Field(ge=0, le=3)  # 0: the shipped values, which carry none
    per: Literal["line", "date"]
    where: str  # how a message says it: "on one date"
    past_the_limit: str = ""


class ProcedureChoice(Dated):
    axial: str
    axial_with_vfa: str
    peripheral: str
    vfa_alone: str


class PtpPair(Dated):
    column1: str
    column2: str
    modifier_indicator: Literal[0, 1, 9]
    finding: str | None = None
    replace_with: str | None = None


class ModifierKind(_Model):
    name: str
    rank: int
    keep_on_overflow: bool


class Modifier(Dated):
    code: str
    kind: str
    meaning: str
    subset_of: str | None = None  # an X modifier names 59: never both on one line


class Arrangement(Dated):
    equipment_owner: str
    interprets: bool
    component: str


class RiskFactor(Dated):
    name: str
    label: str
    code: str | None = None
    no_code_note: str | None = None


class DrugClass(Dated):
    name: str
    label: str
    code: str | None = None
    osteoporosis_therapy: bool = False
    bone_loss_risk: bool = False
    confirm_with_risk_factor: str | None = None


class Drug(Dated):
    name: str
    drug_class: str = Field(alias="class")


class ScaleRule(Dated):
    t_score_from_age: int
    t_score_menopausal_statuses: tuple[str, ...]


class RegionRule(Dated):
    lumbar_site: str
    lumbar_preferred: str
    lumbar_min_vertebrae: int = Field(ge=2)
    hip_regions: tuple[str, ...]
    hip_sites: tuple[str, ...]
    forearm_regions: tuple[str, ...]
    forearm_sites: tuple[str, ...]


class Category(Dated):
    """A reading category; bounds: max/min inclusive, below/above exclusive."""

    name: str
    label: str
    max: float | None = None
    min: float | None = None
    below: float | None = None
    above: float | None = None
    needs_fragility_fracture: bool = False

    def holds(self, score: float) -> bool:
        return (
            (self.max is None or score <= self.max)
            and (self.min is None or score >= self.min)
            and (self.below is None or score < self.below)
            and (self.above is None or score > self.above)
        )


class SeedGaps(Dated):
    exactly: tuple[float, ...]
    above: float


class ReadingCodes(Dated):
    by_category: dict[str, str]
    by_site_categories: tuple[str, ...]
    low_bone_mass_threshold: float
    multiple_sites: str
    unspecified: str
    low_bone_mass_by_bone: dict[str, str]


class EncounterCodes(Dated):
    screening: str
    postmenopausal: str
    healed_fragility_fracture: str
    drug_therapy_completed: str
    screening_reasons: tuple[str, ...]
    follow_up_reasons: tuple[str, ...]
    postmenopausal_statuses: tuple[str, ...]
    fact_order: tuple[str, ...]


class DocumentedWins(Dated):
    condition_prefixes: tuple[str, ...]
    suppresses: tuple[str, ...]
    why: str


class PrefixRule(Dated):
    condition_prefixes: tuple[str, ...] = ()
    history_prefixes: tuple[str, ...] = ()


class DiagnosisLimits(Dated):
    max_professional: int
    max_institutional: int
    pointers_per_line: int


class CodeList(Dated):
    codes: tuple[str, ...]


class Indication(Dated):
    women_from_age: int
    men_from_age: int
    women_with_risk_statuses: tuple[str, ...]
    men_with_risk_from_age: int


class MedicareCategory(Dated):
    name: str
    rank: int
    label: str
    record: str
    sex: Literal["F", "M"] | None = None
    order_reasons: tuple[str, ...] = ()
    menopausal_statuses: tuple[str, ...] = ()
    risk_factors: tuple[str, ...] = ()
    drug_classes: tuple[str, ...] = ()
    preferred_for: tuple[str, ...] = ()


class MonitoringRule(Dated):
    order_reasons: tuple[str, ...]
    allowed_codes: tuple[str, ...]


class FrequencyRule(Dated):
    default_months: int = Field(ge=1)


class FrequencyException(Dated):
    name: str
    order_reason: str
    label: str
    requires_risk_factor: str | None = None


class ConfirmBaselineRule(Dated):
    order_reason: str
    axial_dxa_codes: tuple[str, ...]


class FindingRule(Dated):
    id: str
    severity: Severity
    title: str
    why: str
    message: str
    action: str
    expected_denial: bool = False
    # Encounter facts the rule judges; when the source could not carry one of them
    # (Encounter.unknown), the rule is reported as not judged instead of firing.
    needs: tuple[str, ...] = ()


class CoveredListInfo(Dated):
    """A covered-diagnosis list: its name, what it is, and the procedures it governs."""

    name: str
    label: str
    procedures: tuple[str, ...]


class CoveredCode(Dated):
    """One entry of a covered list: a code (``M81.0``), a code and everything under it
    (``M80.-``), or with ``noncovered`` a code the list names as not covered."""

    list_name: str = Field(alias="list")
    code: str
    except_codes: tuple[str, ...] = Field(default=(), alias="except")
    group: int = 0
    noncovered: bool = False
    # False where the code's place on the list is inferred, not read in the source.
    confirmed: bool = True

    model_config = ConfigDict(populate_by_name=True)


class PairingRule(Dated):
    """ "Must be billed with": a claim carrying one of ``codes`` must also carry one of
    ``with_codes`` (patterns as in ``CoveredCode``; ``A..B`` is a range)."""

    list_name: str = Field(alias="list")
    group: int = 0
    codes: tuple[str, ...]
    with_codes: tuple[str, ...]
    text: str

    model_config = ConfigDict(populate_by_name=True)


class CoveredAttachment(Dated):
    """A loaded coverage article attached to a payer: it replaces the profile's list."""

    payer: str
    list_name: str


class Edition(Dated):
    """A loaded dataset edition, in force over the dates it governs."""

    kind: str
    label: str
    payer: str | None = None  # an article's edition counts only for its payer


# Which code of an axial + peripheral pair takes the distinct-service modifier: "pair" the
# pair edit's column 2 (NCCI's rule, and where CMS keys its frequency-edit bypass), or the
# code of the named group, for payers whose own policy says so.
DistinctPlacement = Literal["pair", "axial", "peripheral"]


class ProfileChange(Dated):
    """Profile settings that change from a date on (python-holidays style)."""

    medicare_family: bool | None = None
    abn_modifiers: bool | None = None
    distinct_modifier: str | None = None
    distinct_modifiers_accepted: tuple[str, ...] | None = None
    distinct_placement: DistinctPlacement | None = None
    frequency_months: int | None = None
    same_day_warning: bool | None = None
    severity: dict[str, Severity] | None = None
    # Which covered-diagnosis list applies ("" for none); inherited, optional.
    covered_list: str | None = None


class PayerProfile(Dated):
    name: str
    label: str
    extends: str | None = None
    medicare_family: bool | None = None
    abn_modifiers: bool | None = None
    distinct_modifier: str | None = None
    distinct_modifiers_accepted: tuple[str, ...] | None = None
    distinct_placement: DistinctPlacement | None = None
    frequency_months: int | None = Field(default=None, ge=1)
    same_day_warning: bool | None = None
    severity: dict[str, Severity] = Field(default_factory=dict)
    covered_list: str | None = None
    change: tuple[ProfileChange, ...] = ()


@dataclass(frozen=True)
class PayerSettings:
    """A payer profile as it stands on one date, inheritance and changes applied."""

    name: str
    label: str
    medicare_family: bool
    abn_modifiers: bool
    distinct_modifier: str
    distinct_modifiers_accepted: tuple[str, ...]
    distinct_placement: DistinctPlacement
    frequency_months: int
    same_day_warning: bool
    severity: Mapping[str, Severity]
    sources: tuple[str, ...]
    covered_list: str | None = None

    @property
    def family(self) -> str:
        """Who pays, for frequency: "medicare" for every Medicare-family payer (a study
        Medicare Advantage paid counts for Medicare), else the payer itself."""
        return "medicare" if self.medicare_family else self.name


# The settings a payer profile makes. A profile without `extends` sets every one of them,
# except frequency_months, which defaults to coverage.toml's [frequency] default_months,
# and distinct_placement, which defaults to modifiers.toml's distinct_placement.
_SETTINGS = (
    "medicare_family",
    "abn_modifiers",
    "distinct_modifier",
    "distinct_modifiers_accepted",
    "distinct_placement",
    "frequency_months",
    "same_day_warning",
)
_DEFAULTED_SETTINGS = ("frequency_months", "distinct_placement")

# --- loading -----------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def _read_toml(path: Path | resources.abc.Traversable, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RuleBookError(f"{label}: file is missing") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RuleBookError(f"{label}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise RuleBookError(f"{label}: not UTF-8 text (byte {exc.start + 1})") from exc
    except IsADirectoryError as exc:
        raise RuleBookError(f"{label}: is a folder, not a file") from exc
    except OSError as exc:
        raise RuleBookError(f"{label}: cannot be read ({exc.strerror})") from exc


def _describe(err: ValidationError) -> str:
    parts = []
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(row)"
        parts.append(f"field '{where}': {item['msg']}")
    return "; ".join(parts)


def _row(model: type[M], data: object, label: str, where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        name = ""
        if isinstance(data, dict):
            for key in ("id", "name", "cpt", "code", "column1"):
                if key in data:
                    name = f" ({key} {data[key]!r})"
                    break
        raise RuleBookError(f"{label}: {where}{name}: {_describe(exc)}") from exc


def _rows(model: type[M], data: Mapping[str, Any], key: str, label: str) -> tuple[M, ...]:
    raw = data.get(key)
    if raw is None:
        raise RuleBookError(f"{label}: no [[{key}]] rows")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise RuleBookError(f"{label}: [{key}] must be a table or an array of tables")
    return tuple(_row(model, item, label, f"[{key}] row {i + 1}") for i, item in enumerate(raw))


_FILES = (
    "book",
    "sources",
    "sites",
    "procedures",
    "ptp",
    "modifiers",
    "facts",
    "interpretation",
    "diagnoses",
    "coverage",
    "covered_dx",
    "findings",
)


@dataclass(frozen=True, eq=False)  # identity equality: books are cached by identity
class RuleBook:
    """Every row of the rule book, all dates; ask ``in_force`` for one date and payer."""

    version: str
    covers_from: dt.date
    sources: Mapping[str, Source]
    sites: tuple[Site, ...]
    procedures: tuple[Procedure, ...]
    procedure_choice: tuple[ProcedureChoice, ...]
    ptp: tuple[PtpPair, ...]
    modifier_kinds: tuple[ModifierKind, ...]
    modifiers: tuple[Modifier, ...]
    max_modifiers_per_line: int
    substitute_max_days: int
    substitute_components: tuple[str, ...]
    distinct_placement: DistinctPlacement
    modifier_map: Mapping[str, Any]
    arrangements: tuple[Arrangement, ...]
    risk_factors: tuple[RiskFactor, ...]
    drug_classes: tuple[DrugClass, ...]
    drugs: tuple[Drug, ...]
    scale: tuple[ScaleRule, ...]
    regions: tuple[RegionRule, ...]
    t_categories: tuple[Category, ...]
    z_categories: tuple[Category, ...]
    seed_gaps: tuple[SeedGaps, ...]
    reading: tuple[ReadingCodes, ...]
    encounter_codes: tuple[EncounterCodes, ...]
    documented_wins: tuple[DocumentedWins, ...]
    fragility_fracture: tuple[PrefixRule, ...]
    z09: tuple[PrefixRule, ...]
    diagnosis_limits: tuple[DiagnosisLimits, ...]
    vfa_screening: tuple[CodeList, ...]
    indication: tuple[Indication, ...]
    medicare_categories: tuple[MedicareCategory, ...]
    monitoring: tuple[MonitoringRule, ...]
    frequency: tuple[FrequencyRule, ...]
    frequency_exceptions: tuple[FrequencyException, ...]
    mue_adjudication: tuple[MueAdjudication, ...]
    confirm_baseline: tuple[ConfirmBaselineRule, ...]
    findings: tuple[FindingRule, ...]
    payers: Mapping[str, PayerProfile]
    payer_files: Mapping[str, str]
    covered_lists: tuple[CoveredListInfo, ...] = ()
    covered_codes: tuple[CoveredCode, ...] = ()
    pairings: tuple[PairingRule, ...] = ()
    # Rows only loaded data adds (dexacode.data.overlay): attachments and editions.
    covered_attachments: tuple[CoveredAttachment, ...] = ()
    editions: tuple[Edition, ...] = ()

    # -- asking -------------------------------------------------------------------------

    def payer_names(self) -> list[str]:
        return sorted(self.payers)

    def finding(self, finding_id: str) -> FindingRule:
        """The newest row of a finding id (for explanations)."""
        rows = [f for f in self.findings if f.id == finding_id]
        if not rows:
            raise KeyError(finding_id)
        return max(rows, key=lambda f: f.effective)

    def finding_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.findings:
            seen.setdefault(row.id, None)
        return list(seen)

    def in_force(self, day: dt.date, payer: str) -> RuleSet:
        if day < self.covers_from:
            raise InputError(
                "date_of_service",
                f"{day.isoformat()} is before {self.covers_from.isoformat()}, the start of "
                "ICD-10-CM and of this rule book; earlier services are not coded here",
            )
        if payer not in self.payers:
            # Not matched loosely ("Medicare"): the name also picks the payer's entry in
            # an 837's provider file, which must not fall back to another payer.
            near = [p for p in self.payer_names() if p.lower() == payer.lower()]
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise InputError(
                "payer",
                f"unknown payer profile {quoted(payer)}{hint}; expected one of "
                f"{', '.join(self.payer_names())} (add your own with --payers DIR)",
            )
        stretch = bisect.bisect_right(self._borders, day)
        return self._ruleset(stretch, payer)

    # -- internals ----------------------------------------------------------------------

    @property
    def _borders(self) -> list[dt.date]:
        return _borders_of(self)

    def _ruleset(self, stretch: int, payer: str) -> RuleSet:
        return _ruleset_for(self, stretch, payer)


def _all_dated(book: RuleBook) -> Iterable[Dated]:
    for value in vars(book).values():
        if isinstance(value, tuple):
            for row in value:
                if isinstance(row, Dated):
                    yield row
    for profile in book.payers.values():
        yield profile
        yield from profile.change


@cache
def _borders_of(book: RuleBook) -> list[dt.date]:
    days: set[dt.date] = set()
    for row in _all_dated(book):
        days.add(row.effective)
        if row.ends is not None:
            days.add(row.ends + dt.timedelta(days=1))
    return sorted(days)


@cache
def _ruleset_for(book: RuleBook, stretch: int, payer: str) -> RuleSet:
    borders = _borders_of(book)
    day = borders[stretch - 1] if stretch > 0 else book.covers_from
    return RuleSet.build(book, max(day, book.covers_from), payer)


@dataclass(frozen=True)
class CodePatterns:
    """ICD-10-CM code patterns: exact codes, ``X-`` prefixes (with their exceptions) and
    ``A..B`` ranges, all written dotted (``M85.8-``); ``matches`` takes a dotted code."""

    exact: frozenset[str] = frozenset()
    prefixes: tuple[tuple[str, frozenset[str]], ...] = ()
    ranges: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, patterns: Iterable[tuple[str, Iterable[str]]]) -> CodePatterns:
        exact: set[str] = set()
        prefixes: list[tuple[str, frozenset[str]]] = []
        ranges: list[tuple[str, str]] = []
        for pattern, excluded in patterns:
            text = pattern.strip().upper()
            if ".." in text:
                low, high = text.split("..", 1)
                ranges.append((low.strip(), high.strip()))
            elif text.endswith("-"):
                prefixes.append((text.rstrip("-").rstrip("."), frozenset(excluded)))
            else:
                exact.add(text)
        return cls(frozenset(exact), tuple(prefixes), tuple(ranges))

    def matches(self, code: str) -> bool:
        if code in self.exact:
            return True
        for prefix, excluded in self.prefixes:
            if code.startswith(prefix) and code not in excluded:
                return True
        return any(low <= code <= high or code.startswith(high) for low, high in self.ranges)

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefixes or self.ranges)


@dataclass(frozen=True)
class Pairing:
    """A "must be billed with" rule in force: ``codes`` need one of ``partners`` beside."""

    group: int
    codes: CodePatterns
    partners: CodePatterns
    partner_text: str
    text: str


@dataclass(frozen=True)
class CoveredDx:
    """The covered-diagnosis list that applies to one payer on one date."""

    name: str
    label: str
    sources: tuple[str, ...]
    procedures: frozenset[str]
    covered: CodePatterns
    noncovered: CodePatterns
    pairings: tuple[Pairing, ...]
    examples: tuple[str, ...]


def _covered_for(book: RuleBook, settings: PayerSettings, day: dt.date) -> CoveredDx | None:
    attached = [a for a in _live(book.covered_attachments, day) if a.payer == settings.name]
    name = max(attached, key=lambda a: a.effective).list_name if attached else None
    name = name or settings.covered_list
    if not name:
        return None
    infos = [i for i in _live(book.covered_lists, day) if i.name == name]
    if not infos:
        return None
    info = infos[-1]
    rows = [c for c in _live(book.covered_codes, day) if c.list_name == name]
    pairings = [p for p in _live(book.pairings, day) if p.list_name == name]
    return CoveredDx(
        name=name,
        label=info.label,
        sources=tuple(dict.fromkeys(k for r in (info, *rows) for k in r.source)),
        procedures=frozenset(info.procedures),
        covered=CodePatterns.of((r.code, r.except_codes) for r in rows if not r.noncovered),
        noncovered=CodePatterns.of((r.code, r.except_codes) for r in rows if r.noncovered),
        pairings=tuple(
            Pairing(
                group=p.group,
                codes=CodePatterns.of((c, ()) for c in p.codes),
                partners=CodePatterns.of((c, ()) for c in p.with_codes),
                partner_text=", ".join(p.with_codes),
                text=p.text,
            )
            for p in pairings
        ),
        examples=tuple(r.code for r in rows if not r.noncovered),
    )


def _pick(rows: Sequence[M], day: dt.date, what: str) -> M:
    live = [r for r in rows if isinstance(r, Dated) and r.in_force(day)]
    if len(live) != 1:
        state = "no version" if not live else f"{len(live)} versions"
        raise RuleBookError(f"{what}: {state} in force on {day.isoformat()}")
    return live[0]


def _live(rows: Iterable[M], day: dt.date) -> list[M]:
    return [r for r in rows if isinstance(r, Dated) and r.in_force(day)]


@dataclass(frozen=True)
class RuleSet:
    """The rules in force on one date of service for one payer: what the engine reads."""

    version: str
    day: dt.date
    sources: Mapping[str, Source]
    sites: Mapping[str, Site]
    procedures: Mapping[str, Procedure]
    choice: ProcedureChoice
    ptp: Mapping[frozenset[str], PtpPair]
    modifier_kinds: Mapping[str, ModifierKind]
    modifiers: Mapping[str, Modifier]
    max_modifiers_per_line: int
    substitute_max_days: int
    substitute_components: tuple[str, ...]
    component_modifier: Mapping[str, str]
    # The parts of a study (professional, technical) a component, or an institutional
    # claim, bills: overlapping parts on two claims of one date are a duplicate.
    parts_billed: Mapping[str, tuple[str, ...]]
    arrangements: Mapping[tuple[str, bool], str]
    status_modifier: Mapping[str, Mapping[str, str]]
    substitute_modifier: Mapping[str, str]
    liability_modifier: Mapping[str, str]
    risk_factors: Mapping[str, RiskFactor]
    drug_classes: Mapping[str, DrugClass]
    drugs: Mapping[str, Drug]
    scale: ScaleRule
    regions: RegionRule
    t_categories: tuple[Category, ...]
    z_categories: tuple[Category, ...]
    seed_gaps: SeedGaps
    reading: ReadingCodes
    encounter_codes: EncounterCodes
    documented_wins: tuple[DocumentedWins, ...]
    fragility_fracture: PrefixRule
    z09: PrefixRule
    diagnosis_limits: DiagnosisLimits
    vfa_screening: CodeList
    indication: Indication
    medicare_categories: tuple[MedicareCategory, ...]
    monitoring: MonitoringRule
    frequency: FrequencyRule
    frequency_exceptions: Mapping[str, FrequencyException]
    mue_adjudication: Mapping[int, MueAdjudication]
    confirm_baseline: ConfirmBaselineRule
    findings: Mapping[str, FindingRule]
    payer: PayerSettings
    covered: CoveredDx | None = None
    editions: tuple[str, ...] = ()

    @classmethod
    def build(cls, book: RuleBook, day: dt.date, payer: str) -> RuleSet:
        settings = _payer_settings(book, payer, day)
        findings: dict[str, FindingRule] = {}
        for row in _live(book.findings, day):
            override = settings.severity.get(row.id)
            findings[row.id] = row.model_copy(update={"severity": override}) if override else row
        mm = book.modifier_map
        return cls(
            version=book.version,
            day=day,
            sources=book.sources,
            sites={s.name: s for s in _live(book.sites, day)},
            procedures={p.cpt: p for p in _live(book.procedures, day)},
            choice=_pick(book.procedure_choice, day, "procedures.toml [choice]"),
            ptp={frozenset((p.column1, p.column2)): p for p in _live(book.ptp, day)},
            modifier_kinds={k.name: k for k in book.modifier_kinds},
            modifiers={m.code: m for m in _live(book.modifiers, day)},
            max_modifiers_per_line=book.max_modifiers_per_line,
            substitute_max_days=book.substitute_max_days,
            substitute_components=book.substitute_components,
            component_modifier=mm["component"],
            parts_billed={k: tuple(v) for k, v in mm["parts_billed"].items()},
            arrangements={
                (a.equipment_owner, a.interprets): a.component
                for a in _live(book.arrangements, day)
            },
            status_modifier=mm["status"],
            substitute_modifier=mm["substitute"],
            liability_modifier=mm["liability"],
            risk_factors={r.name: r for r in _live(book.risk_factors, day)},
            drug_classes={c.name: c for c in _live(book.drug_classes, day)},
            drugs={d.name.lower(): d for d in _live(book.drugs, day)},
            scale=_pick(book.scale, day, "interpretation.toml [scale]"),
            regions=_pick(book.regions, day, "interpretation.toml [regions]"),
            t_categories=tuple(_live(book.t_categories, day)),
            z_categories=tuple(_live(book.z_categories, day)),
            seed_gaps=_pick(book.seed_gaps, day, "interpretation.toml [seed_gaps]"),
            reading=_pick(book.reading, day, "diagnoses.toml [reading]"),
            encounter_codes=_pick(book.encounter_codes, day, "diagnoses.toml [encounter]"),
            documented_wins=tuple(_live(book.documented_wins, day)),
            fragility_fracture=_pick(
                book.fragility_fracture, day, "diagnoses.toml [fragility_fracture]"
            ),
            z09=_pick(book.z09, day, "diagnoses.toml [z09]"),
            diagnosis_limits=_pick(book.diagnosis_limits, day, "diagnoses.toml [limits]"),
            vfa_screening=_pick(book.vfa_screening, day, "diagnoses.toml [vfa_screening]"),
            indication=_pick(book.indication, day, "coverage.toml [indication]"),
            medicare_categories=tuple(
                sorted(_live(book.medicare_categories, day), key=lambda c: c.rank)
            ),
            monitoring=_pick(book.monitoring, day, "coverage.toml [monitoring]"),
            frequency=_pick(book.frequency, day, "coverage.toml [frequency]"),
            frequency_exceptions={e.name: e for e in _live(book.frequency_exceptions, day)},
            mue_adjudication={m.indicator: m for m in _live(book.mue_adjudication, day)},
            confirm_baseline=_pick(book.confirm_baseline, day, "coverage.toml [confirm_baseline]"),
            findings=findings,
            payer=settings,
            covered=_covered_for(book, settings, day),
            editions=tuple(
                e.label
                for e in sorted(_live(book.editions, day), key=lambda e: e.kind)
                if e.payer is None or e.payer == payer
            ),
        )

    # Small conveniences the engine uses in many places.
    def procedure_group(self, cpt: str) -> str | None:
        proc = self.procedures.get(cpt)
        return proc.group if proc else None

    def is_bmm(self, cpt: str) -> bool:
        proc = self.procedures.get(cpt)
        return bool(proc and proc.bmm)


def _payer_settings(book: RuleBook, name: str, day: dt.date) -> PayerSettings:
    chain: list[PayerProfile] = []
    current: str | None = name
    while current is not None:
        profile = book.payers[current]
        chain.append(profile)
        current = profile.extends
    values: dict[str, Any] = {
        "frequency_months": _pick(book.frequency, day, "coverage.toml [frequency]").default_months,
        "distinct_placement": book.distinct_placement,
    }
    covered_list: str | None = None
    severity: dict[str, Severity] = {}
    sources: list[str] = []
    for profile in reversed(chain):  # base first, the named profile last
        layers: list[ProfileChange | PayerProfile] = [profile]
        layers += sorted((c for c in profile.change if c.in_force(day)), key=lambda c: c.effective)
        for layer in layers:
            for key in _SETTINGS:
                value = getattr(layer, key)
                if value is not None:
                    values[key] = value
            severity.update(layer.severity or {})
            if layer.covered_list is not None:
                covered_list = layer.covered_list
            sources += [s for s in layer.source if s not in sources]
    accepted = tuple(values["distinct_modifiers_accepted"])
    # An empty distinct_modifier means the payer wants none on these pairs.
    if values["distinct_modifier"] and values["distinct_modifier"] not in accepted:
        accepted = (values["distinct_modifier"], *accepted)
    return PayerSettings(
        name=name,
        label=chain[0].label,
        medicare_family=values["medicare_family"],
        abn_modifiers=values["abn_modifiers"],
        distinct_modifier=values["distinct_modifier"],
        distinct_modifiers_accepted=accepted,
        distinct_placement=values["distinct_placement"],
        frequency_months=values["frequency_months"],
        same_day_warning=values["same_day_warning"],
        severity=severity,
        sources=tuple(sources),
        covered_list=covered_list or None,
    )


def _check_value_sources(raw: Mapping[str, Mapping[str, Any]], sources: Mapping[str, Any]) -> None:
    """A single value at a file's top (``max_per_line``) cites its sources in a sibling
    ``<name>_source`` key; those must be sources the book knows, as a row's must."""
    for file, table in raw.items():
        for key, value in table.items():
            if not key.endswith("_source"):
                continue
            cited = [value] if isinstance(value, str) else value
            unknown = [s for s in cited if s not in sources]
            if unknown or not cited:
                raise RuleBookError(
                    f"rules/{file}.toml: {key} cites "
                    f"{'unknown source ' + ', '.join(map(str, unknown)) if unknown else 'nothing'}"
                )


def _check_parts_billed(modifier_map: Mapping[str, Any]) -> None:
    """Every component, and the institutional claim, names the parts of a study it bills,
    each one of the parts the global study is made of (a misspelt part would turn a
    duplicate into a split)."""
    parts = modifier_map["parts_billed"]
    whole = set(parts.get("global") or ())
    for kind in [*modifier_map["component"], "institutional"]:
        billed = parts.get(kind)
        if not billed or not all(isinstance(p, str) for p in billed):
            raise RuleBookError(
                f"rules/modifiers.toml: [parts_billed] needs {kind} = a list of the parts "
                "of a study it bills"
            )
        unknown = sorted(set(billed) - whole)
        if unknown:
            raise RuleBookError(
                f"rules/modifiers.toml: [parts_billed] {kind} names {', '.join(unknown)}, "
                f"not a part of the global study ({', '.join(sorted(whole))})"
            )


def _distinct_placement(value: object) -> DistinctPlacement:
    allowed = get_args(DistinctPlacement)
    if value not in allowed:
        raise RuleBookError(
            f"rules/modifiers.toml: distinct_placement must be one of {', '.join(allowed)}, "
            f"not {value!r}"
        )
    return cast(DistinctPlacement, value)


def _shipped() -> resources.abc.Traversable:
    return resources.files("dexacode") / "rules"


def _load_payers(
    dirs: Sequence[Path | resources.abc.Traversable],
) -> tuple[dict[str, PayerProfile], dict[str, str]]:
    profiles: dict[str, PayerProfile] = {}
    files: dict[str, str] = {}
    for folder in dirs:
        if isinstance(folder, Path) and not folder.is_dir():
            raise RuleBookError(f"{folder}: payer profile folder does not exist")
        entries = sorted(
            (e for e in folder.iterdir() if e.name.endswith(".toml")), key=lambda e: e.name
        )
        for entry in entries:
            label = str(entry) if isinstance(entry, Path) else f"rules/payers/{entry.name}"
            data = _read_toml(entry, label)
            profile = _row(PayerProfile, data, label, "profile")
            profiles[profile.name] = profile  # a later folder's profile replaces a shipped one
            files[profile.name] = label
    return profiles, files


def load_rulebook(payer_dirs: Sequence[Path] = ()) -> RuleBook:
    """Load and validate the shipped rule book, plus payer profiles from ``payer_dirs``.

    A failure that goes away without ``payer_dirs`` is the user's profiles' fault and is
    raised as ``PayerProfileError``."""
    dirs = tuple(Path(p).resolve() for p in payer_dirs)
    try:
        return _load(dirs)
    except RuleBookError as exc:
        if not dirs or isinstance(exc, PayerProfileError):
            raise
        _load(())  # the shipped book alone: raises if the fault is dexacode's own
        raise PayerProfileError(str(exc)) from exc


@cache
def _load(payer_dirs: tuple[Path, ...]) -> RuleBook:
    root = _shipped()
    raw = {name: _read_toml(root / f"{name}.toml", f"rules/{name}.toml") for name in _FILES}

    def rows(model: type[M], file: str, key: str) -> tuple[M, ...]:
        return _rows(model, raw[file], key, f"rules/{file}.toml")

    book_data = raw["book"]
    try:
        version = str(book_data["version"])
        covers_from = book_data["covers_from"]
        if not isinstance(covers_from, dt.date):
            raise TypeError
    except (KeyError, TypeError) as exc:
        raise RuleBookError("rules/book.toml: needs version and covers_from (a date)") from exc

    sources = {
        key: _row(Source, value, "rules/sources.toml", f"[{key}]")
        for key, value in raw["sources"].items()
    }
    _check_value_sources(raw, sources)
    mod_raw = raw["modifiers"]
    modifier_map = {
        k: mod_raw.get(k)
        for k in ("component", "status", "substitute", "liability", "parts_billed")
    }
    for key, value in modifier_map.items():
        if not isinstance(value, dict):
            raise RuleBookError(f"rules/modifiers.toml: [{key}] table is missing")
    _check_parts_billed(modifier_map)
    payers, payer_files = _load_payers([root / "payers", *payer_dirs])

    book = RuleBook(
        version=version,
        covers_from=covers_from,
        sources=sources,
        sites=rows(Site, "sites", "site"),
        procedures=rows(Procedure, "procedures", "code"),
        procedure_choice=rows(ProcedureChoice, "procedures", "choice"),
        ptp=rows(PtpPair, "ptp", "pair"),
        modifier_kinds=rows(ModifierKind, "modifiers", "kind"),
        modifiers=rows(Modifier, "modifiers", "modifier"),
        max_modifiers_per_line=int(mod_raw["max_per_line"]),
        substitute_max_days=int(mod_raw["substitute_max_days"]),
        substitute_components=tuple(mod_raw["substitute_components"]),
        distinct_placement=_distinct_placement(mod_raw.get("distinct_placement")),
        modifier_map=modifier_map,
        arrangements=rows(Arrangement, "modifiers", "arrangement"),
        risk_factors=rows(RiskFactor, "facts", "risk_factor"),
        drug_classes=rows(DrugClass, "facts", "drug_class"),
        drugs=rows(Drug, "facts", "drug"),
        scale=rows(ScaleRule, "interpretation", "scale"),
        regions=rows(RegionRule, "interpretation", "regions"),
        t_categories=rows(Category, "interpretation", "t_category"),
        z_categories=rows(Category, "interpretation", "z_category"),
        seed_gaps=rows(SeedGaps, "interpretation", "seed_gaps"),
        reading=rows(ReadingCodes, "diagnoses", "reading"),
        encounter_codes=rows(EncounterCodes, "diagnoses", "encounter"),
        documented_wins=rows(DocumentedWins, "diagnoses", "documented_wins"),
        fragility_fracture=rows(PrefixRule, "diagnoses", "fragility_fracture"),
        z09=rows(PrefixRule, "diagnoses", "z09"),
        diagnosis_limits=rows(DiagnosisLimits, "diagnoses", "limits"),
        vfa_screening=rows(CodeList, "diagnoses", "vfa_screening"),
        indication=rows(Indication, "coverage", "indication"),
        medicare_categories=rows(MedicareCategory, "coverage", "medicare_category"),
        monitoring=rows(MonitoringRule, "coverage", "monitoring"),
        frequency=rows(FrequencyRule, "coverage", "frequency"),
        frequency_exceptions=rows(FrequencyException, "coverage", "frequency_exception"),
        mue_adjudication=rows(MueAdjudication, "procedures", "mue_adjudication"),
        confirm_baseline=rows(ConfirmBaselineRule, "coverage", "confirm_baseline"),
        findings=rows(FindingRule, "findings", "finding"),
        payers=payers,
        payer_files=payer_files,
        covered_lists=rows(CoveredListInfo, "covered_dx", "list"),
        covered_codes=rows(CoveredCode, "covered_dx", "code"),
        pairings=(
            rows(PairingRule, "covered_dx", "pairing") if "pairing" in raw["covered_dx"] else ()
        ),
    )
    _cross_check(book)
    return book


def _cross_check(book: RuleBook) -> None:
    """References between tables must resolve, and every date must have its rules."""
    problems: list[str] = []
    meant = {row.indicator for row in book.mue_adjudication}
    if unmeant := sorted({0, 1, 2, 3} - meant):
        problems.append(f"procedures.toml: no [[mue_adjudication]] row for indicator {unmeant}")
    for label, row in _labelled_rows(book):
        for key in row.source:
            if key not in book.sources:
                problems.append(f"{label} cites unknown source {key!r}")
        if row.ends is not None and row.ends < row.effective:
            problems.append(f"{label} ends before it takes effect")
    finding_ids = set(book.finding_ids())
    from typing import get_args

    from dexacode.contract import UnknownFact  # here: contract imports this module

    facts = set(get_args(UnknownFact))
    for rule in book.findings:
        problems += [
            f"finding {rule.id}: 'needs' names {fact!r}, not one of {sorted(facts)}"
            for fact in rule.needs
            if fact not in facts
        ]
    for pair in book.ptp:
        if pair.finding is not None and pair.finding not in finding_ids:
            problems.append(f"ptp pair {pair.column1}/{pair.column2}: unknown finding")
    kinds = {k.name for k in book.modifier_kinds}
    for mod in book.modifiers:
        if mod.kind not in kinds:
            problems.append(f"modifier {mod.code}: unknown kind {mod.kind!r}")
    classes = {c.name for c in book.drug_classes}
    for drug in book.drugs:
        if drug.drug_class not in classes:
            problems.append(f"drug {drug.name}: unknown class {drug.drug_class!r}")
    risk_names = {r.name for r in book.risk_factors}
    for cat in book.medicare_categories:
        problems += [
            f"medicare category {cat.name}: unknown risk factor {r!r}"
            for r in cat.risk_factors
            if r not in risk_names
        ]
        problems += [
            f"medicare category {cat.name}: unknown drug class {c!r}"
            for c in cat.drug_classes
            if c not in classes
        ]
    fact_names = risk_names | classes | {"postmenopausal", "drug_therapy_completed"}
    for codes in book.encounter_codes:
        problems += [
            f"diagnoses.toml [encounter] fact_order: unknown fact {name!r}"
            for name in codes.fact_order
            if name not in fact_names
        ]
    list_names = {i.name for i in book.covered_lists}
    listed: list[CoveredCode | PairingRule] = [*book.covered_codes, *book.pairings]
    for row in listed:
        if row.list_name not in list_names:
            problems.append(f"covered_dx.toml: {_name(row)} names unknown list {row.list_name!r}")
    for profile in book.payers.values():
        where = book.payer_files.get(profile.name, profile.name)
        own_layers: list[PayerProfile | ProfileChange] = [profile, *profile.change]
        for layer in own_layers:
            if layer.covered_list and layer.covered_list not in list_names:
                problems.append(f"{where}: unknown covered_list {layer.covered_list!r}")
        if profile.extends is not None and profile.extends not in book.payers:
            problems.append(f"{where}: extends unknown profile {profile.extends!r}")
        layers: list[PayerProfile | ProfileChange] = [profile, *profile.change]
        for layer in layers:
            for fid in layer.severity or {}:
                if fid not in finding_ids:
                    problems.append(f"{where}: severity for unknown finding {fid!r}")
        seen = {profile.name}
        parent = profile.extends
        while parent is not None and parent in book.payers:
            if parent in seen:
                problems.append(f"{where}: profile inheritance loops through {parent!r}")
                break
            seen.add(parent)
            parent = book.payers[parent].extends
        if profile.extends is None:
            missing = [
                k for k in _SETTINGS if k not in _DEFAULTED_SETTINGS and getattr(profile, k) is None
            ]
            if missing:
                problems.append(f"{where}: a profile without 'extends' must set {missing}")
    if problems:
        raise RuleBookError("rule book check failed:\n  " + "\n  ".join(problems))
    # Every singleton table must have exactly one version on every date covered.
    for day in [book.covers_from, *(d for d in _borders_of(book) if d > book.covers_from)]:
        for name in book.payers:
            RuleSet.build(book, day, name)


def _labelled_rows(book: RuleBook) -> Iterable[tuple[str, Dated]]:
    """Every dated row with words that find it: the profile's file for payer rows."""
    profiles = set()
    for profile in book.payers.values():
        where = book.payer_files.get(profile.name, profile.name)
        profiles.add(id(profile))
        yield f"{where} (profile {profile.name})", profile
        for i, change in enumerate(profile.change, 1):
            profiles.add(id(change))
            yield f"{where} (profile {profile.name}, [[change]] {i})", change
    for row in _all_dated(book):
        if id(row) not in profiles:
            yield _name(row), row


def _name(row: Dated) -> str:
    for key in ("id", "name", "cpt", "code"):
        value = getattr(row, key, None)
        if value:
            return f"{type(row).__name__} {value}"
    if isinstance(row, PtpPair):
        return f"ptp pair {row.column1}/{row.column2}"
    return type(row).__name__


@cache
def vocabulary() -> dict[str, tuple[str, ...]]:
    """Input vocabularies the contract checks against, read from the shipped tables.

    Every name the rule book has ever known is accepted; whether it is in force on the
    date of service is the engine's business.
    """
    root = _shipped()
    sites = _read_toml(root / "sites.toml", "rules/sites.toml")
    facts = _read_toml(root / "facts.toml", "rules/facts.toml")
    return {
        "sites": tuple(dict.fromkeys(row["name"] for row in sites["site"])),
        "risk_factors": tuple(dict.fromkeys(row["name"] for row in facts["risk_factor"])),
    }
