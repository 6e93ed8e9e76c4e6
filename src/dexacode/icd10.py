"""ICD-10-CM code sets per fiscal year, served from compact SQLite indexes.

Parsing the CMS tabular (via simple_icd_10_cm) costs ~2 s and ~190 MB, so it is done once per
release: the result is written to ``icd10cm-FY{year}.sqlite`` and every later lookup is a keyed
read from that file. Build-only modules are imported inside the build functions to keep
``import dexacode.icd10`` cheap for the CLI.
"""

from __future__ import annotations

import datetime
import functools
import os
import re
import sqlite3
import threading
import warnings
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = [
    "SCHEMA_VERSION",
    "CodeInfo",
    "Icd10Library",
    "Icd10Release",
    "build_index_from_cms",
    "default_index_dir",
    "ensure_shipped_index",
    "fiscal_year_of",
    "normalize",
    "open_library",
]

# Bump when the index layout or its derivation changes: stale indexes are then rebuilt/refused.
SCHEMA_VERSION = "1"

_INDEX_NAME_RE = re.compile(r"^icd10cm-FY(\d{4})\.sqlite$")
_CODE_SHAPE_RE = re.compile(r"^([A-Z][0-9][0-9A-Z])\.?([0-9A-Z]{0,4})$")
_DOTTED_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")
_XML_VERSION_RE = re.compile(rb"<version>\s*(\d{4})\s*</version>")
_LOOKUP_CACHE_MAX = 100_000


def fiscal_year_of(d: datetime.date) -> int:
    """Federal fiscal year of a date: FY N runs 1 Oct N-1 .. 30 Sep N."""
    return d.year + 1 if d.month >= 10 else d.year


@functools.lru_cache(maxsize=65536)  # claims repeat a few hundred codes: normalize each once
def normalize(code: str) -> str:
    """Upper-case, strip and dot a code ("m810 " -> "M81.0"); unshapeable input is returned
    upper-cased and stripped."""
    s = code.strip().upper()
    m = _CODE_SHAPE_RE.match(s)
    if m is None:
        return s
    head, tail = m.groups()
    return f"{head}.{tail}" if tail else head


def _key(code: str) -> str | None:
    """Undotted index key, or None when the input cannot be an ICD-10-CM code."""
    n = normalize(code)
    return n.replace(".", "") if _DOTTED_RE.match(n) else None


@dataclass(frozen=True)
class CodeInfo:
    """One category/subcategory of a release."""

    code: str
    description: str
    billable: bool
    excludes1: tuple[str, ...]


# --- Excludes1 reference patterns -----------------------------------------------------------
#
# Stored in ICD notation: "M81.0" (code), "M80.-" / "M80.0-" (code and descendants),
# "M80-M82" / "S72.0-S72.2" (inclusive range, endpoint dashes dropped). In ICD-10-CM a code's
# descendants are exactly the codes extending it, so every single reference matches by prefix.

_REF = r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?"
# Backtracking makes "M80-M82" a range while "M80.0-, M81" stays a dashed single reference.
_ITEM_RE = re.compile(
    rf"(?<![A-Za-z0-9])(?P<a>{_REF})(?:\.?-)?(?:\s*-\s*(?P<b>{_REF})(?:\.?-)?)?(?![A-Za-z0-9])"
)
_WITH_RE = re.compile(r"\s*\.?\s*-?\s*with\b")
_SUFFIX_RE = re.compile(
    r"\s*\.?\s*-?\s*with\s+(?P<s1>\.[0-9A-Z]{1,4})(?P<d1>-)?"
    r"(?:\s*-\s*(?P<s2>\.[0-9A-Z]{1,4})-?)?(?![A-Za-z0-9.])"
)
_PAREN_RE = re.compile(r"\(([^()]*)\)")


def _pattern_matches(pattern: str, code: str) -> bool:
    """Whether an excludes1 reference pattern covers ``code`` (dotted or not)."""
    c = normalize(code).replace(".", "")
    p = pattern.strip().upper().rstrip("-").rstrip(".")
    if "-" in p:
        lo, hi = (part.strip().rstrip("-").rstrip(".").replace(".", "") for part in p.split("-", 1))
        # Compare at each endpoint's own precision: "J60-J67.9" covers J60.. and J67.9x.
        return bool(lo) and bool(hi) and c[: len(lo)] >= lo and c[: len(hi)] <= hi
    ref = p.replace(".", "")
    return bool(ref) and c.startswith(ref)


def _parse_group(text: str, categories: Collection[str]) -> list[str] | None:
    """Patterns of one reference list; None when it is qualified in a way we cannot express."""
    out: list[str] = []
    for m in _ITEM_RE.finditer(text):
        a, b = m["a"], m["b"]
        rest = text[m.end() :]
        if _WITH_RE.match(rest):
            # "E08-E13 with .21" names one subcategory per category; other qualifiers ("with
            # 7th character B", "with fifth character 1") would need positional rules, and
            # dropping only the qualifier would flag whole categories, so drop the list.
            sm = _SUFFIX_RE.match(rest)
            if sm is None or len(a) != 3 or (b is not None and len(b) != 3):
                return None
            hi = b if b is not None else a
            for cat in sorted(c for c in categories if len(c) == 3 and a <= c <= hi):
                if sm["s2"] is not None:
                    out.append(f"{cat}{sm['s1']}-{cat}{sm['s2']}")
                elif sm["d1"]:
                    out.append(f"{cat}{sm['s1']}-")
                else:
                    out.append(f"{cat}{sm['s1']}")
            continue
        if b is not None:
            out.append(f"{a}-{b}")
        elif m.group(0).endswith("-"):
            out.append(f"{a}.-" if len(a) == 3 else f"{a}-")
        else:
            out.append(a)
    return out


def _parse_excludes1_note(note: str, categories: Collection[str]) -> tuple[list[str], int]:
    """Reference patterns of one excludes1 note and the number of reference lists skipped.

    When the note has parenthesised references only those count, so prose such as "any type
    in A15 (J65)" yields just J65.
    """
    groups = [g for g in _PAREN_RE.findall(note) if _ITEM_RE.search(g)]
    if not groups:
        groups = [note]
    patterns: list[str] = []
    skipped = 0
    for g in groups:
        got = _parse_group(g, categories)
        if got is None:
            skipped += 1
        else:
            patterns.extend(got)
    return patterns, skipped


# --- Reading ---------------------------------------------------------------------------------


class Icd10Release:
    """One fiscal year's code set, read from its SQLite index (opened read-only)."""

    fiscal_year: int
    label: str
    source: str
    built_at: str
    path: Path

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ICD-10-CM index not found: {self.path}")
        uri = self.path.resolve().as_uri() + "?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        # One connection serves all threads; serialise statements on it.
        self._lock = threading.Lock()
        self._cache: dict[str, CodeInfo | None] = {}
        self._conflicts: dict[tuple[str, str], bool] = {}
        try:
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as e:
            self._conn.close()
            raise ValueError(f"{self.path} is not a dexacode ICD-10-CM index: {e}") from e
        if meta.get("schema_version") != SCHEMA_VERSION:
            self._conn.close()
            raise ValueError(
                f"{self.path} has index schema {meta.get('schema_version')!r}, this dexacode "
                f"reads {SCHEMA_VERSION!r}: rebuild it"
            )
        self.fiscal_year = int(meta["fiscal_year"])
        self.label = f"FY{self.fiscal_year}"
        self.source = str(meta.get("source", ""))
        self.built_at = str(meta.get("built_at", ""))

    def __repr__(self) -> str:
        return f"Icd10Release({self.label}, {self.source!r})"

    def close(self) -> None:
        self._conn.close()

    def lookup(self, code: str) -> CodeInfo | None:
        """The category/subcategory ``code`` (dotted or not), or None if it is not one."""
        key = _key(code)
        if key is None:
            return None
        try:
            return self._cache[key]
        except KeyError:
            pass
        with self._lock:
            row = self._conn.execute(
                "SELECT dotted, description, billable, excludes1 FROM codes WHERE code = ?",
                (key,),
            ).fetchone()
        info = (
            None
            if row is None
            else CodeInfo(
                code=row[0],
                description=row[1],
                billable=bool(row[2]),
                excludes1=tuple(row[3].split("|")) if row[3] else (),
            )
        )
        if len(self._cache) >= _LOOKUP_CACHE_MAX:  # bound memory for long-lived processes
            self._cache.clear()
        self._cache[key] = info
        return info

    def excludes1_conflict(self, a: str, b: str) -> bool:
        """True when a's excludes1 patterns cover b or b's cover a."""
        pair = (a, b) if a <= b else (b, a)
        known = self._conflicts.get(pair)
        if known is not None:
            return known
        answer = False
        for x, y in ((a, b), (b, a)):
            info = self.lookup(x)
            if info is not None and any(_pattern_matches(p, y) for p in info.excludes1):
                answer = True
                break
        if len(self._conflicts) >= _LOOKUP_CACHE_MAX:
            self._conflicts.clear()
        self._conflicts[pair] = answer
        return answer


class Icd10Library:
    """The releases found in index directories (later directories override earlier ones)."""

    def __init__(self, dirs: Sequence[Path]) -> None:
        self.dirs = tuple(Path(d) for d in dirs)
        self._paths: dict[int, Path] = {}
        for d in self.dirs:
            if not d.is_dir():
                continue
            for p in sorted(d.glob("icd10cm-FY*.sqlite")):
                m = _INDEX_NAME_RE.match(p.name)
                if m is not None:
                    self._paths[int(m.group(1))] = p
        self._releases: dict[int, Icd10Release] = {}
        self._lock = threading.Lock()

    def years(self) -> list[int]:
        return sorted(self._paths)

    def release(self, year: int) -> Icd10Release:
        with self._lock:
            rel = self._releases.get(year)
            if rel is None:
                path = self._paths.get(year)
                if path is None:
                    raise LookupError(
                        f"ICD-10-CM FY{year} is not loaded (loaded: {self._loaded_text()})"
                    )
                rel = self._releases[year] = Icd10Release(path)
            return rel

    def for_date(self, d: datetime.date) -> tuple[Icd10Release, bool]:
        """The release for the date's fiscal year, and whether it is that exact year.

        A missing year falls back to the newest loaded year before it, else the oldest after.
        """
        fy = fiscal_year_of(d)
        years = self.years()
        if not years:
            raise LookupError(
                f"no ICD-10-CM release index (icd10cm-FY<year>.sqlite) found in "
                f"{', '.join(str(p) for p in self.dirs) or '(no directories)'}; "
                f"cannot code a date of service in FY{fy}"
            )
        if fy in self._paths:
            return self.release(fy), True
        older = [y for y in years if y < fy]
        return self.release(max(older) if older else min(years)), False

    def close(self) -> None:
        with self._lock:
            for rel in self._releases.values():
                rel.close()
            self._releases.clear()

    def _loaded_text(self) -> str:
        return ", ".join(f"FY{y}" for y in self.years()) or "none"


# --- Locations ------------------------------------------------------------------------------


def default_index_dir() -> Path:
    """$DEXACODE_DATA_DIR/icd10cm if set, else the per-user data dir's icd10cm folder."""
    from dexacode.paths import data_dir

    return data_dir() / "icd10cm"


def open_library(index_dir: Path | None = None) -> Icd10Library:
    """Make sure the shipped release is indexed, then open every release in that directory."""
    return Icd10Library([ensure_shipped_index(index_dir).parent])


# --- Building -------------------------------------------------------------------------------

# simple_icd_10_cm keeps one release in module globals; set once build_index_from_cms has
# switched it away from the shipped data, so the shipped build knows to switch back.
_sicd_switched = False


def _sicd(*, shipped: bool) -> ModuleType:
    """The simple_icd_10_cm module, holding its bundled release when ``shipped``."""
    global _sicd_switched
    with warnings.catch_warnings():
        # Its data loading calls deprecated importlib.resources APIs: noise for our users.
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as sicd  # type: ignore[import-untyped, unused-ignore]

        if shipped and _sicd_switched:
            sicd.change_version()
            _sicd_switched = False
    module: ModuleType = sicd
    return module


def _shipped_tabular() -> Path:
    """Path of the tabular XML bundled with simple_icd_10_cm, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is not None and spec.submodule_search_locations:
        data = Path(next(iter(spec.submodule_search_locations))) / "data"
        found = sorted(data.glob("icd10c-tabular-*.xml"))
        if len(found) == 1:
            return found[0]
    # Unexpected layout: ask the (slow to import) library itself.
    sicd = _sicd(shipped=False)
    data_dir = Path(next(iter(sicd.data.__path__)))
    return data_dir / str(sicd._classification_data_package_file_name)


def _xml_version(path: Path) -> int | None:
    with path.open("rb") as f:
        m = _XML_VERSION_RE.search(f.read(4096))
    return int(m.group(1)) if m else None


def _read_meta(path: Path) -> dict[str, str] | None:
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            return dict(conn.execute("SELECT key, value FROM meta").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def ensure_shipped_index(
    index_dir: Path | None = None, *, built_at: datetime.datetime | None = None
) -> Path:
    """Path of the index of the release bundled with simple_icd_10_cm, built if missing/stale.

    An index for the same year built from CMS files is left alone: the user loaded it on purpose.
    """
    target_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    xml = _shipped_tabular()
    year = _xml_version(xml)
    if year is None:
        raise RuntimeError(f"cannot read the release year from {xml}")
    path = target_dir / f"icd10cm-FY{year}.sqlite"
    meta = _read_meta(path) if path.is_file() else None
    if (
        meta is not None
        and meta.get("schema_version") == SCHEMA_VERSION
        and (meta.get("origin") == "cms" or meta.get("data_tag") == xml.name)
    ):
        return path

    sicd = _sicd(shipped=True)
    from importlib.metadata import version

    m = re.match(r"icd10c-tabular-([A-Za-z]+)-(\d+)-(\d{4})\.xml$", xml.name)
    released = f"{m.group(1)} {m.group(2)}, {m.group(3)}" if m else xml.name
    source = f"simple-icd-10-cm {version('simple-icd-10-cm')} (CMS tabular {released})"
    entries, skipped = _collect_tree(sicd)
    rows = [
        (k, e.dotted, e.description, int(e.billable), "|".join(e.excludes1))
        for k, e in entries.items()
    ]
    meta_out = {
        "fiscal_year": str(year),
        "source": source,
        "origin": "shipped",
        "data_tag": xml.name,
        "excludes1_lists_skipped": str(skipped),
    }
    return _write_index(path, meta_out, rows, built_at)


@dataclass
class _Entry:
    dotted: str
    description: str
    billable: bool
    excludes1: list[str]


def _collect_tree(
    sicd: ModuleType, extra_categories: Iterable[str] = ()
) -> tuple[dict[str, _Entry], int]:
    """Categories/subcategories of the release loaded in simple_icd_10_cm, keyed undotted.

    Also returns how many distinct excludes1 notes had a reference list skipped.
    """
    codes = [
        str(c)
        for c in dict.fromkeys(sicd.get_all_codes(with_dots=True))
        if sicd.is_category_or_subcategory(c)
    ]
    # Categories are needed to expand "E08-E13 with .21"-style references.
    categories = frozenset(c for c in codes if len(c) == 3) | frozenset(extra_categories)
    parsed: dict[str, tuple[list[str], int]] = {}
    skipped_notes: set[str] = set()

    def patterns(notes: Iterable[str]) -> Iterator[str]:
        for note in notes:
            got = parsed.get(note)
            if got is None:
                got = parsed[note] = _parse_excludes1_note(note, categories)
            if got[1]:
                skipped_notes.add(note)
            yield from got[0]

    # Ancestors are read with prioritize_blocks so that a block sharing its name with a
    # category (B20, F99, P84, R99, Z66) contributes the block's notes, not the category's.
    inherited: dict[str, list[str]] = {}

    def of_ancestor(name: str) -> list[str]:
        got = inherited.get(name)
        if got is None:
            got = inherited[name] = list(patterns(sicd.get_excludes1(name, prioritize_blocks=True)))
        return got

    out: dict[str, _Entry] = {}
    for c in codes:
        pats = list(patterns(sicd.get_excludes1(c)))
        for anc in sicd.get_ancestors(c):
            pats.extend(of_ancestor(str(anc)))
        out[c.replace(".", "")] = _Entry(
            dotted=c,
            description=str(sicd.get_description(c)),
            billable=bool(sicd.is_leaf(c)),
            # A few ancestors' notes name their own descendants (D72.8 -> D72.824); a code
            # cannot exclude itself, so such references would only raise false conflicts.
            excludes1=[p for p in dict.fromkeys(pats) if not _pattern_matches(p, c)],
        )
    return out, len(skipped_notes)


def _write_index(
    path: Path,
    meta: dict[str, str],
    rows: Sequence[tuple[str, str, str, int, str]],
    built_at: datetime.datetime | None,
) -> Path:
    """Write the index to a temp file beside ``path`` and move it into place atomically."""
    import tempfile

    stamp = built_at or datetime.datetime.now(datetime.UTC)
    full_meta = {
        **meta,
        "schema_version": SCHEMA_VERSION,
        "built_at": stamp.isoformat(timespec="seconds"),
        "code_count": str(len(rows)),
        "billable_count": str(sum(r[3] for r in rows)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make a shared data dir unreadable to others
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode=OFF")  # a temp file: a crash just discards it
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute(
                "CREATE TABLE codes (code TEXT PRIMARY KEY, dotted TEXT NOT NULL, "
                "description TEXT NOT NULL, billable INTEGER NOT NULL, excludes1 TEXT NOT NULL)"
                " WITHOUT ROWID"
            )
            with conn:
                conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(full_meta.items()))
                conn.executemany("INSERT INTO codes VALUES (?, ?, ?, ?, ?)", sorted(rows))
        finally:
            conn.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class _OrderRow:
    code: str  # undotted
    billable: bool
    short: str
    long: str
    line: int


_ORDER_CODE_RE = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")


def _parse_order_file(path: Path) -> list[_OrderRow]:
    """Rows of a CMS icd10cm-order file, validated strictly (ValueError names file and line)."""
    raw_lines = path.read_bytes().split(b"\n")
    while raw_lines and not raw_lines[-1].strip():
        raw_lines.pop()  # trailing newline(s) only; blank lines inside the file are errors

    def bad(lineno: int, msg: str) -> ValueError:
        return ValueError(f"malformed CMS order file {path}, line {lineno}: {msg}")

    rows: list[_OrderRow] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(raw_lines, start=1):
        raw = raw.removesuffix(b"\r")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                line = raw.decode("cp1252")  # older CMS text files are Windows-1252
            except UnicodeDecodeError as e:
                raise bad(lineno, f"undecodable bytes ({e.reason})") from e
        if len(line) < 78:
            raise bad(lineno, f"expected at least 78 fixed-width columns, found {len(line)}")
        if not (line[0:5].isascii() and line[0:5].isdigit()):
            raise bad(lineno, f"order number (columns 1-5) is {line[0:5]!r}, not 5 digits")
        for col in (6, 14, 16, 77):
            if line[col - 1] != " ":
                raise bad(lineno, f"column {col} should be blank, found {line[col - 1]!r}")
        field = line[6:13]
        code = field.rstrip(" ")
        if not _ORDER_CODE_RE.match(code):
            raise bad(lineno, f"code (columns 7-13) {field!r} is not an undotted ICD-10-CM code")
        flag = line[14]
        if flag not in "01":
            raise bad(lineno, f"billable flag (column 15) is {flag!r}, not 0 or 1")
        short = line[16:76].rstrip()
        long = line[77:].strip()
        if not short:
            raise bad(lineno, "short description (columns 17-76) is empty")
        if not long:
            raise bad(lineno, "long description (column 78 on) is empty")
        if code in seen:
            raise bad(lineno, f"duplicate code {code} (first on line {seen[code]})")
        seen[code] = lineno
        rows.append(_OrderRow(code, flag == "1", short, long, lineno))
    if not rows:
        raise ValueError(f"malformed CMS order file {path}: no code rows")

    # Billable codes are exactly the leaves; a mismatch means a shifted column or wrong file.
    ordered = sorted(rows, key=lambda r: r.code)
    for i, r in enumerate(ordered):
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        has_child = nxt is not None and nxt.code.startswith(r.code)
        if r.billable and has_child:
            assert nxt is not None
            raise bad(r.line, f"{r.code} is flagged billable but has child {nxt.code}")
        if not r.billable and not has_child:
            raise bad(r.line, f"{r.code} is flagged as a header (0) but has no child codes")
    return rows


def build_index_from_cms(
    order_file: Path,
    tabular_xml: Path,
    fiscal_year: int,
    index_dir: Path | None = None,
    *,
    built_at: datetime.datetime | None = None,
) -> Path:
    """Index a CMS release (order file + tabular XML) as ``icd10cm-FY{fiscal_year}.sqlite``.

    The order file is authoritative for the code set, billability and descriptions; the
    tabular supplies the hierarchy's excludes1 notes. Invalid input raises ValueError before
    anything is written.
    """
    import tempfile
    import xml.etree.ElementTree as ET

    order_file, tabular_xml = Path(order_file), Path(tabular_xml)
    if not 2015 <= fiscal_year <= 2100:
        raise ValueError(f"implausible fiscal year {fiscal_year}")
    rows = _parse_order_file(order_file)
    if not tabular_xml.is_file():
        raise ValueError(f"tabular XML not found: {tabular_xml}")
    declared = _xml_version(tabular_xml)
    if declared is not None and declared != fiscal_year:
        raise ValueError(f"{tabular_xml} declares <version>{declared}</version>, not {fiscal_year}")

    global _sicd_switched
    sicd = _sicd(shipped=False)
    with tempfile.TemporaryDirectory(prefix="dexacode-icd10-") as td:
        # simple_icd_10_cm wants a CMS codes file; it only uses it to decide which
        # 7th-character codes exist, so every order-file code is listed.
        codes_txt = Path(td) / f"icd10cm-codes-{fiscal_year}.txt"
        codes_txt.write_text("".join(f"{r.code} {r.long}\n" for r in rows), encoding="utf-8")
        _sicd_switched = True  # set first: a failed load can leave the globals half-replaced
        try:
            sicd.change_version(str(codes_txt), str(tabular_xml))
        except (ET.ParseError, ValueError, KeyError, IndexError) as e:
            raise ValueError(f"cannot load tabular XML {tabular_xml}: {e}") from e
    tree, skipped = _collect_tree(sicd, (r.code for r in rows if len(r.code) == 3))

    out: list[tuple[str, str, str, int, str]] = []
    order_only = 0
    for r in rows:
        entry = tree.get(r.code)
        if entry is None:
            order_only += 1
            # Not in the tabular: inherit from the nearest ancestor that is.
            entry = next(
                (tree[r.code[:n]] for n in range(len(r.code) - 1, 2, -1) if r.code[:n] in tree),
                None,
            )
        excludes1 = "|".join(entry.excludes1) if entry is not None else ""
        out.append((r.code, normalize(r.code), r.long, int(r.billable), excludes1))
    meta = {
        "fiscal_year": str(fiscal_year),
        "source": f"CMS files {order_file.name} + {tabular_xml.name}",
        "origin": "cms",
        "data_tag": f"{order_file.name}+{tabular_xml.name}",
        "excludes1_lists_skipped": str(skipped),
        "order_only_codes": str(order_only),
        "tabular_only_codes_dropped": str(len(set(tree) - {r.code for r in rows})),
    }
    target_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    return _write_index(target_dir / f"icd10cm-FY{fiscal_year}.sqlite", meta, out, built_at)
