"""The report command's options file (TOML): what the encounter contract does not carry.

excluded_vertebrae = [4]            # the reader's decision; else the T-score rule
[patient]
height_loss_cm = 4.5
glucocorticoid_mg_per_day = 7.5
glucocorticoid_months = 6
vertebral_fracture_reported = false
hyperparathyroidism = false
over_table_weight_limit = false
[frax]                              # 10-year probabilities in %, from the user's FRAX
major = 22.0
hip = 2.1
[precision.lumbar_spine]            # facility precision: RMS-SD g/cm2 or % CV
value = 0.010
unit = "g/cm2"
[prior]
date = 2024-03-01
report = "prior.txt"                # a scanner report (relative to this file), or:
results = [{site = "lumbar_spine", region = "L1-L4", bmd = 0.981}]
device = "Hologic Horizon W (S/N 300002M)"   # with results: the prior's scanner, as printed
"""

from __future__ import annotations

import datetime as dt
import tomllib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dexacode.contract import Result
from dexacode.iscd import Frax, Precision


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatientExtras(_Options):
    height_loss_cm: float | None = Field(default=None, ge=0, le=50)
    glucocorticoid_mg_per_day: float | None = Field(default=None, ge=0, le=1000)
    glucocorticoid_months: float | None = Field(default=None, ge=0, le=1200)
    vertebral_fracture_reported: bool = False
    hyperparathyroidism: bool = False
    over_table_weight_limit: bool = False


class PriorOptions(_Options):
    date: dt.date | None = None
    report: str | None = None
    scanner: str | None = Field(default=None, description="hologic or lunar")
    device: str | None = Field(
        default=None,
        description="the prior study's device as its report prints it, maker and model "
        "with the serial number: 'Hologic Horizon W (S/N 300002M)'; a change is judged only "
        "when it is this study's",
    )
    results: list[Result] = Field(default_factory=list)


class ReportOptions(_Options):
    patient: PatientExtras = Field(default_factory=PatientExtras)
    frax: Frax | None = None
    precision: dict[str, Precision] = Field(default_factory=dict)
    prior: PriorOptions | None = None
    excluded_vertebrae: list[int] | None = None


def parse_options(text: str) -> ReportOptions:
    """Read the options file's text; ``ValueError`` with one line naming the field."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    try:
        return ReportOptions.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from None
