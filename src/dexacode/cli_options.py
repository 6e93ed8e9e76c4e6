"""Command-line options that several commands take, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["DbOption"]

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
