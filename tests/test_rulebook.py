"""The rule book loader and payer profiles (domain-rules §6), plus the §5 messages the
scenario table cannot check.

User payer profiles are written into ``tmp_path`` and loaded with ``load_rulebook([dir])``,
the way a billing manager adds a plan's own rules without touching code.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dexacode.coding import code as code_with
from dexacode.contract import CodingResult
from dexacode.icd10 import Icd10Library
from dexacode.rulebook import (
    InputError,
    PayerProfileError,
    RuleBook,
    RuleBookError,
    load_rulebook,
)
from tests.conftest import finding, ids, lines, make_encounter

# Every finding id written in capitals in domain-rules.md (copied by hand: the spec is not
# shipped with the package, so the test cannot read it).
DOMAIN_RULE_IDS = (
    "MUE-EXCEEDED",
    "PTP-SAME-GROUP",
    "PTP-AXIAL-VFA",
    "PTP-BUNDLED",
    "SAME-DAY-AXIAL-PERIPHERAL",
    "DISTINCT-MODIFIER-MISSING",
    "DISTINCT-MODIFIER-WRONG",
    "VFA-SCREENING",
    "MODIFIER-OVERFLOW",
    "NOTHING-TO-BILL",
    "COMPONENT-MISMATCH",
    "REPEAT-FREQUENCY",
    "FACILITY-52",
    "SUBSTITUTE-60-DAYS",
    "ABN-ON-FILE",
    "ABN-MISSING",
    "MENOPAUSE-UNKNOWN",
    "NO-RESULTS",
    "ICD10-INVALID",
    "ICD10-NOT-BILLABLE",
    "ICD10-VINTAGE",
    "M8580-UNSPECIFIED",
    "ICD10-EXCLUDES1",
    "GLUCOCORTICOID-UNCONFIRMED",
    "Z09-HISTORY",
    "NO-DIAGNOSIS",
    "Z13820-ALONE",
    "GUIDELINE-NOT-MET",
    "NOT-QUALIFIED",
    "MONITORING-NOT-AXIAL",
    "FREQUENCY",
    "CONFIRM-BASELINE-INVALID",
)

# Severities domain-rules states outright for a finding (payer profiles may override some).
DOMAIN_RULE_SEVERITY = {
    "SAME-DAY-AXIAL-PERIPHERAL": "warning",
    "VFA-SCREENING": "warning",
    "MODIFIER-OVERFLOW": "error",
    "NOTHING-TO-BILL": "error",
    "REPEAT-FREQUENCY": "warning",
    "FACILITY-52": "info",
    "SUBSTITUTE-60-DAYS": "warning",
    "ABN-ON-FILE": "info",
    "ABN-MISSING": "error",
    "MENOPAUSE-UNKNOWN": "warning",
    "NO-RESULTS": "warning",
    "ICD10-VINTAGE": "warning",
    "ICD10-EXCLUDES1": "error",
    "GLUCOCORTICOID-UNCONFIRMED": "warning",
    "Z09-HISTORY": "warning",
    "NO-DIAGNOSIS": "error",
    "GUIDELINE-NOT-MET": "warning",
    "NOT-QUALIFIED": "error",
    "MONITORING-NOT-AXIAL": "error",
    "CONFIRM-BASELINE-INVALID": "error",
}

# domain-rules §2: the findings marked "expected denial" (GA/GZ on traditional Medicare).
EXPECTED_DENIALS = {
    "FREQUENCY",
    "NOT-QUALIFIED",
    "MONITORING-NOT-AXIAL",
    "CONFIRM-BASELINE-INVALID",
}

SHIPPED_PAYERS = ("commercial", "medicaid", "medicare", "medicare_advantage")

TODAY = dt.date(2026, 3, 2)
AXIAL_AND_FOREARM = ["lumbar_spine", "left_hip", "left_forearm"]


def _write(folder: Path, filename: str, text: str) -> Path:
    path = folder / filename
    path.write_text(text, encoding="utf-8")
    return path


def _coder(book: RuleBook, library: Icd10Library) -> Callable[..., CodingResult]:
    def run(**changes: Any) -> CodingResult:
        return code_with(make_encounter(**changes), rulebook=book, icd=library)

    return run


def _frequency(result: CodingResult) -> list[str]:
    return [f.severity for f in result.findings if f.id == "FREQUENCY"]


# --- The shipped rule book ---------------------------------------------------------------


def test_shipped_payer_profiles_are_the_four_of_domain_rules(book: RuleBook) -> None:
    assert set(SHIPPED_PAYERS) <= set(book.payer_names())


@pytest.mark.parametrize("finding_id", DOMAIN_RULE_IDS)
def test_every_domain_rule_id_is_in_findings_toml(book: RuleBook, finding_id: str) -> None:
    assert finding_id in book.finding_ids()


def test_every_finding_cites_only_known_sources(book: RuleBook) -> None:
    unknown = {
        (row.id, key) for row in book.findings for key in row.source if key not in book.sources
    }
    assert not unknown
    assert all(row.source for row in book.findings), "a finding without any source"


def test_every_finding_tells_the_coder_what_to_do(book: RuleBook) -> None:
    empty = [row.id for row in book.findings if not (row.message.strip() and row.action.strip())]
    assert not empty


@pytest.mark.parametrize(("finding_id", "severity"), sorted(DOMAIN_RULE_SEVERITY.items()))
def test_finding_severity_matches_domain_rules(
    book: RuleBook, finding_id: str, severity: str
) -> None:
    for payer in SHIPPED_PAYERS:
        assert book.in_force(TODAY, payer).findings[finding_id].severity == severity, payer


def test_expected_denials_are_exactly_the_four_of_domain_rules(book: RuleBook) -> None:
    marked = {row.id for row in book.findings if row.expected_denial}
    assert marked == EXPECTED_DENIALS


@pytest.mark.parametrize(
    ("payer", "frequency", "m8580"),
    [
        ("medicare", "error", "error"),
        ("medicare_advantage", "error", "error"),
        ("commercial", "warning", "warning"),
        ("medicaid", "warning", "warning"),
    ],
)
def test_shipped_profile_severities(book: RuleBook, payer: str, frequency: str, m8580: str) -> None:
    found = book.in_force(TODAY, payer).findings
    assert found["FREQUENCY"].severity == frequency
    assert found["M8580-UNSPECIFIED"].severity == m8580
    assert found["Z13820-ALONE"].severity == "error"


@pytest.mark.parametrize(
    ("payer", "family", "abn", "same_day"),
    [
        ("medicare", True, True, True),
        ("medicare_advantage", True, False, True),
        ("commercial", False, False, False),
        ("medicaid", False, False, False),
    ],
)
def test_shipped_profile_flags(
    book: RuleBook, payer: str, family: bool, abn: bool, same_day: bool
) -> None:
    settings = book.in_force(TODAY, payer).payer
    assert settings.medicare_family is family
    assert settings.abn_modifiers is abn
    assert settings.same_day_warning is same_day
    assert settings.frequency_months == 23


@pytest.mark.parametrize(("day", "modifier"), [("2020-06-30", "59"), ("2020-07-01", "XU")])
def test_medicare_distinct_modifier_changes_to_xu_on_2020_07_01(
    code: Callable[..., CodingResult], day: str, modifier: str
) -> None:
    result = code(date_of_service=day, exam__sites=AXIAL_AND_FOREARM)
    assert lines(result) == [("77080", [modifier]), ("77081", [])]


# --- Input the rule book cannot answer ---------------------------------------------------


def test_unknown_payer_is_an_input_error_naming_payer(code: Callable[..., CodingResult]) -> None:
    with pytest.raises(InputError) as caught:
        code(payer="acme_health")
    assert caught.value.field == "payer"
    assert "acme_health" in caught.value.message
    for name in SHIPPED_PAYERS:
        assert name in caught.value.message  # the message lists what is allowed


def test_a_payer_written_in_capitals_is_refused_with_the_name_meant(
    code: Callable[..., CodingResult],
) -> None:
    # Never matched loosely: the name also chooses the payer in an 837's provider file.
    with pytest.raises(InputError) as caught:
        code(payer="Medicare_Advantage")
    assert caught.value.field == "payer"
    assert "did you mean 'medicare_advantage'?" in caught.value.message


@pytest.mark.parametrize("kind", ["not utf-8", "a folder"])
def test_an_unreadable_user_profile_is_the_users_to_fix(tmp_path: Path, kind: str) -> None:
    if kind == "a folder":
        (tmp_path / "plan.toml").mkdir()
    else:
        (tmp_path / "plan.toml").write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(PayerProfileError, match=r"plan\.toml"):
        load_rulebook([tmp_path])


def test_date_before_icd10_is_an_input_error_naming_date_of_service(
    code: Callable[..., CodingResult],
) -> None:
    with pytest.raises(InputError) as caught:
        code(date_of_service="2015-09-30")
    assert caught.value.field == "date_of_service"
    assert "2015-10-01" in caught.value.message


def test_first_day_of_icd10_is_coded(code: Callable[..., CodingResult]) -> None:
    result = code(date_of_service="2015-10-01")
    assert [line.cpt for line in result.lines] == ["77080"]


# --- User payer profiles -----------------------------------------------------------------

ACME = """
name = "acme"
label = "Acme Health"
extends = "commercial"
distinct_modifier = "XU"
frequency_months = 11
effective = 2015-10-01
source = ["seed"]

[severity]
FREQUENCY = "error"
"""

THRIFTY = """
name = "thrifty"
label = "Thrifty Plan"
extends = "commercial"
frequency_months = 35
effective = 2015-10-01
source = ["seed"]
"""


@pytest.fixture(scope="module")
def user_book(tmp_path_factory: pytest.TempPathFactory) -> RuleBook:
    folder = tmp_path_factory.mktemp("payers")
    _write(folder, "acme.toml", ACME)
    _write(folder, "thrifty.toml", THRIFTY)
    return load_rulebook([folder])


def test_user_profiles_are_added_to_the_shipped_ones(user_book: RuleBook) -> None:
    assert {"acme", "thrifty", *SHIPPED_PAYERS} <= set(user_book.payer_names())


def test_user_profile_overrides_distinct_modifier(
    user_book: RuleBook, library: Icd10Library
) -> None:
    result = _coder(user_book, library)(payer="acme", exam__sites=AXIAL_AND_FOREARM)
    assert lines(result) == [("77080", ["XU"]), ("77081", [])]
    assert result.payer == "acme"


def test_user_profile_inherits_commercial_distinct_modifier(
    user_book: RuleBook, library: Icd10Library
) -> None:
    result = _coder(user_book, library)(payer="thrifty", exam__sites=AXIAL_AND_FOREARM)
    assert lines(result) == [("77080", ["59"]), ("77081", [])]


@pytest.mark.parametrize(("day", "too_soon"), [("2025-12-31", True), ("2026-01-01", False)])
def test_user_profile_frequency_months_and_severity(
    user_book: RuleBook, library: Icd10Library, day: str, too_soon: bool
) -> None:
    # 11 whole months after January 2025: eligible from 2026-01-01.
    result = _coder(user_book, library)(
        payer="acme",
        date_of_service=day,
        history=[{"date_of_service": "2025-01-15", "cpt": "77080"}],
    )
    assert result.coverage.next_eligible_date == dt.date(2026, 1, 1)
    assert _frequency(result) == (["error"] if too_soon else [])
    # An error now, but still not a Medicare-family payer: no GA/GZ, no Medicare category.
    assert lines(result) == [("77080", [])]
    assert result.coverage.abn_advised is False
    assert result.coverage.medicare_category is None
    assert "NOT-QUALIFIED" not in ids(result)


@pytest.mark.parametrize(("day", "too_soon"), [("2027-12-31", True), ("2028-01-01", False)])
def test_user_profile_longer_frequency_keeps_inherited_warning(
    user_book: RuleBook, library: Icd10Library, day: str, too_soon: bool
) -> None:
    # 35 whole months after January 2025: eligible from 2028-01-01.
    result = _coder(user_book, library)(
        payer="thrifty",
        date_of_service=day,
        history=[{"date_of_service": "2025-01-15", "cpt": "77080"}],
    )
    assert result.coverage.next_eligible_date == dt.date(2028, 1, 1)
    assert _frequency(result) == (["warning"] if too_soon else [])


def test_user_profile_inherits_the_other_severities(user_book: RuleBook) -> None:
    found = user_book.in_force(TODAY, "acme").findings
    assert found["FREQUENCY"].severity == "error"
    assert found["M8580-UNSPECIFIED"].severity == "warning"
    assert found["Z13820-ALONE"].severity == "error"


def test_user_profiles_do_not_change_the_shipped_book(book: RuleBook, user_book: RuleBook) -> None:
    assert "acme" not in book.payer_names()
    assert book.in_force(TODAY, "commercial").payer.frequency_months == 23
    assert user_book.in_force(TODAY, "commercial").payer.frequency_months == 23


SHIFT = """
name = "shift"
label = "Plan that changed its rules"
extends = "commercial"
effective = 2015-10-01
source = ["seed"]

[[change]]
effective = 2024-01-01
ends = 2024-06-30
frequency_months = 11
distinct_modifier = "XU"
source = ["seed"]

[change.severity]
FREQUENCY = "error"
"""


@pytest.fixture(scope="module")
def shift_coder(
    tmp_path_factory: pytest.TempPathFactory, library: Icd10Library
) -> Callable[..., CodingResult]:
    folder = tmp_path_factory.mktemp("shift")
    _write(folder, "shift.toml", SHIFT)
    return _coder(load_rulebook([folder]), library)


@pytest.mark.parametrize(
    ("day", "next_date", "severity", "modifier"),
    [
        ("2023-12-31", dt.date(2025, 2, 1), "warning", "59"),  # before the change: 23 months
        ("2024-01-01", dt.date(2024, 2, 1), "error", "XU"),  # the change's first day
        ("2024-06-30", dt.date(2024, 2, 1), None, "XU"),  # its last day (now eligible)
        ("2024-07-01", dt.date(2025, 2, 1), "warning", "59"),  # the day after it ends
    ],
)
def test_dated_profile_change_applies_from_its_date_to_its_end(
    shift_coder: Callable[..., CodingResult],
    day: str,
    next_date: dt.date,
    severity: str | None,
    modifier: str,
) -> None:
    result = shift_coder(
        payer="shift",
        date_of_service=day,
        exam__sites=AXIAL_AND_FOREARM,
        history=[{"date_of_service": "2023-02-10", "cpt": "77080"}],
    )
    assert result.coverage.next_eligible_date == next_date
    expected = [] if severity is None else [severity, severity]  # one per billed line
    assert _frequency(result) == expected
    assert lines(result)[0] == ("77080", [modifier])


REPLACEMENT_MEDICAID = """
name = "medicaid"
label = "State Medicaid (our state)"
extends = "commercial"
frequency_months = 11
effective = 2015-10-01
source = ["seed"]

[severity]
FREQUENCY = "error"
"""


def test_user_profile_replaces_a_shipped_one_by_name(
    tmp_path: Path, library: Icd10Library, book: RuleBook
) -> None:
    path = _write(tmp_path, "our-medicaid.toml", REPLACEMENT_MEDICAID)
    replaced = load_rulebook([tmp_path])
    assert replaced.payer_files["medicaid"] == str(path)
    run = _coder(replaced, library)
    history = [{"date_of_service": "2025-01-15", "cpt": "77080"}]
    soon = run(payer="medicaid", date_of_service="2025-12-31", history=history)
    assert _frequency(soon) == ["error"]
    assert soon.coverage.next_eligible_date == dt.date(2026, 1, 1)
    assert _frequency(run(payer="medicaid", date_of_service="2026-01-01", history=history)) == []
    # The shipped medicaid profile is untouched in a book loaded without the folder.
    shipped = _coder(book, library)(payer="medicaid", date_of_service="2025-12-31", history=history)
    assert shipped.coverage.next_eligible_date == dt.date(2027, 1, 1)
    assert _frequency(shipped) == ["warning"]


# --- A broken user profile fails loudly, naming the file and the field -------------------

GOOD_HEAD = """
name = "broken"
label = "Broken plan"
"""
DATED = 'effective = 2015-10-01\nsource = ["seed"]\n'
GOOD_REST = 'extends = "commercial"\n' + DATED


def _load_error(folder: Path, text: str, filename: str = "broken-plan.toml") -> str:
    _write(folder, filename, text)
    with pytest.raises(RuleBookError) as caught:
        load_rulebook([folder])
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        pytest.param(
            GOOD_HEAD + GOOD_REST + "frequency_monts = 12\n",
            ["frequency_monts"],
            id="unknown field",
        ),
        pytest.param(
            GOOD_HEAD + GOOD_REST + "[severity]\nFREQUENCYY = 'error'\n",
            ["severity", "FREQUENCYY"],
            id="unknown finding id in severity",
        ),
        pytest.param(
            GOOD_HEAD + GOOD_REST + "[severity]\nFREQUENCY = 'fatal'\n",
            ["severity", "FREQUENCY"],
            id="severity that is not error/warning/info",
        ),
        pytest.param(
            GOOD_HEAD + 'extends = "nonesuch"\n' + DATED,
            ["extends", "nonesuch"],
            id="extends an unknown profile",
        ),
        pytest.param(
            GOOD_HEAD + 'extends = "broken"\n' + DATED,
            ["loops", "broken"],
            id="extends itself",
        ),
        pytest.param(
            # frequency_months may be left out (coverage.toml's default); the others not.
            GOOD_HEAD
            + DATED
            + "medicare_family = false\n"
            + 'abn_modifiers = false\ndistinct_modifier = "59"\n'
            + 'distinct_modifiers_accepted = ["59"]\n',
            ["extends", "same_day_warning"],
            id="missing setting without extends",
        ),
        pytest.param(
            GOOD_HEAD + GOOD_REST + "frequency_months = 0\n",
            ["frequency_months"],
            id="frequency months below 1",
        ),
        pytest.param('label = "No name"\n' + GOOD_REST, ["name"], id="missing name"),
        pytest.param(
            GOOD_HEAD + 'extends = "commercial"\neffective = 2015-10-01\n',
            ["source"],
            id="missing source",
        ),
        pytest.param(
            GOOD_HEAD + GOOD_REST + "[[change]]\neffective = 2024-01-01\n"
            'source = ["seed"]\nfrequency_monts = 3\n',
            ["change", "frequency_monts"],
            id="unknown field in a change",
        ),
        pytest.param(
            GOOD_HEAD + GOOD_REST + "[[change]]\neffective = 2024-01-01\n"
            'source = ["seed"]\n[change.severity]\nNOPE = "error"\n',
            ["severity", "NOPE"],
            id="unknown finding id in a change",
        ),
        pytest.param(
            GOOD_HEAD + GOOD_REST + "frequency_months = \n",
            ["TOML"],
            id="not valid TOML",
        ),
    ],
)
def test_broken_profile_names_file_and_field(tmp_path: Path, text: str, names: list[str]) -> None:
    message = _load_error(tmp_path, text)
    assert "broken-plan.toml" in message
    for name in names:
        assert name in message


def test_unknown_source_in_profile_names_the_file(tmp_path: Path) -> None:
    text = GOOD_HEAD + 'extends = "commercial"\neffective = 2015-10-01\nsource = ["nope"]\n'
    message = _load_error(tmp_path, text)
    assert "nope" in message and "source" in message
    assert "broken-plan.toml" in message


def test_unknown_source_in_profile_change_names_the_file(tmp_path: Path) -> None:
    text = GOOD_HEAD + GOOD_REST + '[[change]]\neffective = 2024-01-01\nsource = ["nope"]\n'
    message = _load_error(tmp_path, text)
    assert "nope" in message and "source" in message
    assert "broken-plan.toml" in message


def test_unknown_source_in_profile_still_fails_loudly(tmp_path: Path) -> None:
    text = GOOD_HEAD + 'extends = "commercial"\neffective = 2015-10-01\nsource = ["nope"]\n'
    message = _load_error(tmp_path, text)
    assert "unknown source 'nope'" in message
    assert "broken" in message  # at least the profile's name


def test_inheritance_loop_between_two_files_names_both(tmp_path: Path) -> None:
    _write(tmp_path, "plan-a.toml", 'name = "a"\nlabel = "A"\nextends = "b"\n' + DATED)
    message = _load_error(
        tmp_path, 'name = "b"\nlabel = "B"\nextends = "a"\n' + DATED, "plan-b.toml"
    )
    assert "loops" in message
    assert "plan-a.toml" in message and "plan-b.toml" in message


def test_missing_profile_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(RuleBookError) as caught:
        load_rulebook([missing])
    assert "no-such-folder" in str(caught.value)


# --- §5 messages the scenario table cannot check -----------------------------------------

RECENT = [{"date_of_service": "2025-06-10", "cpt": "77080"}]


def test_frequency_message_names_last_study_and_next_date(
    code: Callable[..., CodingResult],
) -> None:
    message = finding(code(history=RECENT), "FREQUENCY").message
    assert "2025-06-10" in message
    assert "2027-06-01" in message


def test_glucocorticoid_exception_refused_says_the_risk_factor_is_missing(
    code: Callable[..., CodingResult],
) -> None:
    result = code(order__reason="glucocorticoid_monitoring", history=RECENT)
    message = finding(result, "FREQUENCY").message
    assert "glucocorticoid_therapy" in message
    assert "not" in message


def test_glucocorticoid_exception_applied_names_the_exception(
    code: Callable[..., CodingResult],
) -> None:
    result = code(
        order__reason="glucocorticoid_monitoring",
        patient__risk_factors=["glucocorticoid_therapy"],
        history=RECENT,
    )
    assert "glucocorticoid" in finding(result, "FREQUENCY-EXCEPTION").message


def test_confirm_baseline_invalid_says_why(code: Callable[..., CodingResult]) -> None:
    after_axial = code(order__reason="confirm_baseline", history=RECENT)
    assert "already axial" in finding(after_axial, "CONFIRM-BASELINE-INVALID").message
    # FREQUENCY says why the exception does not apply, in the same words.
    assert "already axial" in finding(after_axial, "FREQUENCY").message
    peripheral_now = code(
        order__reason="confirm_baseline",
        exam__sites=["left_forearm"],
        results=[{"site": "left_forearm", "region": "radius_33", "bmd": 0.7, "t_score": -0.5}],
        history=[{"date_of_service": "2025-06-10", "cpt": "77081"}],
    )
    assert "must itself be axial" in finding(peripheral_now, "CONFIRM-BASELINE-INVALID").message


def test_abn_missing_names_every_reason_for_the_denial(code: Callable[..., CodingResult]) -> None:
    result = code(
        order__reason="monitoring",
        patient__medications=[{"name": "alendronate", "status": "current"}],
        exam__sites=["left_forearm"],
        results=[{"site": "left_forearm", "region": "radius_33", "bmd": 0.7, "t_score": -0.5}],
        history=RECENT,
    )
    message = finding(result, "ABN-MISSING").message
    assert "MONITORING-NOT-AXIAL" in message and "FREQUENCY" in message
    assert lines(result) == [("77081", ["GZ"])]  # one GZ, however many reasons


def test_guideline_message_gives_the_age_on_the_date_of_service(
    code: Callable[..., CodingResult],
) -> None:
    # born 1961-03-03: 64 on 2026-03-02, one day before her 65th birthday
    result = code(patient__birth_date="1961-03-03")
    assert "64" in finding(result, "GUIDELINE-NOT-MET").message


def test_man_not_qualified_explains_medicare_has_no_age_category(
    code: Callable[..., CodingResult], book: RuleBook
) -> None:
    result = code(patient__sex="M", patient__menopausal_status=None)
    assert result.coverage.guideline_indicated is True
    finding(result, "NOT-QUALIFIED")
    assert "age" in book.finding("NOT-QUALIFIED").why


PLACEMENT = """
name = "placed_{placement}"
label = "A plan with its own placement"
extends = "commercial"
distinct_placement = "{placement}"
effective = 2015-10-01
source = ["seed"]
"""


@pytest.mark.parametrize(
    ("placement", "vfa", "expected"),
    [
        # The pair edit's column 2, as the shipped profiles place it.
        ("pair", False, [("77080", ["59"]), ("77081", [])]),
        ("pair", True, [("77085", []), ("77081", ["59"])]),
        # A plan that wants it on the peripheral code, or on the axial one, whatever the pair.
        ("peripheral", False, [("77080", []), ("77081", ["59"])]),
        ("peripheral", True, [("77085", []), ("77081", ["59"])]),
        ("axial", False, [("77080", ["59"]), ("77081", [])]),
        ("axial", True, [("77085", ["59"]), ("77081", [])]),
    ],
)
def test_a_profile_sets_which_code_takes_the_distinct_modifier(
    tmp_path: Path,
    library: Icd10Library,
    placement: str,
    vfa: bool,
    expected: list[tuple[str, list[str]]],
) -> None:
    _write(tmp_path, "placed.toml", PLACEMENT.format(placement=placement))
    run = _coder(load_rulebook([tmp_path]), library)
    result = run(payer=f"placed_{placement}", exam__sites=AXIAL_AND_FOREARM, exam__vfa=vfa)
    assert lines(result) == expected
    # A claim submitted the payer's way is clean of distinct-modifier findings.
    submitted = {
        "lines": [{"cpt": cpt, "modifiers": mods} for cpt, mods in expected],
        "diagnoses": result.diagnoses,
    }
    checked = run(
        payer=f"placed_{placement}",
        exam__sites=AXIAL_AND_FOREARM,
        exam__vfa=vfa,
        submitted=submitted,
    )
    assert not [f.id for f in checked.findings if f.id.startswith("DISTINCT-MODIFIER")]
    # Submitted without it: the finding names the line that should carry it.
    bare = {"lines": [{"cpt": cpt, "modifiers": []} for cpt, _ in expected], "diagnoses": []}
    (carrier,) = [cpt for cpt, mods in expected if mods]
    (other,) = [cpt for cpt, mods in expected if not mods]
    missing = run(
        payer=f"placed_{placement}", exam__sites=AXIAL_AND_FOREARM, exam__vfa=vfa, submitted=bare
    )
    (found,) = [f for f in missing.findings if f.id == "DISTINCT-MODIFIER-MISSING"]
    assert found.line == carrier
    assert {other, carrier} <= set(found.message.split(" carries")[0].split())
    assert f"but {carrier} carries no distinct-service modifier" in found.message


def test_a_placement_outside_the_three_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "placed.toml", PLACEMENT.format(placement="column1"))
    with pytest.raises(PayerProfileError, match="distinct_placement"):
        load_rulebook([tmp_path])


# --- the shipped files' own top-level values ---------------------------------------------


def _edited_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str
) -> Callable[[], RuleBook]:
    """A copy of the shipped rules with one edit in modifiers.toml, loaded uncached."""
    import dexacode.rulebook as rulebook

    copy = tmp_path / "rules"
    shutil.copytree(Path(str(rulebook._shipped())), copy)
    target = copy / "modifiers.toml"
    text = target.read_text(encoding="utf-8")
    assert old in text
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    monkeypatch.setattr(rulebook, "_shipped", lambda: copy)
    rulebook._load.cache_clear()
    return lambda: rulebook._load(())


@pytest.fixture
def fresh_load_cache() -> Iterator[None]:
    import dexacode.rulebook as rulebook

    yield
    rulebook._load.cache_clear()


@pytest.mark.usefixtures("fresh_load_cache")
def test_the_default_distinct_placement_is_the_rule_books(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, library: Icd10Library
) -> None:
    load = _edited_rules(
        tmp_path, monkeypatch, 'distinct_placement = "pair"', 'distinct_placement = "axial"'
    )
    run = _coder(load(), library)
    # The shipped commercial profile names no placement: the book's default decides.
    result = run(payer="commercial", exam__sites=AXIAL_AND_FOREARM, exam__vfa=True)
    assert lines(result) == [("77085", ["59"]), ("77081", [])]


@pytest.mark.usefixtures("fresh_load_cache")
def test_a_top_level_value_citing_an_unknown_source_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = _edited_rules(
        tmp_path,
        monkeypatch,
        'max_per_line_source = ["x12-837p"]',
        'max_per_line_source = ["x12-4010"]',
    )
    with pytest.raises(RuleBookError, match=r"modifiers\.toml: max_per_line_source .*x12-4010"):
        load()
