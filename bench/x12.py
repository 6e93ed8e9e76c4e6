"""Benchmark: 1,000 coded encounters written as one 837P interchange.

Target (issue 4): under 2 s for the writing (claims priced, checked by dexacode's own
rules, serialized). Coding the encounters is timed apart, and pyx12's validation of the
result is reported for information. Run with `.venv/bin/python bench/x12.py`; not a test.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

from dexacode.coding import default_library
from dexacode.contract import CodingResult, Encounter, parse_encounter
from dexacode.engine import code_encounter
from dexacode.formats.x12 import (
    Claim837,
    Envelope,
    claim_for,
    claim_problems,
    example_provider_path,
    interchange_text,
    load_fees,
    load_provider,
    parse_837,
    validate_837,
)
from dexacode.rulebook import load_rulebook

ROOT = Path(__file__).resolve().parent.parent
FEES = ROOT / "src" / "dexacode" / "formats" / "x12" / "examples" / "fees.csv"
COUNT = 1000
TARGET_S = 2.0


def _encounters() -> list[Encounter]:
    base = json.loads((ROOT / "tests" / "examples" / "ex1-osteopenia-right-hip.json").read_text())
    base = base["encounter"]
    out = []
    for i in range(COUNT):
        body = json.loads(json.dumps(base))
        body["claim_id"] = f"B-{i:05d}"
        body["patient"]["id"] = f"P-{i:05d}"
        if i % 3 == 1:
            body["billing"]["equipment_owner"] = "other"  # 77080-26
        if i % 5 == 2:
            body["exam"]["vfa"] = True  # 77085
        out.append(parse_encounter(body))
    return out


def main() -> int:
    book = load_rulebook()
    library = default_library()
    provider = load_provider(example_provider_path())
    fees = load_fees(FEES)
    encounters = _encounters()

    start = time.perf_counter()
    coded: list[tuple[Encounter, CodingResult]] = []
    for enc in encounters:
        rules = book.in_force(enc.date_of_service, enc.payer)
        release, exact = library.for_date(enc.date_of_service)
        coded.append((enc, code_encounter(enc, rules, release, icd_exact=exact)))
    coding_s = time.perf_counter() - start

    start = time.perf_counter()
    claims: list[Claim837] = []
    for enc, result in coded:
        made = claim_for(enc, result, provider=provider, fees=fees, family="medicare")
        assert isinstance(made, Claim837), made
        rules = book.in_force(enc.date_of_service, enc.payer)
        release, _ = library.for_date(enc.date_of_service)
        assert not claim_problems(made, release, rules.procedures, rules.modifiers)
        claims.append(made)
    text = interchange_text(claims, provider, Envelope(1, dt.datetime(2026, 4, 20, 9, 0)))
    writing_s = time.perf_counter() - start

    start = time.perf_counter()
    check = validate_837(text)
    pyx12_s = time.perf_counter() - start

    # Reading the file back holds one subscriber loop's tree at a time, not the file's:
    # the process's peak memory says whether that still holds.
    start = time.perf_counter()
    back = parse_837(text)
    reading_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ok = writing_s < TARGET_S
    print(f"coding {COUNT:,} encounters:        {coding_s:.3f} s (not part of the target)")
    print(
        f"writing {COUNT:,} claims to 837P:   {writing_s:.3f} s "
        f"(target < {TARGET_S:.0f} s: {'met' if ok else 'MISSED'}; {len(text):,} bytes)"
    )
    print(f"pyx12 validation (information):  {pyx12_s:.3f} s, 999 accepted: {check.accepted}")
    print(
        f"reading it back (information):   {reading_s:.3f} s for {len(back):,} claims; "
        f"process peak {peak_mb:,.0f} MB"
    )
    return 0 if ok and check.accepted and len(back) == COUNT else 1


if __name__ == "__main__":
    sys.exit(main())
