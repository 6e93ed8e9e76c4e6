"""The engine's memo tables (diagnoses worked out once per combination of facts) never
change a result: not when a combination is met again, nor after the table is trimmed."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from dexacode.contract import CodingResult
from dexacode.engine import diagnoses
from tests.test_cases import _build, _load


def _case_encounters() -> list[dict[str, Any]]:
    encounters = []
    for param in _load():
        case = param.values[0]
        if "error" not in case["expect"]:
            encounters.append(_build(case.get("given", {})))
    return encounters


def test_results_are_the_same_with_a_tiny_memo_in_any_order(
    code: Callable[..., CodingResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    encounters = _case_encounters()
    monkeypatch.setattr(diagnoses, "_MEMO", {})
    first = [code(enc).model_dump_json() for enc in encounters]

    # A table of four entries is trimmed again and again; each case is met three times,
    # in shuffled order, so hits, misses and re-stored keys all occur.
    monkeypatch.setattr(diagnoses, "_MEMO", {})
    monkeypatch.setattr(diagnoses, "_MEMO_MAX", 4)
    order = [i for i in range(len(encounters)) for _ in range(3)]
    random.Random(7).shuffle(order)
    for i in order:
        assert code(encounters[i]).model_dump_json() == first[i], i
    assert all(len(slot[2]) <= 4 for slot in diagnoses._MEMO.values())
