"""Memo tables for engine steps whose answer depends on a few facts that repeat across a
batch: worked out once per combination, per rule set (and ICD-10-CM release).

A step's key must hold every input the step reads, and nothing else; the step decides
that, this module only keeps the answers.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

__all__ = ["MemoTables"]


class MemoTables:
    """One table per owner (a rule set, or a rule set and a release), at most
    ``max_entries`` answers each. A table holds its owners, so their id()s stay theirs
    while it lives."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        # The web app codes in several threads at once. Reading a table needs no lock (a
        # dict look-up is atomic), but making a table and evicting from a full one do: two
        # threads evicting the same answer, or one iterating while another inserts, fail.
        self._lock = threading.Lock()
        self._tables: dict[tuple[int, ...], tuple[tuple[object, ...], dict[Any, Any]]] = {}
        # The keys' parts (sets of risk factors, lists of conditions...) are one
        # encounter's own objects; stored keys share one copy of each instead.
        self._parts: dict[Any, Any] = {}

    def table(self, *owners: object) -> dict[Any, Any]:
        ids = tuple(id(owner) for owner in owners)
        slot = self._tables.get(ids)
        if slot is None:
            with self._lock:
                slot = self._tables.setdefault(ids, (owners, {}))
        return slot[1]

    def store(self, table: dict[Any, Any], key: tuple[Any, ...], answer: Any) -> None:
        with self._lock:  # only on a miss: the answer was just worked out, at far more cost
            self._store(table, key, answer)

    def _store(self, table: dict[Any, Any], key: tuple[Any, ...], answer: Any) -> None:
        if len(table) >= self.max_entries:
            # The oldest half goes: combinations that keep coming back are soon stored again.
            for stale in list(itertools.islice(table, max(1, self.max_entries // 2))):
                del table[stale]
        if len(self._parts) >= self.max_entries:
            self._parts.clear()  # stored keys keep their own copies
        keep = self._parts.setdefault
        table[tuple(keep(part, part) for part in key)] = answer

    def sizes(self) -> list[int]:
        return [len(table) for _, table in self._tables.values()]
