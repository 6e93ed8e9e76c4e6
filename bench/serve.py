"""Benchmark: POST /v1/code at 50 concurrent clients (issue: the coder's worksheet and API).

Target: p99 latency under 50 ms with no errors, on this 2-core machine, with the server
run as `dexacode serve` runs it (one uvicorn process, access log on) on 127.0.0.1.

Each client sends an encounter every --interval seconds (default 0.25 s, the worksheet's
debounce: 50 coders typing at once), or back to back with --interval 0 (a closed loop, which
measures the server's saturation: there latency is clients / throughput by Little's law).
Runs are bounded in time and count; the clients run in one asyncio process beside the server.

    python bench/serve.py                       # 50 clients, one call each 0.25 s, 10 s
    python bench/serve.py --interval 0          # 50 clients back to back: the ceiling
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ENCOUNTER = ROOT / "examples" / "ex1-osteopenia-right-hip.json"

_SERVER = """
import sys
from dexacode.cli_web import serve_command
serve_command(host="127.0.0.1", port=int(sys.argv[1]), db=sys.argv[2], payers=None, rate_limit=0)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _make_key(db: str) -> str:
    from dexacode.web.keys import KeyStore
    from dexacode.web.tables import open_database

    engine, _ = open_database(db)
    try:
        return KeyStore(engine).create("bench")
    finally:
        engine.dispose()


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough to POST and read the answer.

    httpx's async pool costs more CPU per request than the server does at 50 connections,
    so it would measure itself; a raw connection per client keeps the load on the server.
    """

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def _client(
    conn: _Connection,
    stop_at: float,
    budget: list[int],
    latencies: list[float],
    errors: list[str],
    interval: float = 0.0,
    offset: float = 0.0,
) -> None:
    next_at = time.perf_counter() + offset
    while time.perf_counter() < stop_at and budget[0] > 0:
        if interval:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
        budget[0] -= 1
        started = time.perf_counter()
        try:
            status = await conn.post()
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors.append(type(exc).__name__)
            conn.writer = None
            continue
        if status == 200:
            latencies.append(time.perf_counter() - started)
        else:
            errors.append(f"HTTP {status}")


async def _load(
    port: int, key: str, clients: int, seconds: float, count: int, interval: float
) -> dict[str, float]:
    body = ENCOUNTER.read_bytes()
    request = (
        f"POST /v1/code HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    conns = [_Connection("127.0.0.1", port, request) for _ in range(clients)]
    try:
        warm = time.perf_counter() + 2
        await asyncio.gather(*(_client(c, warm, [10], [], []) for c in conns))
        latencies: list[float] = []
        errors: list[str] = []
        budget = [count]
        started = time.perf_counter()
        await asyncio.gather(
            *(
                _client(
                    c,
                    started + seconds,
                    budget,
                    latencies,
                    errors,
                    interval,
                    interval * i / clients,
                )
                for i, c in enumerate(conns)
            )
        )
        elapsed = time.perf_counter() - started
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    ms = sorted(x * 1000 for x in latencies)
    cuts = statistics.quantiles(ms, n=100) if len(ms) > 1 else [ms[0]] * 99
    return {
        "requests": len(ms),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "throughput_rps": round(len(ms) / elapsed, 1),
        "p50_ms": round(cuts[49], 2),
        "p90_ms": round(cuts[89], 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(ms[-1], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=200_000, help="at most this many requests")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.25,
        help="seconds between one client's requests (0: back to back)",
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="dexacode-bench-serve-"))
    db = f"sqlite:///{folder}/store.sqlite3"
    key = _make_key(db)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(port), db],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(
                    f"{url}/v1/health", headers={"Authorization": f"Bearer {key}"}
                ).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print("bench: the server did not start", file=sys.stderr)
                return 2
            time.sleep(0.2)
        figures = asyncio.run(
            _load(port, key, args.clients, args.seconds, args.count, args.interval)
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(folder, ignore_errors=True)
    figures["clients"] = args.clients
    figures["interval_s"] = args.interval
    print(json.dumps(figures, indent=2))
    ok = figures["p99_ms"] < 50 and figures["errors"] == 0
    print(f"target p99 < 50 ms, no errors: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
