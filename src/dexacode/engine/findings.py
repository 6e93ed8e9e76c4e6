"""Building findings from their ids: wording, severity and sources come from the rule book."""

from __future__ import annotations

from typing import Any

from dexacode.contract import Finding, build
from dexacode.rulebook import RuleSet


class _Strict(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        raise KeyError(f"finding template needs {{{key}}}")


# Findings repeat across encounters word for word (the same id, line and values): each is
# built once. Entries keep their rule alive, so its id() is never reused while cached.
_BUILT: dict[tuple[Any, ...], tuple[Any, Finding]] = {}
_BUILT_MAX = 200_000

Call = tuple[str, str | None, dict[str, Any]]


class FindingSink:
    """Collects the findings of one encounter, in the order the rules raise them."""

    def __init__(self, rules: RuleSet, unknown: frozenset[str] = frozenset()) -> None:
        self._rules = rules
        self._items: list[Finding] = []
        self._seen: set[tuple[str, str | None, str]] = set()
        self._recording: list[Call] | None = None
        self._unknown = unknown  # facts the input lacks: rules needing them stay silent

    def add(self, finding_id: str, line: str | None = None, **context: Any) -> Finding | None:
        if self._recording is not None:
            self._recording.append((finding_id, line, context))
        rule = self._rules.findings.get(finding_id)
        if rule is None:  # a finding not in force on this date is not raised
            return None
        if self._unknown and self._unknown.intersection(rule.needs):
            return None
        # A call site passes its values in one order, so they need no sorting: at worst
        # two sites make two entries for one finding.
        key: tuple[Any, ...] | None = None
        cached = None
        try:
            key = (id(rule), line, *context.items())
            cached = _BUILT.get(key)
        except TypeError:  # an unhashable value: build it afresh
            key = None
        finding = cached[1] if cached is not None else self._build(rule, finding_id, line, context)
        if key is not None and cached is None:
            if len(_BUILT) >= _BUILT_MAX:
                _BUILT.clear()
            _BUILT[key] = (rule, finding)
        seen = (finding_id, line, finding.message)
        if seen in self._seen:
            return None
        self._seen.add(seen)
        self._items.append(finding)
        return finding

    @staticmethod
    def _build(rule: Any, finding_id: str, line: str | None, context: dict[str, Any]) -> Finding:
        values = _Strict(context)
        message = rule.message.format_map(values)
        action = rule.action.format_map(values)
        # The engine's own values are trusted: construct without re-validating.
        return build(
            Finding,
            id=finding_id,
            severity=rule.severity,
            message=f"{message} {action}",
            action=action,
            line=line,
            sources=list(rule.source),
        )

    def record(self) -> None:
        """Start noting every add() call, so a memoized step can replay them."""
        self._recording = []

    def recorded(self) -> list[Call]:
        calls, self._recording = self._recording or [], None
        return calls

    def replay(self, calls: list[Call]) -> None:
        for finding_id, line, context in calls:
            self.add(finding_id, line, **context)

    def has(self, finding_id: str) -> bool:
        return any(f.id == finding_id for f in self._items)

    def of(self, finding_id: str) -> list[Finding]:
        return [f for f in self._items if f.id == finding_id]

    def expected_denials(self) -> dict[str, list[str]]:
        """Line code -> ids of the expected-denial findings naming it."""
        denials: dict[str, list[str]] = {}
        for f in self._items:
            rule = self._rules.findings[f.id]
            if rule.expected_denial and f.line is not None:
                denials.setdefault(f.line, []).append(f.id)
        return denials

    def denials_unjudged(self) -> bool:
        """Could an expected denial have been held back for a fact the input lacks?"""
        if not self._unknown:
            return False
        return any(
            rule.expected_denial and self._unknown.intersection(rule.needs)
            for rule in self._rules.findings.values()
        )

    @property
    def items(self) -> list[Finding]:
        return list(self._items)


def listing(items: list[str], conj: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {conj} {items[-1]}"
