"""Reading 837P files: pyx12 checks the structure, its context reader walks the loops,
and each claim becomes a ``Claim837`` (or a problem naming the segment at fault).

Structural errors in the envelopes or the billing provider loops make the whole file
unreadable (``X12ReadError``); errors inside one subscriber's loops spoil only the claims
under it, which the scrubber lists as rows it could not code. So does what pyx12 lets
through but a payer rejects (``checks.form_problems``: check digits, DMG, pointers, dotted
codes).

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
from dexacode.formats.x12.model import Claim837, Person, ServiceLine
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


class _Values:
    """The values of the file's segments, numbered as pyx12 numbers them, so that no
    message repeats one: pyx12 quotes the value at fault (a birth date, a name) and the
    start of a segment it cannot place, in any segment. Split only when a message needs
    it (a clean file never is)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._segments: list[tuple[str, tuple[str, ...]]] | None = None
        self._everywhere: tuple[str, ...] | None = None

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


def _errors(tree: list[dict[str, Any]], values: _Values) -> tuple[list[str], list[_Error]]:
    """Envelope-level messages, and segment errors with their positions, with no value
    of the file repeated."""
    envelope: list[str] = []
    segments: list[_Error] = []

    def said(where: str, errors: list[Any]) -> list[str]:
        return [
            f"{where}: {_masked(str(e.get('err_str', e)), values.everywhere())}" for e in errors
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
                        for text in texts or ["invalid segment"]:
                            segments.append(
                                _Error(
                                    line=line,
                                    seg_id=seg_id,
                                    position=int(s.get("seg_count") or 0),
                                    text=text,
                                )
                            )
    return envelope, segments


def _describe(err: _Error) -> str:
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


def _claim(subscriber: Any, claim: Any, ordinal: int, billing: _Billing) -> Claim837 | ClaimProblem:
    claim_id = _value(claim, "CLM01") or None
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
    sex = _value(subscriber, "2010BA/DMG03")
    filing = _value(subscriber, "SBR09")
    person = Person(
        member_id=_value(subscriber, "2010BA/NM109"),
        last_name=_value(subscriber, "2010BA/NM103"),
        first_name=_value(subscriber, "2010BA/NM104"),
        sex=sex or "U",
        birth_date=_date(_value(subscriber, "2010BA/DMG02")),
    )
    read = Claim837(
        claim_id=claim_id or "",
        payer_profile=PAYER_BY_FILING_CODE.get(filing, DEFAULT_PAYER),
        payer_name=_value(subscriber, "2010BB/NM103"),
        payer_id=_value(subscriber, "2010BB/NM109"),
        filing_code=filing,
        relationship=_value(subscriber, "SBR02"),
        subscriber=person,
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


def parse_837(text: str, source: str = "the file") -> list[Claim837 | ClaimProblem]:
    """Every claim of an 837P interchange, in file order.

    Raises X12ReadError when the file is not an 837P or its envelopes or billing
    provider loops are broken."""
    pyx12 = import_pyx12()
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
        raise X12ReadError(f"{source}: {envelope[0]}")
    param = pyx12.params.params()
    trees: list[tuple[int, Any, _Billing]] = []
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
            if node.id == "2000B":
                trees.append((int(node.cur_line_number or 0), node, billing))
        if vriic and not vriic.startswith("005010X222"):
            raise X12ReadError(f"{source}: GS08 is {vriic}, not an 837P (005010X222A1)")
    except pyx12.errors.X12Error as exc:
        said = _masked(str(exc), values.everywhere())
        raise X12ReadError(f"{source}: not a readable X12 interchange ({said})") from None
    except pyx12.errors.EngineError as exc:
        said = _masked(str(exc), values.everywhere())
        raise X12ReadError(f"{source}: X12 the 837P map cannot follow ({said})") from None
    starts = [start for start, _, _ in trees]
    first_start = starts[0] if starts else None
    outside = [e for e in seg_errors if first_start is None or e.line < first_start]
    if outside:
        raise X12ReadError(f"{source}: {_describe(outside[0])}")
    ends = [*starts[1:], 10**12]
    claims: list[Claim837 | ClaimProblem] = []
    ordinal = 0
    for (start, subscriber, billing), end in zip(trees, ends, strict=True):
        inside = [
            e for e in seg_errors if start <= e.line < end and e.seg_id not in ("SE", "GE", "IEA")
        ]
        for claim in subscriber.select("2300"):
            ordinal += 1
            # A malformed element can leave pyx12's tree unable to answer for the claim's
            # elements: that claim is a problem, the file's other claims are still read.
            try:
                claim_id = _value(claim, "CLM01") or None
            except pyx12.errors.EngineError:
                claim_id = None
            if inside:
                claims.append(ClaimProblem(ordinal, claim_id, _describe(inside[0])))
                continue
            try:
                claims.append(_claim(subscriber, claim, ordinal, billing))
            except pyx12.errors.EngineError:
                claims.append(
                    ClaimProblem(
                        ordinal,
                        claim_id,
                        "its segments do not follow the 837P map (an element is malformed); "
                        "check the claim's HI and SV1 segments against the 837P guide",
                    )
                )
    trailer = [e for e in seg_errors if e.seg_id in ("SE", "GE", "IEA")]
    if trailer:
        raise X12ReadError(f"{source}: {_describe(trailer[0])}")
    if not claims:
        raise X12ReadError(f"{source}: the interchange holds no claim (no CLM segment)")
    return claims


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
