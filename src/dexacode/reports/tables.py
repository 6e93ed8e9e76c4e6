"""The results table shared by the scanner families: header columns, cells, and which
printed value belongs to which column when blank cells vanished in text extraction."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from dexacode.reports.dates import OTHER_STUDY

# Minus signs and dashes that text extraction produces, all read as ASCII '-': the minus
# sign (U+2212), figure, en and em dashes, hyphens, the horizontal bar, the small and
# fullwidth hyphen-minus (U+FE63, U+FF0D), the heavy minus sign (U+2796), the small em
# dash (U+FE58) and the modifier letter minus (U+02D7). Curly apostrophes and primes are
# read as "'" ('Ward’s'); superscript digits as digits ('g/cm²', the footnote in 'BMD¹').
_DASHES = {
    ord(c): "-" for c in "\u2212\u2013\u2012\u2014\u2010\u2011\u2015\ufe63\uff0d\u2796\ufe58\u02d7"
}
_APOSTROPHES = {ord(c): "'" for c in "\u2019\u2018\u02bc\u2032\u00b4\u0060\uff07"}
_SUPERSCRIPTS = {ord("\u00b9"): "1", ord("\u00b2"): "2", ord("\u00b3"): "3"}
_SPACES = {ord(c): " " for c in "\u00a0\u2009\u202f\u2007\u2002\u2003\u3000"}
_INVISIBLE = {ord(c): None for c in "\u200b\u200c\u200d\u2060\ufeff"}
_TRANSLATE = str.maketrans({**_DASHES, **_APOSTROPHES, **_SUPERSCRIPTS, **_SPACES, **_INVISIBLE})
# A soft hyphen (U+00AD) is a hyphenation hint, never a minus sign: dropped inside a word
# and beside a minus sign ('\u00ad-2.9' is -2.9). One alone before a number is kept, so
# that the number is not read (its sign is not known) rather than read as positive.
_SOFT_HYPHEN = re.compile(r"\u00ad(?=[-A-Za-z])|(?<=[-A-Za-z])\u00ad")


def normalise(text: str) -> list[str]:
    """Lines with one kind of minus, ASCII units, tabs expanded; column positions kept
    (but for the invisible characters and soft hyphens dropped)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for line in text.split("\n"):
        line = _SOFT_HYPHEN.sub("", line.translate(_TRANSLATE)).expandtabs(8)
        out.append(line.rstrip())
    return out


_OTHER_STUDY = "|".join(OTHER_STUDY)
# Header words, tried in this order; the longest match at a position wins.
_HEADER = (
    ("t", r"(?:\bYA\s+)?\bT\s?-?\s?scores?\b"),
    ("z", r"(?:\bAM\s+)?\bZ\s?-?\s?scores?\b"),
    (
        "ya_pct",
        r"\bYA\s*\(?%\)?|\bYoung[- ]?Adult[123]?\s*\(?%?\)?|\bPR\b(?:\s*\((?:%|Peak Reference)\))?",
    ),
    (
        "am_pct",
        r"\bAM\s*\(?%\)?|\bAge[- ]?Matched[123]?\s*\(?%?\)?"
        r"|\bAM\b(?:\s*\((?:%|Age Matched)\))?(?!\s*Z)",
    ),
    # Older GE Lunar headers put a footnote mark after a heading: 'BMD¹ (g/cm²)',
    # 'Young-Adult² (%)', 'Age-Matched³ (%)' (superscripts are digits by then).
    ("bmd", r"\bBMD[123]?\b"),
    ("bmc", r"\bBMC\b"),
    ("area", r"\bArea\b"),
    ("other", r"\bWidth\b|\bHeight\b|\(%\)"),
    # Another study's values in this exam's table: read as columns so that their values
    # are never taken for this exam's (a change in % looks like a Z-score).
    (
        "prior",
        rf"\b(?:{_OTHER_STUDY})\b"
        r"(?:\s+(?:BMD|T\s?-?\s?scores?|Z\s?-?\s?scores?|scan|study|exam)\b)?",
    ),
    (
        "change",
        r"(?:\bBMD\s+)?(?:%\s*)?\bChange\b(?:\s+(?:vs\.?|from|since|to)\s+"
        rf"(?:{_OTHER_STUDY})(?:\s+(?:scan|study|exam))?)?(?:\s*\(?%\)?)?",
    ),
    ("region", r"\bRegion\b"),
)
_HEADER_RE = [(kind, re.compile(p, re.IGNORECASE)) for kind, p in _HEADER]
# Columns whose values are never read (only placed, so the row's other values line up).
NEVER_READ = frozenset({"other", "prior", "change"})

COLUMN_LABELS = {
    "t": "T-score",
    "z": "Z-score",
    "ya_pct": "young-adult %",
    "am_pct": "age-matched %",
    "bmd": "BMD",
    "bmc": "BMC",
    "area": "Area",
    "other": "other",
    "prior": "prior study's",
    "change": "change",
}


@dataclass(frozen=True)
class Column:
    kind: str
    centre: float
    start: float = 0.0  # where the heading's words begin and end on the line
    end: float = 0.0

    def distance(self, x: float) -> float:
        """How far a value's centre is from the heading: 0 anywhere under its words (a
        value printed flush left under 'Change vs prior (%)' is under it)."""
        if self.start <= x <= self.end:
            return 0.0
        return min(abs(x - self.start), abs(x - self.end))


@dataclass(frozen=True)
class Header:
    columns: tuple[Column, ...]  # data columns, left to right
    region_centre: float | None  # where the Region heading sits
    positions: bool  # False when the header was pieced together from wrapped lines


def _headings(line: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each column heading on a line, left to right."""
    found: list[tuple[int, int, str]] = []
    for kind, pattern in _HEADER_RE:
        found += [(m.start(), m.end(), kind) for m in pattern.finditer(line)]
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    # Taken in order of their start (the longest first at one start): a heading overlaps
    # one taken before it only if it starts before the furthest end so far. Linear, so a
    # pathological line of many thousand headings costs no more than reading it.
    taken: list[tuple[int, int, str]] = []
    reached = 0
    for start, end, kind in found:
        if start >= reached:
            taken.append((start, end, kind))
            reached = end
    return taken


def _has_values(line: str) -> bool:
    """A line with a printed number is a row or a sentence ('BMD 0.612, T-score -2.7'),
    never a header."""
    return any(
        (cell := cell_of(m.group(), 0.0)) is not None and cell.value is not None
        for m in _TOKEN.finditer(line)
    )


def header_of(line: str) -> Header | None:
    """The data columns of a results header line, or None if it is not one."""
    taken = _headings(line)
    kinds = [k for _, _, k in taken]
    if "bmd" not in kinds or not ({"t", "z"} & set(kinds)) or _has_values(line):
        return None
    region = next(((s + e) / 2 for s, e, k in taken if k == "region"), None)
    columns = tuple(Column(k, (s + e) / 2, s, e) for s, e, k in taken if k != "region")
    read = [c.kind for c in columns if c.kind not in NEVER_READ]
    if len(set(read)) != len(read):
        return None  # a column named twice: not a header we understand
    return Header(columns, region, positions=laid_out(line))


def laid_out(line: str) -> bool:
    """Whether a line is laid out in columns (a wide gap somewhere): in single-spaced
    text a value sits under a heading by chance, so its position says nothing."""
    return re.search(r"\S(?: {2,}|\t)\S", line) is not None


def header_like(line: str) -> bool:
    """A line that names a table's columns, understood or not: 'Region' and a column
    heading, or two kinds of column heading. Rows under one dexacode cannot read must not
    fall under the table above it."""
    if _has_values(line):
        return False
    kinds = {k for _, _, k in _headings(line) if k not in ("region", "other")}
    words = line.split()
    if words and re.fullmatch(r"Regions?:?", words[0], re.I) and kinds:
        return True
    return len(kinds) >= 2


# A table of earlier scans is led by their dates ('Scan Date  Age  BMD  Change vs ...').
_DATE_LED = re.compile(r"^\s*(?:(?:scan|exam|study|measured)\s+)?date\b|^\s*measured\b", re.I)


def comparison_header(line: str, header: Header | None) -> bool:
    """A header of another study's values, never this exam's: a trend table's (led by the
    scans' dates), or one dexacode cannot read whose columns are a prior's or a change."""
    if _DATE_LED.match(line):
        return True
    kinds = {k for _, _, k in _headings(line)}
    return header is None and bool(kinds & {"prior", "change"})


def header_start(line: str) -> bool:
    """A header's first half: 'Region ... BMD' with the score headings wrapped away."""
    return bool(re.search(r"\bRegion\b", line, re.I) and re.search(r"\bBMD\b", line, re.I))


# --- cells ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.(\d+))?|\.(\d+))$")
# A decimal comma ('0,781', '-2,9', European reports). Three digits after a comma with a
# non-zero whole part ('1,002') could also be a thousands separator: see Cell.grouped.
_COMMA_NUMBER = re.compile(r"^([+-]?)(\d+),(\d+)$")
_BLANK = re.compile(r"^(?:-{1,3}|n/?a|\*+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Cell:
    text: str
    value: float | None  # None: a printed blank ('-')
    decimals: int
    centre: float
    grouped: bool = False  # '1,002': a decimal comma or a thousands separator


def cell_of(token: str, centre: float) -> Cell | None:
    if _BLANK.match(token):
        return Cell(token, None, 0, centre)
    match = _NUMBER.match(token)
    if match:
        decimals = len(match.group(1) or match.group(2) or "")
        return Cell(token, float(token), decimals, centre)
    comma = _COMMA_NUMBER.match(token)
    if comma:
        sign, whole, fraction = comma.groups()
        grouped = len(fraction) == 3 and int(whole) != 0
        return Cell(token, float(f"{sign}{whole}.{fraction}"), len(fraction), centre, grouped)
    return None


def fits(cell: Cell, kind: str) -> bool:
    """Whether a printed value can be in a column of this kind (blanks fit anywhere)."""
    v = cell.value
    if v is None or kind in NEVER_READ:
        return True
    if kind == "bmd":
        return cell.decimals == 3 and 0.0 <= v <= 3.0
    if kind in ("t", "z"):
        # Some reports print two decimals (-2.45); the engine rounds them (round_score).
        return cell.decimals in (1, 2) and -10.0 <= v <= 10.0
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
    if k < n and any(c.grouped for c in cells) and {"bmc", "area"} & {c.kind for c in cols}:
        # With a blank cell gone, '1,234' might be a BMC in grams with a thousands
        # separator rather than a BMD with a decimal comma: not guessed.
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
    columns = header.columns
    chosen: list[int] = []
    for cell in cells:
        distances = [c.distance(cell.centre) for c in columns]
        best = min(range(len(columns)), key=lambda i: distances[i])
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
    # The cells again with each '-' that a single space parts from an unsigned number read
    # as that number's minus sign ('- 2.7' -> -2.7); None when the row has no such pair.
    joined: list[Cell] | None = None


_TOKEN = re.compile(r"\S+")


def split_row(line: str) -> RawRow | None:
    """'Neck Left  0.812  -1.3 ...' -> label 'Neck Left' and its cells; None if not a row.

    A row is a label followed only by cells (numbers or blanks). A label may end in a
    colon ('Femoral Neck: 0.598 -2.8'); a colon inside it makes the line a header or
    footer field ('Age: 63  Sex: F'), not a row.
    """
    spans = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(line)]
    label: list[str] = []
    cells: list[tuple[Cell, int, int]] = []
    for text, start, end in spans:
        cell = cell_of(text, (start + end) / 2)
        if cell is None:
            if cells and all(c.value is None and c.text == "-" for c, _, _ in cells):
                # 'Neck - Right': a dash between the label's words, not a blank cell.
                label += [c.text for c, _, _ in cells]
                cells = []
            if cells:
                return None  # words after the numbers: prose, not a table row
            label.append(text)
        elif not label and not cells and text.startswith("-") and cell.value is None:
            return None  # a line starting with a dash is a list item or a rule
        else:
            cells.append((cell, start, end))
    if not cells:
        return RawRow(" ".join(label), [])
    if label and label[-1].endswith(":"):
        label[-1] = label[-1][:-1]
    if any(":" in part for part in label):
        return None
    return RawRow(" ".join(label).strip(), [c for c, _, _ in cells], _joined(cells))


def _joined(cells: list[tuple[Cell, int, int]]) -> list[Cell] | None:
    out: list[Cell] = []
    paired = False
    i = 0
    while i < len(cells):
        cell, start, end = cells[i]
        if cell.text == "-" and i + 1 < len(cells):
            after, start2, end2 = cells[i + 1]
            if start2 == end + 1 and after.value is not None and after.text[0].isdigit():
                out.append(
                    Cell(
                        f"-{after.text}",
                        -after.value,
                        after.decimals,
                        (start + end2) / 2,
                        after.grouped,
                    )
                )
                paired = True
                i += 2
                continue
        out.append(cell)
        i += 1
    return out if paired else None


def only_cells(line: str) -> list[Cell] | None:
    """The cells of a line that holds nothing else (the second half of a wrapped row)."""
    tokens = [(m.group(), (m.start() + m.end()) / 2) for m in _TOKEN.finditer(line)]
    if not tokens:
        return None
    cells = [cell_of(t, c) for t, c in tokens]
    if any(c is None for c in cells) or all(c is not None and c.value is None for c in cells):
        return None
    return [c for c in cells if c is not None]
