"""A file's format from the name the user gives or from the file's ending: one table of
names and endings for every command that reads or writes files (scrub, generate, history
import). Each caller says which formats it takes and words its own refusal."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

__all__ = ["format_by_ending", "format_by_name"]

# Other names people give a format.
_ALIASES = {"ndjson": "jsonl", "json": "jsonl", "pq": "parquet", "837": "x12"}
_ENDINGS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".837": "x12",
    ".x12": "x12",
}


def format_by_name(name: str, allowed: Collection[str]) -> str | None:
    """The format ``name`` (e.g. "CSV", ".ndjson", "837") stands for, if ``allowed``."""
    found = name.lower().lstrip(".")
    found = _ALIASES.get(found, found)
    return found if found in allowed else None


def format_by_ending(path: Path, allowed: Collection[str]) -> str | None:
    """The format the file's ending stands for, if ``allowed``."""
    found = _ENDINGS.get(path.suffix.lower())
    return found if found in allowed else None
