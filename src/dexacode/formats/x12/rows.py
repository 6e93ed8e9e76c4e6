"""837P files as scrubber rows: one row per claim, numbered in file order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from dexacode.formats.batch_io import RawRow
from dexacode.formats.x12.encounter import ClaimNotCodable, claim_to_encounter
from dexacode.formats.x12.read import ClaimProblem, read_837
from dexacode.icd10 import Icd10Library, open_library
from dexacode.rulebook import RuleBook


def _default_book() -> RuleBook:
    from dexacode.coding import configured_payer_dirs
    from dexacode.rulebook import load_rulebook

    return load_rulebook(configured_payer_dirs())


def _steps(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` whole steps that add up (for the progress bar)."""
    base, extra = divmod(total, max(parts, 1))
    return [base + (1 if i < extra else 0) for i in range(parts)]


def read_837_rows(
    path: Path, book: RuleBook | None = None, library: Icd10Library | None = None
) -> Iterator[tuple[RawRow, int]]:
    """Each claim of an 837P file as a RawRow: the encounter as JSON text, or a problem
    naming the claim and what is wrong; the row is the claim's ordinal in the file.

    Raises X12ReadError (a BatchInputError) when the file as a whole cannot be read."""
    claims = read_837(path)
    book = book or _default_book()
    own = library is None
    icd = open_library() if library is None else library
    steps = _steps(path.stat().st_size, len(claims))
    try:
        for ordinal, (claim, step) in enumerate(zip(claims, steps, strict=True), 1):
            if isinstance(claim, ClaimProblem):
                label = f"claim {claim.claim_id}: " if claim.claim_id else ""
                problem = label + claim.message
                yield RawRow(ordinal, problem=problem, claim_id=claim.claim_id), step
                continue
            try:
                encounter = claim_to_encounter(claim, book, icd)
            except ClaimNotCodable as exc:
                problem = f"claim {claim.claim_id}: {exc}"
                yield RawRow(ordinal, problem=problem, claim_id=claim.claim_id or None), step
                continue
            yield RawRow(ordinal, text=json.dumps(encounter)), step
    finally:
        if own:
            icd.close()
