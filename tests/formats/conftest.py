"""Fixtures the X12 tests share: the example billing provider and the test fee file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dexacode.formats.x12 import example_provider_path, load_fees, load_provider

X12_DATA = Path(__file__).resolve().parents[1] / "data" / "x12"


@pytest.fixture(scope="module")
def provider() -> Any:
    return load_provider(example_provider_path())


@pytest.fixture(scope="module")
def fees() -> Any:
    return load_fees(X12_DATA / "fees.csv")
