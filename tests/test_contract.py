"""The input contract (spec/contract.md, src/dexacode/contract.py).

A coder who sends a wrong encounter must be told which field is wrong and what was
expected, and nothing is coded from it: unknown fields, impossible dates, wrong types,
names outside the vocabulary, out-of-range scores and contradictory facts are refused.
Error messages never repeat the patient's id or birth date. Each refusal is paired with
the nearest input that is accepted.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from dexacode.contract import (
    Billing,
    CodingResult,
    ContractError,
    Encounter,
    encounter_schema,
    parse_encounter,
)
from dexacode.rulebook import InputError
from tests.conftest import BASE, make_encounter

# domain-rules §1: the site vocabulary (input values).
RULE_BOOK_SITES = {
    "lumbar_spine",
    "thoracic_spine",
    "left_hip",
    "right_hip",
    "pelvis",
    "left_forearm",
    "right_forearm",
    "left_hand",
    "right_hand",
    "left_heel",
    "right_heel",
    "left_leg",
    "right_leg",
}
# contract.md: patient.risk_factors values.
CONTRACT_RISK_FACTORS = {
    "family_history_osteoporosis",
    "fragility_fracture_history",
    "glucocorticoid_therapy",
    "glucocorticoid_therapy_planned",
    "low_calcium_intake",
    "small_thin_frame",
    "bilateral_oophorectomy",
    "unilateral_oophorectomy",
    "ovarian_failure",
    "primary_hyperparathyroidism",
    "loss_of_height",
    "vertebral_abnormality_on_xray",
    "bone_loss_condition",
    "high_risk_medication",
}


def refused(enc: dict[str, Any] | str) -> ContractError:
    with pytest.raises(ContractError) as info:
        parse_encounter(enc)
    return info.value


def accepted(enc: dict[str, Any]) -> Encounter:
    return parse_encounter(enc)


def _result(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"site": "left_hip", "region": "total_hip", "t_score": -1.2}
    row.update(fields)
    return row


# --- unknown fields ----------------------------------------------------------------------


def _with_extra(where: str) -> dict[str, Any]:
    enc = make_encounter(
        patient__medications=[{"name": "alendronate", "status": "current"}],
        history=[{"date_of_service": "2023-11-20", "cpt": "77080"}],
        submitted={"lines": [{"cpt": "77080", "modifiers": [], "units": 1}], "diagnoses": []},
    )
    targets: dict[str, dict[str, Any]] = {
        "": enc,
        "patient": enc["patient"],
        "patient.medications[0]": enc["patient"]["medications"][0],
        "order": enc["order"],
        "exam": enc["exam"],
        "billing": enc["billing"],
        "results[1]": enc["results"][1],
        "history[0]": enc["history"][0],
        "submitted": enc["submitted"],
        "submitted.lines[0]": enc["submitted"]["lines"][0],
    }
    targets[where]["favourite_colour"] = "blue"
    return enc


@pytest.mark.parametrize(
    "where",
    [
        "",
        "patient",
        "patient.medications[0]",
        "order",
        "exam",
        "billing",
        "results[1]",
        "history[0]",
        "submitted",
        "submitted.lines[0]",
    ],
)
def test_an_unknown_field_is_refused_at_every_level_naming_it(where: str) -> None:
    full = f"{where}.favourite_colour" if where else "favourite_colour"
    err = refused(_with_extra(where))
    assert err.field == full
    assert "unknown field" in err.message
    assert full in str(err)


def test_the_same_encounter_without_the_unknown_field_is_accepted() -> None:
    enc = _with_extra("exam")
    del enc["exam"]["favourite_colour"]
    assert accepted(enc).exam.sites == ["lumbar_spine", "left_hip"]


def test_a_misspelt_field_is_not_silently_dropped() -> None:
    enc = make_encounter()
    enc["exam"]["site"] = enc["exam"].pop("sites")
    err = refused(enc)
    # Both problems concern exam: the missing 'sites' or the unknown 'site' is named.
    assert err.field in ("exam.sites", "exam.site")


# --- dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["2026-02-30", "2026-13-01", "03/02/2026", "2026-3-2", "2026-03-02T10:00:00", "", "2025-02-29"],
)
def test_an_impossible_or_misshapen_date_of_service_is_refused(value: str) -> None:
    err = refused(make_encounter(date_of_service=value))
    assert err.field == "date_of_service"
    assert "YYYY-MM-DD" in err.message


@pytest.mark.parametrize("value", ["2024-02-29", "2026-12-31", "2026-01-01"])
def test_real_calendar_dates_are_accepted(value: str) -> None:
    assert accepted(make_encounter(date_of_service=value)).date_of_service.isoformat() == value


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"patient__birth_date": "1956-02-30"}, "patient.birth_date"),
        (
            {"history": [{"date_of_service": "2024-13-01", "cpt": "77080"}]},
            "history[0].date_of_service",
        ),
    ],
)
def test_impossible_dates_are_refused_wherever_they_are(
    changes: dict[str, Any], field: str
) -> None:
    assert refused(make_encounter(**changes)).field == field


# --- types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"exam__vfa": "yes"}, "exam.vfa"),
        ({"exam__vfa": 1}, "exam.vfa"),
        ({"billing__abn_signed": "yes"}, "billing.abn_signed"),
        ({"billing__interprets": "true"}, "billing.interprets"),
        ({"results": [_result(t_score="-1.9")]}, "results[0].t_score"),
        ({"results": [_result(z_score="-2.0")]}, "results[0].z_score"),
        ({"claim_id": 1}, "claim_id"),
        ({"payer": 1}, "payer"),
        ({"exam__sites": "lumbar_spine"}, "exam.sites"),
        ({"billing__substitute_days": "61"}, "billing.substitute_days"),
        ({"history": [{"date_of_service": "2024-01-10", "cpt": 77080}]}, "history[0].cpt"),
    ],
)
def test_a_wrong_type_is_refused_not_coerced(changes: dict[str, Any], field: str) -> None:
    err = refused(make_encounter(**changes))
    assert err.field == field


def test_a_wrong_type_message_says_what_was_given() -> None:
    err = refused(make_encounter(exam__vfa="yes"))
    assert "boolean" in err.message
    assert "'yes'" in err.message


def test_whole_number_scores_are_numbers_and_accepted() -> None:
    enc = accepted(make_encounter(results=[_result(t_score=-2, z_score=0)]))
    assert enc.results[0].t_score == -2.0


# --- vocabulary --------------------------------------------------------------------------


@pytest.mark.parametrize("site", ["skull", "total_body", "Lumbar_Spine", "vfa"])
def test_an_unknown_site_is_refused_naming_every_allowed_site(site: str) -> None:
    err = refused(make_encounter(exam__sites=["lumbar_spine", site]))
    assert err.field == "exam.sites[1]"
    assert repr(site) in err.message
    for name in RULE_BOOK_SITES:
        assert name in err.message


def test_an_unknown_result_site_is_refused_too() -> None:
    err = refused(make_encounter(results=[_result(site="skull")]))
    assert err.field == "results[0].site"


def test_every_site_of_the_rule_book_is_accepted() -> None:
    for site in sorted(RULE_BOOK_SITES):
        assert accepted(make_encounter(exam__sites=[site])).exam.sites == [site]


def test_a_site_listed_twice_is_refused() -> None:
    assert refused(make_encounter(exam__sites=["left_hip", "left_hip"])).field == "exam"


@pytest.mark.parametrize("factor", ["smoking", "Family_History_Osteoporosis", "alcohol"])
def test_an_unknown_risk_factor_is_refused_naming_the_allowed_values(factor: str) -> None:
    err = refused(make_encounter(patient__risk_factors=["loss_of_height", factor]))
    assert err.field == "patient.risk_factors[1]"
    for name in CONTRACT_RISK_FACTORS:
        assert name in err.message


def test_every_risk_factor_of_the_contract_is_accepted() -> None:
    enc = accepted(make_encounter(patient__risk_factors=sorted(CONTRACT_RISK_FACTORS)))
    assert set(enc.patient.risk_factors) == CONTRACT_RISK_FACTORS


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"patient__sex": "female"}, "patient.sex"),
        ({"patient__menopausal_status": "menopausal"}, "patient.menopausal_status"),
        ({"order__reason": "routine"}, "order.reason"),
        ({"exam__status": "aborted"}, "exam.status"),
        ({"billing__claim_form": "ub04"}, "billing.claim_form"),
        ({"billing__component": "26"}, "billing.component"),
        ({"billing__substitute": "locum"}, "billing.substitute"),
        (
            {"patient__medications": [{"name": "alendronate", "status": "stopped"}]},
            "patient.medications[0].status",
        ),
    ],
)
def test_a_value_outside_a_closed_list_is_refused(changes: dict[str, Any], field: str) -> None:
    err = refused(make_encounter(**changes))
    assert err.field == field


# --- scores ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [{"t_score": 11}, {"t_score": -10.5}, {"t_score": 10.01}, {"z_score": -10.01}],
)
def test_an_out_of_range_score_is_refused(fields: dict[str, Any]) -> None:
    err = refused(make_encounter(results=[_result(**fields)]))
    assert err.field == f"results[0].{next(iter(fields))}"


@pytest.mark.parametrize("fields", [{"t_score": 10.0}, {"t_score": -10.0}, {"z_score": -10.0}])
def test_scores_at_the_range_ends_are_accepted(fields: dict[str, Any]) -> None:
    accepted(make_encounter(results=[_result(**fields)]))


def test_a_missing_score_is_allowed() -> None:
    enc = accepted(make_encounter(results=[_result(t_score=None, z_score=None)]))
    assert enc.results[0].t_score is None


# --- facts that contradict each other ----------------------------------------------------


@pytest.mark.parametrize("status", ["premenopausal", "perimenopausal", "postmenopausal"])
def test_a_menopausal_status_on_a_man_is_refused(status: str) -> None:
    err = refused(make_encounter(patient__sex="M", patient__menopausal_status=status))
    assert "menopausal_status" in str(err)


def test_a_man_without_a_menopausal_status_is_accepted() -> None:
    enc = accepted(make_encounter(patient__sex="M", patient__menopausal_status=None))
    assert enc.patient.menopausal_status is None


def test_a_birth_date_after_the_date_of_service_is_refused() -> None:
    err = refused(make_encounter(patient__birth_date="2026-03-03"))
    assert "patient.birth_date" in str(err)
    assert "date_of_service" in str(err)


def test_a_birth_date_on_the_date_of_service_is_not_refused_by_the_contract() -> None:
    accepted(make_encounter(patient__birth_date="2026-03-02"))


def test_an_exam_with_no_site_and_no_vfa_is_refused_naming_the_sites() -> None:
    err = refused(make_encounter(exam__sites=[], exam__vfa=False))
    assert err.field == "exam"
    assert "VFA" in err.message or "vfa" in err.message
    for name in RULE_BOOK_SITES:
        assert name in err.message


def test_vfa_alone_and_a_site_alone_are_each_accepted() -> None:
    accepted(make_encounter(exam__sites=[], exam__vfa=True, results=[]))
    accepted(make_encounter(exam__sites=["left_forearm"], exam__vfa=False))


# --- privacy -----------------------------------------------------------------------------

PATIENT_ID = "ZQX-7741-PRIV"
BIRTH = "1961-07-11"


@pytest.mark.parametrize(
    "patient_changes",
    [
        {"birth_date": "1961-02-30"},
        {"birth_date": "11/07/1961"},
        {"birth_date": "1961-07-11T08:30:00"},
        {"birth_date": 19610711},
        {"birth_date": "2031-07-11"},
        {"birth_date": "1861-07-11"},
        {"id": 774155},
        {"id": [PATIENT_ID]},
        {"id": PATIENT_ID * 20},
        {"sex": "M", "menopausal_status": "postmenopausal"},
        {"sex": PATIENT_ID},
        {"risk_factors": [PATIENT_ID]},
        {"favourite_colour": PATIENT_ID},
    ],
)
def test_error_messages_never_repeat_the_patient_id_or_birth_date(
    patient_changes: dict[str, Any],
) -> None:
    enc = make_encounter(patient__id=PATIENT_ID, patient__birth_date=BIRTH)
    enc["patient"].update(patient_changes)
    err = refused(enc)
    said = f"{err} {err.field} {err.message}"
    private = {PATIENT_ID, BIRTH, "1961", "774155", "19610711", "2031-07-11", "1961-02-30"}
    if patient_changes.get("sex") == PATIENT_ID or patient_changes.get("risk_factors"):
        # An id pasted into another field is not known to be an id; only the real
        # id and birth date fields are protected, and here they are well formed.
        private -= {PATIENT_ID}
    assert not [p for p in private if p in said], said


def test_a_patient_given_as_a_bare_id_is_refused_without_echoing_it() -> None:
    enc = make_encounter()
    enc["patient"] = PATIENT_ID
    err = refused(enc)
    assert err.field == "patient"
    assert PATIENT_ID not in str(err)


# --- JSON text and the schema ------------------------------------------------------------


def test_json_text_and_a_dict_give_the_same_encounter() -> None:
    assert parse_encounter(json.dumps(BASE)) == parse_encounter(copy.deepcopy(BASE))


def test_text_that_is_not_json_is_refused_as_such() -> None:
    err = refused('{"claim_id": "T-1",')
    assert "JSON" in err.message


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_schema_is_self_contained_closed_and_lists_the_vocabularies() -> None:
    schema = encounter_schema()
    json.dumps(schema)  # plain JSON
    assert schema["type"] == "object"
    assert {"claim_id", "date_of_service", "payer", "patient", "order", "exam"} <= set(
        schema["required"]
    )
    assert "billing" not in schema["required"]  # it has defaults
    defs = schema["$defs"]
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in defs, ref
    # Unknown fields are an input error, so every object says no other properties.
    assert schema["additionalProperties"] is False
    for name, definition in defs.items():
        assert definition.get("additionalProperties") is False, name
    assert set(defs["Exam"]["properties"]["sites"]["items"]["enum"]) == RULE_BOOK_SITES
    assert set(defs["Result"]["properties"]["site"]["enum"]) == RULE_BOOK_SITES
    risk_items = defs["Patient"]["properties"]["risk_factors"]["items"]
    assert set(risk_items["enum"]) == CONTRACT_RISK_FACTORS


def test_the_schema_is_a_valid_json_schema_that_agrees_with_the_contract() -> None:
    jsonschema: Any = pytest.importorskip("jsonschema")
    schema = encounter_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    assert validator.is_valid(BASE)
    assert not validator.is_valid(make_encounter(exam__sites=["skull"]))
    assert not validator.is_valid(make_encounter(patient__favourite_colour="blue"))


# --- defaults ----------------------------------------------------------------------------


def test_an_absent_billing_block_means_a_professional_global_claim(
    code: Callable[..., CodingResult],
) -> None:
    enc = make_encounter()
    del enc["billing"]
    assert accepted(enc).billing == Billing(
        claim_form="professional",
        component=None,
        equipment_owner="billing_provider",
        interprets=True,
        substitute=None,
        substitute_days=None,
        abn_signed=False,
    )
    result = code(enc)
    assert [(line.cpt, line.modifiers) for line in result.lines] == [("77080", [])]
    assert result.lines[0].diagnosis_pointers  # professional lines point to diagnoses


def test_absent_optional_fields_take_their_documented_defaults(
    code: Callable[..., CodingResult],
) -> None:
    enc: dict[str, Any] = {
        "claim_id": "MIN-1",
        "date_of_service": "2026-03-02",
        "payer": "commercial",
        "patient": {"id": "P-MIN", "sex": "F", "birth_date": "1956-01-15"},
        "order": {"reason": "diagnostic"},
        "exam": {"sites": ["left_forearm"]},
    }
    parsed = accepted(enc)
    assert parsed.exam.vfa is False
    assert parsed.exam.status == "completed"
    assert parsed.patient.risk_factors == [] and parsed.patient.conditions == []
    assert parsed.results == [] and parsed.history == [] and parsed.submitted is None
    result = code(enc)
    assert [(line.cpt, line.modifiers) for line in result.lines] == [("77081", [])]


def test_a_medication_without_a_status_is_a_current_one(code: Callable[..., CodingResult]) -> None:
    result = code(make_encounter(patient__medications=[{"name": "Alendronate"}]))
    assert "Z79.83" in result.diagnoses  # current bisphosphonate
    done = code(
        make_encounter(patient__medications=[{"name": "alendronate", "status": "completed"}])
    )
    assert "Z79.83" not in done.diagnoses


# --- what the contract passes to the rule book -------------------------------------------


def test_an_unknown_payer_is_refused_when_coding_naming_the_profiles(
    code: Callable[..., CodingResult],
) -> None:
    with pytest.raises(InputError) as info:
        code(make_encounter(payer="blue_cross"))
    assert info.value.field == "payer"
    for name in ("medicare", "medicare_advantage", "medicaid", "commercial"):
        assert name in info.value.message


def test_services_before_icd10_are_refused_and_the_first_icd10_day_is_coded(
    code: Callable[..., CodingResult],
) -> None:
    with pytest.raises(InputError) as info:
        code(make_encounter(date_of_service="2015-09-30", patient__birth_date="1940-01-01"))
    assert info.value.field == "date_of_service"
    result = code(make_encounter(date_of_service="2015-10-01", patient__birth_date="1940-01-01"))
    assert [line.cpt for line in result.lines] == ["77080"]


def test_trusted_build_makes_the_same_models_as_validation() -> None:
    """contract.build skips validation for the engine's own values; it must still give
    models equal to validated ones, dumping the same JSON (guards pydantic upgrades)."""
    from dexacode.contract import Finding, Line, build

    values: dict[str, object] = {
        "cpt": "77080",
        "modifiers": ["26"],
        "units": 1,
        "diagnosis_pointers": [1],
    }
    built = build(Line, **values)
    checked = Line.model_validate(values)
    assert built == checked
    assert built.model_dump_json() == checked.model_dump_json()
    # Defaults from factories are fresh lists, never shared between models.
    assert built.unplaced_modifiers == []
    assert built.unplaced_modifiers is not build(Line, **values).unplaced_modifiers
    finding = build(Finding, id="X", severity="info", message="m", sources=["seed"])
    assert finding.line is None and finding.action == ""
    assert (
        finding.model_dump()
        == Finding.model_validate(
            {"id": "X", "severity": "info", "message": "m", "sources": ["seed"]}
        ).model_dump()
    )


# --- what a refusal may repeat (errors files are passed around a billing office) -----------


@pytest.mark.parametrize(
    ("changes", "field", "private"),
    [
        ({"exam__status": "Jane Doe"}, "exam.status", "Jane"),
        ({"patient__risk_factors": ["SSN 123-45-6789"]}, "patient.risk_factors[0]", "123-45"),
        ({"exam__sites": ["hip of J. Doe 1956-05-14"]}, "exam.sites[0]", "1956"),
        ({"exam__vfa": "member 604138227"}, "exam.vfa", "604138227"),
        ({"order__reason": "604138227"}, "order.reason", "604138227"),
        ({"order__reason": "14.05.1956"}, "order.reason", "1956"),
        ({"order__reason": "05-14-1956"}, "order.reason", "1956"),
        ({"exam__status": "1956.05.14"}, "exam.status", "1956"),
        ({"exam__status": "Smith"}, "exam.status", "Smith"),
        ({"exam__status": "Smith-Jones"}, "exam.status", "Smith"),
        ({"exam__status": "McDonald"}, "exam.status", "McDonald"),
        ({"exam__status": "SMITH"}, "exam.status", "SMITH"),
        ({"exam__status": "Jane_Doe"}, "exam.status", "Jane"),
        ({"exam__status": "1956_05_14"}, "exam.status", "1956"),
        ({"exam__status": "May-14-1956"}, "exam.status", "1956"),
        ({"exam__status": "1956:05:14"}, "exam.status", "1956"),
        ({"exam__status": "14May1956"}, "exam.status", "1956"),
        ({"exam__vfa": 1956}, "exam.vfa", "1956"),
    ],
)
def test_a_refusal_never_repeats_a_value_that_could_identify_a_patient(
    changes: dict[str, Any], field: str, private: str
) -> None:
    err = refused(make_encounter(**changes))
    assert err.field == field
    assert private not in err.message
    assert "not repeated" in err.message


def test_an_unknown_payer_typed_as_a_name_and_birth_date_is_not_repeated(
    book: Any,
) -> None:
    enc = accepted(make_encounter(payer="Jane Doe 1956-05-14"))
    with pytest.raises(InputError) as info:
        book.in_force(enc.date_of_service, enc.payer)
    assert "Jane" not in str(info.value) and "1956" not in str(info.value)
    assert "medicare" in str(info.value)  # the allowed profiles are still listed


def test_a_code_shaped_value_is_still_quoted_so_the_coder_sees_the_typo() -> None:
    assert "'lumbar'" in refused(make_encounter(exam__sites=["lumbar"])).message
    assert "'screen'" in refused(make_encounter(order__reason="screen")).message
    from dexacode.quoting import quoted

    for code in ("77099", "Z13.82", "G0130", "XU", "medicare_plus"):
        assert quoted(code) == repr(code)


def test_ids_are_read_without_surrounding_spaces_as_a_csv_cell_is() -> None:
    enc = accepted(make_encounter(claim_id=" C-7 ", patient__id="P-1 "))
    assert (enc.claim_id, enc.patient.id) == ("C-7", "P-1")
    assert refused(make_encounter(patient__id="   ")).field == "patient.id"


def test_a_fhir_bundle_given_as_an_encounter_is_named_as_fhir() -> None:
    err = refused({"resourceType": "Bundle", "type": "collection", "entry": []})
    assert err.field == "resourceType"
    assert "this is a FHIR Bundle" in err.message and "fhir-import" in err.message
    text = refused(json.dumps({"resourceType": "Patient", "id": "x"}))
    assert "FHIR Patient" in text.message


def test_a_resource_type_that_is_not_a_word_is_not_repeated() -> None:
    err = refused({"resourceType": "SMITH JOHN 1950-01-02"})
    assert "SMITH" not in err.message and err.field != "resourceType"
