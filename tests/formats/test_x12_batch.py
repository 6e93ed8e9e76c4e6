"""``dexacode x12`` codes a file exactly as ``dexacode scrub`` does: a patient's visits in
the file are checked against each other for frequency, in date order, and the history
store's prior studies count; and when no claim can go out, no 837 is written."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dexacode.batch import ScrubOptions, scrub
from dexacode.contract import CodingResult, parse_encounter
from dexacode.formats.x12 import (
    Claim837,
    Envelope,
    claim_for,
    claim_problems,
    example_provider_path,
    interchange_text,
    load_fees,
    load_provider,
    parse_837,
    validate_837,
)
from dexacode.icd10 import Icd10Library
from dexacode.rulebook import RuleBook
from tests.conftest import make_encounter

DATA = Path(__file__).resolve().parents[1] / "data" / "x12"

# Two studies of one Medicare patient ten months apart: the second is too soon.
FIRST = make_encounter(claim_id="T-FIRST", patient__id="P-TWICE", date_of_service="2025-05-04")
SECOND = make_encounter(claim_id="T-SECOND", patient__id="P-TWICE", date_of_service="2026-03-02")
OTHER = make_encounter(claim_id="T-OTHER", patient__id="P-ONCE")


def _write(path: Path, encounters: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in encounters), encoding="utf-8")
    return path


def _x12(source: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> Any:
    import typer

    from dexacode.cli_formats import x12_command

    app = typer.Typer()
    app.command("x12")(x12_command)
    app.command("noop")(lambda: None)  # two commands keep the subcommand name in argv
    args = [
        "x12",
        str(source),
        "--provider",
        str(example_provider_path()),
        "--fees",
        str(DATA / "fees.csv"),
        "--out",
        str(out),
        "--control-number",
        "5",
        *extra,
    ]
    return CliRunner().invoke(app, args, env=env)


def _written(out: Path) -> dict[str, Claim837]:
    return {c.claim_id: c for c in parse_837(out.read_text()) if isinstance(c, Claim837)}


def _scrubbed(source: Path, tmp_path: Path, **options: Any) -> dict[str, CodingResult]:
    out = tmp_path / "scrubbed.jsonl"
    scrub(source, out, options=ScrubOptions(workers=1, **options))
    with out.open(encoding="utf-8") as fh:
        results = [CodingResult.model_validate_json(line) for line in fh]
    return {r.claim_id: r for r in results}


def _shape(lines: Any) -> list[tuple[str, list[str], int]]:
    return [(x.cpt, list(x.modifiers), x.units) for x in lines]


# --- nothing to send --------------------------------------------------------------------


def test_when_every_claim_is_held_back_no_file_is_written(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "one.jsonl",
        [make_encounter(history=[{"date_of_service": "2025-06-01", "cpt": "77080"}])],
    )
    out = tmp_path / "claims.837"
    out.write_text("an earlier run's file\n")
    run = _x12(source, out, "--no-store")
    assert run.exit_code == 1, run.output
    assert "Held back 1:" in run.output and "FREQUENCY" in run.output
    assert "no claim to write: every encounter in one.jsonl was held back" in run.output
    assert f"so {out} was not written" in run.output
    assert "--include-errors" in run.output
    assert "Wrote" not in run.output and "test interchange" not in run.output
    assert out.read_text() == "an earlier run's file\n"  # left as it was


def test_when_nothing_is_written_and_no_file_existed_none_appears(tmp_path: Path) -> None:
    source = _write(tmp_path / "inst.jsonl", [make_encounter(billing__claim_form="institutional")])
    out = tmp_path / "claims.837"
    run = _x12(source, out, "--no-store")
    assert run.exit_code == 1, run.output
    assert "837I" in run.output and "no claim to write" in run.output
    assert "--include-errors" not in run.output  # it would not help here
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inst.jsonl"]


def test_an_empty_input_is_an_input_error(tmp_path: Path) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_text("")
    out = tmp_path / "claims.837"
    run = _x12(source, out, "--no-store")
    assert run.exit_code == 2, run.output
    assert "input error" in run.output and "empty" in run.output
    assert not out.exists()


def test_an_output_in_a_missing_folder_is_refused_before_coding(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.jsonl", [OTHER])
    run = _x12(source, tmp_path / "nowhere" / "claims.837", "--no-store")
    assert run.exit_code == 2, run.output
    assert "does not exist" in run.output


# --- repeat visits in the file ----------------------------------------------------------


@pytest.mark.parametrize("order", ["by date", "later first"])
def test_a_second_study_ten_months_later_is_held_back(tmp_path: Path, order: str) -> None:
    visits = [FIRST, OTHER, SECOND] if order == "by date" else [SECOND, OTHER, FIRST]
    source = _write(tmp_path / "in.jsonl", visits)
    out = tmp_path / "claims.837"
    run = _x12(source, out, "--no-store")
    assert run.exit_code == 1, run.output
    assert sorted(_written(out)) == ["T-FIRST", "T-OTHER"]
    _accepted(out.read_text())
    held = run.output.split("Held back 1:", 1)[1]
    assert "claim T-SECOND" in held
    assert "FREQUENCY" in held and "2025-05-04" in held


def test_included_errors_go_out_exactly_as_scrub_coded_them(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.jsonl", [SECOND, OTHER, FIRST])
    expected = _scrubbed(source, tmp_path, use_store=False)
    assert expected["T-SECOND"].has_errors  # the premise: scrub flags the repeat visit
    out = tmp_path / "claims.837"
    run = _x12(source, out, "--no-store", "--include-errors")
    assert run.exit_code == 0, run.output
    written = _written(out)
    assert list(written) == ["T-SECOND", "T-OTHER", "T-FIRST"]  # the file's order
    for claim_id, claim in written.items():
        assert _shape(claim.lines) == _shape(expected[claim_id].lines), claim_id
    # Never silently clean: the too-soon study carries the denial modifier scrub chose.
    assert any(m in ("GZ", "GA") for x in written["T-SECOND"].lines for m in x.modifiers)
    assert not any(m in ("GZ", "GA") for x in written["T-FIRST"].lines for m in x.modifiers)


def test_the_batch_example_holds_back_what_scrub_flags(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "batch.jsonl"
    expected = _scrubbed(examples, tmp_path, use_store=False)
    out = tmp_path / "claims.837"
    run = _x12(examples, out, "--no-store")
    assert run.exit_code == 1, run.output
    written = _written(out)
    for claim_id in ("C-7-114", "C-7-150", "C-7-222"):
        assert expected[claim_id].has_errors
        assert claim_id not in written
        assert f"claim {claim_id}:" in run.output
    for claim_id, claim in written.items():
        assert not expected[claim_id].has_errors, claim_id
        assert _shape(claim.lines) == _shape(expected[claim_id].lines), claim_id


# --- the history store ------------------------------------------------------------------


def _store_with_a_study(tmp_path: Path) -> str:
    from dexacode.store import HistoryStore, StudyRow

    url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    with HistoryStore(url) as store:
        store.add([StudyRow("P-ONCE", dt.date(2025, 6, 1), "77080", provider="other")], "t")
    return url


def test_prior_studies_in_the_store_count_unless_no_store(tmp_path: Path) -> None:
    url = _store_with_a_study(tmp_path)
    source = _write(tmp_path / "in.jsonl", [OTHER, FIRST])
    out = tmp_path / "claims.837"

    run = _x12(source, out, "--db", url)
    assert run.exit_code == 1, run.output
    assert list(_written(out)) == ["T-FIRST"]
    assert "claim T-OTHER:" in run.output and "FREQUENCY" in run.output

    run = _x12(source, out, "--db", url, "--no-store")
    assert run.exit_code == 0, run.output
    assert list(_written(out)) == ["T-OTHER", "T-FIRST"]


def test_the_store_is_also_named_by_dexacode_db(tmp_path: Path) -> None:
    url = _store_with_a_study(tmp_path)
    source = _write(tmp_path / "in.jsonl", [OTHER])
    out = tmp_path / "claims.837"
    run = _x12(source, out, env={"DEXACODE_DB": url})
    assert run.exit_code == 1, run.output
    assert "claim T-OTHER:" in run.output and not out.exists()


def test_a_store_that_cannot_be_opened_is_exit_2(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.jsonl", [OTHER])
    out = tmp_path / "claims.837"
    run = _x12(source, out, "--db", "mysql://x@y/z")
    assert run.exit_code == 2, run.output
    assert "history store error" in run.output
    assert not out.exists()


# --- no repeat visits: the same file as coding each encounter alone ----------------------


def _accepted(text: str) -> None:
    check = validate_837(text)
    assert check.accepted, (check.ack_999, check.errors)


def test_without_repeat_visits_the_file_is_each_encounter_coded_alone(
    tmp_path: Path, code: Any, book: RuleBook, library: Icd10Library
) -> None:
    from collections import Counter

    from dexacode.contract import ContractError

    examples = Path(__file__).resolve().parents[2] / "examples" / "batch.jsonl"
    lines = examples.read_text(encoding="utf-8").splitlines()
    patients = [json.loads(line).get("patient", {}).get("id") for line in lines]
    seen = Counter(patients)
    once = [line for line, p in zip(lines, patients, strict=True) if seen[p] == 1]
    source = tmp_path / "once.jsonl"
    source.write_text("".join(line + "\n" for line in once), encoding="utf-8")
    out = tmp_path / "claims.837"
    run = _x12(source, out, "--no-store")
    assert run.exit_code == 1, run.output
    text = out.read_text()

    provider = load_provider(example_provider_path())
    provider = provider.model_copy(
        update={"interchange": provider.interchange.model_copy(update={"usage": "T"})}
    )
    fees = load_fees(DATA / "fees.csv")
    claims: list[Claim837] = []
    for line in once:
        try:
            enc = parse_encounter(line)
        except ContractError:
            continue
        rules = book.in_force(enc.date_of_service, enc.payer)
        release, _ = library.for_date(enc.date_of_service)
        made = claim_for(
            enc,
            code(json.loads(line)),
            provider=provider,
            fees=fees,
            family="medicare" if rules.payer.medicare_family else rules.payer.name,
        )
        if isinstance(made, Claim837) and not claim_problems(
            made, release, rules.procedures, rules.modifiers
        ):
            claims.append(made)
    assert len(claims) > 100
    # The envelope's date and time are the clock's: take them from the file.
    found = re.search(r"\nGS\*HC\*[^*]*\*[^*]*\*(\d{8})\*(\d{4})\*", text)
    assert found is not None
    created = dt.datetime.strptime(found[1] + found[2], "%Y%m%d%H%M")
    assert text == interchange_text(claims, provider, Envelope(5, created))
