"""Reading 837P files: pyx12 checks the structure, its context reader walks the loops,
and each claim becomes a ``Claim837`` (or a problem naming the segment at fault).

Structural errors in the envelopes or the billing provider loops make the whole file
unreadable (``X12ReadError``); errors inside one subscriber's loops spoil only the claims
under it, which the scrubber lists as rows it could not code.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dexacode.formats.batch_io import BatchInputError
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
# Segments that carry a patient's name, address or birth date: their values are never
# repeated in a message.
_PRIVATE_SEGMENTS = frozenset({"NM1", "N3", "N4", "DMG", "REF"})


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


def _element_text(seg_id: str, element: dict[str, Any], err: dict[str, Any]) -> str:
    text = str(err.get("err_str", "invalid"))
    value = str(err.get("err_val") or "")
    if value and seg_id in _PRIVATE_SEGMENTS:
        text = text.replace(f" ({value})", "").replace(f"({value}) ", "the value ")
        text = text.replace(value, "...")
    return text


def _errors(tree: list[dict[str, Any]]) -> tuple[list[str], list[_Error]]:
    """Envelope-level messages, and segment errors with their positions."""
    envelope: list[str] = []
    segments: list[_Error] = []
    for doc in tree:
        for isa in doc.get("interchanges", []):
            where = f"interchange envelope ISA/IEA (ending at segment {isa.get('cur_line')})"
            envelope += [f"{where}: {e.get('err_str', e)}" for e in isa.get("errors", [])]
            for gs in isa.get("groups", []):
                where = f"functional group GS/GE (ending at segment {gs.get('cur_line')})"
                envelope += [f"{where}: {e.get('err_str', e)}" for e in gs.get("errors", [])]
                for st in gs.get("transactions", []):
                    where = (
                        f"transaction set ST/SE {st.get('trn_set_control_num')} "
                        f"(ending at segment {st.get('cur_line')})"
                    )
                    envelope += [f"{where}: {e.get('err_str', e)}" for e in st.get("errors", [])]
                    for s in st.get("segments", []):
                        seg_id = str(s.get("seg_id", "?"))
                        texts = [str(e.get("err_str", "")) for e in s.get("errors", [])]
                        for el in s.get("elements", []):
                            texts += [_element_text(seg_id, el, e) for e in el.get("errors", [])]
                        for text in texts or ["invalid segment"]:
                            segments.append(
                                _Error(
                                    line=int(s.get("cur_line") or 0),
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
    modifiers = tuple(m for m in (_value(node, f"SV101-{i}") for i in range(3, 8)) if m)
    units_text = _value(node, "SV104") or "1"
    try:
        units = int(Decimal(units_text))
    except InvalidOperation:
        return f"SV104 units {units_text!r} is not a number"
    pointers: list[int] = []
    for i in range(1, 5):
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


def _claim(subscriber: Any, claim: Any, ordinal: int) -> Claim837 | ClaimProblem:
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
    return Claim837(
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
    )


def parse_837(text: str, source: str = "the file") -> list[Claim837 | ClaimProblem]:
    """Every claim of an 837P interchange, in file order.

    Raises X12ReadError when the file is not an 837P or its envelopes or billing
    provider loops are broken."""
    pyx12 = import_pyx12()
    if not text.lstrip().startswith("ISA"):
        raise X12ReadError(f"{source}: not an X12 file (it must start with an ISA segment)")
    try:
        validation = validate_837(text)
    except Exception as exc:  # pyx12 raises several types for text it cannot tokenise
        raise X12ReadError(f"{source}: not a readable X12 interchange ({exc})") from None
    envelope, seg_errors = _errors(validation.errors)
    if envelope:
        raise X12ReadError(f"{source}: {envelope[0]}")
    param = pyx12.params.params()
    trees: list[tuple[int, Any]] = []
    try:
        reader = pyx12.x12context.X12ContextReader(
            param, pyx12.error_handler.errh_null(), io.StringIO(text)
        )
        vriic = ""
        for node in reader.iter_segments("2000B"):
            if node.id == "GS":
                vriic = _value(node, "GS08")
            if node.id == "2000B":
                trees.append((int(node.cur_line_number or 0), node))
        if vriic and not vriic.startswith("005010X222"):
            raise X12ReadError(f"{source}: GS08 is {vriic}, not an 837P (005010X222A1)")
    except pyx12.errors.X12Error as exc:
        raise X12ReadError(f"{source}: not a readable X12 interchange ({exc})") from None
    except pyx12.errors.EngineError as exc:
        raise X12ReadError(f"{source}: X12 the 837P map cannot follow ({exc})") from None
    starts = [start for start, _ in trees]
    first_start = starts[0] if starts else None
    outside = [e for e in seg_errors if first_start is None or e.line < first_start]
    if outside:
        raise X12ReadError(f"{source}: {_describe(outside[0])}")
    ends = [*starts[1:], 10**12]
    claims: list[Claim837 | ClaimProblem] = []
    ordinal = 0
    for (start, subscriber), end in zip(trees, ends, strict=True):
        inside = [
            e for e in seg_errors if start <= e.line < end and e.seg_id not in ("SE", "GE", "IEA")
        ]
        for claim in subscriber.select("2300"):
            ordinal += 1
            if inside:
                claims.append(
                    ClaimProblem(ordinal, _value(claim, "CLM01") or None, _describe(inside[0]))
                )
            else:
                claims.append(_claim(subscriber, claim, ordinal))
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
