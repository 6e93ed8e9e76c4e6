"""``dexacode x12`` and ``dexacode fhir-import``: claim files out, FHIR in.

Register with ``app.command("x12")(x12_command)`` and
``app.command("fhir-import")(fhir_import_command)``. ``result_to_fhir`` (re-exported here)
gives the Bundle for ``--fhir`` on ``code`` and ``scrub``.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from dexacode.cli_options import DbOption, rule_book_failure, store_errors
from dexacode.formats.fhir.write import result_to_fhir

if TYPE_CHECKING:
    from dexacode.batch import ScrubOptions

__all__ = ["fhir_import_command", "result_to_fhir", "x12_command"]

EXIT_CLEAN, EXIT_SOME, EXIT_INPUT, EXIT_DATA = 0, 1, 2, 3


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"dexacode: {message}", err=True)
    raise typer.Exit(code)


@dataclass(frozen=True)
class _Coded:
    row: int
    encounter: Any  # Encounter
    result: Any  # CodingResult
    family: str
    rules: Any  # RuleSet in force on the date of service
    release: Any  # Icd10Release of the date of service


def _code_rows(
    source: Path, options: ScrubOptions, work: Path
) -> Iterator[_Coded | tuple[int, str | None, str]]:
    """Every row of a batch file coded exactly as ``dexacode scrub`` codes it, or (row,
    claim id, reason) when it cannot be.

    ``batch.scrub`` does the coding (``options`` is its ``ScrubOptions``): the history
    store's prior studies, and a patient's visits in the file checked against each other
    in date order. Its results and errors go to ``work`` and are read back here, paired
    with the input rows by row number (the results are in input order, the rows that
    could not be coded are in the errors file with their row).
    """
    from dexacode.batch import scrub
    from dexacode.contract import CodingResult
    from dexacode.data import with_loaded_data
    from dexacode.formats.batch_io import encounter_of, format_of, read_rows
    from dexacode.icd10 import open_library
    from dexacode.rulebook import load_rulebook

    results_path, errors_path = work / "results.jsonl", work / "errors.jsonl"
    scrub(source, results_path, errors_path, options)
    bad: dict[int, tuple[str | None, str]] = {}
    if errors_path.exists():
        with errors_path.open(encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                field, reason = record["field"], record["reason"]
                bad[record["row"]] = (record["claim_id"], f"{field}: {reason}" if field else reason)
    # The same rule book the scrub coded with: for the payer family and the code checks.
    book = with_loaded_data(load_rulebook(list(options.payer_dirs)))
    library = open_library()
    with results_path.open(encoding="utf-8") as results:
        for raw, _ in read_rows(source, format_of(source, options.input_format)):
            if raw.blank:  # skipped by the scrub too: no encounter, no result
                continue
            if raw.row in bad:
                claim_id, reason = bad[raw.row]
                yield raw.row, claim_id, reason
                continue
            text = next(results, None)
            try:
                enc = encounter_of(raw)
            except ValueError:  # ContractError, FlatRowError: the scrub could read it
                enc = None
            result = CodingResult.model_validate_json(text) if text is not None else None
            if enc is None or result is None or result.claim_id != enc.claim_id:
                raise _InputChanged(f"{source}: row {raw.row} changed while it was being coded")
            rules = book.in_force(enc.date_of_service, enc.payer)
            release, _ = library.for_date(enc.date_of_service)
            family = rules.payer.family
            yield _Coded(raw.row, enc, result, family, rules, release)


class _InputChanged(ValueError):
    """The input file read back after scrubbing is not the one scrubbed."""


def _check_out(source: Path, out: Path) -> None:
    """Refuse, before any coding, an OUT that cannot be written or would replace INPUT."""
    from dexacode.formats.batch_io import output_problem

    problem = output_problem(out, "output")
    if problem is not None:
        _fail(EXIT_INPUT, f"input error: {problem}")
    if out.exists() and source.exists() and out.resolve() == source.resolve():
        _fail(EXIT_INPUT, "input error: the output file must not be the input file")


def x12_command(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Encounters in any batch format `dexacode scrub` reads (.jsonl, .csv, "
            ".parquet): each is coded, and its corrected claim goes into the 837P.",
        ),
    ],
    provider: Annotated[
        Path,
        typer.Option(
            "--provider",
            help="The practice's fixed data (TOML): submitter, receiver, billing provider "
            "NPI/tax id/ZIP+4, payer ids. A documented example ships in "
            "dexacode/formats/x12/examples/provider.toml.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The 837P file to write (e.g. claims.837).")
    ],
    fees: Annotated[
        Path | None,
        typer.Option(
            "--fees",
            help="Your fee schedule, CSV lines cpt,charge or cpt,modifier,charge (26/TC "
            "priced apart). Required: dexacode never invents a price.",
        ),
    ] = None,
    patients: Annotated[
        Path | None,
        typer.Option(
            "--patients",
            help="Subscriber names, member ids and addresses (CSV: patient_id,member_id,"
            "last_name,first_name,address,city,state,zip). Without it the file carries "
            "patient ids in their place and is marked as a test interchange.",
        ),
    ] = None,
    include_errors: Annotated[
        bool,
        typer.Option(
            "--include-errors",
            help="Also write claims whose result has an error-level finding (they are held "
            "back by default, listed with their reasons).",
        ),
    ] = False,
    control_number: Annotated[
        int | None,
        typer.Option(
            "--control-number",
            min=1,
            max=999_999_999,
            help="Interchange control number (ISA13/GS06). Default: from the clock.",
        ),
    ] = None,
    input_format: Annotated[
        str | None, typer.Option("--format", help="Input format when the ending does not say.")
    ] = None,
    payers: Annotated[
        list[Path] | None,
        typer.Option("--payers", help="Folder of extra payer profiles; may be repeated."),
    ] = None,
    db: DbOption = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not read prior studies from the history store.")
    ] = False,
) -> None:
    """Write coded encounters as one ASC X12 837P (005010X222A1) interchange.

    Each encounter is coded exactly as `dexacode scrub` codes it (prior studies from the
    history store, and a patient's encounters in the file checked against each other for
    frequency, in date order); its corrected claim (lines, modifiers, units, diagnosis
    pointers, ICD-10-CM codes undotted) becomes a CLM with SV1 lines priced from your fee
    file. Claims with error-level findings, institutional claims and lines without a fee
    are held back and listed; when every one is, no file is written. Exit status: 0 every
    encounter written, 1 some or all held back, 2 an input file or the history store
    could not be used, 3 dexacode's rule book could not be used.
    """
    from dexacode.batch import ScrubOptions
    from dexacode.coding import configured_payer_dirs
    from dexacode.formats.batch_io import BatchInputError
    from dexacode.formats.x12 import (
        Envelope,
        FeeFileError,
        PatientFileError,
        ProviderFileError,
        claim_for,
        claim_problems,
        interchange_text,
        load_fees,
        load_patients,
        load_provider,
    )
    from dexacode.formats.x12.model import Claim837
    from dexacode.rulebook import RuleBookError

    if fees is None:
        _fail(
            EXIT_INPUT,
            "no fee file: give --fees FEES.csv with your charges (lines cpt,charge or "
            "cpt,modifier,charge); dexacode does not invent prices.",
        )
    try:
        practice = load_provider(provider)
        schedule = load_fees(fees)
        people = load_patients(patients) if patients else None
    except (ProviderFileError, FeeFileError, PatientFileError) as exc:
        _fail(EXIT_INPUT, f"input error: {exc}")
    _check_out(source, out)
    options = ScrubOptions(
        input_format=input_format,
        output_format="jsonl",
        db_url=db,
        use_store=not no_store,
        payer_dirs=tuple([*configured_payer_dirs(), *(payers or [])]),
    )
    claims: list[Claim837] = []
    held: list[tuple[int, str | None, list[str]]] = []
    held_for_errors = False  # some encounter was held back for an error-level finding
    try:
        with tempfile.TemporaryDirectory(prefix="dexacode-x12-") as work:
            for item in _code_rows(source, options, Path(work)):
                if not isinstance(item, _Coded):
                    row, claim_id, reason = item
                    held.append((row, claim_id, [reason]))
                    continue
                made = claim_for(
                    item.encounter,
                    item.result,
                    provider=practice,
                    fees=schedule,
                    family=item.family,
                    patients=people,
                    include_errors=include_errors,
                )
                if isinstance(made, list):
                    held.append((item.row, item.encounter.claim_id, made))
                    held_for_errors |= not include_errors and item.result.has_errors
                    continue
                problems = claim_problems(
                    made, item.release, item.rules.procedures, item.rules.modifiers
                )
                if problems:
                    held.append((item.row, made.claim_id, problems))
                    continue
                claims.append(made)
    except (BatchInputError, _InputChanged) as exc:
        _fail(EXIT_INPUT, f"input error: {exc}")
    except RuleBookError as exc:
        _fail(*rule_book_failure(exc))
    except store_errors() as exc:
        _fail(EXIT_INPUT, f"history store error: {exc}")

    if not claims:
        # An 837 needs at least one claim (loop 2000B): an empty one would be refused.
        _list_held(held)
        hint = (
            " Correct them and run again, or give --include-errors to send claims with "
            "error-level findings anyway."
            if held_for_errors
            else " Correct them and run again."
        )
        _fail(
            EXIT_SOME,
            f"no claim to write: every encounter in {source.name} was held back "
            f"({len(held):,}, reasons above), so {out} was not written.{hint}",
        )
    now = dt.datetime.now()
    number = control_number or int(now.strftime("%y%j%H%M")) % 1_000_000_000 or 1
    if people is None and practice.interchange.usage == "P":
        practice = practice.model_copy(
            update={"interchange": practice.interchange.model_copy(update={"usage": "T"})}
        )
    out.write_text(interchange_text(claims, practice, Envelope(number, now)), encoding="utf-8")
    typer.echo(
        f"Wrote {len(claims):,} claim(s) to {out} (interchange {number:09d}, "
        f"usage {practice.interchange.usage})"
    )
    if people is None:
        typer.echo(
            "Note: no --patients file: subscriber names and member ids are the patient ids, "
            "so the file is marked as a test interchange (ISA15 = T)."
        )
    _list_held(held)
    raise typer.Exit(EXIT_SOME if held else EXIT_CLEAN)


def _list_held(held: list[tuple[int, str | None, list[str]]]) -> None:
    if held:
        typer.echo(f"Held back {len(held):,}:")
        for row, claim_id, reasons in held:
            typer.echo(f"  row {row}{f' claim {claim_id}' if claim_id else ''}:")
            for reason in reasons:
                typer.echo(f"    - {reason}")


def _parse_sites(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [s.strip() for s in text.replace(";", ",").split(",") if s.strip()]


def fhir_import_command(
    sources: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE...",
            help="FHIR R4 JSON: a Bundle, NDJSON of resources, or loose resource files "
            "(e.g. a Patient, a DXA DiagnosticReport and its Observations).",
        ),
    ],
    overlay: Annotated[
        Path | None,
        typer.Option(
            "--overlay",
            help="Facts FHIR lacks, as part of an encounter in TOML or JSON, e.g. "
            'payer = "medicare", [order] reason = "screening", [exam] sites = ["left_hip"].',
        ),
    ] = None,
    payer: Annotated[
        str | None, typer.Option("--payer", help="Payer profile, e.g. medicare.")
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="Order reason: screening, diagnostic, monitoring, glucocorticoid_monitoring, "
            "confirm_baseline.",
        ),
    ] = None,
    sites: Annotated[
        str | None,
        typer.Option(
            "--sites", help="Measured sites, comma-separated, e.g. lumbar_spine,left_hip."
        ),
    ] = None,
    claim_id: Annotated[str | None, typer.Option("--claim-id", help="The claim id.")] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the encounter JSON here (default: stdout)."),
    ] = None,
) -> None:
    """Turn FHIR R4 resources into a dexacode encounter, and name what FHIR lacked.

    Reads Patient (sex, birth date), ServiceRequest/Procedure, Condition (ICD-10-CM),
    MedicationStatement/MedicationRequest and a DXA DiagnosticReport with its
    Observations (LOINC-coded BMD, T- and Z-scores). Facts FHIR does not carry (payer,
    often order reason and sites) come from --overlay or the options; a Claim in the input
    becomes the submitted claim to check. Exit status: 0 the encounter is complete, 1
    written but facts are missing or a DXA result could not be read (listed on stderr), 2
    the input could not be read.
    """
    from dexacode.contract import ContractError, parse_encounter
    from dexacode.formats.fhir import FhirInputError, import_files, load_overlay, supply
    from dexacode.formats.fhir.terms import MissingExtraError

    try:
        imported = import_files(sources)
        if overlay is not None:
            imported = supply(imported, load_overlay(overlay))
    except (FhirInputError, MissingExtraError) as exc:
        _fail(EXIT_INPUT, f"input error: {exc}")
    extra: dict[str, Any] = {}
    if payer:
        extra["payer"] = payer
    if claim_id:
        extra["claim_id"] = claim_id
    if reason:
        extra["order"] = {"reason": reason}
    site_list = _parse_sites(sites)
    if site_list is not None:
        extra["exam"] = {"sites": site_list}
    if extra:
        imported = supply(imported, extra)
    text = json.dumps(imported.encounter, indent=2)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    else:
        typer.echo(text)
    for note in imported.notes:
        typer.echo(f"note: {note}", err=True)
    if imported.missing:
        typer.echo("The FHIR input lacks facts dexacode needs to code it:", err=True)
        for missing in imported.missing:
            typer.echo(f"  {missing.field:<20} give it with {missing.how}", err=True)
        raise typer.Exit(EXIT_SOME)
    try:
        parse_encounter(imported.encounter)
    except ContractError as exc:
        _fail(EXIT_SOME, f"the encounter is not yet valid: {exc}")
    raise typer.Exit(EXIT_CLEAN)
