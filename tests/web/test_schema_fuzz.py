"""Schemathesis over the OpenAPI schema: whatever a client sends, never a 500.

Inputs are generated from /openapi.json for every route (the encounter's own schema for
/v1/code), with a valid key; the number of examples is kept small so the run takes seconds.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dexacode.web import create_app, shutdown
from tests.web.conftest import skip_or_fail

try:
    import schemathesis
    from hypothesis import HealthCheck, settings
    from schemathesis.checks import not_a_server_error
except ImportError:  # pragma: no cover - the dev extra installs it
    schemathesis = None  # type: ignore[assignment]


if schemathesis is None:

    def test_schema_fuzzing() -> None:
        skip_or_fail("schemathesis is not installed (pip install -e '.[dev]')")

else:
    # Built at collection: schemathesis parametrizes by the schema's operations.
    _folder = Path(tempfile.mkdtemp(prefix="dexacode-fuzz-"))
    _app = create_app(f"sqlite:///{_folder}/s.sqlite3", rate_limit=0, jobs_dir=_folder / "jobs")
    _key = _app.state.ctx.keys.create("fuzzer")
    schema = schemathesis.openapi.from_asgi("/openapi.json", _app)

    @pytest.fixture(scope="module", autouse=True)
    def _close_app() -> Iterator[None]:
        yield
        shutdown(_app)
        shutil.rmtree(_folder, ignore_errors=True)

    @schema.parametrize()
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def test_no_server_error(case: Any) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {_key}"},
            checks=[not_a_server_error],
        )
