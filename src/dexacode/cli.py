"""The ``dexacode`` command: a thin layer that reads options and calls the library.

Exit codes (spec/contract.md): 0 coded and clean of errors, 1 coded with at least one
error-level finding, 2 the input could not be read (one line on stderr names the field).
3 means dexacode's own data is broken (a rule or profile file, the ICD-10-CM index).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

app = typer.Typer(
    name="dexacode",
    help=(
        "DXA (bone density) coding assistant and claim scrubber.\n\n"
        "Give it the facts of a DXA encounter (JSON, see `dexacode schema`) and it gives the "
        "claim lines, modifiers and ICD-10-CM diagnoses, the reading, Medicare coverage and "
        "every risk of denial, each explained with its source. Give it a claim a coder "
        "already wrote (the encounter's `submitted` field) and it checks it."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
icd10_app = typer.Typer(
    help="ICD-10-CM releases: what is loaded, and loading a new CMS release.",
    no_args_is_help=True,
)
app.add_typer(icd10_app, name="icd10")

EXIT_CLEAN, EXIT_ERRORS, EXIT_INPUT, EXIT_DATA = 0, 1, 2, 3

# Options shared by several commands, declared once.
PayersOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--payers",
        help="Folder of extra payer profiles (*.toml); may be repeated. Also read from "
        "$DEXACODE_PAYERS and the config file's payers_dir.",
        file_okay=False,
    ),
]
FormatOption = Annotated[
    str,
    typer.Option("--format", "-f", help="text (for people) or json (the contract's Result)."),
]


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"dexacode: {message}", err=True)
    raise typer.Exit(code)


def _rulebook(payers: list[Path] | None) -> object:
    from dexacode.coding import configured_payer_dirs
    from dexacode.rulebook import RuleBookError, load_rulebook

    try:
        return load_rulebook([*configured_payer_dirs(), *(payers or [])])
    except RuleBookError as exc:
        _fail(EXIT_DATA, f"rule book error: {exc}")


def _read_input(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        _fail(EXIT_INPUT, f"input error: {source}: no such file")
    except IsADirectoryError:
        _fail(EXIT_INPUT, f"input error: {source}: is a folder, not a file")
    except UnicodeDecodeError:
        _fail(EXIT_INPUT, f"input error: {source}: not UTF-8 text")
    except OSError as exc:
        _fail(EXIT_INPUT, f"input error: {source}: {exc.strerror}")


@app.command("code")
def code_command(
    source: Annotated[
        str, typer.Argument(metavar="FILE", help="Encounter JSON file, or - for stdin.")
    ],
    output_format: FormatOption = "text",
    payers: PayersOption = None,
) -> None:
    """Code one encounter: claim lines, diagnoses, reading, coverage and findings.

    Exit status: 0 coded with no error-level finding, 1 coded with at least one,
    2 the input could not be read (the message names the field).
    """
    from dexacode.coding import default_library
    from dexacode.contract import ContractError, dump_result, parse_encounter
    from dexacode.engine import code_encounter
    from dexacode.rulebook import InputError, RuleBook

    if output_format not in ("text", "json"):
        _fail(EXIT_INPUT, f"--format must be text or json, not {output_format!r}")
    text = _read_input(source)
    book = _rulebook(payers)
    assert isinstance(book, RuleBook)
    try:
        enc = parse_encounter(text)
        rules = book.in_force(enc.date_of_service, enc.payer)
    except (ContractError, InputError) as exc:
        _fail(EXIT_INPUT, f"input error: {exc}")
    try:
        release, exact = default_library().for_date(enc.date_of_service)
    except (LookupError, OSError, ValueError) as exc:
        _fail(EXIT_DATA, f"ICD-10-CM index error: {exc}")
    try:
        result = code_encounter(enc, rules, release, icd_exact=exact)
    except InputError as exc:
        _fail(EXIT_INPUT, f"input error: {exc}")

    if output_format == "json":
        typer.echo(dump_result(result))
    else:
        from dexacode.formats.text import render

        typer.echo(
            render(
                result,
                book.sources,
                payer_label=rules.payer.label,
                date_of_service=enc.date_of_service.isoformat(),
            ),
            nl=False,
        )
    raise typer.Exit(EXIT_ERRORS if result.has_errors else EXIT_CLEAN)


@app.command("schema")
def schema_command() -> None:
    """Print the encounter's JSON Schema (the input contract)."""
    from dexacode.contract import encounter_schema

    typer.echo(json.dumps(encounter_schema(), indent=2))


@app.command("rules")
def rules_command(payers: PayersOption = None) -> None:
    """List every rule (finding id) with its severity and title."""
    from dexacode.rulebook import RuleBook

    book = _rulebook(payers)
    assert isinstance(book, RuleBook)
    typer.echo(f"Rule book {book.version} ({len(book.finding_ids())} rules)")
    for fid in book.finding_ids():
        rule = book.finding(fid)
        overrides = {
            name: p.severity[fid] for name, p in sorted(book.payers.items()) if fid in p.severity
        }
        note = ""
        if overrides and set(overrides.values()) != {rule.severity}:
            note = "  (" + ", ".join(f"{n}: {s}" for n, s in overrides.items()) + ")"
        typer.echo(f"  {fid:<28} {rule.severity:<8} {rule.title}{note}")
    typer.echo("\nPayer profiles: " + ", ".join(book.payer_names()))
    typer.echo("Run `dexacode explain RULE-ID` for the reasoning and sources of one rule.")


@app.command("explain")
def explain_command(
    rule_id: Annotated[
        str, typer.Argument(metavar="RULE-ID", help="A finding id, e.g. FREQUENCY.")
    ],
    payers: PayersOption = None,
) -> None:
    """Explain one rule: what it checks, why, what to do, and its sources."""
    from dexacode.rulebook import RuleBook

    book = _rulebook(payers)
    assert isinstance(book, RuleBook)
    wanted = rule_id.strip().upper()
    if wanted not in book.finding_ids():
        close = [f for f in book.finding_ids() if wanted.split("-")[0] in f]
        hint = f" Did you mean {', '.join(close)}?" if close else " See `dexacode rules`."
        _fail(EXIT_INPUT, f"no rule {rule_id!r}.{hint}")
    rule = book.finding(wanted)
    lines = [f"{rule.id}: {rule.title}", f"Severity: {rule.severity}"]
    overrides = [
        f"{name}: {p.severity[wanted]}"
        for name, p in sorted(book.payers.items())
        if wanted in p.severity
    ]
    if overrides:
        lines.append(f"Severity by payer profile: {', '.join(overrides)}")
    if rule.expected_denial:
        lines.append(
            "Expected denial: on payers that use ABN modifiers the line it names gets GA "
            "(ABN signed) or GZ (no ABN)."
        )
    lines.append(
        f"In force: from {rule.effective.isoformat()}"
        + (f" to {rule.ends.isoformat()}" if rule.ends else "")
    )
    lines += ["", "Why:", f"  {_plain(rule.why)}", "", "What to do:", f"  {_plain(rule.action)}"]
    lines += ["", "Sources:"]
    for key in rule.source:
        src = book.sources.get(key)
        lines.append(f"  [{key}] {src.title}\n      {src.url}" if src else f"  [{key}]")
    typer.echo("\n".join(lines))


def _plain(template: str) -> str:
    """A template's placeholders read as names in an explanation: {cpt} -> <cpt>."""
    return template.replace("{", "<").replace("}", ">")


@app.command("payers")
def payers_command(payers: PayersOption = None) -> None:
    """List payer profiles with their settings as of today's rule book."""
    import datetime as dt

    from dexacode.rulebook import RuleBook

    book = _rulebook(payers)
    assert isinstance(book, RuleBook)
    today = dt.date.today()
    for name in book.payer_names():
        rules = book.in_force(today, name)
        p = rules.payer
        typer.echo(
            f"{name:<20} {p.label}\n"
            f"  file: {book.payer_files.get(name, '?')}\n"
            f"  Medicare coverage rules: {'yes' if p.medicare_family else 'no'}; "
            f"GA/GZ: {'yes' if p.abn_modifiers else 'no'}; "
            f"distinct modifier: {p.distinct_modifier} "
            f"(accepts {', '.join(p.distinct_modifiers_accepted)}); "
            f"frequency: {p.frequency_months} months"
        )


@icd10_app.command("status")
def icd10_status() -> None:
    """Show the ICD-10-CM releases loaded (builds the shipped index on first use)."""
    from dexacode.icd10 import default_index_dir, open_library

    try:
        library = open_library()
    except (OSError, ValueError, LookupError) as exc:
        _fail(EXIT_DATA, f"ICD-10-CM index error: {exc}")
    typer.echo(f"Index folder: {default_index_dir()}")
    for year in library.years():
        release = library.release(year)
        typer.echo(f"  {release.label}: {release.source}")


@icd10_app.command("load")
def icd10_load(
    order_file: Annotated[
        Path,
        typer.Option(
            "--order",
            help="CMS order file, e.g. icd10cm-order-2027.txt.",
            exists=True,
            dir_okay=False,
        ),
    ],
    tabular: Annotated[
        Path,
        typer.Option(
            "--tabular",
            help="CMS tabular XML, e.g. icd10cm-tabular-2027.xml.",
            exists=True,
            dir_okay=False,
        ),
    ],
    year: Annotated[
        int,
        typer.Option("--year", help="Fiscal year of the release, e.g. 2027.", min=2016, max=2100),
    ],
) -> None:
    """Load a CMS ICD-10-CM release (order file + tabular XML) for a fiscal year.

    Claims whose date of service falls in that fiscal year (1 October to 30 September)
    are then checked against it.
    """
    from dexacode.icd10 import build_index_from_cms

    try:
        path = build_index_from_cms(order_file, tabular, year)
    except ValueError as exc:
        _fail(EXIT_INPUT, f"not loaded: {exc}")
    typer.echo(f"Loaded FY{year} into {path}")


def main() -> None:
    import os

    try:
        app()
    except KeyboardInterrupt:
        typer.echo("dexacode: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("DEXACODE_DEBUG"):
            raise
        # The exception's text may quote input; only its type is shown.
        typer.echo(
            f"dexacode: internal error ({type(exc).__name__}); please report it. "
            "Set DEXACODE_DEBUG=1 to see the details.",
            err=True,
        )
        sys.exit(70)
