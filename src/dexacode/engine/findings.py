"""Building findings from their ids: wording, severity and sources come from the rule book."""

from __future__ import annotations

from typing import Any

from dexacode.contract import Finding, build
from dexacode.rulebook import RuleSet


class _Strict(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        raise KeyError(f"finding template needs {{{key}}}")


class FindingSink:
    """Collects the findings of one encounter, in the order the rules raise them."""

    def __init__(self, rules: RuleSet) -> None:
        self._rules = rules
        self._items: list[Finding] = []
        self._seen: set[tuple[str, str | None, str]] = set()

    def add(self, finding_id: str, line: str | None = None, **context: Any) -> Finding | None:
        rule = self._rules.findings.get(finding_id)
        if rule is None:  # a finding not in force on this date is not raised
            return None
        values = _Strict(context)
        message = rule.message.format_map(values)
        key = (finding_id, line, message)
        if key in self._seen:
            return None
        self._seen.add(key)
        # The engine's own values are trusted: construct without re-validating.
        finding = build(
            Finding,
            id=finding_id,
            severity=rule.severity,
            message=f"{message} {rule.action.format_map(values)}",
            action=rule.action.format_map(values),
            line=line,
            sources=list(rule.source),
        )
        self._items.append(finding)
        return finding

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
