"""Tests for dexacode.icd10: per-fiscal-year ICD-10-CM indexes."""

from __future__ import annotations

import datetime
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dexacode import icd10
from dexacode.icd10 import (
    CodeInfo,
    Icd10Library,
    Icd10Release,
    build_index_from_cms,
    default_index_dir,
    ensure_shipped_index,
    fiscal_year_of,
    normalize,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "icd10"
ORDER_2027 = DATA / "icd10cm-order-2027.txt"
TABULAR_2027 = DATA / "icd10cm-tabular-2027.xml"
BUILT_AT = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


@pytest.fixture(scope="session")
def shipped_dir() -> Path:
    """Directory holding the shipped FY2026 index; reused across sessions (building takes ~3 s)."""
    if os.environ.get("DEXACODE_DATA_DIR"):
        index_dir = default_index_dir()
    else:
        index_dir = REPO_ROOT / ".cache" / "dexacode-test" / "icd10cm"
    return ensure_shipped_index(index_dir).parent


@pytest.fixture(scope="session")
def fy2026(shipped_dir: Path) -> Iterator[Icd10Release]:
    rel = Icd10Release(shipped_dir / "icd10cm-FY2026.sqlite")
    yield rel
    rel.close()


@pytest.fixture(scope="session")
def fy2027_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fy2027")
    build_index_from_cms(ORDER_2027, TABULAR_2027, 2027, out, built_at=BUILT_AT)
    return out


def _tiny_index(directory: Path, year: int, rows: list[tuple[str, str]], **meta: str) -> Path:
    """A hand-made index holding billable ``(dotted code, description)`` rows."""
    return icd10._write_index(
        directory / f"icd10cm-FY{year}.sqlite",
        {"fiscal_year": str(year), "source": f"test {year}", "origin": "cms", **meta},
        [(c.replace(".", ""), c, d, 1, "") for c, d in rows],
        BUILT_AT,
    )


# --- pure helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("M810", "M81.0"),
        ("Z13820", "Z13.820"),
        ("m81.0 ", "M81.0"),
        (" z09", "Z09"),
        ("M80.08XA", "M80.08XA"),
        ("m8008xa", "M80.08XA"),
        ("M81.", "M81"),
        ("zzz", "ZZZ"),
        ("M8.10", "M8.10"),
        ("", ""),
        ("M81.0123", "M81.0123"),
        ("M8101234", "M8101234"),  # too long to be a code: left alone
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@given(st.text(alphabet="AMZmz0189X. -", max_size=10))
def test_normalize_is_idempotent(raw: str) -> None:
    assert normalize(normalize(raw)) == normalize(raw)


@pytest.mark.parametrize(
    ("day", "fy"),
    [
        (datetime.date(2026, 9, 30), 2026),
        (datetime.date(2026, 10, 1), 2027),
        (datetime.date(2025, 10, 1), 2026),
        (datetime.date(2026, 1, 1), 2026),
        (datetime.date(2026, 12, 31), 2027),
        (datetime.datetime(2026, 10, 1, 0, 0), 2027),
    ],
)
def test_fiscal_year_of(day: datetime.date, fy: int) -> None:
    assert fiscal_year_of(day) == fy


@pytest.mark.parametrize(
    ("pattern", "code", "expected"),
    [
        ("M81.0", "M81.0", True),
        ("M81.0", "M810", True),
        ("M81.0", "M81.8", False),
        ("M81", "M81.0", True),
        ("M80.-", "M80.08XA", True),
        ("M80.-", "M80", True),
        ("M80.-", "M81.0", False),
        ("M80.0-", "M80.08XA", True),
        ("M80.0-", "M80.88XA", False),
        ("M80-M82", "M80.08XA", True),
        ("M80-M82", "M82", True),
        ("M80-M82", "M81.0", True),
        ("M80-M82", "M83.0", False),
        ("M80-M82", "M79.0", False),
        ("S72.0-S72.2", "S72.001A", True),
        ("S72.0-S72.2", "S72.23XA", True),
        ("S72.0-S72.2", "S72.3", False),
        ("S72.0-S72.2", "S72", False),
        ("J60-J67.9", "J67.9", True),
        ("J60-J67.9", "J68.0", False),
        ("M43.3-M43.5X9", "M43.5X9A", True),
        ("M43.3-M43.5X9", "M43.6", False),
        ("I63.3-I63.5-", "I63.512", True),
        ("Z79.8-", "Z79.899", True),
        ("Z79.8-", "Z79.52", False),
    ],
)
def test_pattern_matches(pattern: str, code: str, expected: bool) -> None:
    assert icd10._pattern_matches(pattern, code) is expected


CATS = frozenset({"E08", "E09", "E10", "E11", "E13", "M80", "S02"})


@pytest.mark.parametrize(
    ("note", "patterns", "skipped"),
    [
        ("osteoporosis with current pathological fracture (M80.-)", ["M80.-"], 0),
        ("fracture of femur (S72.0-S72.2, S72.4-)", ["S72.0-S72.2", "S72.4-"], 0),
        ("disorders (M80-M82)", ["M80-M82"], 0),
        ("Sudeck's atrophy (M89.0)", ["M89.0"], 0),
        ("any type in A15 (J65)", ["J65"], 0),  # prose outside the parentheses is not a ref
        ("primary cutaneous CD30-positive T-cell proliferations (C86.6-)", ["C86.6-"], 0),
        ("hearing loss as classified in H90.-", ["H90.-"], 0),
        ("G6PD deficiency (D55.0)", ["D55.0"], 0),
        ("apnea of newborn (P28.3- - P28.4-)", ["P28.3-P28.4"], 0),
        ("iritis (I01.0 -I01.9)", ["I01.0-I01.9"], 0),
        ("cognitive deficits (I69.81- I69.91-)", ["I69.81-", "I69.91-"], 0),
        ("diabetes (E08-E13 with .21)", ["E08.21", "E09.21", "E10.21", "E11.21", "E13.21"], 0),
        (
            "angiopathy (E08-E10 with .51-.52)",
            ["E08.51-E08.52", "E09.51-E09.52", "E10.51-E10.52"],
            0,
        ),
        ("diabetes mellitus (E08-E09 with .61-)", ["E08.61-", "E09.61-"], 0),
        ("open skull fracture (S02.- with 7th character B)", [], 1),
        ("whooping cough with pneumonia (A37 with fifth-character 1)", [], 1),
        ("diabetic acidosis - see categories E08-E10, E11, E13 with ketoacidosis", [], 1),
        ("certain localized infections - see body system-related chapters", [], 0),
        ("x (A00-R94 and T80-T88.6, T88.8)", ["A00-R94", "T80-T88.6", "T88.8"], 0),
    ],
)
def test_parse_excludes1_note(note: str, patterns: list[str], skipped: int) -> None:
    assert icd10._parse_excludes1_note(note, CATS) == (patterns, skipped)


def test_default_index_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEXACODE_DATA_DIR", str(tmp_path))
    assert default_index_dir() == tmp_path / "icd10cm"
    monkeypatch.delenv("DEXACODE_DATA_DIR")
    assert default_index_dir().name == "icd10cm"
    assert default_index_dir().parent.name == "dexacode"


# --- the shipped FY2026 release ---------------------------------------------------------------

BILLABLE_2026 = [
    "M85.80",
    "M85.851",
    "M85.852",
    "M85.88",
    "M85.89",
    "M81.0",
    "Z13.820",
    "Z78.0",
    "Z82.62",
    "Z87.310",
    "Z79.52",
    "Z79.83",
    "Z79.810",
    "Z79.811",
    "Z79.890",
    "Z79.899",
    "Z90.721",
    "Z90.722",
    "E21.0",
    "R29.890",
    "R93.7",
    "Z09",
]


def test_shipped_release_meta(fy2026: Icd10Release) -> None:
    assert fy2026.fiscal_year == 2026
    assert fy2026.label == "FY2026"
    assert fy2026.source == "simple-icd-10-cm 1.5.0 (CMS tabular April 1, 2026)"


@pytest.mark.parametrize("code", BILLABLE_2026)
def test_billable_codes_2026(fy2026: Icd10Release, code: str) -> None:
    info = fy2026.lookup(code)
    assert info is not None
    assert info.code == code
    assert info.billable
    assert info.description
    assert fy2026.lookup(code.replace(".", "")) == info


def test_descriptions_2026(fy2026: Icd10Release) -> None:
    def desc(code: str) -> str:
        info = fy2026.lookup(code)
        assert info is not None
        return info.description

    assert desc("M81.0") == "Age-related osteoporosis without current pathological fracture"
    assert desc("Z13.820") == "Encounter for screening for osteoporosis"
    assert desc("Z78.0") == "Asymptomatic menopausal state"
    assert desc("M80.08XA") == (
        "Age-related osteoporosis with current pathological fracture, vertebra(e), "
        "initial encounter for fracture"
    )


def test_header_code_is_not_billable(fy2026: Icd10Release) -> None:
    info = fy2026.lookup("M85.8")
    assert info is not None
    assert not info.billable
    assert info.description == "Other specified disorders of bone density and structure"


@pytest.mark.parametrize("code", ["ZZZ", "M81.9", "M99.99", "M8.10", "", "M80-M85", "13", "M81.0X"])
def test_invalid_codes(fy2026: Icd10Release, code: str) -> None:
    assert fy2026.lookup(code) is None


def test_m999_is_actually_valid(fy2026: Icd10Release) -> None:
    # "M999" normalises to M99.9 (Biomechanical lesion, unspecified), a real billable code.
    info = fy2026.lookup("M999")
    assert info is not None and info.code == "M99.9" and info.billable


def test_blocks_sharing_a_category_name_are_codes(fy2026: Icd10Release) -> None:
    for code in ("B20", "F99", "P84", "R99", "Z66"):
        info = fy2026.lookup(code)
        assert info is not None and info.billable, code


def test_excludes1_inherited(fy2026: Icd10Release) -> None:
    info = fy2026.lookup("M81.0")
    assert info is not None
    assert "M80.-" in info.excludes1  # from category M81
    assert fy2026.excludes1_conflict("M81.0", "M80.08XA")
    assert fy2026.excludes1_conflict("M80.08XA", "M81.0")
    assert not fy2026.excludes1_conflict("M81.0", "Z78.0")
    assert not fy2026.excludes1_conflict("M81.0", "ZZZ")


def test_index_counts(shipped_dir: Path) -> None:
    conn = sqlite3.connect(shipped_dir / "icd10cm-FY2026.sqlite")
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        (billable,) = conn.execute("SELECT count(*) FROM codes WHERE billable = 1").fetchone()
    finally:
        conn.close()
    assert meta["schema_version"] == icd10.SCHEMA_VERSION
    assert meta["origin"] == "shipped"
    assert int(meta["billable_count"]) == billable == 74719  # CMS FY2026 (April 2026) count


def test_ensure_shipped_index_fast_path(shipped_dir: Path) -> None:
    path = shipped_dir / "icd10cm-FY2026.sqlite"
    before = path.stat().st_mtime_ns
    start = time.perf_counter()
    assert ensure_shipped_index(shipped_dir) == path
    assert time.perf_counter() - start < 0.5
    assert path.stat().st_mtime_ns == before


def test_ensure_shipped_index_keeps_user_loaded_year(tmp_path: Path) -> None:
    path = _tiny_index(tmp_path, 2026, [("M81.0", "user-loaded CMS title")])
    assert ensure_shipped_index(tmp_path) == path
    info = Icd10Release(path).lookup("M81.0")
    assert info is not None and info.description == "user-loaded CMS title"


def test_library_for_date(shipped_dir: Path) -> None:
    lib = Icd10Library([shipped_dir])
    assert 2026 in lib.years()
    rel, exact = lib.for_date(datetime.date(2026, 3, 2))
    assert (rel.fiscal_year, exact) == (2026, True)
    if 2027 not in lib.years():
        rel, exact = lib.for_date(datetime.date(2026, 11, 1))
        assert (rel.fiscal_year, exact) == (2026, False)


# --- library mechanics on tiny hand-made indexes -------------------------------------------


def test_library_fallback_and_override(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _tiny_index(a, 2024, [("Z09", "a24")])
    _tiny_index(a, 2026, [("Z09", "a26")])
    _tiny_index(b, 2026, [("Z09", "b26")])
    lib = Icd10Library([a, b, tmp_path / "missing"])
    assert lib.years() == [2024, 2026]
    rel, exact = lib.for_date(datetime.date(2026, 5, 1))
    assert exact and rel.lookup("Z09") == CodeInfo("Z09", "b26", True, ())
    rel, exact = lib.for_date(datetime.date(2025, 5, 1))  # FY2025: newest year not after it
    assert (rel.fiscal_year, exact) == (2024, False)
    rel, exact = lib.for_date(datetime.date(2023, 5, 1))  # nothing older: oldest after it
    assert (rel.fiscal_year, exact) == (2024, False)
    rel, exact = lib.for_date(datetime.date(2030, 5, 1))
    assert (rel.fiscal_year, exact) == (2026, False)
    with pytest.raises(LookupError, match="FY2025"):
        lib.release(2025)
    lib.close()


def test_empty_library_raises(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no ICD-10-CM release index"):
        Icd10Library([tmp_path]).for_date(datetime.date(2026, 1, 1))


def test_release_rejects_foreign_and_stale_files(tmp_path: Path) -> None:
    junk = tmp_path / "icd10cm-FY2026.sqlite"
    junk.write_text("not a database")
    with pytest.raises(ValueError, match="not a dexacode ICD-10-CM index"):
        Icd10Release(junk)
    stale = _tiny_index(tmp_path / "s", 2026, [("Z09", "x")])
    conn = sqlite3.connect(stale)
    with conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(ValueError, match="rebuild"):
        Icd10Release(stale)


# --- loading a newer CMS release -------------------------------------------------------------


def test_cms_release_round_trip(shipped_dir: Path, fy2027_dir: Path) -> None:
    lib = Icd10Library([shipped_dir, fy2027_dir])
    rel, exact = lib.for_date(datetime.date(2026, 11, 1))
    assert (rel.fiscal_year, exact) == (2027, True)
    assert rel.source == "CMS files icd10cm-order-2027.txt + icd10cm-tabular-2027.xml"
    assert rel.built_at == "2026-01-02T03:04:05+00:00"
    old, exact = lib.for_date(datetime.date(2026, 9, 30))
    assert (old.fiscal_year, exact) == (2026, True)

    # New in FY2027, absent from FY2026.
    new = rel.lookup("M81.9")
    assert new is not None and new.billable
    assert old.lookup("M81.9") is None
    # Description from the order file, not the tabular.
    m810 = rel.lookup("M81.0")
    old_m810 = old.lookup("M81.0")
    assert m810 is not None and old_m810 is not None
    assert m810.description.endswith("(revised FY2027 title)")
    assert m810.description != old_m810.description
    # Inherited excludes1: category M81 and block M80-M85.
    assert m810.excludes1 == ("M80.-", "M89.0", "Q78.0")
    assert rel.excludes1_conflict("M81.0", "M80.08XA")
    # Own notes, with the qualified "S02.- with 7th character B" list dropped.
    assert new.excludes1 == ("M85.8-", "M80.-", "M89.0", "Q78.0")
    # The order file is authoritative: M81.6 is only in the tabular; Z78.1 only in the order
    # file (it inherits Z78's notes); M80.08XG is not listed so the 7th character is not valid.
    assert rel.lookup("M81.6") is None
    z781 = rel.lookup("Z78.1")
    assert z781 is not None and z781.billable and z781.excludes1 == ("Z79.8-",)
    xa = rel.lookup("M80.08XA")
    assert xa is not None and xa.billable and "M48.5" in xa.excludes1
    assert rel.lookup("M80.08XG") is None
    header = rel.lookup("M80.08")
    assert header is not None and not header.billable


def test_cms_release_meta(fy2027_dir: Path) -> None:
    conn = sqlite3.connect(fy2027_dir / "icd10cm-FY2027.sqlite")
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    finally:
        conn.close()
    assert meta["origin"] == "cms"
    assert meta["code_count"] == "13"
    assert meta["billable_count"] == "8"
    assert meta["order_only_codes"] == "1"
    assert meta["tabular_only_codes_dropped"] == "1"
    assert meta["excludes1_lists_skipped"] == "1"


def test_shipped_data_restored_after_cms_load(
    fy2027_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # build_index_from_cms leaves simple_icd_10_cm holding its release; the shipped build must
    # switch back first. change_version() is stubbed: a real reload costs ~3 s (checked by hand).
    assert icd10._sicd_switched
    sicd = icd10._sicd(shipped=False)
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(sicd, "change_version", lambda *args: calls.append(args))
    monkeypatch.setattr(icd10, "_sicd_switched", True)  # restored (still switched) afterwards
    assert icd10._sicd(shipped=True) is sicd
    assert calls == [()]
    assert not icd10._sicd_switched
    icd10._sicd(shipped=True)
    assert calls == [()]


def _order_lines() -> list[str]:
    return ORDER_2027.read_text(encoding="utf-8").splitlines()


def _with_line(n: int, text: str) -> list[str]:
    lines = _order_lines()
    lines[n - 1] = text
    return lines


@pytest.mark.parametrize(
    ("lines", "line_no", "what"),
    [
        (_with_line(3, _order_lines()[2][:14] + "2" + _order_lines()[2][15:]), 3, "flag"),
        (_with_line(5, _order_lines()[4][:60]), 5, "78 fixed-width columns"),
        (_with_line(2, "0000X" + _order_lines()[1][5:]), 2, "order number"),
        (_with_line(4, _order_lines()[3][:6] + "m8008xa" + _order_lines()[3][13:]), 4, "code"),
        (_with_line(7, _order_lines()[6][:76] + "X" + _order_lines()[6][77:]), 7, "column 77"),
        ([*_order_lines(), _order_lines()[10]], 14, "duplicate code Z780"),
        ([*_order_lines()[:6], "", *_order_lines()[6:]], 7, "78 fixed-width columns"),
        (_with_line(6, _order_lines()[5][:14] + "1" + _order_lines()[5][15:]), 6, "has child"),
        (_with_line(8, _order_lines()[7][:14] + "0" + _order_lines()[7][15:]), 8, "no child"),
    ],
)
def test_malformed_order_file(tmp_path: Path, lines: list[str], line_no: int, what: str) -> None:
    order = tmp_path / "icd10cm-order-2027.txt"
    order.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"icd10cm-order-2027\.txt, line {line_no}: .*{what}"):
        build_index_from_cms(order, TABULAR_2027, 2027, out)
    assert not out.exists() or not any(out.iterdir())


def test_order_file_tolerates_crlf_and_trailing_blank_lines(tmp_path: Path) -> None:
    order = tmp_path / "order.txt"
    order.write_bytes(("\r\n".join(_order_lines()) + "\r\n\r\n").encode())
    rows = icd10._parse_order_file(order)
    assert len(rows) == 13 and rows[-1].code == "Z789" and rows[-1].long.endswith("status")


def test_tabular_year_mismatch_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="declares <version>2027"):
        build_index_from_cms(ORDER_2027, TABULAR_2027, 2028, tmp_path)
    assert not any(tmp_path.iterdir())
