"""The forearm region a "Radius and Ulna" result's texts name (``loinc.toml``
[forearm_text]): LOINC has one code for every forearm region, as it has for the lumbar
spine, so the region ("UD", "1/3", "Total") is read from code.text or bodySite.text."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from dexacode.formats.fhir.terms import terms


def _pattern(words: Sequence[str]) -> re.Pattern[str]:
    """Any of the words, whole (not inside another word or number), any case; a space
    in a word matches any run of spaces. "_" separates words ("radius_33")."""
    alternatives = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
    return re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])", re.I)


@dataclass(frozen=True)
class _Patterns:
    regions: dict[str, re.Pattern[str]]
    not_read: re.Pattern[str]
    own_bones: re.Pattern[str]
    other_bones: re.Pattern[str]


@functools.cache
def _patterns() -> _Patterns:
    rule = terms().forearm
    return _Patterns(
        regions={name: _pattern(words) for name, words in rule.regions.items()},
        not_read=_pattern(rule.not_read),
        own_bones=_pattern(rule.own_bones),
        other_bones=_pattern(rule.other_bones),
    )


def forearm_region(texts: Sequence[str]) -> tuple[str | None, str | None]:
    """The region the texts name (the code's own when they name none), or None and why
    it is not read: a region with no id in the contract, the other bone alone, or two
    regions."""
    found = _patterns()
    for text in texts:
        unknown = found.not_read.search(text)
        if unknown:
            return None, (
                f"its text names a forearm region ({unknown.group(0)!r}) dexacode has no "
                "region for; not used"
            )
    other = next((m for t in texts if (m := found.other_bones.search(t))), None)
    if other and not any(found.own_bones.search(t) for t in texts):
        return None, (
            f"its text names the {other.group(0).lower()}, not the radius: dexacode has no "
            "region for it; not used"
        )
    named = {name for name, p in found.regions.items() if any(p.search(t) for t in texts)}
    if len(named) > 1:
        return None, "its text names more than one forearm region; not used"
    return next(iter(named), terms().forearm.code_region), None
