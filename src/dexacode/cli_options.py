"""Command-line pieces that several commands share, declared once: options, and how a
failure to load the rule book is told."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["DbOption", "rule_book_failure"]

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


def rule_book_failure(exc: Exception) -> tuple[int, str]:
    """Exit status and message for a rule book that cannot be loaded: 2 when the user's
    own payer profiles are at fault (theirs to fix), 3 when dexacode's data is."""
    from dexacode.rulebook import PayerProfileError

    if isinstance(exc, PayerProfileError):
        return 2, f"payer profile error: {exc}"
    return 3, f"rule book error: {exc}"
