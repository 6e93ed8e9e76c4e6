"""FHIR R4 in and out: the HL7 US Core bone density examples import without edits, the
facts they lack are named, and what dexacode writes validates with the R4B models and
uses the right LOINC codes, CPT codes and units."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fhir.resources.R4B as r4b
import pytest

from dexacode.contract import CodingResult, parse_encounter
from dexacode.formats.fhir import (
    FhirInputError,
    gather,
    import_files,
    load_overlay,
    loinc_check_digit_ok,
    read_fhir_rows,
    result_to_fhir,
    supply,
    terms,
    to_encounter,
)
from dexacode.formats.fhir.terms import CPT, HCPCS, LOINC, UCUM
from dexacode.rulebook import RuleBook
from tests.conftest import make_encounter

US_CORE = Path(__file__).resolve().parents[1] / "data" / "fhir" / "us-core"
FILES = sorted(US_CORE.glob("*.json"))
Code = Callable[..., CodingResult]


def _collection(paths: list[Path]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": json.loads(p.read_text())} for p in paths],
    }


@pytest.fixture
def as_bundle(tmp_path: Path) -> Path:
    path = tmp_path / "us-core.fhir.json"
    path.write_text(json.dumps(_collection(FILES)))
    return path


def _check_us_core(imported: Any) -> None:
    enc = imported.encounter
    assert enc["patient"]["sex"] == "F"  # from the US Core sex extension: no gender element
    assert enc["patient"]["birth_date"] == "1987-02-20"
    assert enc["date_of_service"] == "2021-11-10"
    results = {(r["site"], r["region"]): r for r in enc["results"]}
    assert results[("left_hip", "femoral_neck")] == {
        "site": "left_hip",
        "region": "femoral_neck",
        "bmd": 0.631,
        "t_score": -1.48,
        "z_score": 0.05,
    }
    assert results[("left_hip", "total_hip")] == {
        "site": "left_hip",
        "region": "total_hip",
        "bmd": 0.734,
        "t_score": -1.62,
        "z_score": -0.19,
    }
    assert len(results) == 2
    assert [m.field for m in imported.missing] == ["payer", "order.reason", "exam.sites"]


def test_us_core_examples_import_as_separate_files() -> None:
    assert len(FILES) == 8
    _check_us_core(import_files(FILES))


def test_us_core_examples_import_gathered_into_a_collection_bundle(as_bundle: Path) -> None:
    _check_us_core(import_files([as_bundle]))


def test_with_the_missing_facts_supplied_the_encounter_codes(tmp_path: Path, code: Code) -> None:
    overlay = tmp_path / "overlay.toml"
    overlay.write_text(
        'payer = "commercial"\nclaim_id = "US-CORE-1"\n'
        '[order]\nreason = "diagnostic"\n[exam]\nsites = ["left_hip"]\n'
    )
    imported = supply(import_files(FILES), load_overlay(overlay))
    assert imported.missing == []
    result = code(imported.encounter)
    assert [line.cpt for line in result.lines] == ["77080"]
    assert result.interpretation.basis is not None
    assert result.interpretation.basis.site == "left_hip"


def test_options_supply_the_same_facts_as_an_overlay(tmp_path: Path, as_bundle: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from dexacode.cli_formats import fhir_import_command

    app = typer.Typer()
    app.command("fhir-import")(fhir_import_command)
    app.command("noop")(lambda: None)
    out = tmp_path / "enc.json"
    runner = CliRunner()
    lacking = runner.invoke(app, ["fhir-import", str(as_bundle), "--out", str(out)])
    assert lacking.exit_code == 1
    assert "payer" in lacking.output and "--reason" in lacking.output
    done = runner.invoke(
        app,
        [
            "fhir-import",
            str(as_bundle),
            "--payer",
            "medicare",
            "--reason",
            "screening",
            "--sites",
            "left_hip",
            "--out",
            str(out),
        ],
    )
    assert done.exit_code == 0, done.output
    enc = parse_encounter(out.read_text())
    assert enc.payer == "medicare" and enc.order.reason == "screening"
    assert enc.exam.sites == ["left_hip"]


def test_sex_unknown_is_named_missing_not_guessed() -> None:
    patient = json.loads((US_CORE / "Patient-example.json").read_text())
    patient["extension"] = []
    imported = to_encounter([patient])
    assert "patient.sex" in [m.field for m in imported.missing]
    assert "sex" not in imported.encounter["patient"]


def test_invalid_fhir_is_refused_naming_the_resource(tmp_path: Path) -> None:
    obs = json.loads((US_CORE / "dxa-hip-l-t-score-bmd.json").read_text())
    obs["effectiveDateTime"] = "2021-13-45"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obs))
    with pytest.raises(
        FhirInputError, match=r"Observation/dxa-hip-l-t-score-bmd is not valid FHIR"
    ):
        gather([path])


def test_unknown_units_are_not_read_as_scores() -> None:
    obs = json.loads((US_CORE / "dxa-hip-l-t-score-bmd.json").read_text())
    obs["valueQuantity"]["code"] = "mg"
    imported = to_encounter([obs])
    assert "results" not in imported.encounter
    # Not dropped silently: a result that cannot be read stands in the way of coding.
    assert any("unit code 'mg'" in why for why in imported.unread)
    assert "results" in [m.field for m in imported.missing]


# --- out ------------------------------------------------------------------------------------


def _resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_result_as_fhir_validates_and_carries_the_claim(code: Code, book: RuleBook) -> None:
    enc = make_encounter(billing__equipment_owner="other", exam__vfa=True)
    result = code(enc)
    bundle = result_to_fhir(result, parse_encounter(enc))
    r4b.get_fhir_model_class("Bundle").model_validate(bundle)
    (claim,) = _resources(bundle, "Claim")
    r4b.get_fhir_model_class("Claim").model_validate(claim)
    (item,) = claim["item"]
    assert item["productOrService"]["coding"] == [{"system": CPT, "code": "77085"}]
    assert item["modifier"] == [{"coding": [{"system": CPT, "code": "26"}]}]
    assert item["quantity"] == {"value": 1}
    assert item["diagnosisSequence"] == result.lines[0].diagnosis_pointers
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in claim["diagnosis"]] == (
        result.diagnoses
    )
    rules = book.in_force(parse_encounter(enc).date_of_service, "medicare")
    assert all(
        i["productOrService"]["coding"][0]["code"] in rules.procedures for i in claim["item"]
    )


def test_hcpcs_modifiers_are_not_labelled_cpt(code: Code) -> None:
    enc = make_encounter(
        history=[{"date_of_service": "2025-06-01", "cpt": "77080"}], billing__abn_signed=True
    )
    bundle = result_to_fhir(code(enc), parse_encounter(enc))
    (claim,) = _resources(bundle, "Claim")
    mods = [c["coding"][0] for c in claim["item"][0]["modifier"]]
    assert {"system": HCPCS, "code": "GA"} in mods


def test_reading_as_diagnostic_report_and_loinc_observations(code: Code) -> None:
    enc = make_encounter()
    bundle = result_to_fhir(code(enc), parse_encounter(enc))
    (report,) = _resources(bundle, "DiagnosticReport")
    r4b.get_fhir_model_class("DiagnosticReport").model_validate(report)
    assert report["code"]["coding"][0]["code"] == "38269-7"
    observations = [o for o in _resources(bundle, "Observation") if "valueQuantity" in o]
    assert len(observations) == 9  # three results, three measures each
    assert len(report["result"]) == 9
    table = terms()
    want_unit = {"bmd": "g/cm2", "t_score": "{T-score}", "z_score": "{Z-score}"}
    seen: dict[tuple[str, str, str], str] = {}
    for obs in observations:
        r4b.get_fhir_model_class("Observation").model_validate(obs)
        (coding,) = obs["code"]["coding"]
        assert coding["system"] == LOINC and loinc_check_digit_ok(coding["code"])
        known = table.codes[coding["code"]]
        assert obs["valueQuantity"]["system"] == UCUM
        assert obs["valueQuantity"]["code"] == want_unit[known.measure]
        seen[(known.site, known.region, known.measure)] = coding["code"]
    assert seen[("left_hip", "femoral_neck", "t_score")] == "80948-3"
    assert seen[("left_hip", "total_hip", "bmd")] == "46278-8"
    assert seen[("lumbar_spine", "L1-L4", "z_score")] == "85394-5"


def test_every_loinc_code_we_know_has_a_valid_check_digit() -> None:
    assert not loinc_check_digit_ok("38263-7")  # a wrong control digit fails
    table = terms()
    assert all(loinc_check_digit_ok(c) for c in table.codes)
    assert loinc_check_digit_ok(table.report_code)
    assert {u.code for u in table.units.values()} == {"g/cm2", "{T-score}", "{Z-score}"}


def test_fhir_out_reads_back_in_to_the_same_facts(code: Code) -> None:
    enc = make_encounter(billing__equipment_owner="other")
    bundle = result_to_fhir(code(enc), parse_encounter(enc))
    back = to_encounter([e["resource"] for e in bundle["entry"]])
    assert back.missing == []
    assert back.encounter["claim_id"] == "T-1"
    assert back.encounter["payer"] == "medicare"
    assert back.encounter["order"] == {"reason": "screening"}
    assert back.encounter["exam"]["sites"] == ["lumbar_spine", "left_hip"]
    got = {(r["site"], r["region"]): r for r in back.encounter["results"]}
    for r in enc["results"]:
        assert got[(r["site"], r["region"])]["t_score"] == r["t_score"]


def test_fhir_rows_for_scrub(tmp_path: Path, code: Code) -> None:
    enc = make_encounter()
    ours = result_to_fhir(code(enc), parse_encounter(enc))
    path = tmp_path / "bundles.ndjson"
    path.write_text(json.dumps(ours) + "\n" + json.dumps(_collection(FILES)) + "\n")
    rows = [raw for raw, _ in read_fhir_rows(path)]
    assert [r.row for r in rows] == [1, 2]
    assert rows[0].text is not None
    read = parse_encounter(rows[0].text)
    assert read.patient.sex == "F" and read.exam.sites == ["lumbar_spine", "left_hip"]
    assert rows[1].problem is not None
    # NDJSON: a row is named by its line, as in JSON Lines.
    assert "line 2: the FHIR input lacks payer, order.reason, exam.sites" in rows[1].problem


def test_without_fhir_resources_the_message_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from dexacode.formats.fhir import MissingExtraError
    from dexacode.formats.fhir.terms import import_r4b

    monkeypatch.setitem(sys.modules, "fhir.resources.R4B", None)
    with pytest.raises(MissingExtraError, match=r"dexacode\[formats\]"):
        import_r4b()
