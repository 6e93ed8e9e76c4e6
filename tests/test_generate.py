"""dexacode generate: seeded synthetic encounters that the contract and the engine accept."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import itertools
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dexacode.contract import CodingResult, ContractError, parse_encounter
from dexacode.formats.flat import FlatRowError, encounter_to_row, row_to_encounter
from dexacode.generate import (
    FLAT_COLUMNS,
    MAX_RESULTS,
    Malformed,
    format_for,
    generate_encounters,
    write_generated,
)
from dexacode.rulebook import RuleBook, vocabulary

Code = Callable[..., CodingResult]


@cache
def sample(count: int = 4000, seed: int = 20260301) -> tuple[dict[str, Any] | Malformed, ...]:
    return tuple(generate_encounters(count, seed, malformed_rate=0.01))


def encounters(count: int = 4000) -> list[dict[str, Any]]:
    return [r for r in sample() if not isinstance(r, Malformed)][:count]


# --- reproducibility ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, suffix: str) -> None:
    a, b, c = (tmp_path / f"{name}{suffix}" for name in "abc")
    assert write_generated(a, 300, 7) == 300
    assert write_generated(b, 300, 7) == 300
    assert write_generated(c, 300, 8) == 300
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_blocks_do_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    # Two blocks (BLOCK rows each): one process, then two; the file is the same.
    from dexacode.generate import BLOCK

    count = BLOCK + 50
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    write_generated(one, count, 3, workers=1, malformed_rate=0.0)
    write_generated(two, count, 3, workers=2, malformed_rate=0.0)
    assert one.read_bytes() == two.read_bytes()
    lines = one.read_text().splitlines()
    assert len(lines) == count
    assert json.loads(lines[-1])["claim_id"] == f"C-3-{count}"


def test_the_malformed_rate_only_replaces_rows() -> None:
    clean = list(generate_encounters(500, 5, malformed_rate=0.0))
    spoiled = list(generate_encounters(500, 5, malformed_rate=0.1))
    replaced = [i for i, r in enumerate(spoiled) if isinstance(r, Malformed)]
    assert 20 < len(replaced) < 90
    assert all(spoiled[i] == clean[i] for i in range(500) if i not in replaced)


# --- counts and files --------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 257])
def test_the_requested_number_of_rows(tmp_path: Path, count: int) -> None:
    assert len(list(generate_encounters(count, 1))) == count
    jsonl, flat, parquet = tmp_path / "e.ndjson", tmp_path / "e.csv", tmp_path / "e.parquet"
    progress: list[int] = []
    assert write_generated(jsonl, count, 1, progress=progress.append) == count
    assert progress[-1:] == ([count] if count else [])
    assert len(jsonl.read_text().splitlines()) == count
    assert write_generated(flat, count, 1) == count
    with flat.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == count
    assert write_generated(parquet, count, 1) == count
    table = pq.read_table(parquet)
    assert table.num_rows == count
    assert table.column_names == list(FLAT_COLUMNS)
    assert all(str(t) == "string" for t in table.schema.types)


def test_claim_ids_are_unique_and_ids_synthetic() -> None:
    rows = encounters()
    claim_ids = [r["claim_id"] for r in rows]
    assert len(set(claim_ids)) == len(claim_ids)
    assert all(c.startswith("C-20260301-") for c in claim_ids)
    assert all(r["patient"]["id"].startswith("P-") for r in rows)
    assert all(len(r["patient"]["id"]) == 8 for r in rows)
    days = {r["date_of_service"] for r in rows}
    assert min(days) >= "2025-10-01" and max(days) <= "2026-09-30"


def test_format_from_suffix_or_name() -> None:
    assert format_for(Path("x.JSONL")) == "jsonl"
    assert format_for(Path("x.ndjson")) == "jsonl"
    assert format_for(Path("x.csv")) == "csv"
    assert format_for(Path("x.parquet")) == "parquet"
    assert format_for(Path("x.txt"), "ndjson") == "jsonl"
    with pytest.raises(ValueError, match="cannot tell the format"):
        format_for(Path("x.txt"))
    with pytest.raises(ValueError, match="unknown format"):
        format_for(Path("x.csv"), "xml")


# --- validity ----------------------------------------------------------------------------


def test_encounters_validate_and_code(code: Code) -> None:
    for enc in encounters(400):
        parse_encounter(enc)
        parse_encounter(json.dumps(enc))
        result = code(enc)
        assert result.claim_id == enc["claim_id"]


def test_vocabularies_are_the_rule_books(book: RuleBook) -> None:
    vocab = vocabulary()
    rules = book.in_force(dt.date(2026, 3, 1), "medicare")
    for enc in encounters():
        assert set(enc["exam"]["sites"]) <= set(vocab["sites"])
        assert set(enc["patient"]["risk_factors"]) <= set(vocab["risk_factors"])
        assert len(enc["results"]) <= MAX_RESULTS
        for result in enc["results"]:
            assert result["site"] in enc["exam"]["sites"]
            assert result["bmd"] is None or 0.4 <= result["bmd"] <= 1.4
    known = {m["name"].lower() for e in encounters() for m in e["patient"]["medications"]}
    assert len(known & set(rules.drugs)) >= 15
    assert known - set(rules.drugs)  # an occasional unknown name


def test_malformed_rows_are_refused() -> None:
    bad = [r for r in sample() if isinstance(r, Malformed)]
    assert len({m.kind for m in bad}) >= 6
    for item in bad:
        with pytest.raises(ContractError):
            parse_encounter(item.text)
        assert set(item.row) <= set(FLAT_COLUMNS)
        with pytest.raises((ContractError, FlatRowError)):
            parse_encounter(row_to_encounter(item.row))


def test_flat_rows_round_trip() -> None:
    for enc in encounters(500):
        row = encounter_to_row(enc)
        assert set(row) <= set(FLAT_COLUMNS)
        back = parse_encounter(row_to_encounter(row))
        assert back == parse_encounter(enc)


def test_csv_and_parquet_rows_read_back(tmp_path: Path) -> None:
    write_generated(tmp_path / "e.csv", 200, 4, malformed_rate=0.0)
    write_generated(tmp_path / "e.parquet", 200, 4, malformed_rate=0.0)
    with (tmp_path / "e.csv").open(newline="") as f:
        from_csv = [parse_encounter(row_to_encounter(r)) for r in csv.DictReader(f)]
    from_parquet = [
        parse_encounter(row_to_encounter(r))
        for r in pq.read_table(tmp_path / "e.parquet").to_pylist()
    ]
    direct = [
        parse_encounter(e)
        for e in generate_encounters(200, 4, malformed_rate=0.0)
        if not isinstance(e, Malformed)
    ]
    assert from_csv == direct
    assert from_parquet == direct


# --- the mix -----------------------------------------------------------------------------


def test_the_mix_covers_the_cases() -> None:
    rows = encounters()
    count: collections.Counter[str] = collections.Counter()
    for r in rows:
        p, exam, billing = r["patient"], r["exam"], r["billing"]
        count[r["payer"]] += 1
        count["sex " + p["sex"]] += 1
        count["vfa alone"] += exam["vfa"] and not exam["sites"]
        count["vfa axial"] += exam["vfa"] and "lumbar_spine" in exam["sites"]
        count["peripheral only"] += bool(exam["sites"]) and all(
            s.endswith(("forearm", "heel", "hand")) for s in exam["sites"]
        )
        count["institutional"] += billing["claim_form"] == "institutional"
        count["26"] += billing["equipment_owner"] == "other"
        count["history"] += bool(r["history"])
        count["submitted"] += r["submitted"] is not None
        count["drug"] += bool(p["medications"])
        count["male status"] += p["sex"] == "M" and p["menopausal_status"] is not None
    n = len(rows)
    for payer in ("medicare", "medicare_advantage", "commercial", "medicaid"):
        assert count[payer] > 0.04 * n, payer
    assert 0.45 < count["medicare"] / n < 0.65
    assert 0.8 < count["sex F"] / n < 0.9
    assert count["sex M"] > 0
    assert count["male status"] == 0
    assert count["vfa alone"] > 0.01 * n and count["vfa axial"] > 0.04 * n
    assert count["peripheral only"] > 0.03 * n
    assert 0.07 < count["institutional"] / n < 0.13
    assert count["26"] > 0.1 * n
    assert 0.3 < count["history"] / n < 0.5
    assert 0.2 < count["submitted"] / n < 0.3
    assert count["drug"] > 0.2 * n


def test_some_patients_come_twice() -> None:
    visits = collections.Counter(r["patient"]["id"] for r in encounters())
    twice = [pid for pid, k in visits.items() if k >= 2]
    assert 0.04 * len(visits) < len(twice) < 0.2 * len(visits)
    # A patient is the same person on every visit.
    people: dict[str, tuple[str, str]] = {}
    for r in encounters():
        p = r["patient"]
        assert people.setdefault(p["id"], (p["sex"], p["birth_date"])) == (
            p["sex"],
            p["birth_date"],
        )


def test_a_few_claims_are_sent_twice_and_a_scrub_finds_them(tmp_path: Path) -> None:
    from dexacode.batch import ScrubOptions, scrub

    rows = encounters()
    twice = [
        (a["claim_id"], b["claim_id"])
        for a, b in itertools.pairwise(rows)
        if {**a, "claim_id": ""} == {**b, "claim_id": ""}
    ]
    assert 1 <= len(twice) < 0.01 * len(rows)
    assert all(first != again for first, again in twice)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    scrub(src, out, options=ScrubOptions(use_store=False, workers=1))
    flagged = {
        r["claim_id"]
        for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())
        if "SAME-DATE-DUPLICATE" in {f["id"] for f in r["findings"]}
    }
    sent_twice = {claim for pair in twice for claim in pair}
    # Each copy and its original; a claim with nothing to bill has no line to duplicate.
    assert sent_twice - flagged <= _nothing_to_bill(rows)
    # Nothing else is a duplicate, but a return visit that happens to fall on the same date.
    visits = collections.Counter((r["patient"]["id"], r["date_of_service"]) for r in rows)
    shared = {r["claim_id"] for r in rows if visits[r["patient"]["id"], r["date_of_service"]] > 1}
    assert flagged <= shared


def _nothing_to_bill(rows: list[dict[str, Any]]) -> set[str]:
    return {
        r["claim_id"]
        for r in rows
        if r["billing"]["claim_form"] == "professional"
        and r["billing"]["equipment_owner"] == "other"
        and not r["billing"]["interprets"]
        and r["billing"]["component"] is None
    }


def _as_claim(result: CodingResult) -> dict[str, Any]:
    """A coding result in the shape of a submitted claim."""
    return {
        "lines": [
            {"cpt": line.cpt, "modifiers": list(line.modifiers), "units": line.units}
            for line in result.lines
        ],
        "diagnoses": list(result.diagnoses),
    }


def test_submitted_claims_raise_the_typical_findings(code: Code) -> None:
    submitted = [r for r in encounters() if r["submitted"] is not None]
    seen: collections.Counter[str] = collections.Counter()
    clean = correct = 0
    for enc in submitted:
        alone = code({**enc, "submitted": None})
        with_claim = {f.id for f in code(enc).findings}
        without = {f.id for f in alone.findings}
        seen.update(with_claim - without)
        clean += with_claim == without
        # A correct claim is the engine's own coding of the encounter alone: it raises
        # nothing of its own (by construction).
        if enc["submitted"] == _as_claim(alone):
            correct += 1
            assert with_claim == without, enc["claim_id"]
    for expected in (
        "PTP-AXIAL-VFA",
        "MUE-EXCEEDED",
        "Z13820-ALONE",
        "COMPONENT-MISMATCH",
        "M8580-UNSPECIFIED",
        "LINE-EXTRA",
        "DISTINCT-MODIFIER-MISSING",
    ):
        assert seen[expected] > 0, (expected, seen)
    # Half are written as the engine gives them, half with a mistake (every mistake
    # changes the claim; a few, such as undotted codes, are harmless).
    assert 0.42 < correct / len(submitted) < 0.58
    assert correct <= clean
    assert 0.45 < clean / len(submitted) < 0.65


def test_correct_claims_in_a_batch_are_flagged_only_on_repeat_visits(
    tmp_path: Path, code: Code
) -> None:
    """The generator codes each encounter alone. A batch scrub also shows a visit the
    patient's earlier visits in the file as prior studies (frequency, a confirmatory
    baseline), which the generator cannot see: there, and only there, a correct claim can
    draw a finding of its own."""
    from dexacode.batch import ScrubOptions, scrub

    rows = encounters(2000)
    options = ScrubOptions(use_store=False, workers=1)
    results: dict[str, list[dict[str, Any]]] = {}
    for name, batch in (("with", rows), ("without", [{**r, "submitted": None} for r in rows])):
        src, out = tmp_path / f"{name}.jsonl", tmp_path / f"{name}-out.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in batch), encoding="utf-8")
        scrub(src, out, options=options)
        results[name] = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    earliest: dict[str, str] = {}
    for r in rows:
        pid, day = r["patient"]["id"], r["date_of_service"]
        earliest[pid] = min(earliest.get(pid, day), day)
    correct = flagged = 0
    for enc, got, bare in zip(rows, results["with"], results["without"], strict=True):
        assert got["claim_id"] == bare["claim_id"] == enc["claim_id"]
        if enc["submitted"] is None:
            continue
        if enc["submitted"] != _as_claim(code({**enc, "submitted": None})):
            continue  # one with a mistake
        correct += 1
        own = {f["id"] for f in got["findings"]} - {f["id"] for f in bare["findings"]}
        if own:
            flagged += 1
            repeat = enc["date_of_service"] > earliest[enc["patient"]["id"]]
            assert repeat, (enc["claim_id"], own)
    assert correct > 200
    assert flagged < 0.05 * correct
