"""The engine's memo tables (diagnoses and Medicare's category, worked out once per
combination of facts) never change a result: not when a combination is met again, nor
after a table is trimmed."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from dexacode.contract import CodingResult
from dexacode.engine import coverage, diagnoses
from dexacode.engine.memo import MemoTables
from tests.test_cases import _build, _load


def _case_encounters() -> list[dict[str, Any]]:
    encounters = []
    for param in _load():
        case = param.values[0]
        if "error" not in case["expect"]:
            encounters.append(_build(case.get("given", {})))
    return encounters


def test_results_are_the_same_with_tiny_memos_in_any_order(
    code: Callable[..., CodingResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    encounters = _case_encounters()
    monkeypatch.setattr(diagnoses, "_MEMO", MemoTables(max_entries=1_000_000))
    monkeypatch.setattr(coverage, "_CATEGORY_MEMO", MemoTables(max_entries=1_000_000))
    first = [code(enc).model_dump_json() for enc in encounters]

    # Tables of four entries are trimmed again and again; each case is met three times,
    # in shuffled order, so hits, misses and re-stored keys all occur.
    monkeypatch.setattr(diagnoses, "_MEMO", MemoTables(max_entries=4))
    monkeypatch.setattr(coverage, "_CATEGORY_MEMO", MemoTables(max_entries=4))
    order = [i for i in range(len(encounters)) for _ in range(3)]
    random.Random(7).shuffle(order)
    for i in order:
        assert code(encounters[i]).model_dump_json() == first[i], i
    assert diagnoses._MEMO.sizes() and max(diagnoses._MEMO.sizes()) <= 4
    assert coverage._CATEGORY_MEMO.sizes() and max(coverage._CATEGORY_MEMO.sizes()) <= 4


@pytest.mark.parametrize("drugs", ["current", "completed"])
def test_the_category_memo_tells_apart_facts_that_differ_in_one_drug(
    code: Callable[..., CodingResult], drugs: str
) -> None:
    """A man monitored after a drug (current or completed) is in Medicare's monitoring
    category; the same man without it is in none, whichever is coded first."""
    base: dict[str, Any] = {
        "patient__sex": "M",
        "patient__menopausal_status": None,
        "patient__risk_factors": [],
        "order__reason": "monitoring",
    }
    treated = {**base, "patient__medications": [{"name": "alendronate", "status": drugs}]}
    for first, second in ((treated, base), (base, treated)):
        results = [code(**first), code(**second)]
        categories = [r.coverage.medicare_category for r in results]
        expected = ["monitoring_drug_therapy", None]
        assert categories == (expected if first is treated else expected[::-1])


def test_threads_storing_into_a_full_table_never_fail() -> None:
    """The web app codes in several threads: evicting from a full table at the same time
    must not raise (a KeyError there was a 500 for the client)."""
    import sys
    import threading

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    memo = MemoTables(max_entries=50)
    table = memo.table("owner")
    errors: list[str] = []

    def work(base: int) -> None:
        try:
            for i in range(30_000):
                memo.store(table, (base, i), i)
        except Exception as exc:  # any failure is what the test looks for
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
    assert errors == []
    assert len(table) <= 50
