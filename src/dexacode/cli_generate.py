"""``dexacode generate``: synthetic encounters for benchmarks and demos.

Register with ``app.command("generate")(generate_command)``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from dexacode.cli_options import rule_book_failure


def generate_command(
    count: Annotated[
        int, typer.Option("--count", "-n", min=0, help="How many rows (encounters) to write.")
    ],
    seed: Annotated[
        int, typer.Option("--seed", "-s", help="Random seed: the same seed gives the same file.")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="File to write: .jsonl/.ndjson (contract JSON, one per line), .csv or "
            ".parquet (the flat layout).",
            dir_okay=False,
            writable=True,
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="jsonl, csv or parquet (default: from the file's suffix)."
        ),
    ] = None,
    malformed_rate: Annotated[
        float,
        typer.Option(
            "--malformed-rate",
            min=0.0,
            max=1.0,
            help="Share of deliberately broken rows, for testing error handling.",
        ),
    ] = 0.002,
) -> None:
    """Write realistic synthetic DXA encounters: no real patient data anywhere.

    A mix of payers, ages, sexes, sites, VFA, billing arrangements, readings, drug
    therapy, prior studies, submitted claims (half with a typical coder's mistake) and a
    few malformed rows. Seeded: the same count and seed give a byte-identical file.
    """
    from dexacode.cli import EXIT_DATA
    from dexacode.generate import format_for, prepare, write_generated
    from dexacode.rulebook import RuleBookError

    try:
        format_for(out, fmt)
    except ValueError as exc:
        typer.echo(f"dexacode: {exc}", err=True)
        raise typer.Exit(2) from None
    # Submitted claims are coded by the engine: the rule book and ICD-10-CM must load.
    try:
        prepare()
    except RuleBookError as exc:
        code, message = rule_book_failure(exc)
        typer.echo(f"dexacode: {message}", err=True)
        raise typer.Exit(code) from None
    except (OSError, ValueError, LookupError) as exc:
        typer.echo(f"dexacode: ICD-10-CM index error: {exc}", err=True)
        raise typer.Exit(EXIT_DATA) from None
    workers = min(8, os.cpu_count() or 1)
    try:
        if sys.stdout.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            with Progress(
                TextColumn("[bold]generating"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
            ) as bar:
                task = bar.add_task("generate", total=count)
                written = write_generated(
                    out,
                    count,
                    seed,
                    fmt=fmt,
                    malformed_rate=malformed_rate,
                    workers=workers,
                    progress=lambda done: bar.update(task, completed=done),
                )
            typer.echo(f"wrote {written} rows to {out}")
        else:
            write_generated(
                out, count, seed, fmt=fmt, malformed_rate=malformed_rate, workers=workers
            )
    except OSError as exc:
        typer.echo(f"dexacode: cannot write {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
