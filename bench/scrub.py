"""Benchmark: scrubbing a payer's year (issue: batch scrubbing with a history store).

Targets: 1,000,000 encounters (JSON Lines or Parquet) scrubbed end to end in under 20 s
wall on this 2-core machine with peak memory under 2 GB; the scrub's time under 5 times
the time merely to parse the same file; a store of 5,000,000 prior studies making the run
at most 1.5 times slower than an empty store.

    python bench/scrub.py                 # the full figures (several minutes the first
                                          # time: the inputs and the 5M store are cached
                                          # under .cache/bench)
    python bench/scrub.py --count 20000 --store-rows 100000   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
SEED = 2026


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, in kB."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            with open(f"/proc/{p}/task/{p}/children") as fh:
                stack += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def _run(cmd: list[str]) -> tuple[float, int, str]:
    """Wall time, peak RSS (kB) of the whole process tree, and stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return wall, peak, out


def _inputs(count: int) -> tuple[Path, Path]:
    from dexacode.generate import write_generated

    CACHE.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("jsonl", "parquet"):
        path = CACHE / f"encounters-{count}-{SEED}.{ext}"
        if not path.exists():
            start = time.perf_counter()
            part = path.with_suffix(".part." + ext)
            write_generated(part, count, SEED)
            part.rename(path)
            print(f"  generated {path.name} in {time.perf_counter() - start:.1f} s")
        paths.append(path)
    return paths[0], paths[1]


def _store(rows: int, patients: int) -> str:
    """A SQLite store holding ``rows`` prior studies of the run's patients (and others)."""
    from dexacode.store import HistoryStore, StudyRow

    path = CACHE / f"history-{rows}.sqlite3"
    url = f"sqlite:///{path}"
    if path.exists():
        return url
    start = time.perf_counter()
    codes = ("77080", "77081", "77085", "77080", "77080")

    def studies() -> object:
        day0 = date(2014, 1, 1)
        for i in range(rows):
            # Half the rows belong to the run's patient ids, half to other patients.
            pid = f"P-{i % patients:06d}" if i % 2 == 0 else f"Q-{i:07d}"
            yield StudyRow(
                patient_id=pid,
                date_of_service=day0 + timedelta(days=(i * 37) % 4000),
                cpt=codes[i % len(codes)],
                provider=f"NPI-{i % 97}",
            )

    part = path.with_suffix(".part")
    with HistoryStore(f"sqlite:///{part}") as store:
        report = store.add(studies(), source="bench")  # type: ignore[arg-type]
    part.rename(path)
    for extra in ("-wal", "-shm"):
        Path(str(part) + extra).unlink(missing_ok=True)
    print(f"  built a store of {report.added:,} studies in {time.perf_counter() - start:.0f} s")
    return url


def _parse_jsonl(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as fh:
        for line in fh:
            with contextlib.suppress(ValueError):  # the file's few malformed rows
                json.loads(line)
    return time.perf_counter() - start


def _parse_parquet(path: Path) -> float:
    import pyarrow.parquet as pq

    start = time.perf_counter()
    pq.read_table(path)
    return time.perf_counter() - start


def _floor_worker(args: tuple[Path, int, int, str]) -> int:
    """Parse a span's encounters strictly and write a result's JSON for each: a scrub's
    work with no rule applied."""
    from dexacode.contract import CodingResult, ContractError, parse_encounter

    path, start, end, result_json = args
    result = CodingResult.model_validate_json(result_json)
    with path.open("rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    done = 0
    for line in data.split(b"\n"):
        if not line:
            continue
        with contextlib.suppress(ContractError):
            parse_encounter(line)
            result.model_dump_json()
            done += 1
    return done


def _contract_floor(path: Path, workers: int) -> float:
    """Wall time of the floor under any scrub of ``path`` in this design: every encounter
    parsed through the contract and a typical result written as JSON, on ``workers``
    processes, with no rule applied."""
    from concurrent.futures import ProcessPoolExecutor

    from dexacode.coding import code
    from dexacode.contract import parse_encounter
    from dexacode.formats.batch_io import jsonl_spans

    with path.open("rb") as fh:
        sample = code(parse_encounter(fh.readline())).model_dump_json()
    start = time.perf_counter()
    spans = [(path, s.start, s.end, sample) for s in jsonl_spans(path, 20_000)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        sum(pool.map(_floor_worker, spans))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--store-rows", type=int, default=5_000_000)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    print(f"Preparing inputs ({args.count:,} encounters) and stores...")
    jsonl, parquet = _inputs(args.count)
    empty = CACHE / "empty.sqlite3"
    for leftover in CACHE.glob("empty.sqlite3*"):
        leftover.unlink()
    empty_url = f"sqlite:///{empty}"
    full_url = _store(args.store_rows, max(1, int(args.count * 0.9)))
    exe = [sys.executable, "-m", "dexacode", "scrub", "--quiet"]
    if args.workers:
        exe += ["--workers", str(args.workers)]
    out_dir = CACHE / "out"
    out_dir.mkdir(exist_ok=True)

    rows = []
    for label, src, parse in (
        ("JSON Lines", jsonl, _parse_jsonl),
        ("Parquet", parquet, _parse_parquet),
    ):
        parse_s = parse(src)
        out = out_dir / f"results{src.suffix}"
        wall, peak, _ = _run([*exe, str(src), "--out", str(out), "--db", empty_url])
        rows.append((label, "empty store", wall, peak, parse_s))
    wall, peak, text = _run([*exe, str(jsonl), "--out", str(out_dir / "r.jsonl"), "--db", full_url])
    rows.append(("JSON Lines", f"{args.store_rows:,}-study store", wall, peak, rows[0][4]))

    print()
    print(
        f"{'input':<11} {'store':<22} {'wall s':>7} {'enc/s':>9} {'peak RSS':>9} "
        f"{'parse s':>8} {'ratio':>6}"
    )
    for label, store, wall, peak, parse_s in rows:
        print(
            f"{label:<11} {store:<22} {wall:7.1f} {args.count / wall:9,.0f} "
            f"{peak / 1024 / 1024:7.2f} GB {parse_s:8.1f} {wall / parse_s:6.1f}"
        )
    slow = rows[2][2] / rows[0][2]
    print(f"\nstore of {args.store_rows:,} studies vs empty: {slow:.2f}x (target <= 1.5x)")
    workers = args.workers or os.cpu_count() or 1
    floor = _contract_floor(jsonl, workers)
    print(
        f"contract floor (JSON Lines parsed through the contract and a result written per "
        f"encounter, no rule applied, {workers} workers): {floor:.1f} s, leaving "
        f"{max(0.0, 20 - floor):.1f} s of the 20 s target for the rules"
    )
    print("targets: wall < 20 s, peak RSS < 2 GB, ratio < 5 (for 1,000,000 encounters)")
    summary = [line for line in text.splitlines() if line.startswith(("Rows", "  reconc"))]
    print("last run:", "; ".join(s.strip() for s in summary))
    print(f"machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
