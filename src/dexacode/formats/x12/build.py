"""Claims to segments: the 005010X222A1 interchange (ISA/GS/ST envelopes with control
numbers, submitter and receiver, billing provider, one subscriber loop per claim).

Only the loops dexacode needs are written: 1000A/B, 2000A/2010AA, 2000B/2010BA/2010BB,
2300 with HI and 2310A, 2400 with SV1 and DTP*472.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal

from dexacode.formats.x12.model import Claim837, Envelope, ServiceLine
from dexacode.formats.x12.provider import ProviderFile
from dexacode.formats.x12.segments import COMPONENT, REPETITION, Segment, clean, render, seg

VERSION = "005010X222A1"


def _money(amount: Decimal) -> str:
    text = f"{amount.quantize(Decimal('0.01')):f}"
    return text.removesuffix(".00")


def _isa(provider: ProviderFile, env: Envelope) -> Segment:
    ic = provider.interchange
    return seg(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        ic.sender_qualifier,
        ic.sender_id.ljust(15),
        ic.receiver_qualifier,
        ic.receiver_id.ljust(15),
        env.created.strftime("%y%m%d"),
        env.created.strftime("%H%M"),
        REPETITION,
        "00501",
        f"{env.control_number:09d}",
        "1" if ic.acknowledgment_requested else "0",
        ic.usage,
        COMPONENT,
    )


def _header(provider: ProviderFile, env: Envelope, st: int) -> list[Segment]:
    sub, rec, bp = provider.submitter, provider.receiver, provider.billing
    out = [
        seg("ST", "837", f"{st:04d}", VERSION),
        seg(
            "BHT",
            "0019",
            "00",
            f"{env.control_number}-{st}",
            env.created.strftime("%Y%m%d"),
            env.created.strftime("%H%M"),
            "CH",
        ),
        seg("NM1", "41", "2", clean(sub.name), "", "", "", "", "46", sub.id),
        seg("PER", "IC", clean(sub.contact), "TE", sub.phone),
        seg("NM1", "40", "2", clean(rec.name), "", "", "", "", "46", rec.id),
        seg("HL", "1", "", "20", "1"),
    ]
    if bp.taxonomy:
        out.append(seg("PRV", "BI", "PXC", bp.taxonomy))
    out += [
        seg("NM1", "85", "2", clean(bp.name), "", "", "", "", "XX", bp.npi),
        seg("N3", clean(bp.address, 55)),
        seg("N4", clean(bp.city, 30), bp.state, bp.zip),
        seg("REF", "EI", bp.tax_id),
    ]
    return out


def _claim(claim: Claim837, hl: int) -> list[Segment]:
    s = claim.subscriber
    out = [
        seg("HL", str(hl), "1", "22", "0"),
        seg("SBR", "P", claim.relationship, "", "", "", "", "", "", claim.filing_code),
        seg(
            "NM1",
            "IL",
            "1",
            clean(s.last_name) or "UNKNOWN",
            clean(s.first_name, 35),
            "",
            "",
            "",
            "MI",
            s.member_id,  # as given: claim_for holds back one X12 cannot carry
        ),
    ]
    if s.address and s.city and s.state and s.zip:
        out += [seg("N3", clean(s.address, 55)), seg("N4", clean(s.city, 30), s.state, s.zip)]
    if s.birth_date is not None:
        out.append(seg("DMG", "D8", s.birth_date.strftime("%Y%m%d"), s.sex))
    out += [
        seg("NM1", "PR", "2", clean(claim.payer_name), "", "", "", "", "PI", claim.payer_id),
        seg(
            "CLM",
            claim.claim_id,
            _money(claim.total_charge),
            "",
            "",
            (claim.place_of_service, "B", claim.frequency),
            "Y",
            "A",
            "Y",
            "Y",
        ),
        seg(
            "HI",
            *(("ABK" if i == 0 else "ABF", code) for i, code in enumerate(claim.diagnoses)),
        ),
    ]
    if claim.referring_npi:
        out.append(
            seg(
                "NM1",
                "DN",
                "1",
                clean(claim.referring_last),
                clean(claim.referring_first, 35),
                "",
                "",
                "",
                "XX",
                claim.referring_npi,
            )
        )
    for n, line in enumerate(claim.lines, 1):
        out += _line(line, n)
    return out


def _line(line: ServiceLine, n: int) -> list[Segment]:
    return [
        seg("LX", str(n)),
        seg(
            "SV1",
            ("HC", line.cpt, *line.modifiers),
            _money(line.charge),
            "UN",
            str(line.units),
            "",
            "",
            tuple(str(p) for p in line.pointers),
        ),
        seg("DTP", "472", "D8", line.date_of_service.strftime("%Y%m%d")),
    ]


def build_segments(
    claims: Sequence[Claim837], provider: ProviderFile, env: Envelope
) -> Iterator[Segment]:
    """The whole interchange: one functional group, a transaction set per
    ``env.claims_per_transaction`` claims (at least one, even for no claims)."""
    yield _isa(provider, env)
    group = env.control_number
    yield seg(
        "GS",
        "HC",
        provider.interchange.sender_id,
        provider.interchange.receiver_id,
        env.created.strftime("%Y%m%d"),
        env.created.strftime("%H%M"),
        str(group),
        "X",
        VERSION,
    )
    size = max(1, env.claims_per_transaction)
    chunks = [claims[i : i + size] for i in range(0, len(claims), size)] or [[]]
    for st, chunk in enumerate(chunks, 1):
        body = _header(provider, env, st)
        for i, claim in enumerate(chunk):
            body += _claim(claim, hl=i + 2)
        yield from body
        yield seg("SE", str(len(body) + 1), f"{st:04d}")
    yield seg("GE", str(len(chunks)), str(group))
    yield seg("IEA", "1", f"{env.control_number:09d}")


def interchange_text(claims: Sequence[Claim837], provider: ProviderFile, env: Envelope) -> str:
    return render(build_segments(claims, provider, env))
