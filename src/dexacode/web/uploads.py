"""The formats a batch upload may be in and the file endings that name them, taken from
the library's own table (``formats.naming``), so the batch page's text, its file picker
and the API's refusal all name the same list."""

from __future__ import annotations

from dexacode.formats.batch_io import FORMATS, INPUT_ONLY_FORMATS

# The library's one table of endings (private there: every command words its own list).
from dexacode.formats.naming import _ENDINGS as _LIBRARY_ENDINGS

__all__ = ["ACCEPT", "ENDINGS", "FHIR_ENDING", "KINDS", "endings_in_words"]

# FHIR is told from JSON Lines by this double ending (or by its content): see format_of.
FHIR_ENDING = ".fhir.json"

_WORDS = {
    "jsonl": "JSON Lines",
    "csv": "CSV",
    "parquet": "Parquet",
    "x12": "X12 837P claims",
    "fhir": "FHIR Bundles",
}


def _endings_by_format() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {fmt: [] for fmt in (*FORMATS, *INPUT_ONLY_FORMATS)}
    for ending, fmt in _LIBRARY_ENDINGS.items():
        if fmt in found:
            found[fmt].append(ending)
    found["fhir"].append(FHIR_ENDING)
    return {fmt: tuple(endings) for fmt, endings in found.items()}


ENDINGS = _endings_by_format()
# (format's words, its endings) for the batch page, in the library's order.
KINDS = tuple((_WORDS.get(fmt, fmt), endings) for fmt, endings in ENDINGS.items())
# The file picker's accept attribute: every ending a scrub takes.
ACCEPT = ",".join(dict.fromkeys(e for endings in ENDINGS.values() for e in endings))


def endings_in_words() -> str:
    """ ".jsonl, .csv, .parquet, .837 or .fhir.json": each format's first ending."""
    firsts = [endings[0] for endings in ENDINGS.values() if endings]
    return ", ".join(firsts[:-1]) + " or " + firsts[-1]
