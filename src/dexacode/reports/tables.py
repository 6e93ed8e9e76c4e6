"""The results table shared by the scanner families: header columns, cells, and which
printed value belongs to which column when blank cells vanished in text extraction."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

# Minus signs and dashes that text extraction produces, all read as ASCII '-'.
_DASHES = str.maketrans(
    {"\u2212": "-", "\u2013": "-", "\u2012": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-"}
)
_SPACES = str.maketrans({"\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2007": " "})


def normalise(text: str) -> list[str]:
    """Lines with one kind of minus, ASCII units, tabs expanded; column positions kept."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for line in text.split("\n"):
        line = line.translate(_DASHES).translate(_SPACES).expandtabs(8)
        line = line.replace("²", "2").replace("\u00b3", "3")
        out.append(line.rstrip())
    return out


# Header words, tried in this order; the longest match at a position wins.
_HEADER = (
    ("t", r"(?:\bYA\s+)?\bT\s?-?\s?scores?\b"),
    ("z", r"(?:\bAM\s+)?\bZ\s?-?\s?scores?\b"),
    (
        "ya_pct",
        r"\bYA\s*\(?%\)?|\bYoung[- ]?Adult\s*\(?%?\)?|\bPR\b(?:\s*\((?:%|Peak Reference)\))?",
    ),
    (
        "am_pct",
        r"\bAM\s*\(?%\)?|\bAge[- ]?Matched\s*\(?%?\)?|\bAM\b(?:\s*\((?:%|Age Matched)\))?(?!\s*Z)",
    ),
    ("bmd", r"\bBMD\b"),
    ("bmc", r"\bBMC\b"),
    ("area", r"\bArea\b"),
    ("other", r"\bWidth\b|\bHeight\b"),
    ("region", r"\bRegion\b"),
)
_HEADER_RE = [(kind, re.compile(p, re.IGNORECASE)) for kind, p in _HEADER]

COLUMN_LABELS = {
    "t": "T-score",
    "z": "Z-score",
    "ya_pct": "young-adult %",
    "am_pct": "age-matched %",
    "bmd": "BMD",
    "bmc": "BMC",
    "area": "Area",
    "other": "other",
}


@dataclass(frozen=True)
class Column:
    kind: str
    centre: float


@dataclass(frozen=True)
class Header:
    columns: tuple[Column, ...]  # data columns, left to right
    region_centre: float | None  # where the Region heading sits
    positions: bool  # False when the header was pieced together from wrapped lines


def header_of(line: str) -> Header | None:
    """The data columns of a results header line, or None if it is not one."""
    found: list[tuple[int, int, str]] = []
    for kind, pattern in _HEADER_RE:
        found += [(m.start(), m.end(), kind) for m in pattern.finditer(line)]
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    taken: list[tuple[int, int, str]] = []
    for start, end, kind in found:
        if all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, kind))
    taken.sort()
    kinds = [k for _, _, k in taken]
    if "bmd" not in kinds or not ({"t", "z"} & set(kinds)):
        return None
    region = next(((s + e) / 2 for s, e, k in taken if k == "region"), None)
    columns = tuple(Column(k, (s + e) / 2) for s, e, k in taken if k != "region")
    if len({c.kind for c in columns if c.kind != "other"}) != sum(
        1 for c in columns if c.kind != "other"
    ):
        return None  # a column named twice: not a header we understand
    return Header(columns, region, positions=True)


def header_start(line: str) -> bool:
    """A header's first half: 'Region ... BMD' with the score headings wrapped away."""
    return bool(re.search(r"\bRegion\b", line, re.I) and re.search(r"\bBMD\b", line, re.I))


# --- cells ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.(\d+))?|\.(\d+))$")
_BLANK = re.compile(r"^(?:-{1,3}|n/?a|\*+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Cell:
    text: str
    value: float | None  # None: a printed blank ('-')
    decimals: int
    centre: float


def cell_of(token: str, centre: float) -> Cell | None:
    if _BLANK.match(token):
        return Cell(token, None, 0, centre)
    match = _NUMBER.match(token)
    if not match:
        return None
    decimals = len(match.group(1) or match.group(2) or "")
    return Cell(token, float(token), decimals, centre)


def fits(cell: Cell, kind: str) -> bool:
    """Whether a printed value can be in a column of this kind (blanks fit anywhere)."""
    v = cell.value
    if v is None or kind == "other":
        return True
    if kind == "bmd":
        return cell.decimals == 3 and 0.0 <= v <= 3.0
    if kind in ("t", "z"):
        return cell.decimals == 1 and -10.0 <= v <= 10.0
    if kind in ("ya_pct", "am_pct"):
        return cell.decimals == 0 and 0.0 <= v <= 300.0
    if kind in ("area", "bmc"):
        return cell.decimals in (1, 2) and 0.0 <= v <= 5000.0
    return False


@dataclass(frozen=True)
class Placement:
    """Which column each cell went to; ``doubtful`` cells could belong to several columns."""

    placed: dict[str, Cell]
    doubtful: list[tuple[Cell, list[str]]]
    misfits: list[tuple[Cell, str]]


def place(cells: list[Cell], header: Header, use_positions: bool) -> Placement | None:
    """Put a row's printed cells into the header's columns; None if they cannot fit at all."""
    cols = header.columns
    n, k = len(cols), len(cells)
    if k > n:
        return None
    if k == n:
        placed: dict[str, Cell] = {}
        misfits: list[tuple[Cell, str]] = []
        for cell, col in zip(cells, cols, strict=True):
            if fits(cell, col.kind):
                placed[col.kind] = cell
            else:
                misfits.append((cell, col.kind))
        return Placement(placed, [], misfits)
    valid = [
        combo
        for combo in itertools.combinations(range(n), k)
        if all(fits(c, cols[i].kind) for c, i in zip(cells, combo, strict=True))
    ]
    if not valid:
        return None
    if len(valid) > 1 and use_positions and header.positions:
        by_position = _by_position(cells, header)
        if by_position in valid:
            valid = [by_position]
    placed = {}
    doubtful: list[tuple[Cell, list[str]]] = []
    for j, cell in enumerate(cells):
        options = sorted({combo[j] for combo in valid})
        if len(options) == 1:
            placed[cols[options[0]].kind] = cell
        elif cell.value is not None:
            doubtful.append((cell, [cols[i].kind for i in options]))
    return Placement(placed, doubtful, [])


def _by_position(cells: list[Cell], header: Header) -> tuple[int, ...] | None:
    """Each cell under the nearest heading, if that reads as a clean left-to-right layout."""
    centres = [c.centre for c in header.columns]
    chosen: list[int] = []
    for cell in cells:
        distances = [abs(cell.centre - x) for x in centres]
        best = min(range(len(centres)), key=lambda i: distances[i])
        if (
            header.region_centre is not None
            and abs(cell.centre - header.region_centre) < (distances[best])
        ):
            return None  # sits under 'Region': the line is not laid out in columns
        if distances[best] > 6.0 or (chosen and best <= chosen[-1]):
            return None
        chosen.append(best)
    return tuple(chosen)


# --- splitting a line into a label and cells ----------------------------------------------


@dataclass(frozen=True)
class RawRow:
    label: str
    cells: list[Cell]


_TOKEN = re.compile(r"\S+")


def split_row(line: str) -> RawRow | None:
    """'Neck Left  0.812  -1.3 ...' -> label 'Neck Left' and its cells; None if not a row.

    A row is a label followed only by cells (numbers or blanks). A line whose label has a
    colon is a header or footer field ('Age: 63'), not a row.
    """
    tokens = [(m.group(), (m.start() + m.end()) / 2) for m in _TOKEN.finditer(line)]
    label: list[str] = []
    cells: list[Cell] = []
    for text, centre in tokens:
        cell = cell_of(text, centre)
        if cell is None:
            if cells:
                return None  # words after the numbers: prose, not a table row
            label.append(text)
        elif not label and not cells and text.startswith("-") and cell.value is None:
            return None  # a line starting with a dash is a list item or a rule
        else:
            cells.append(cell)
    if not cells:
        return RawRow(" ".join(label), [])
    if any(":" in part for part in label):
        return None
    return RawRow(" ".join(label), cells)


def only_cells(line: str) -> list[Cell] | None:
    """The cells of a line that holds nothing else (the second half of a wrapped row)."""
    tokens = [(m.group(), (m.start() + m.end()) / 2) for m in _TOKEN.finditer(line)]
    if not tokens:
        return None
    cells = [cell_of(t, c) for t, c in tokens]
    if any(c is None for c in cells) or all(c is not None and c.value is None for c in cells):
        return None
    return [c for c in cells if c is not None]
