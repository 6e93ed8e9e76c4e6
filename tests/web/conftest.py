"""Web fixtures: an app on a fresh SQLite store with one API key, a live server on a free
loopback port, and Debian's Chromium driven by Playwright.

Browser and schema-fuzzing tests need tools outside pip's reach (Chromium from apt). Without
them the tests are skipped and the reason is printed at the end of the run; with CI=true
they fail instead, so a CI that lost its browser cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Starlette's test client prefers a newer httpx; the one pinned here works the same.
warnings.filterwarnings("ignore", message=".*httpx.*", category=Warning)

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from dexacode.web import create_app, shutdown  # noqa: E402

CHROMIUM = Path(os.environ.get("DEXACODE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / ".cache" / "artifacts"
_skipped: list[str] = []


def skip_or_fail(reason: str) -> None:
    """Skip with a visible reason; under CI=true, fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}, and CI must run these tests (.ci/browser.sh installs it)")
    if reason not in _skipped:
        _skipped.append(reason)
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for reason in _skipped:
        terminalreporter.write_line(f"web tests skipped: {reason}", yellow=True)


@pytest.fixture
def web_app(tmp_path: Path) -> Iterator[FastAPI]:
    app = create_app(f"sqlite:///{tmp_path}/store.sqlite3", jobs_dir=tmp_path / "jobs")
    yield app
    shutdown(app)


@pytest.fixture
def api_key(web_app: FastAPI) -> str:
    key: str = web_app.state.ctx.keys.create("tester")
    return key


@pytest.fixture
def client(web_app: FastAPI, api_key: str) -> Iterator[TestClient]:
    with TestClient(web_app, headers={"Authorization": f"Bearer {api_key}"}) as c:
        yield c


@pytest.fixture
def anonymous(web_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(web_app) as c:
        yield c


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveServer:
    url: str
    key: str
    app: FastAPI


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app under uvicorn on 127.0.0.1 and a free port, for the browser."""
    import uvicorn

    folder = tmp_path_factory.mktemp("live")
    app = create_app(f"sqlite:///{folder}/store.sqlite3", jobs_dir=folder / "jobs")
    key = app.state.ctx.keys.create("e2e-coder")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", key=key, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        shutdown(app)


@pytest.fixture(scope="session")
def browser_context() -> Iterator[Any]:
    """A headless Debian Chromium with a new, empty profile (no downloaded browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        skip_or_fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="dexacode-chromium-")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
            accept_downloads=True,
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)
