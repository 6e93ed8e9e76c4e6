"""The practice's fee schedule: a CSV the user supplies (``cpt[,modifier],charge``).

dexacode never invents a price: a line whose code has no fee is held back with a reason.
A fee for ``77080,26`` prices the professional component; a fee without a modifier is the
global price and the fallback for lines whose modifiers have no fee of their own.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

# Only the modifiers that change the price pick a separate fee.
PRICING_MODIFIERS = ("26", "TC")


class FeeFileError(ValueError):
    """The fee file cannot be used; the message names the line."""


@dataclass(frozen=True)
class FeeSchedule:
    fees: dict[tuple[str, str], Decimal]

    def charge(self, cpt: str, modifiers: tuple[str, ...] | list[str]) -> Decimal | None:
        for mod in modifiers:
            if mod in PRICING_MODIFIERS and (cpt, mod) in self.fees:
                return self.fees[(cpt, mod)]
        if any(m in PRICING_MODIFIERS for m in modifiers):
            return None  # a component is never billed at the global price
        return self.fees.get((cpt, ""))


def _is_header(cells: list[str]) -> bool:
    return bool(cells) and cells[0].strip().lower() == "cpt"


def load_fees(path: Path) -> FeeSchedule:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FeeFileError(f"{path}: no such fee file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FeeFileError(f"{path}: cannot be read ({type(exc).__name__})") from None
    fees: dict[tuple[str, str], Decimal] = {}
    for number, cells in enumerate(csv.reader(text.splitlines()), 1):
        cells = [c.strip() for c in cells]
        if not any(cells) or cells[0].startswith("#") or (number == 1 and _is_header(cells)):
            continue
        if len(cells) == 2:
            cpt, modifier, amount = cells[0], "", cells[1]
        elif len(cells) == 3:
            cpt, modifier, amount = cells
        else:
            raise FeeFileError(
                f"{path.name} line {number}: expected cpt,charge or cpt,modifier,charge"
            )
        cpt, modifier = cpt.upper(), modifier.upper()
        if len(cpt) != 5 or not cpt.isalnum():
            raise FeeFileError(f"{path.name} line {number}: {cpt!r} is not a 5-character code")
        try:
            charge = Decimal(amount.lstrip("$"))
        except InvalidOperation:
            raise FeeFileError(
                f"{path.name} line {number}: charge {amount!r} is not a number"
            ) from None
        if not charge.is_finite() or charge <= 0 or charge >= Decimal("10000000"):
            raise FeeFileError(f"{path.name} line {number}: charge must be above 0")
        if (cpt, modifier) in fees:
            raise FeeFileError(f"{path.name} line {number}: a second fee for {cpt} {modifier}")
        fees[(cpt, modifier)] = charge
    if not fees:
        raise FeeFileError(f"{path.name}: no fees in the file")
    return FeeSchedule(fees)
