"""Fixtures for the CMS data tests: a fresh data folder and a coder that reads it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dexacode.coding import code as _code
from dexacode.contract import CodingResult
from dexacode.data import with_loaded_data
from dexacode.icd10 import Icd10Library
from dexacode.rulebook import RuleBook
from tests.conftest import REPO_ROOT, make_encounter

CMS = REPO_ROOT / "tests" / "data" / "cms"
PTP_FILES = sorted((CMS / "ptp").glob("*.txt"))
MUE_FILE = CMS / "mue" / "MCR_MUE_PractitionerServices_Eff_04-01-2026.csv"
MCD_FILES = sorted((CMS / "mcd").glob("*.csv"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def coder(book: RuleBook, library: Icd10Library, data_dir: Path) -> Callable[..., CodingResult]:
    """code(**make_encounter changes) with whatever is loaded in data_dir at call time."""

    def run(**changes: Any) -> CodingResult:
        loaded = with_loaded_data(book, data_dir)
        return _code(make_encounter(**changes), rulebook=loaded, icd=library)

    return run
