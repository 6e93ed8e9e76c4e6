"""Reading 837P files: pyx12 checks the structure, its context reader walks the loops,
and each claim becomes a ``Claim837`` (or a problem naming the segment at fault).

Structural errors in the envelopes or the billing provider loops make the whole file
unreadable (``X12ReadError``; a file whose trailers are missing is said to end early, at
its last segment). An error inside one claim's loops spoils only that claim, and one in a
subscriber's (2000B) or dependent patient's (2000C) own segments only the claims under
it; the scrubber lists them as rows it could not code. So does what pyx12 lets through
but a payer rejects (``checks.form_problems``: check digits, DMG, pointers, dotted codes).
A missing segment belongs to the loop before the segment where pyx12 notices the gap
(often the next claim's HL). Every CLM segment of the file is a claim, coded or listed:
one in a loop the reader does not follow is a problem, never left out.

A claim under a dependent patient (loop 2000C) is the patient's: their own sex and birth
date (2010CA), and the id ``Claim837.patient_id`` gives. A void (CLM05-3 = 8) bills no
study and is listed, not coded; a replacement (7) is read as the claim it is.

No message repeats a value of the file: pyx12's sentences keep the segment id, position
and element number, and lose the values they quote (names, addresses, dates).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dexacode.formats.batch_io import BatchInputError
from dexacode.formats.x12.checks import form_limits, form_problems
from dexacode.formats.x12.model import (
    FREQUENCY_ORIGINAL,
    FREQUENCY_VOID,
    Claim837,
    Person,
    ServiceLine,
)
from dexacode.formats.x12.pyx12_import import import_pyx12
from dexacode.formats.x12.validate import validate_837

# SBR09 claim filing indicator -> dexacode payer profile (families; a user's own profile
# cannot be told from an 837 and is read as its family).
PAYER_BY_FILING_CODE = {
    "MB": "medicare",
    "16": "medicare_advantage",
    "MC": "medicaid",
}
DEFAULT_PAYER = "commercial"
# A void (CLM05-3 = 8) takes back a claim sent before: it bills no study.
VOID_REASON = "a void of an earlier claim (CLM05-3 = 8); not scrubbed"
# SV101-3 on are the procedure modifiers (four in the 837P); SV101-7 is a free-text
# description, never a modifier.
FIRST_MODIFIER_COMPONENT = 3
# The envelope segments carry control numbers and the sender's ids, which the envelope
# messages are about; every other segment's values may belong to a patient.
_ENVELOPE_SEGMENTS = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA"})
# Values shorter than this (a sex code, a state, a qualifier) identify no one, and masking
# them would eat into the message's own words.
_MIN_MASKED = 3
_MASK = "..."
# pyx12's "Segment N3*1 MAIN ST not found" repeats the segment's first element (all of an
# HL segment): keep the id only.
_NOT_FOUND = re.compile(r"^Segment (?P<id>[^*\s]+)\*.* not found\.")
# A segment id is two or three letters and digits; anything else in its place is data
# (a line that lost its id), and is not repeated either.
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
# pyx12's error code (the 999's IK304) for a mandatory segment that is missing.
_MISSING_SEGMENT = "3"
# A trailer pyx12 misses: the file ends before its envelopes close.
_TRAILER_MISSING = re.compile(
    r'Mandatory segment "(Interchange Control|Functional Group|Transaction Set) Trailer"'
)
_TRAILERS = {"Interchange Control": "IEA", "Functional Group": "GE", "Transaction Set": "SE"}
_BOM = "\ufeff"


@functools.cache
def _guide_segment_ids() -> frozenset[str]:
    """The segment ids of the 837P implementation guide, from pyx12's own map."""
    from importlib import resources

    import_pyx12()  # the one place that knows how pyx12 is imported and quieted
    text = (resources.files("pyx12") / "map" / "837.5010.X222.A1.xml").read_text("utf-8")
    return frozenset(re.findall(r'<segment xid="([A-Z0-9]+)"', text))


def _shown_id(seg_id: str) -> str | None:
    """A segment id as a message may name it: one of the guide's, or a misspelt one with a
    digit in it (N33). A token of letters only that is no segment id may be a surname
    that lost its segment id ("WU*...") and is never repeated."""
    if seg_id in _guide_segment_ids():
        return seg_id
    if _SEGMENT_ID.fullmatch(seg_id) and any(c.isdigit() for c in seg_id):
        return seg_id
    return None


class X12ReadError(BatchInputError):
    """The file as a whole cannot be read as an 837P; the message names segment and
    position."""


@dataclass(frozen=True, slots=True)
class ClaimProblem:
    ordinal: int  # 1-based claim number in the file
    claim_id: str | None
    message: str


@dataclass(frozen=True, slots=True)
class _Error:
    line: int  # segment number in the file
    seg_id: str
    position: int  # segment number within its transaction set
    text: str
    # A mandatory segment missing: pyx12 notices it at the segment after the gap, which
    # may open the next claim's loop; the gap is before ``line``.
    missing: bool = False

    @property
    def owner_line(self) -> int:
        """The segment whose loop the error belongs to."""
        return self.line - 1 if self.missing else self.line


class _Values:
    """The values of the file's segments, numbered as pyx12 numbers them, so that no
    message repeats one: pyx12 quotes the value at fault (a birth date, a name) and the
    start of a segment it cannot place, in any segment. Split only when a message needs
    it (a clean file never is)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._segments: list[tuple[str, tuple[str, ...]]] | None = None
        self._everywhere: tuple[str, ...] | None = None
        self._claims: list[tuple[int, str]] = []  # (segment number, CLM01) of each CLM

    def count(self) -> int:
        """The number of segments in the file, as pyx12 numbers them."""
        return len(self._split())

    def terminator(self) -> str:
        return self._text[105] if len(self._text) > 105 else "~"

    def claim_count(self) -> int:
        """The CLM segments of the file, counted without splitting it."""
        if not self._text.startswith("ISA") or len(self._text) < 106:
            return 0
        element, terminator = self._text[3], self._text[105]
        found = re.findall(rf"{re.escape(terminator)}[\r\n]*CLM{re.escape(element)}", self._text)
        return len(found)

    def claims(self) -> list[tuple[int, str]]:
        """(segment number, CLM01) of each CLM segment of the file."""
        self._split()
        return self._claims

    def _split(self) -> list[tuple[str, tuple[str, ...]]]:
        if self._segments is not None:
            return self._segments
        self._segments = []
        text = self._text
        # The ISA segment is fixed-width and names the separators (as pyx12 reads it).
        if not text.startswith("ISA") or len(text) < 106:
            return self._segments
        element, component, repetition, terminator = text[3], text[104], text[82], text[105]
        for raw in text.split(terminator):
            raw = raw.lstrip("\r\n")
            if not raw:
                break  # pyx12 stops at an empty segment too
            seg_id, *elements = raw.split(element)
            if seg_id.strip() == "CLM":
                first = elements[0].strip() if elements else ""
                self._claims.append((len(self._segments) + 1, first))
            values = {
                v.strip() for e in elements for r in e.split(repetition) for v in r.split(component)
            }
            if not _SEGMENT_ID.fullmatch(seg_id.strip()):
                values.add(seg_id.strip())
            self._segments.append((seg_id.strip(), _maskable(values)))
        return self._segments

    def near(self, line: int, seg_id: str) -> tuple[str, ...]:
        """The values of segment ``line`` (1-based) and of its neighbours, which pyx12
        sometimes files its sentence under; every value in the file when the numbering
        does not match, so nothing slips through."""
        segments = self._split()
        if not (1 <= line <= len(segments) and segments[line - 1][0] == seg_id):
            return self.everywhere()
        around = segments[max(line - 2, 0) : line + 1]
        return _maskable({v for _, values in around for v in values})

    def everywhere(self) -> tuple[str, ...]:
        if self._everywhere is None:
            self._everywhere = _maskable(
                {
                    v
                    for seg_id, values in self._split()
                    if seg_id not in _ENVELOPE_SEGMENTS
                    for v in values
                }
            )
        return self._everywhere


def _maskable(values: set[str]) -> tuple[str, ...]:
    """The values worth masking, longest first (so a value inside another goes after)."""
    return tuple(sorted((v for v in values if len(v) >= _MIN_MASKED), key=len, reverse=True))


def _masked(text: str, values: tuple[str, ...]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, _MASK)
    return text


def _segment_text(err: dict[str, Any], values: tuple[str, ...]) -> str:
    text = _masked(_without_value(str(err.get("err_str") or "invalid"), err.get("err_val")), values)
    return _NOT_FOUND.sub(_not_found, text)


def _not_found(match: re.Match[str]) -> str:
    shown = _shown_id(match.group("id"))
    return f"Segment {shown} not found." if shown else "Segment with an invalid id not found."


def _element_text(
    seg_id: str, element: dict[str, Any], err: dict[str, Any], values: tuple[str, ...]
) -> str:
    text = _masked(_without_value(str(err.get("err_str") or "invalid"), err.get("err_val")), values)
    # Keep the element's number even where pyx12's sentence leaves it out.
    position, component = element.get("ele_pos"), element.get("subele_pos")
    if isinstance(position, int):
        ref = f"{seg_id}{position:02d}" + (
            f"-{component:02d}" if isinstance(component, int) else ""
        )
        if ref not in text:
            text += f" ({ref})"
    return text


def _without_value(text: str, value: Any) -> str:
    """pyx12's sentence without the value it quotes, however short."""
    value = str(value or "")
    if not value:
        return text
    for quoted, instead in (
        (f"with a value of ({value})", "whose value"),
        (f'len("{value}")', "the length"),
        (f" ({value})", ""),
        (f"({value}) ", "the value "),
        (f"({value})", ""),
    ):
        text = text.replace(quoted, instead)
    return text.replace(value, _MASK) if len(value) >= _MIN_MASKED else text


@dataclass(frozen=True, slots=True)
class _EnvelopeError:
    text: str  # where, and pyx12's sentence with no value of the file
    raw: str  # pyx12's sentence as it said it, never shown


def _errors(
    tree: list[dict[str, Any]], values: _Values
) -> tuple[list[_EnvelopeError], list[_Error]]:
    """Envelope-level messages, and segment errors with their positions, with no value
    of the file repeated."""
    envelope: list[_EnvelopeError] = []
    segments: list[_Error] = []

    def said(where: str, errors: list[Any]) -> list[_EnvelopeError]:
        return [
            _EnvelopeError(
                text=f"{where}: {_masked(str(e.get('err_str', e)), values.everywhere())}",
                raw=str(e.get("err_str", e)),
            )
            for e in errors
        ]

    for doc in tree:
        for isa in doc.get("interchanges", []):
            where = f"interchange envelope ISA/IEA (ending at segment {isa.get('cur_line')})"
            envelope += said(where, isa.get("errors", []))
            for gs in isa.get("groups", []):
                where = f"functional group GS/GE (ending at segment {gs.get('cur_line')})"
                envelope += said(where, gs.get("errors", []))
                for st in gs.get("transactions", []):
                    where = (
                        f"transaction set ST/SE {st.get('trn_set_control_num')} "
                        f"(ending at segment {st.get('cur_line')})"
                    )
                    envelope += said(where, st.get("errors", []))
                    for s in st.get("segments", []):
                        raw_id = str(s.get("seg_id", "?"))
                        line = int(s.get("cur_line") or 0)
                        own = values.near(line, raw_id)
                        seg_id = _shown_id(raw_id) or "with an invalid id"
                        texts = [_segment_text(e, own) for e in s.get("errors", [])]
                        for el in s.get("elements", []):
                            texts += [
                                _element_text(seg_id, el, e, own) for e in el.get("errors", [])
                            ]
                        missing = any(
                            str(e.get("err_cde")) == _MISSING_SEGMENT for e in s.get("errors", [])
                        )
                        for text in texts or ["invalid segment"]:
                            segments.append(
                                _Error(
                                    line=line,
                                    seg_id=seg_id,
                                    position=int(s.get("seg_count") or 0),
                                    text=text,
                                    missing=missing,
                                )
                            )
    return envelope, segments


def _describe(err: _Error) -> str:
    if err.missing:
        return (
            f"segment {err.seg_id} is missing before segment {err.line} of the file "
            f"(position {err.position} of its transaction set): {err.text}"
        )
    return (
        f"segment {err.seg_id} at position {err.position} of its transaction set "
        f"(segment {err.line} of the file): {err.text}"
    )


def _date(text: str | None) -> dt.date | None:
    if not text or len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _decimal(text: str | None) -> Decimal:
    try:
        return Decimal(text or "0")
    except InvalidOperation:
        return Decimal("0")


def _value(node: Any, path: str) -> str:
    value = node.get_value(path)
    return str(value).strip() if value is not None else ""


def _line(node: Any) -> ServiceLine | str:
    cpt = _value(node, "SV101-2")
    if _value(node, "SV101-1") not in ("HC", "") or not cpt:
        return "SV1 does not carry a CPT/HCPCS code (SV101-1 must be HC)"
    limits = form_limits()
    components = range(FIRST_MODIFIER_COMPONENT, FIRST_MODIFIER_COMPONENT + limits.modifiers)
    modifiers = tuple(m for m in (_value(node, f"SV101-{i}") for i in components) if m)
    units_text = _value(node, "SV104") or "1"
    try:
        count = Decimal(units_text)
    except InvalidOperation:
        return f"SV104 units {units_text!r} is not a number"
    # A DXA study is billed in whole units: 1.5 is a keying error, never rounded away.
    if not count.is_finite() or count != count.to_integral_value():
        return f"SV104 units {units_text} is not a whole number"
    units = int(count)
    pointers: list[int] = []
    for i in range(1, limits.pointers + 1):
        text = _value(node, f"SV107-{i}")
        if text:
            if not text.isdigit():
                return f"SV107 diagnosis pointer {text!r} is not a number"
            pointers.append(int(text))
    served = _date(_value(node, "DTP[472]03"))
    if served is None:
        return "the line has no date of service (DTP*472 as CCYYMMDD)"
    return ServiceLine(
        cpt=cpt.upper(),
        modifiers=modifiers,
        units=units,
        charge=_decimal(_value(node, "SV102")),
        pointers=tuple(pointers),
        date_of_service=served,
    )


@dataclass(frozen=True, slots=True)
class _Billing:
    """The billing provider (loop 2010AA) of the claims that follow it."""

    npi: str = ""
    zip: str = ""


def _billing(billing: _Billing, node: Any) -> _Billing:
    """``billing`` with what one segment of loop 2010AA says. A segment pyx12 could not
    place is matched to the map's last node: its own id says what it is."""
    seg_id = node.seg_data.get_seg_id()
    if seg_id == "NM1":
        return dataclasses.replace(billing, npi=_value(node, "NM109"))
    if seg_id == "N4":
        return dataclasses.replace(billing, zip=_value(node, "N403"))
    return billing


def _person(node: Any, loop: str) -> Person:
    """The person of loop 2010BA (the subscriber) or 2010CA (a dependent patient)."""
    return Person(
        member_id=_value(node, f"{loop}/NM109"),
        last_name=_value(node, f"{loop}/NM103"),
        first_name=_value(node, f"{loop}/NM104"),
        sex=_value(node, f"{loop}/DMG03") or "U",
        birth_date=_date(_value(node, f"{loop}/DMG02")),
    )


def _claim(
    subscriber: Any, dependent: Any, claim: Any, ordinal: int, billing: _Billing
) -> Claim837 | ClaimProblem:
    """One claim (loop 2300) of ``subscriber`` (loop 2000B); ``dependent`` is the loop
    2000C the claim sits in when the patient is not the subscriber, else None."""
    claim_id = _value(claim, "CLM01") or None
    frequency = _value(claim, "CLM05-3") or FREQUENCY_ORIGINAL
    if frequency == FREQUENCY_VOID:
        # It takes back a claim sent before: no study to check, none to remember.
        return ClaimProblem(ordinal, claim_id, VOID_REASON)
    diagnoses = []
    for i in range(1, 13):
        code = _value(claim, f"HI{i:02d}-2")
        if code:
            diagnoses.append(code.upper())
    lines: list[ServiceLine] = []
    for n, node in enumerate(claim.select("2400"), 1):
        line = _line(node)
        if isinstance(line, str):
            return ClaimProblem(ordinal, claim_id, f"service line {n}: {line}")
        lines.append(line)
    if not lines:
        return ClaimProblem(ordinal, claim_id, "the claim has no service line (loop 2400)")
    filing = _value(subscriber, "SBR09")
    read = Claim837(
        claim_id=claim_id or "",
        payer_profile=PAYER_BY_FILING_CODE.get(filing, DEFAULT_PAYER),
        payer_name=_value(subscriber, "2010BB/NM103"),
        payer_id=_value(subscriber, "2010BB/NM109"),
        filing_code=filing,
        relationship=_value(subscriber, "SBR02"),
        subscriber=_person(subscriber, "2010BA"),
        patient=_person(dependent, "2010CA") if dependent is not None else None,
        patient_relationship=_value(dependent, "PAT01") if dependent is not None else "",
        frequency=frequency,
        place_of_service=_value(claim, "CLM05-1"),
        diagnoses=tuple(diagnoses),
        lines=tuple(lines),
        referring_npi=_value(claim, "2310A/NM109"),
        referring_last=_value(claim, "2310A/NM103"),
        referring_first=_value(claim, "2310A/NM104"),
        billing_npi=billing.npi,
        billing_zip=billing.zip,
    )
    # What pyx12 lets through but a payer rejects (check digits, DMG, pointers, dotted
    # codes); the codes themselves are the engine's to judge once this is an encounter.
    problems = form_problems(read)
    if problems:
        return ClaimProblem(ordinal, claim_id, "; ".join(problems))
    return read


@dataclass(frozen=True, slots=True)
class _Loop:
    """A claim (loop 2300) as the file places it: its CLM segment's number, and the
    subscriber loop (2000B) and dependent loop (2000C, or None) it sits in."""

    line: int
    node: Any
    subscriber: Any
    dependent: Any
    billing: _Billing


def _loops(subscriber: Any, billing: _Billing) -> tuple[list[_Loop], list[tuple[int, list[int]]]]:
    """The claims of one subscriber loop, the subscriber's own (loop 2000B/2300) and its
    dependents' (2000B/2000C/2300), in file order; and the start of each loop that holds
    claims (the subscriber's, each dependent's) with the claims it holds, so that an error
    in a loop's own segments spoils the claims under it and no others."""
    own = [
        _Loop(_line_of(c), c, subscriber, None, billing)
        for c in subscriber.select("2300")
        if _opens_with_clm(c)
    ]
    start = _line_of(subscriber)
    holders = [(start, [c.line for c in own])]
    claims = list(own)
    for dependent in subscriber.select("2000C"):
        theirs = [
            _Loop(_line_of(c), c, subscriber, dependent, billing)
            for c in dependent.select("2300")
            if _opens_with_clm(c)
        ]
        holders.append((_line_of(dependent), [c.line for c in theirs]))
        claims += theirs
    holders[0] = (start, [c.line for c in claims])  # the subscriber's segments: every claim
    return sorted(claims, key=lambda c: c.line), holders


def _opens_with_clm(node: Any) -> bool:
    """Whether a loop 2300 of pyx12's tree is a claim. A segment pyx12 cannot place (an
    HI that lost its qualifier) can open a loop of its own, in CLM's place in the map but
    not a CLM: it is part of the claim before it, whose span (``_owners``) takes its
    errors."""
    first = next(iter(node.iterate_segments()), None)
    segment = first.get("segment") if first is not None else None
    return segment is not None and segment.get_seg_id() == "CLM"


def _line_of(node: Any) -> int:
    return int(node.cur_line_number or 0)


def _owners(
    loops: list[_Loop], holders: list[tuple[int, list[int]]], end: int
) -> list[tuple[int, int, list[int]]]:
    """Spans of segment numbers ``[first, last)`` and the claims (by CLM line) an error
    in them spoils: a claim's own span runs from its CLM to the next loop's start."""
    starts = sorted(
        [(line, [line]) for line in (c.line for c in loops)] + holders, key=lambda s: s[0]
    )
    ends = [s for s, _ in starts[1:]] + [end]
    return [(first, last, claims) for (first, claims), last in zip(starts, ends, strict=True)]


def _ends_early(envelope: list[_EnvelopeError], values: _Values) -> str | None:
    """The message for a file cut short: its trailers are missing (pyx12 numbers their
    errors from the interchange's start, which tells nothing)."""
    missing = [m.group(1) for e in envelope if (m := _TRAILER_MISSING.search(e.raw))]
    if _TRAILERS["Interchange Control"] not in {_TRAILERS[m] for m in missing}:
        return None  # the interchange closes: a trailer missing inside it is no early end
    ids = [_TRAILERS[m] for m in sorted(set(missing), key=list(_TRAILERS).index, reverse=True)]
    named = ", ".join(ids[:-1]) + " and " + ids[-1] if len(ids) > 1 else ids[0]
    return (
        f"the file ends early, at segment {values.count():,} (each segment ending with "
        f"{values.terminator()!r}, as the ISA segment says): its {named} "
        f"trailer{'s are' if len(ids) > 1 else ' is'} missing; was the file cut short?"
    )


def parse_837(text: str, source: str = "the file") -> list[Claim837 | ClaimProblem]:
    """Every claim of an 837P interchange, in file order; a claim pyx12's loops do not
    place is a ClaimProblem, never left out.

    Raises X12ReadError when the file is not an 837P or its envelopes or billing
    provider loops are broken."""
    pyx12 = import_pyx12()
    text = text.removeprefix(_BOM)  # a byte order mark some editors write before ISA
    if not text.lstrip().startswith("ISA"):
        raise X12ReadError(f"{source}: not an X12 file (it must start with an ISA segment)")
    values = _Values(text)
    try:
        validation = validate_837(text)
    except Exception as exc:  # pyx12 raises several types for text it cannot tokenise
        said = _masked(str(exc), values.everywhere())
        raise X12ReadError(f"{source}: not a readable X12 interchange ({said})") from None
    envelope, seg_errors = _errors(validation.errors, values)
    if envelope:
        early = _ends_early(envelope, values)
        raise X12ReadError(f"{source}: {early or envelope[0].text}")
    param = pyx12.params.params()
    read: dict[int, Claim837 | ClaimProblem] = {}
    # Each subscriber loop is turned into claims as soon as the next one starts (its end
    # is known then), so only one loop's tree is held at a time: a file of 20,000 claims
    # held every tree at once, about 45 kB a claim.
    pending: tuple[int, Any, _Billing] | None = None
    try:
        reader = pyx12.x12context.X12ContextReader(
            param, pyx12.error_handler.errh_null(), io.StringIO(text)
        )
        vriic = ""
        billing = _Billing()
        for node in reader.iter_segments("2000B"):
            if node.id == "GS":
                vriic = _value(node, "GS08")
            elif node.id == "HL":  # a new billing provider loop (2000A)
                billing = _Billing()
            elif node.x12_map_node.parent.id == "2010AA":
                billing = _billing(billing, node)
            if node.id != "2000B":
                continue
            start = _line_of(node)
            if pending is None:
                _refuse_other_transaction(vriic, source)  # a wrong file says so first
                _refuse_errors_before(start, seg_errors, source)
            else:
                _read_subscriber(pending, start, seg_errors, read)
            pending = (start, node, billing)
        _refuse_other_transaction(vriic, source)
        if pending is None:
            _refuse_errors_before(None, seg_errors, source)
        else:
            _read_subscriber(pending, 10**12, seg_errors, read)
            pending = None
    except pyx12.errors.X12Error as exc:
        said = _masked(str(exc), values.everywhere())
        raise X12ReadError(f"{source}: not a readable X12 interchange ({said})") from None
    except pyx12.errors.EngineError as exc:
        said = _masked(str(exc), values.everywhere())
        raise X12ReadError(f"{source}: X12 the 837P map cannot follow ({said})") from None
    trailer = [e for e in seg_errors if e.seg_id in _TRAILER_IDS]
    if trailer:
        raise X12ReadError(f"{source}: {_describe(trailer[0])}")
    # Every CLM segment of the file is a row: one no loop above holds is listed, not lost.
    if values.claim_count() != len(read):
        found = values.claims()
        unplaced = [(line, claim_id) for line, claim_id in found if line not in read]
        if len(unplaced) != len(found) - len(read):  # numbered otherwise than pyx12 does
            raise X12ReadError(
                f"{source}: the file holds {len(found):,} claims (CLM segments) and dexacode "
                f"could follow the loops of {len(read):,}; check the HL segments"
            )
        for line, claim_id in unplaced:
            read[line] = ClaimProblem(0, claim_id or None, _unplaced(line))
    if not read:
        raise X12ReadError(f"{source}: the interchange holds no claim (no CLM segment)")
    claims: list[Claim837 | ClaimProblem] = []
    for ordinal, line in enumerate(sorted(read), 1):
        item = read[line]
        claims.append(
            dataclasses.replace(item, ordinal=ordinal) if isinstance(item, ClaimProblem) else item
        )
    return claims


_TRAILER_IDS = ("SE", "GE", "IEA")


def _refuse_other_transaction(vriic: str, source: str) -> None:
    if vriic and not vriic.startswith("005010X222"):
        raise X12ReadError(f"{source}: GS08 is {vriic}, not an 837P (005010X222A1)")


def _refuse_errors_before(first_start: int | None, seg_errors: list[_Error], source: str) -> None:
    """X12ReadError for an error before the first subscriber loop (the billing provider's
    loop, the headers): no claim can be told apart from it."""
    outside = [
        e
        for e in seg_errors
        if e.seg_id not in _TRAILER_IDS and (first_start is None or e.owner_line < first_start)
    ]
    if outside:
        raise X12ReadError(f"{source}: {_describe(outside[0])}")


def _read_subscriber(
    tree: tuple[int, Any, _Billing],
    end: int,
    seg_errors: list[_Error],
    read: dict[int, Claim837 | ClaimProblem],
) -> None:
    """The claims of one subscriber loop (ending before line ``end``) into ``read``, by
    their CLM line: a claim whose own segments hold an error is a ClaimProblem."""
    pyx12 = import_pyx12()
    _, subscriber, billing = tree
    loops, holders = _loops(subscriber, billing)
    spoiled: dict[int, _Error] = {}  # CLM line -> the first error of its loops
    for first, last, spoils in _owners(loops, holders, end):
        inside = [
            e for e in seg_errors if first <= e.owner_line < last and e.seg_id not in _TRAILER_IDS
        ]
        for line in spoils if inside else []:
            spoiled.setdefault(line, inside[0])
    for loop in loops:
        # A malformed element can leave pyx12's tree unable to answer for the claim's
        # elements: that claim is a problem, the file's other claims are still read.
        claim = loop.node
        try:
            claim_id = _value(claim, "CLM01") or None
        except pyx12.errors.EngineError:
            claim_id = None
        if loop.line in spoiled:
            read[loop.line] = ClaimProblem(0, claim_id, _describe(spoiled[loop.line]))
            continue
        try:
            read[loop.line] = _claim(loop.subscriber, loop.dependent, claim, 0, loop.billing)
        except pyx12.errors.EngineError:
            read[loop.line] = ClaimProblem(
                0,
                claim_id,
                "its segments do not follow the 837P map (an element is malformed); "
                "check the claim's HI and SV1 segments against the 837P guide",
            )


def _unplaced(line: int) -> str:
    return (
        f"the claim (CLM, segment {line} of the file) is not in a subscriber (2000B) or "
        "patient (2000C) loop dexacode can follow; it was not checked"
    )


def read_837(path: Path) -> list[Claim837 | ClaimProblem]:
    if not path.exists():
        raise X12ReadError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise X12ReadError(f"{path.name}: not UTF-8 text") from None
    return parse_837(text, path.name)


def iter_claims(path: Path) -> Iterator[Claim837 | ClaimProblem]:
    yield from read_837(path)
