"""JSON Lines files cut into spans for the workers: every line read once, in order, with
its own row number, wherever the cuts and the read blocks fall."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dexacode.formats import batch_io
from dexacode.formats.batch_io import BatchInputError, jsonl_spans, read_span

_line = st.text(alphabet="ab\r {}", max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(_line, max_size=30),
    final_newline=st.booleans(),
    per_span=st.integers(1, 7),
    block=st.sampled_from([1, 2, 5, 64, 1 << 24]),
)
def test_spans_give_every_line_once_with_its_row_number(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[str],
    final_newline: bool,
    per_span: int,
    block: int,
) -> None:
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    path = tmp_path_factory.mktemp("spans") / "in.jsonl"
    path.write_bytes(text.encode())
    expected = text.split("\n")
    if expected[-1] == "":
        expected.pop()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batch_io, "_SPAN_BLOCK", block)
        if not expected:
            with pytest.raises(BatchInputError, match="empty"):
                list(jsonl_spans(path, per_span))
            return
        spans = list(jsonl_spans(path, per_span))
    rows = [row for span in spans for row in read_span(path, span)]
    assert [r.row for r in rows] == list(range(1, len(expected) + 1))
    # A stray carriage return inside a line does not split it; blank lines stay rows.
    assert [r.text for r in rows if r.text is not None] == [
        e.rstrip("\r\n") for e in expected if e.strip()
    ]
    assert all(len(read_span(path, s)) <= per_span for s in spans)
    assert spans[0].start == 0 and spans[-1].end == len(text.encode())
    assert all(a.end == b.start for a, b in itertools.pairwise(spans))


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(BatchInputError, match="empty"):
        list(jsonl_spans(path, 10))
