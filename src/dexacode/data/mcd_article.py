"""``mcd-article``: a billing and coding article from CMS's Medicare Coverage Database.

The MCD download (``current_article_csv.zip``, a zip holding CSV tables, sometimes inside
a second zip) has one table per relation, each with a header row. dexacode reads:

- ``article_x_hcpc_code.csv``: article_id, article_version, hcpc_code_id, ... (the
  procedure codes the article governs);
- ``article_x_icd10_covered.csv``: article_id, article_version, icd10_code_id,
  icd10_covered_group, description, ... (the covered diagnoses, by group);
- ``article_x_icd10_covered_group.csv``: article_id, article_version,
  icd10_covered_group, paragraph, ... (each group's instructions, HTML; a sentence saying
  codes "must be billed with" others becomes a pairing rule);
- ``article_x_icd10_noncovered.csv`` (optional): codes the article names as not covered;
- ``article.csv`` (optional): article_id, article_version, title, the effective date and
  the end date (``article_end_date``; a retired version's last day): the article governs
  no claim after it.

Every row of each table is checked for shape; the chosen article's rows are checked in
full. The newest version of the article in the files is taken.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dexacode.data._catalog import Dataset, FileInfo
from dexacode.data._common import ICD10_RE, ImportOptions, bad_line, resolve_edition, sha256
from dexacode.data._files import DataImportError, InputFile
from dexacode.icd10 import normalize

KIND = "mcd-article"
_TABLES = {
    "article_x_hcpc_code": ("hcpc_code_id",),
    "article_x_icd10_covered": ("icd10_code_id", "icd10_covered_group"),
    "article_x_icd10_covered_group": ("icd10_covered_group", "paragraph"),
    "article_x_icd10_noncovered": ("icd10_code_id",),
    "article": ("title",),
}
_REQUIRED = ("article_x_hcpc_code", "article_x_icd10_covered")
# Column names seen for an article's effective date, most specific first.
_DATE_COLUMNS = ("article_eff_date", "rev_eff_date", "orig_det_eff_date", "effective_date")
# ... and for the last day the version governs: its end date, else its retirement date.
_END_COLUMNS = ("article_end_date", "rev_end_date", "end_date", "date_retired", "retired_date")
_PHRASE = "must be billed with"
_CODE_TEXT = r"[A-TV-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?"
_PATTERN_RE = re.compile(
    rf"\b({_CODE_TEXT})(?:\s*(?:-|–|through|to)\s*({_CODE_TEXT})\b|(\.?-))?", re.IGNORECASE
)
_GROUP_RE = re.compile(r"\bgroups?\s+(\d+(?:\s*(?:,|and|or|&)\s*\d+)*)", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]+>")
_SENTENCE_RE = re.compile(r"(?<=[.;!?])\s+")


def read(files: Sequence[InputFile], options: ImportOptions, known: Collection[str]) -> Dataset:
    if options.article is None:
        raise DataImportError("name the article to load with --article (e.g. --article 57132)")
    if options.payer is None:
        raise DataImportError(
            "name the payer profile the article applies to with --payer (e.g. --payer medicare)"
        )
    article_id = _article_number(options.article)
    by_table: dict[str, InputFile] = {}
    for file in files:
        stem = file.name.lower().removesuffix(".csv")
        if stem in _TABLES and file.name.lower().endswith(".csv"):
            if stem in by_table:
                raise DataImportError(f"{file.where}: {file.name} is given twice")
            by_table[stem] = file
        elif ":" not in file.where:  # a file named on its own must be one we read
            raise DataImportError(
                f"{file.where}: not one of the MCD article tables dexacode reads "
                f"({', '.join(t + '.csv' for t in _TABLES)})"
            )
    missing = [t + ".csv" for t in _REQUIRED if t not in by_table]
    if missing:
        raise DataImportError(f"the MCD article export needs {', '.join(missing)}")

    rows = {name: _read_table(file, _TABLES[name]) for name, file in by_table.items()}
    covered_rows = rows["article_x_icd10_covered"]
    aid = str(article_id)
    versions = {int(r["article_version"]) for _, r in covered_rows if r["_id"] == aid}
    if not versions:
        raise DataImportError(
            f"article A{article_id} has no covered diagnoses in "
            f"{by_table['article_x_icd10_covered'].where}; check the article number"
        )
    version = max(versions)

    def mine(name: str) -> list[tuple[int, dict[str, str]]]:
        return [
            (n, r)
            for n, r in rows.get(name, [])
            if r["_id"] == aid and _int(r["article_version"]) == version
        ]

    hcpcs = sorted({r["hcpc_code_id"].strip().upper() for _, r in mine("article_x_hcpc_code")})
    if not set(hcpcs) & set(known):
        raise DataImportError(
            f"article A{article_id} version {version} governs none of the bone density codes "
            f"dexacode codes ({', '.join(sorted(known))}); is it the right article?"
        )
    covered = _codes(by_table["article_x_icd10_covered"], mine("article_x_icd10_covered"), True)
    noncovered = (
        _codes(by_table["article_x_icd10_noncovered"], mine("article_x_icd10_noncovered"), False)
        if "article_x_icd10_noncovered" in by_table
        else []
    )
    group_codes: dict[int, list[str]] = {}
    for code, group, _ in covered:
        group_codes.setdefault(group, []).append(code)
    pairings: list[list[Any]] = []
    notes: list[str] = []
    group_file = by_table.get("article_x_icd10_covered_group")
    for number, row in mine("article_x_icd10_covered_group"):
        assert group_file is not None
        group = _group_number(group_file, number, row["icd10_covered_group"])
        found, unread = pairing_rules(group, row["paragraph"], group_codes)
        pairings += found
        notes += [f"group {group}: {text}" for text in unread]

    facts = _article_facts(rows.get("article", []), article_id, version)
    edition, start = resolve_edition(
        options,
        named=f"A{article_id} v{version}",
        start=facts.start,
        said_by=(
            f"article.csv says version {version} took effect on {facts.start.isoformat()}"
            if facts.start
            else ""
        ),
        fallback_label=lambda _: f"A{article_id} v{version}",
        what="MCD article",
        example="article.csv, whose article_eff_date is the version's first day",
    )
    if facts.ends is not None and facts.ends < start:
        raise DataImportError(
            f"article A{article_id} version {version} ended on {facts.ends.isoformat()}, "
            f"before it took effect on {start.isoformat()}: it never governed a claim"
        )
    infos = {
        file.name: FileInfo(sha256(file), len(rows[name]), len(mine(name)))
        for name, file in by_table.items()
    }
    return Dataset(
        kind=KIND,
        edition=edition,
        effective=start,
        ends=facts.ends,
        payer=options.payer,
        article=f"A{article_id}",
        meta={"title": facts.title, "version": str(version)},
        notes=tuple(notes),
        files=infos,
        tables={
            "hcpcs": [[c] for c in hcpcs],
            "covered": [list(r) for r in covered],
            "noncovered": [list(r) for r in noncovered],
            "pairings": pairings,
        },
    )


def _article_number(text: str) -> int:
    digits = text.strip().upper().removeprefix("A")
    if not digits.isdigit():
        raise DataImportError(f"--article {text!r} is not an article number (e.g. 57132)")
    return int(digits)


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _read_table(file: InputFile, needed: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for every row; refuses the file at its first malformed row."""
    reader = csv.reader(io.StringIO(file.text(), newline=""))
    out: list[tuple[int, dict[str, str]]] = []
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        want = ("article_id", "article_version", *needed)
        absent = [c for c in want if c not in header]
        if absent:
            raise bad_line(file, 1, f"the header has no column {', '.join(absent)}")
        for cells in reader:
            number = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise bad_line(
                    file,
                    number,
                    f"expected {len(header)} columns as in the header, found {len(cells)}",
                )
            row = dict(zip(header, cells, strict=True))
            article = _int(row["article_id"])
            if article is None or _int(row["article_version"]) is None:
                raise bad_line(file, number, "article_id and article_version must be numbers")
            row["_id"] = str(article)
            out.append((number, row))
    except csv.Error as exc:
        raise bad_line(file, reader.line_num, f"not valid CSV ({exc})") from exc
    return out


def _group_number(file: InputFile, number: int, text: str) -> int:
    value = _int(text or "0")
    if value is None:
        raise bad_line(file, number, f"group {text!r} is not a number")
    return value


def _codes(
    file: InputFile, rows: list[tuple[int, dict[str, str]]], covered: bool
) -> list[tuple[str, int, str]]:
    group_column = "icd10_covered_group" if covered else "icd10_noncovered_group"
    out: list[tuple[str, int, str]] = []
    for number, row in rows:
        code = normalize(row["icd10_code_id"])
        if not ICD10_RE.match(code):
            raise bad_line(file, number, f"{row['icd10_code_id']!r} is not an ICD-10-CM code")
        group = _group_number(file, number, row.get(group_column, "") or "0")
        out.append((code, group, _plain(row.get("description", ""))))
    return sorted(set(out))


@dataclass(frozen=True)
class _Facts:
    title: str = ""
    start: dt.date | None = None
    ends: dt.date | None = None  # the version's last day, when it has ended (or will)


def _article_facts(rows: list[tuple[int, dict[str, str]]], article_id: int, version: int) -> _Facts:
    """The title, first day and last day of the article version, from article.csv."""
    for _, row in rows:
        if row["_id"] != str(article_id) or _int(row["article_version"]) != version:
            continue
        return _Facts(
            title=_plain(row["title"]),
            start=_first_date(row, _DATE_COLUMNS),
            ends=_first_date(row, _END_COLUMNS),
        )
    return _Facts()


def _first_date(row: dict[str, str], columns: tuple[str, ...]) -> dt.date | None:
    for column in columns:
        day = _date(row.get(column, "") or "")
        if day is not None:
            return day
    return None


def _date(text: str) -> dt.date | None:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(text[:10], fmt).date()
        except ValueError:
            continue
    return None


def _plain(text: str) -> str:
    """Paragraphs are HTML: tags off, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(_TAG_RE.sub(" ", text)).split())


def _patterns(text: str) -> list[str]:
    found: list[str] = []
    for m in _PATTERN_RE.finditer(text):
        low = normalize(m.group(1))
        if m.group(2):
            found.append(f"{low}..{normalize(m.group(2))}")
        elif m.group(3):
            found.append(f"{low}-")
        else:
            found.append(low)
    return found


def _groups(text: str, group_codes: dict[int, list[str]]) -> Iterator[str]:
    for m in _GROUP_RE.finditer(text):
        for number in re.findall(r"\d+", m.group(1)):
            yield from group_codes.get(int(number), [])


def pairing_rules(
    group: int, paragraph: str, group_codes: dict[int, list[str]]
) -> tuple[list[list[Any]], list[str]]:
    """The "must be billed with" sentences of one group's paragraph, as pairing rows
    ``[group, codes, with_codes, sentence]``, and the sentences that name no partner."""
    rules: list[list[Any]] = []
    unread: list[str] = []
    for sentence in _SENTENCE_RE.split(_plain(paragraph)):
        lower = sentence.lower()
        at = lower.find(_PHRASE)
        if at < 0:
            continue
        before, after = sentence[:at], sentence[at + len(_PHRASE) :]
        subject = _patterns(before) or list(group_codes.get(group, []))
        partners = list(dict.fromkeys([*_patterns(after), *_groups(after, group_codes)]))
        if subject and partners:
            rules.append([group, subject, partners, sentence])
        else:
            unread.append(f'"{sentence}" names no code to pair with: not enforced')
    return rules, unread
