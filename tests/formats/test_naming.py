"""One table of format names and endings, each command taking only its own formats."""

from __future__ import annotations

from pathlib import Path

from dexacode.formats.naming import format_by_ending, format_by_name


def test_names_and_endings_are_read_alike_for_every_command() -> None:
    assert format_by_name("NDJSON", ("jsonl", "csv")) == "jsonl"
    assert format_by_name(".pq", ("jsonl", "parquet")) == "parquet"
    assert format_by_name("837", ("jsonl", "x12")) == "x12"
    assert format_by_ending(Path("claims.NDJSON"), ("jsonl",)) == "jsonl"
    assert format_by_ending(Path("claims.837"), ("x12",)) == "x12"


def test_a_format_the_command_does_not_take_is_not_named() -> None:
    # The history import reads CSV and JSON Lines only: a Parquet file is not guessed.
    assert format_by_name("parquet", ("csv", "jsonl")) is None
    assert format_by_ending(Path("prior.parquet"), ("csv", "jsonl")) is None
    assert format_by_ending(Path("notes.txt"), ("csv", "jsonl", "parquet")) is None
