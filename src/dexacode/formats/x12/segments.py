"""X12 segments as values, and their text.

A segment is an id and its elements; an element is text or a composite (a tuple of
components). Trailing empty elements and components are dropped, as the standard asks.
Free text (names, addresses) goes through ``clean`` so it can never carry a delimiter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ELEMENT = "*"
COMPONENT = ":"
REPETITION = "^"
TERMINATOR = "~"

Element = str | tuple[str, ...]

# X12's extended character set, upper-cased: anything else (and every delimiter) becomes
# a space, so a name like "O'Neil~" can never end a segment early.
_NOT_ALLOWED = re.compile(r"[^A-Z0-9 !\"&'()+,\-./;?=%@\[\]_{}\\|<>#$]")
_SPACES = re.compile(r" {2,}")
# An identifier is written as it is, never cleaned: X12 5010's extended character set
# (letters of either case, digits, space and these specials), less the four delimiters
# this writer uses (* : ^ ~); 2 to 80 characters, as NM109 takes them.
_IDENTIFIER = re.compile(r"[A-Za-z0-9!\"&'()+,\-./;?=%@\[\]_{}\\|<>#$` ]{2,80}")
MEMBER_ID_RULE = (
    "must be 2 to 80 characters of X12's set (letters without accents, digits, spaces "
    "inside, common punctuation), none of them * : ^ ~ (the file's delimiters)"
)


def clean(text: str, max_len: int = 60) -> str:
    """Free text made safe for an element: upper case, allowed characters, trimmed."""
    upper = _NOT_ALLOWED.sub(" ", text.upper())
    return _SPACES.sub(" ", upper).strip()[:max_len].strip()


def member_id_ok(text: str) -> bool:
    """Whether ``text`` can be written as a member id (NM109) exactly as it is."""
    return bool(_IDENTIFIER.fullmatch(text)) and text == text.strip()


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    elements: tuple[Element, ...]

    def text(self) -> str:
        parts = [_element_text(e) for e in self.elements]
        while parts and not parts[-1]:
            parts.pop()
        return ELEMENT.join([self.id, *parts]) + TERMINATOR


def seg(seg_id: str, *elements: Element) -> Segment:
    return Segment(seg_id, elements)


def _element_text(element: Element) -> str:
    if isinstance(element, str):
        return element
    parts = list(element)
    while parts and not parts[-1]:
        parts.pop()
    return COMPONENT.join(parts)


def render(segments: Iterable[Segment], newline: bool = True) -> str:
    """The interchange's text; one segment a line (a newline after ``~`` is allowed and
    keeps the file readable and diffable)."""
    sep = "\n" if newline else ""
    return sep.join(s.text() for s in segments) + sep
