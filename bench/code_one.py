"""Benchmark: coding one encounter in-process, and `dexacode code` on one file.

Targets (issue: the coding engine): median under 1 ms per encounter in-process after
warm-up, and under 0.5 s wall for the command. Run with `make bench`; not a test.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dexacode.coding import default_library
from dexacode.contract import parse_encounter
from dexacode.engine import code_encounter
from dexacode.rulebook import load_rulebook

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "tests" / "examples").glob("*.json"))


def _encounters() -> list[str]:
    texts = []
    for path in EXAMPLES:
        body = json.loads(path.read_text())
        if body["expect"].get("exit") != 2:
            texts.append(json.dumps(body["encounter"]))
    return texts


def in_process(rounds: int = 2000) -> None:
    book = load_rulebook()
    library = default_library()
    texts = _encounters()
    samples_code: list[float] = []
    samples_total: list[float] = []
    for i in range(rounds + 200):
        text = texts[i % len(texts)]
        start = time.perf_counter()
        enc = parse_encounter(text)
        rules = book.in_force(enc.date_of_service, enc.payer)
        release, exact = library.for_date(enc.date_of_service)
        mid = time.perf_counter()
        code_encounter(enc, rules, release, icd_exact=exact)
        end = time.perf_counter()
        if i >= 200:  # warm-up: caches of rule sets and ICD lookups
            samples_code.append(end - mid)
            samples_total.append(end - start)
    print(f"in-process, {rounds} encounters after warm-up:")
    print(f"  engine only       median {statistics.median(samples_code) * 1e3:.3f} ms")
    print(
        f"  parse + engine    median {statistics.median(samples_total) * 1e3:.3f} ms"
        f"   p99 {sorted(samples_total)[int(rounds * 0.99)] * 1e3:.3f} ms   (target < 1 ms)"
    )


def command(runs: int = 15) -> None:
    exe = shutil.which("dexacode", path=str(Path(sys.executable).parent))
    if exe is None:
        print("dexacode command not found next to this Python; skipped")
        return
    example = ROOT / "examples" / "ex1-osteopenia-right-hip.json"
    print(f"`dexacode code` on one file, {runs} runs:")
    with tempfile.TemporaryDirectory() as tmp:
        # Without a history store, and reading one (as a user who records scrubs has):
        # opening the store costs the import of SQLAlchemy.
        store = f"sqlite:///{Path(tmp) / 'history.sqlite3'}"
        for label, extra in (
            ("no history store", ["--no-store"]),
            ("with a store", ["--db", store]),
        ):
            walls = []
            for _ in range(runs):
                start = time.perf_counter()
                subprocess.run(
                    [exe, "code", str(example), "--format", "json", *extra],
                    capture_output=True,
                    check=False,
                )
                walls.append(time.perf_counter() - start)
            print(
                f"  {label:<17} wall median {statistics.median(walls):.3f} s  "
                f"max {max(walls):.3f} s  (target < 0.5 s)"
            )


if __name__ == "__main__":
    in_process()
    command()
