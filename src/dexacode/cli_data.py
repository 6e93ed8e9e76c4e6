"""``dexacode data``: load CMS's own files and see which editions are in force.

A thin layer over ``dexacode.data``. Exit status of ``data import``: 0 the files were
loaded (or were already), 2 they were refused (one line on stderr names the file, the line
and what is wrong; nothing was stored), 3 the stored data cannot be read. ``data remove``:
0 removed, 2 no such edition.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from dexacode.cli_options import rule_book_failure

if TYPE_CHECKING:
    from dexacode.data import DataStatus, EditionStatus, ImportReport, Removed

__all__ = ["data_app"]

# The kinds are dexacode.data's KINDS, written here as text so that the CLI starts without
# importing the data package (a test checks they agree).
KIND_NAMES = "ncci-ptp, mue, mcd-article or icd10cm"
KindArgument = Annotated[str, typer.Argument(metavar="KIND", help=f"{KIND_NAMES}.")]

EXIT_OK, EXIT_REFUSED, EXIT_DATA = 0, 2, 3

data_app = typer.Typer(
    help=(
        "CMS's own files: load this quarter's edits and see what is in force.\n\n"
        "The rule book shipped with dexacode is a starting point. NCCI pair edits and MUE "
        "values change every quarter, contractors revise their coverage articles, and "
        "ICD-10-CM changes every 1 October. Load the files as CMS publishes them with "
        "`dexacode data import`; every claim is then checked against the edition in force "
        "on its date of service, and each result lists the editions it used. `dexacode "
        "data status` shows what is loaded and warns when it is out of date.\n\n"
        "Loaded data lives in your data folder ($DEXACODE_DATA_DIR or the per-user data "
        "folder), under cms/; the installed package is never changed."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

_IMPORT_HELP = (
    "Load CMS files of one KIND, as downloaded (the zip, or the files taken out of it).\n\n"
    "KIND is one of:\n\n"
    "ncci-ptp: the practitioner PTP edit tables (ccipra-v321r0-f1.txt ... -f4.txt, "
    "tab-separated text, or the zips holding them). The quarter is read from the version in "
    "the name (v32.1 = 2026-04-01); the parts of one quarter may be loaded together or one "
    "at a time, and a part loaded again with other rows replaces that part.\n\n"
    "mue: the practitioner MUE table (MCR_MUE_PractitionerServices_Eff_04-01-2026.csv, or "
    "its zip); a corrected table for the same date replaces the earlier one.\n\n"
    "mcd-article: a billing and coding article from the Medicare Coverage Database export "
    "(current_article_csv.zip or its article_x_*.csv tables), with --article (e.g. 57132) "
    "and --payer (the profile whose covered-diagnosis list it replaces).\n\n"
    "icd10cm: an ICD-10-CM release: the Code Descriptions and Table and Index zips, or "
    "icd10cm-order-YYYY.txt and icd10cm-tabular-YYYY.xml taken out of them.\n\n"
    "In a zip, the table's text form is read; the spreadsheet copy beside it, read-me files "
    "and PDFs are skipped, and the summary names them. Every line of every file is checked "
    "first: a malformed file is refused whole, naming the file and line, and nothing is "
    "stored. Loading the same files again, under any name, changes nothing. The edition "
    "comes from the files; --edition and --effective are for files that do not say it, and "
    "are refused when they disagree with the files (unless --force). Undo an import with "
    "`dexacode data remove`."
)

_REMOVE_HELP = (
    "Remove one loaded edition, to undo a wrong import or drop a dataset dexacode cannot "
    "read.\n\n"
    "Name it as `dexacode data status` shows it: KIND, then the edition's label or its "
    "first day, e.g.\n\n"
    "dexacode data remove ncci-ptp v32.1r0\n\n"
    "dexacode data remove mue 2026-04-01\n\n"
    "dexacode data remove mcd-article 'A57132 v12' --payer medicare\n\n"
    "dexacode data remove icd10cm FY2027\n\n"
    "Claims are then checked against what is still loaded: an older edition, or the shipped "
    "rule book where nothing is. The files you imported from are not touched; import them "
    "again to undo the removal."
)


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"dexacode: {message}", err=True)
    raise typer.Exit(code)


def _day(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _fail(EXIT_REFUSED, f"input error: {option} {text!r} is not a date (YYYY-MM-DD)")


@data_app.command("import", help=_IMPORT_HELP)
def import_command(
    kind: KindArgument,
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE...", help="The files (or zips) CMS publishes."),
    ],
    article: Annotated[
        str | None,
        typer.Option(help="mcd-article: the article number, e.g. 57132 (A57132)."),
    ] = None,
    payer: Annotated[
        str | None,
        typer.Option(help="mcd-article: the payer profile the article's list applies to."),
    ] = None,
    edition: Annotated[
        str | None,
        typer.Option(
            help="The edition, for files that do not say it (default: from the files, "
            "e.g. v32.1r0); 2026Q2 or a date also sets its first day. Refused when it "
            "disagrees with the files, unless --force."
        ),
    ] = None,
    effective: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="The first day this edition governs, when the files do not say it.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Store the files under --edition/--effective even where the files name "
            "another edition or date (they are refused otherwise).",
        ),
    ] = False,
) -> None:
    """Load CMS files (see _IMPORT_HELP)."""
    from dexacode.data import CatalogError, DataImportError, import_files
    from dexacode.rulebook import RuleBookError

    try:
        report = import_files(
            kind,
            files,
            edition=edition,
            effective=_day(effective, "--effective"),
            article=article,
            payer=payer,
            force=force,
        )
    except DataImportError as exc:
        _fail(EXIT_REFUSED, f"not imported: {exc}")
    except RuleBookError as exc:
        _fail(*rule_book_failure(exc))
    except CatalogError as exc:
        _fail(EXIT_DATA, f"data error: {exc}")
    typer.echo(describe_import(report))


def describe_import(report: ImportReport) -> str:
    what = f"{report.kind} {report.edition} (governs from {report.effective.isoformat()}"
    what += f" to {report.ends.isoformat()}, its end date)" if report.ends else ")"
    skipped = [f"skipped {s}" for s in report.skipped]
    if not report.changed:
        return "\n".join([f"{what}: already loaded from these files; nothing changed.", *skipped])
    if report.kind == "icd10cm":
        out = [f"{what}: {report.rows_kept:,} codes indexed."]
    else:
        kept = (
            "those of this article and version"
            if report.kind == "mcd-article"
            else "those about the codes dexacode codes"
        )
        out = [
            f"{what}: {len(report.files)} file(s), {report.rows_read:,} rows read, "
            f"{report.rows_kept:,} kept ({kept})."
        ]
    out += [f"It replaces {r}." for r in report.replaced]
    out += skipped
    out += [f"note: {n}" for n in report.notes]
    out.append(f"Stored in {report.path}")
    return "\n".join(out)


@data_app.command("remove", help=_REMOVE_HELP)
def remove_command(
    kind: KindArgument,
    edition: Annotated[
        str,
        typer.Argument(
            metavar="EDITION",
            help="As `dexacode data status` shows it: v32.1r0, 2026-04-01, 'A57132 v12', FY2027.",
        ),
    ],
    payer: Annotated[
        str | None,
        typer.Option(help="mcd-article: the payer profile the article was loaded for."),
    ] = None,
) -> None:
    """Remove one loaded edition (see _REMOVE_HELP)."""
    from dexacode.data import DataImportError, remove

    try:
        removed = remove(kind, edition, payer=payer)
    except DataImportError as exc:
        _fail(EXIT_REFUSED, f"not removed: {exc}")
    typer.echo(describe_removal(removed))


def describe_removal(removed: Removed) -> str:
    return (
        f"Removed {removed.kind} {removed.edition} ({', '.join(p.name for p in removed.paths)}); "
        "claims are checked against what is still loaded (`dexacode data status`)."
    )


@data_app.command("status")
def status_command(
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            metavar="YYYY-MM-DD",
            help="The date of service to check the editions against (default: today).",
        ),
    ] = None,
    output: Annotated[
        str, typer.Option("--format", "-f", help="text (for people) or json.")
    ] = "text",
) -> None:
    """List the loaded CMS data: each edition, the dates it governs, its rows; warn when a
    date of service falls after the newest edition of a kind."""
    from dexacode.data import CatalogError, status

    try:
        report = status(_day(date, "--date"))
    except CatalogError as exc:
        _fail(EXIT_DATA, f"data error: {exc}")
    if output == "json":
        typer.echo(json.dumps(_as_json(report), indent=2))
    elif output == "text":
        typer.echo(format_status(report))
    else:
        _fail(EXIT_REFUSED, f"input error: --format {output!r}: expected text or json")


def _ptp_role(e: EditionStatus) -> str:
    """What a PTP edition is used for (see dexacode.data.ptp_editions)."""
    if not e.speaks_for:
        return (
            f"superseded by {e.superseded_by}, whose rows restate every edit's dates "
            "(back-dated corrections included)"
        )
    role = "its rows decide every date of service, by their own effective and deletion dates"
    if e.speaks_for != e.parts:
        role = f"part {', '.join(e.speaks_for)} only: {role}"
    if e.lacks:
        role = f"INCOMPLETE (lacks part {', '.join(e.lacks)}); {role}"
    return role


def _span(e: EditionStatus) -> str:
    if e.kind == "ncci-ptp":
        return _ptp_role(e)
    start = e.governs_from.isoformat()
    span = f"{start} to {e.governs_to.isoformat()}" if e.governs_to else f"from {start} on"
    if e.dates_before:
        span += " (and earlier dates, by its rows' own dates)"
    if e.ends is not None and e.governs_to == e.ends:
        span += " (its end date: it governs no claim after it)"
    return span


def format_status(report: DataStatus) -> str:
    out = [f"CMS data in {report.catalog} (checked for {report.day.isoformat()})", ""]
    titles = {
        "ncci-ptp": "NCCI PTP edits (practitioner)",
        "mue": "MUE values (practitioner)",
        "mcd-article": "MCD coverage articles",
    }
    for kind, title in titles.items():
        rows = report.of(kind)
        out.append(f"{title}:")
        broken = [u for u in report.unreadable if u.kind == kind]
        if not rows and not broken:
            out.append("  none loaded: the shipped rule book's rows are used")
        out += [
            f"  {u.name}: CANNOT BE READ; no claim can be checked until it is imported "
            "again or removed (see the warning below)"
            for u in broken
        ]
        for e in rows:
            who = f" for {e.payer}" if e.payer else ""
            meant = f" (its quarter ends {e.meant_until.isoformat()})" if e.meant_until else ""
            verb = "" if e.kind == "ncci-ptp" else "governs "
            parts = f" (part {', '.join(e.parts)})" if e.parts else ""
            out.append(
                f"  {e.edition}{who}: {verb}{_span(e)}{meant}; {e.rows_kept:,} of "
                f"{e.rows_read:,} rows kept; {len(e.files)} file(s){parts}"
            )
            out += [f"    note: {n}" for n in e.notes]
        out.append("")
    out.append(f"ICD-10-CM releases: {_icd_releases(report)}")
    if report.warnings:
        out.append("")
        out += [f"WARNING {w}" for w in report.warnings]
    return "\n".join(out)


def _icd_releases(report: DataStatus) -> str:
    """Each release claims may use: the shipped one (indexed on first use) and those
    loaded; a date in a fiscal year with none uses the nearest, with ICD10-VINTAGE."""
    years = sorted({*report.icd10cm_years, *report.icd10cm_loaded})
    if report.icd10cm_shipped is not None and report.icd10cm_shipped not in years:
        years.append(report.icd10cm_shipped)
    described = []
    for year in sorted(years):
        if year in report.icd10cm_loaded:
            described.append(f"FY{year} (loaded)")
        elif year == report.icd10cm_shipped:
            described.append(f"FY{year} (shipped with dexacode)")
        else:
            described.append(f"FY{year} (loaded with `dexacode icd10 load`)")
    return ", ".join(described) or "none"


def _as_json(report: DataStatus) -> dict[str, object]:
    return {
        "day": report.day.isoformat(),
        "catalog": str(report.catalog),
        "editions": [
            {
                "kind": e.kind,
                "edition": e.edition,
                "payer": e.payer,
                "article": e.article,
                "governs_from": e.governs_from.isoformat(),
                "governs_to": e.governs_to.isoformat() if e.governs_to else None,
                "meant_until": e.meant_until.isoformat() if e.meant_until else None,
                "rows_kept": e.rows_kept,
                "rows_read": e.rows_read,
                "files": list(e.files),
                "notes": list(e.notes),
                "ends": e.ends.isoformat() if e.ends else None,
                "parts": list(e.parts),
                "speaks_for": list(e.speaks_for),
                "lacks": list(e.lacks),
                "superseded_by": e.superseded_by,
            }
            for e in report.editions
        ],
        "icd10cm": [f"FY{y}" for y in report.icd10cm_years],
        "icd10cm_shipped": f"FY{report.icd10cm_shipped}" if report.icd10cm_shipped else None,
        "unreadable": [
            {"kind": u.kind, "name": u.name, "path": str(u.path), "reason": u.reason}
            for u in report.unreadable
        ],
        "warnings": list(report.warnings),
    }
