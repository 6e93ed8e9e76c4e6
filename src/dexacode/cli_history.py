"""``dexacode history``: the claim-history store from the command line.

A thin layer over ``dexacode.store``: each command reads its options, calls the store and
prints what happened. Exit codes of ``history import``: 0 every row was added, updated or
already there, 1 some rows were refused (each listed with its row number), 2 the file or
the store could not be read at all (one line on stderr says why). ``history remove``: 0
studies removed, 1 none matched, 2 the store could not be used.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from dexacode.cli_options import DbOption

if TYPE_CHECKING:
    from dexacode.store import HistoryStore, StudyRow

__all__ = ["history_app"]

EXIT_CLEAN, EXIT_REFUSED, EXIT_UNREADABLE = 0, 1, 2

history_app = typer.Typer(
    help=(
        "The claim-history store: your patients' prior DXA studies, kept between runs.\n\n"
        "Frequency rules (Medicare pays a bone density study once in 23 months, a repeat "
        "sooner only for some reasons) need a patient's earlier studies, including those "
        "billed by another provider or in an earlier batch. The store keeps them so every "
        "scrub can check them: load the claims you already have with `dexacode history "
        "import`, let `dexacode scrub --record` add each run's own studies, and look a "
        "patient up with `dexacode history show`.\n\n"
        "By default the store is one SQLite file in your data folder ($DEXACODE_DATA_DIR "
        "or the per-user data folder). Give --db (or $DEXACODE_DB) to use another file, "
        "sqlite:///path/to/history.sqlite3, or a PostgreSQL server shared by several "
        "machines, postgresql+psycopg://user@host/dbname."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"dexacode: {message}", err=True)
    raise typer.Exit(code)


def _open(db: str | None) -> HistoryStore:
    from dexacode.store import HistoryStore, StoreError

    try:
        return HistoryStore(db)
    except StoreError as exc:
        _fail(EXIT_UNREADABLE, f"history store error: {exc}")


_IMPORT_HELP = (
    "Add prior studies from a claims file to the store.\n\n"
    "Dates are YYYY-MM-DD, CPT/HCPCS codes 5 characters (77080, G0130), covered is true or "
    "false (also yes/no, y/n, 1/0; empty means true). A study already in the store (same "
    "patient, date, CPT and provider) is skipped, so importing a file twice adds nothing the "
    "second time; if the file's covered column says otherwise about its coverage (the payer "
    "denied it after all), the stored study is updated. A file without a covered column "
    "does not say, and leaves the coverage of studies already stored as it is (new ones are "
    "added as covered). A claim_id column is optional: a claim already "
    "stored under that id for the patient is replaced by the file's version of it. The "
    "rows are added in one transaction: if the import stops half-way, nothing is added.\n\n"
    "Exit status: 0 all rows added, updated or already there, 1 some rows were refused "
    "(listed with their row numbers; the others were added), 2 the file or the store could "
    "not be read."
)
_SHOW_HELP = (
    "List one patient's prior studies in the store, oldest first.\n\n"
    "Each row is one claim: the same study billed by two providers shows twice. These are "
    "the studies the scrubber's frequency checks see, merged with the encounter's own "
    "history field (a claim is never checked against a study stored under its own claim "
    "id: that is its earlier version). 'paid by' is the payer family a scrub --record run "
    "coded the study for (medicare for every Medicare-family payer): a claim to another "
    "family does not count it as covered. Imported studies say 'not known' and count for "
    "every family. A wrong row is removed with `dexacode history remove`."
)
_REMOVE_HELP = (
    "Remove a patient's wrong or stale studies from the store.\n\n"
    "Give the date of service (and, to keep the patient's other studies of that date, the "
    "CPT code), or the claim id the study was recorded under (`dexacode history show "
    "PATIENT` lists them). Every matching row is removed, whoever billed it, and listed; a "
    "patient's whole history is never removed without a date or a claim id. A corrected "
    "claim needs no removal: `scrub --record` of it replaces its earlier version.\n\n"
    "Exit status: 0 studies removed, 1 no study matched (nothing removed), 2 the store "
    "could not be used or the date is not YYYY-MM-DD."
)


@history_app.command("import", help=_IMPORT_HELP)
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="CSV with a header (patient_id,date_of_service,cpt and optionally "
            "provider,covered) or JSON Lines with the same fields, one study per line.",
            show_default=False,
        ),
    ],
    db: DbOption = None,
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="csv|jsonl",
            help="The file's format. Default: from its name (.csv, .jsonl or .ndjson).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Add prior studies from a claims file to the store (see _IMPORT_HELP)."""
    from dexacode.store import HistoryFileError, StoreError, read_history_file

    try:
        rows = read_history_file(file, file_format)
    except HistoryFileError as exc:
        _fail(EXIT_UNREADABLE, f"input error: {exc}")
    store = _open(db)
    try:
        with store:
            report = store.add(rows, source=f"import:{file.name}", update_covered=True)
            total = store.count()
    except StoreError as exc:
        _fail(EXIT_UNREADABLE, f"history store error: {exc}")

    whole_file = [p for p in report.problems if p.row == 0]
    if whole_file and report.read == 0:
        _fail(EXIT_UNREADABLE, f"input error: {file.name}: {whole_file[0].reason}")

    typer.echo(f"Imported {file.name} into {store.url}")
    typer.echo(f"  rows read       {report.read:>10,}")
    typer.echo(f"  added           {report.added:>10,}")
    if report.updated:
        typer.echo(
            f"  updated         {report.updated:>10,}  (already there; the file changes whether "
            "it was covered)"
        )
    typer.echo(f"  already there   {report.duplicates:>10,}  (same patient, date, CPT, provider)")
    if report.replaced:
        typer.echo(
            f"  replaced        {report.replaced:>10,}  (stored studies of these claims that "
            "the file's version of the claim no longer has: removed)"
        )
    typer.echo(f"  refused         {report.refused:>10,}")
    for problem in whole_file:
        typer.echo(f"  file: {problem.reason}")
    refused = [p for p in report.problems if p.row > 0]
    if refused:
        first = "the first line after the header" if _is_csv(file, file_format) else "line 1"
        typer.echo(f"Refused rows (row 1 is {first}); fix them and import the file again:")
        for problem in refused:
            typer.echo(f"  row {problem.row}: {problem.reason}")
    typer.echo(f"The store now holds {total:,} stud{'y' if total == 1 else 'ies'}.")
    raise typer.Exit(EXIT_REFUSED if refused or whole_file else EXIT_CLEAN)


def _is_csv(file: Path, file_format: str | None) -> bool:
    if file_format is not None:
        return file_format.lower().lstrip(".") == "csv"
    return file.suffix.lower() == ".csv"


@history_app.command("show", help=_SHOW_HELP)
def show_command(
    patient: Annotated[
        str,
        typer.Argument(metavar="PATIENT", help="The practice's patient id.", show_default=False),
    ],
    db: DbOption = None,
) -> None:
    """List one patient's prior studies in the store (see _SHOW_HELP)."""
    from dexacode.store import StoreError

    patient = patient.strip()  # ids are stored trimmed, as every door reads them
    store = _open(db)
    try:
        with store:
            rows = store.show(patient)
    except StoreError as exc:
        _fail(EXIT_UNREADABLE, f"history store error: {exc}")
    if not rows:
        typer.echo(f"No studies for patient {patient} in {store.url}.")
        raise typer.Exit(EXIT_CLEAN)
    typer.echo(
        f"{len(rows)} stud{'y' if len(rows) == 1 else 'ies'} for patient {patient} in {store.url}:"
    )
    _print_studies(rows)
    raise typer.Exit(EXIT_CLEAN)


def _print_studies(rows: list[StudyRow]) -> None:
    table = [("date of service", "CPT", "covered", "paid by", "claim", "provider")]
    table += [
        (
            r.date_of_service.isoformat(),
            r.cpt,
            "yes" if r.covered else "no (denied)",
            r.payer_family or "not known",
            r.claim_id or "-",
            r.provider or "-",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(5)]
    for line in table:
        cells = [f"{cell:<{width}}" for cell, width in zip(line[:5], widths, strict=True)]
        typer.echo("  " + "  ".join([*cells, line[5]]))


@history_app.command("remove", help=_REMOVE_HELP)
def remove_command(
    patient: Annotated[
        str,
        typer.Argument(metavar="PATIENT", help="The practice's patient id.", show_default=False),
    ],
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            metavar="YYYY-MM-DD",
            help="The date of service of the studies to remove.",
            show_default=False,
        ),
    ] = None,
    cpt: Annotated[
        str | None,
        typer.Option(
            "--cpt",
            metavar="CODE",
            help="Only the studies of this CPT/HCPCS code (with --date or --claim).",
            show_default=False,
        ),
    ] = None,
    claim: Annotated[
        str | None,
        typer.Option(
            "--claim",
            metavar="CLAIM_ID",
            help="The studies recorded under this claim id.",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Remove a patient's wrong or stale studies (see _REMOVE_HELP)."""
    from dexacode.store import StoreError

    patient = patient.strip()
    if date is None and claim is None:
        _fail(EXIT_UNREADABLE, "say which studies to remove: --date YYYY-MM-DD or --claim ID")
    when = None
    if date is not None:
        try:
            when = datetime.date.fromisoformat(date.strip())
        except ValueError:
            _fail(EXIT_UNREADABLE, "--date must be a date written YYYY-MM-DD")
    store = _open(db)
    try:
        with store:
            removed = store.remove(patient, date_of_service=when, cpt=cpt, claim_id=claim)
    except StoreError as exc:
        _fail(EXIT_UNREADABLE, f"history store error: {exc}")
    if not removed:
        typer.echo(f"No study of patient {patient} matched in {store.url}; nothing was removed.")
        raise typer.Exit(EXIT_REFUSED)
    count = len(removed)
    typer.echo(
        f"Removed {count} stud{'y' if count == 1 else 'ies'} of patient {patient} from {store.url}:"
    )
    _print_studies(removed)
    raise typer.Exit(EXIT_CLEAN)
