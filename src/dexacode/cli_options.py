"""Command-line pieces that several commands share, declared once: options, and how a
failure to load the rule book is told."""

from __future__ import annotations

from typing import Annotated, Any

import typer

__all__ = ["DbOption", "NoStoreOption", "rule_book_failure", "store_errors", "stored_studies"]

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="DEXACODE_DB",
        metavar="URL",
        help="The history store (prior studies; for serve and keys also API keys and the "
        "audit trail): sqlite:///path/to/file, a file path, or "
        "postgresql+psycopg://user@host/dbname. Default: history.sqlite3 in the data "
        "folder, the one every command shares.",
        show_default=False,
    ),
]


NoStoreOption = Annotated[
    bool,
    typer.Option("--no-store", help="Do not read prior studies from the history store."),
]


def stored_studies(db: str | None, enc: Any, family: str) -> tuple[list[Any], list[Any]]:
    """What the history store holds for encounter ``enc``, a claim of payer ``family``:
    its patient's studies as the claim sees them (never its own earlier recorded version),
    and the other recorded claims of its date; exits 2 with one line when the store
    cannot be opened.

    Without --db the default store is read only when it exists: one encounter is no
    reason to create a store (nor to pay for opening one that cannot hold anything)."""
    if db is None:
        from dexacode.paths import default_store_path

        if not default_store_path().exists():
            return [], []
    from dexacode.store import HistoryStore, StoreError

    try:
        with HistoryStore(db) as store:
            history, same_date = store.for_claim(
                enc.patient.id, enc.date_of_service, family, enc.claim_id
            )
    except StoreError as exc:
        typer.echo(f"dexacode: history store error: {exc}", err=True)
        raise typer.Exit(2) from None
    return list(history), list(same_date)


def store_errors() -> tuple[type[Exception], ...]:
    """The history store's errors, for an ``except`` clause: imported only when an
    exception reaches the clause (the store's import costs SQLAlchemy's)."""
    from dexacode.store import StoreError

    return (StoreError,)


def rule_book_failure(exc: Exception) -> tuple[int, str]:
    """Exit status and message for a rule book that cannot be loaded: 2 when the user's
    own payer profiles are at fault (theirs to fix), 3 when dexacode's data is."""
    from dexacode.rulebook import PayerProfileError

    if isinstance(exc, PayerProfileError):
        return 2, f"payer profile error: {exc}"
    return 3, f"rule book error: {exc}"
