"""Shared test fixtures: the rule book, the ICD-10-CM index and an encounter builder.

The ICD-10-CM index is built once into .cache/dexacode-test (gitignored) unless
DEXACODE_DATA_DIR points elsewhere, so the CLI run in a subprocess finds the same one.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("DEXACODE_DATA_DIR", str(REPO_ROOT / ".cache" / "dexacode-test"))
# Tests never read the developer's own config or payer folders.
os.environ["DEXACODE_CONFIG"] = str(REPO_ROOT / ".cache" / "no-config.toml")
os.environ.pop("DEXACODE_PAYERS", None)

from dexacode.coding import code as _code  # noqa: E402
from dexacode.contract import CodingResult  # noqa: E402
from dexacode.icd10 import Icd10Library, open_library  # noqa: E402
from dexacode.rulebook import RuleBook, load_rulebook  # noqa: E402

EXAMPLES = REPO_ROOT / "tests" / "examples"

# A 70-year-old postmenopausal woman, Medicare, screening, spine and left hip, normal
# results, billed globally on a professional claim: a clean claim to change one fact at a time.
BASE: dict[str, Any] = {
    "claim_id": "T-1",
    "date_of_service": "2026-03-02",
    "payer": "medicare",
    "patient": {
        "id": "P-TEST",
        "sex": "F",
        "birth_date": "1956-01-15",
        "menopausal_status": "postmenopausal",
        "risk_factors": [],
        "medications": [],
        "conditions": [],
    },
    "order": {"reason": "screening"},
    "exam": {
        "sites": ["lumbar_spine", "left_hip"],
        "vfa": False,
        "status": "completed",
        "will_repeat": False,
        "peripheral_reason": None,
    },
    "billing": {
        "claim_form": "professional",
        "component": None,
        "equipment_owner": "billing_provider",
        "interprets": True,
        "substitute": None,
        "substitute_days": None,
        "abn_signed": False,
    },
    "results": [
        {"site": "lumbar_spine", "region": "L1-L4", "bmd": 1.02, "t_score": -0.4, "z_score": 0.8},
        {"site": "left_hip", "region": "femoral_neck", "bmd": 0.8, "t_score": -0.6, "z_score": 0.5},
        {"site": "left_hip", "region": "total_hip", "bmd": 0.95, "t_score": -0.3, "z_score": 0.7},
    ],
    "history": [],
    "submitted": None,
}


def make_encounter(**changes: Any) -> dict[str, Any]:
    """BASE with changes; nested keys use '__': make_encounter(patient__sex="M")."""
    enc = copy.deepcopy(BASE)
    for key, value in changes.items():
        target = enc
        parts = key.split("__")
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = copy.deepcopy(value)
    return enc


def store_with_prior(path: Path, patient_id: str, day: str = "2025-06-10") -> str:
    """A SQLite history store at ``path`` holding one 77080 of ``patient_id`` on ``day``
    (no payer family: it counts for every payer); returns its URL."""
    from datetime import date

    from dexacode.store import HistoryStore, StudyRow

    url = f"sqlite:///{path}"
    with HistoryStore(url) as store:
        store.add(
            [StudyRow(patient_id=patient_id, date_of_service=date.fromisoformat(day), cpt="77080")],
            source="test",
        )
    return url


def ids(result: CodingResult) -> list[str]:
    return [f.id for f in result.findings]


def finding(result: CodingResult, finding_id: str) -> Any:
    found = [f for f in result.findings if f.id == finding_id]
    assert found, f"{finding_id} not raised; got {ids(result)}"
    return found[0]


def lines(result: CodingResult) -> list[tuple[str, list[str]]]:
    return [(line.cpt, line.modifiers) for line in result.lines]


@pytest.fixture(scope="session")
def book() -> RuleBook:
    return load_rulebook()


@pytest.fixture(scope="session")
def library() -> Icd10Library:
    return open_library()


@pytest.fixture(scope="session")
def code(book: RuleBook, library: Icd10Library) -> Callable[..., CodingResult]:
    """code(encounter_dict, **make_encounter changes) -> CodingResult."""

    def run(enc: dict[str, Any] | None = None, **changes: Any) -> CodingResult:
        body = enc if enc is not None else make_encounter(**changes)
        return _code(body, rulebook=book, icd=library)

    return run


def load_example(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
