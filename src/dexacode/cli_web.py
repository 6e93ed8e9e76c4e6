"""``dexacode serve`` and ``dexacode keys``: the worksheet and API, and who may use them.

Thin: options in, ``dexacode.web`` called, one line out. Needs the ``web`` extra
(``pip install 'dexacode[web]'``); without it the commands say so in one sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from dexacode.cli_options import DbOption, rule_book_failure

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["keys_app", "serve_command"]

EXIT_INPUT, EXIT_DATA = 2, 3
_NO_WEB = "the web server needs the web extra: pip install 'dexacode[web]'"


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"dexacode: {message}", err=True)
    raise typer.Exit(code)


def serve_command(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. 127.0.0.1 is this computer only; 0.0.0.0 lets the "
            "office network in (put TLS in front of it, and give --secure-cookies).",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    db: DbOption = None,
    payers: Annotated[
        list[Path] | None,
        typer.Option(
            "--payers",
            help="Folder of extra payer profiles (*.toml); may be repeated.",
            file_okay=False,
        ),
    ] = None,
    rate_limit: Annotated[
        int,
        typer.Option(
            "--rate-limit",
            min=0,
            help="API calls a minute per key (0: no limit).",
        ),
    ] = 600,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies",
            help="Mark the worksheet's sign-in cookie Secure: browsers send it over HTTPS "
            "only. Give it when the server is reached through TLS (a proxy in front).",
        ),
    ] = False,
) -> None:
    """Serve the coder's worksheet and the HTTP API.

    Open http://HOST:PORT/ in a browser and sign in with an API key (create one with
    `dexacode keys create NAME`). The API is under /v1, described at /docs.
    """
    try:
        import uvicorn

        from dexacode.web import create_app
    except ImportError:
        _fail(EXIT_DATA, _NO_WEB)
    from dexacode.rulebook import RuleBookError
    from dexacode.store import StoreError

    try:
        app = create_app(db, payers or [], rate_limit=rate_limit, secure_cookies=secure_cookies)
    except StoreError as exc:
        _fail(EXIT_INPUT, f"history store error: {exc}")
    except RuleBookError as exc:
        _fail(*rule_book_failure(exc))
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    typer.echo(f"dexacode worksheet: http://{shown}:{port}/  (API: /v1, described at /docs)")
    if not app.state.ctx.keys.any_live():
        typer.echo("No API keys yet: create one with `dexacode keys create YOUR-NAME` to sign in.")
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)


keys_app = typer.Typer(
    help=(
        "API keys for the worksheet and the HTTP API.\n\n"
        "Every API call and every sign-in to the worksheet needs a key. A key belongs to a "
        "name (a person or a system); the audit trail records that name with every claim "
        "coded. Keys are kept as salted hashes: the key itself is shown once, when it is "
        "created. Keys live in the same database as the history store (--db)."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _keys(db: str | None) -> tuple[object, Engine]:
    try:
        from dexacode.web.keys import KeyStore
        from dexacode.web.tables import open_database
    except ImportError:
        _fail(EXIT_DATA, _NO_WEB)
    from dexacode.store import StoreError

    try:
        engine, _ = open_database(db)
    except StoreError as exc:
        _fail(EXIT_INPUT, f"history store error: {exc}")
    return KeyStore(engine), engine


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. jsmith or billing-system.")],
    db: DbOption = None,
) -> None:
    """Create a key for NAME and print it (the only time it is shown)."""
    from dexacode.web.keys import ApiKeyError, KeyStore

    store, engine = _keys(db)
    assert isinstance(store, KeyStore)
    try:
        key = store.create(name)
    except ApiKeyError as exc:
        _fail(EXIT_INPUT, str(exc))
    finally:
        engine.dispose()
    typer.echo(key)
    typer.echo(
        f"This is {name}'s API key; it is not shown again. Sign in to the worksheet with it, "
        "or send it as 'Authorization: Bearer <key>'.",
        err=True,
    )


@keys_app.command("revoke")
def keys_revoke(
    name: Annotated[str, typer.Argument(help="The name whose keys stop working.")],
    db: DbOption = None,
) -> None:
    """Revoke NAME's key: API calls and page sessions with it stop at once."""
    from dexacode.web.keys import KeyStore

    store, engine = _keys(db)
    assert isinstance(store, KeyStore)
    try:
        count = store.revoke(name)
    finally:
        engine.dispose()
    if count == 0:
        _fail(EXIT_INPUT, f"no live key named {name!r} (see `dexacode keys list`)")
    typer.echo(f"Revoked {name}'s key.")


@keys_app.command("list")
def keys_list(db: DbOption = None) -> None:
    """List keys: name, key id, created, last coded or scrubbed with, revoked.

    'last work' is the last claim coded or batch scrubbed with the key (the calls the
    audit trail records; health and rules look-ups are not recorded)."""
    from dexacode.web.keys import KeyStore

    store, engine = _keys(db)
    assert isinstance(store, KeyStore)
    try:
        keys = store.summaries()
    finally:
        engine.dispose()
    if not keys:
        typer.echo("No API keys. Create one with `dexacode keys create NAME`.")
        return

    def when(moment: object) -> str:
        return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "-"  # type: ignore[attr-defined]

    typer.echo(f"{'name':<24} {'key id':<14} {'created':<17} {'last work':<17} state")
    for k in keys:
        state = f"revoked {when(k.revoked_at)}" if k.revoked_at else "live"
        typer.echo(
            f"{k.name:<24} {k.key_id:<14} {when(k.created_at):<17} {when(k.last_used):<17} {state}"
        )
