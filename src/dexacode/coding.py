"""The library's front door: code an encounter with the default rule book and ICD index.

This is where files are opened (rule book, ICD-10-CM index); the engine it calls is pure.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from dexacode.contract import CodingResult, Encounter, PriorStudy, parse_encounter
from dexacode.engine import code_encounter
from dexacode.icd10 import Icd10Library, open_library
from dexacode.rulebook import RuleBook, load_rulebook


def config_path() -> Path:
    """``$DEXACODE_CONFIG``, else config.toml in the user's config directory."""
    env = os.environ.get("DEXACODE_CONFIG")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("dexacode")) / "config.toml"


def configured_payer_dirs() -> list[Path]:
    """Payer profile folders from ``$DEXACODE_PAYERS`` (os.pathsep-separated) and the
    config file's ``payers_dir`` setting, in that order."""
    dirs: list[Path] = []
    env = os.environ.get("DEXACODE_PAYERS")
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    path = config_path()
    if path.is_file():
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        value = data.get("payers_dir")
        if isinstance(value, str):
            dirs.append(Path(value).expanduser())
        elif isinstance(value, list):
            dirs += [Path(str(v)).expanduser() for v in value]
    return dirs


def configured_rulebook(payer_dirs: Sequence[Path] = ()) -> RuleBook:
    """The rule book every command codes with: the shipped one, the configured payer
    profiles and ``payer_dirs``, and the CMS data loaded in the data folder (cached until
    one is imported, so a long-running server picks up a new import on its next call)."""
    from dexacode.data import with_loaded_data

    return with_loaded_data(load_rulebook([*configured_payer_dirs(), *payer_dirs]))


def _default_book() -> RuleBook:
    return configured_rulebook()


@cache
def default_library() -> Icd10Library:
    return open_library()


def code(
    encounter: Encounter | dict[str, Any] | str | bytes,
    *,
    rulebook: RuleBook | None = None,
    icd: Icd10Library | None = None,
    history: Sequence[PriorStudy] = (),
) -> CodingResult:
    """Code one encounter.

    ``encounter`` may be an ``Encounter``, a dict or JSON text in the contract's shape;
    bad input raises ``ContractError`` (or ``InputError`` for an unknown payer or a date
    the rule book does not cover). ``history`` adds prior studies to the encounter's own.
    """
    enc = encounter if isinstance(encounter, Encounter) else parse_encounter(encounter)
    book = rulebook if rulebook is not None else _default_book()
    library = icd if icd is not None else default_library()
    rules = book.in_force(enc.date_of_service, enc.payer)
    release, exact = library.for_date(enc.date_of_service)
    return code_encounter(enc, rules, release, icd_exact=exact, history=history)
