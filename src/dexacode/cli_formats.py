"""``dexacode x12`` and ``dexacode fhir-import``: claim files out, FHIR in.

Register with ``app.command("x12")(x12_command)`` and
``app.command("fhir-import")(fhir_import_command)``. ``result_to_fhir`` (re-exported here)
gives the Bundle for ``--fhir`` on ``code`` and ``scrub``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from dexacode.formats.fhir.write import result_to_fhir

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
    source: Path, input_format: str | None, payers: list[Path] | None, use_store: bool
) -> Iterator[_Coded | tuple[int, str | None, str]]:
    """Every row of a batch file coded, or (row, claim id, reason) when it cannot be."""
    from dexacode.coding import configured_payer_dirs, default_library
    from dexacode.contract import ContractError
    from dexacode.engine import code_encounter
    from dexacode.formats.batch_io import claim_id_of, encounter_of, format_of, read_rows
    from dexacode.formats.flat import FlatRowError
    from dexacode.rulebook import InputError, load_rulebook

    book = load_rulebook([*configured_payer_dirs(), *(payers or [])])
    library = default_library()
    store: Any = None
    if use_store:
        from dexacode.store import HistoryStore

        store = HistoryStore(None)
    for raw, _ in read_rows(source, format_of(source, input_format)):
        if raw.problem is not None:
            yield raw.row, None, raw.problem
            continue
        try:
            enc = encounter_of(raw)
            rules = book.in_force(enc.date_of_service, enc.payer)
            release, exact = library.for_date(enc.date_of_service)
            prior = store.studies_for({enc.patient.id}).get(enc.patient.id, []) if store else []
            result = code_encounter(enc, rules, release, icd_exact=exact, history=prior)
        except FlatRowError as exc:
            yield raw.row, claim_id_of(raw), f"{exc.column}: {exc.message}"
            continue
        except (ContractError, InputError) as exc:
            yield raw.row, claim_id_of(raw), str(exc)
            continue
        family = "medicare" if rules.payer.medicare_family else rules.payer.name
        yield _Coded(raw.row, enc, result, family, rules, release)


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
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not read prior studies from the history store.")
    ] = False,
) -> None:
    """Write coded encounters as one ASC X12 837P (005010X222A1) interchange.

    Each encounter is coded; its corrected claim (lines, modifiers, units, diagnosis
    pointers, ICD-10-CM codes undotted) becomes a CLM with SV1 lines priced from your fee
    file. Claims with error-level findings, institutional claims and lines without a fee
    are held back and listed. Exit status: 0 every encounter written, 1 some held back,
    2 an input file could not be used.
    """
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
    claims: list[Claim837] = []
    held: list[tuple[int, str | None, list[str]]] = []
    try:
        for item in _code_rows(source, input_format, payers, not no_store):
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
                continue
            problems = claim_problems(
                made, item.release, item.rules.procedures, item.rules.modifiers
            )
            if problems:
                held.append((item.row, made.claim_id, problems))
                continue
            claims.append(made)
    except BatchInputError as exc:
        _fail(EXIT_INPUT, f"input error: {exc}")
    except RuleBookError as exc:
        _fail(EXIT_DATA, f"rule book error: {exc}")

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
    if held:
        typer.echo(f"Held back {len(held):,}:")
        for row, claim_id, reasons in held:
            typer.echo(f"  row {row}{f' claim {claim_id}' if claim_id else ''}:")
            for reason in reasons:
                typer.echo(f"    - {reason}")
    raise typer.Exit(EXIT_SOME if held else EXIT_CLEAN)


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
    often order reason and sites) come from --overlay or the options. Exit status: 0 the
    encounter is complete, 1 written but facts are missing (listed on stderr), 2 the input
    could not be read.
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
