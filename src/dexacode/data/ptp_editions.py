"""Which loaded NCCI PTP edition speaks for which part of the table.

Why not "the edition of the claim's quarter"? An NCCI PTP file is not a list of the edits
of its quarter: it is the whole table as CMS knows it on publication, every row with its
own effective date and deletion date (deleted edits stay in the file, with the date), back
to 1996. CMS corrects that history: a later file may delete an edit as of a day that falls
in an earlier quarter (v32.2 deleting a pair as of 2026-05-31), or change an indicator back
to the edit's first day. Medicare's claims system applies the current table to each
claim's date of service, so a claim from June that is processed (or re-processed) after
the correction is judged by the corrected row. A coder checking a claim therefore expects
"the rows in force on the date of service" to mean those rows as the newest table states
them, not the rows of the file that happened to be current in June. So:

- for every date of service, the newest loaded edition speaks, and its rows' own
  effective and deletion dates decide whether an edit is in force on that date (an older
  edition loaded beside it changes nothing: it is superseded);
- the table is split over files by column 1 code range (``-f1`` ... ``-f4``), and a user
  may load only some parts of a new quarter. Each part is spoken for by the newest edition
  that has it, so a missing part falls back to the previous quarter's rows for that part,
  never to "no edit" or to the shipped rows; the incomplete edition is flagged in
  ``data status`` and in the ``editions`` of every result (``INCOMPLETE: lacks part f3``);
- a pair the speaking parts do not mention keeps the shipped rows (CPT conventions and
  CMS's XU placement that NCCI does not hold).

MUE tables carry no dates in their rows, so they keep the quarter's-edition rule
(``overlay.governing``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dexacode.data._catalog import Dataset

_NUMBERED = re.compile(r"^f\d+$")


@dataclass(frozen=True)
class PtpPlan:
    """``speaker``: for each part, the edition whose rows are used for it (the newest
    that has it); ``newest``: the newest edition loaded."""

    speaker: dict[str, Dataset]
    newest: Dataset
    editions: tuple[Dataset, ...]  # newest first

    def parts_of(self, dataset: Dataset) -> tuple[str, ...]:
        return tuple(sorted({f.part for f in dataset.files.values()}, key=_part_key))

    def speaks_for(self, dataset: Dataset) -> tuple[str, ...]:
        return tuple(p for p in self.parts_of(dataset) if self.speaker[p] is dataset)

    def lacks(self, dataset: Dataset) -> dict[str, Dataset]:
        """The numbered parts an older edition shows the table has, missing from
        ``dataset``, with that older edition, whose rows stand in for each."""
        own = set(self.parts_of(dataset))
        return {
            part: speaker
            for part, speaker in sorted(self.speaker.items(), key=lambda i: _part_key(i[0]))
            if _NUMBERED.match(part) and part not in own and speaker.effective < dataset.effective
        }

    def superseded_by(self, dataset: Dataset) -> Dataset | None:
        """The edition that speaks for this one's parts when it speaks for none."""
        if self.speaks_for(dataset):
            return None
        speakers = {self.speaker[p].slug: self.speaker[p] for p in self.parts_of(dataset)}
        return max(speakers.values(), key=lambda d: d.effective) if speakers else None


def plan(editions: Sequence[Dataset]) -> PtpPlan:
    ordered = tuple(sorted(editions, key=lambda d: d.effective, reverse=True))
    speaker: dict[str, Dataset] = {}
    for dataset in ordered:
        for info in dataset.files.values():
            speaker.setdefault(info.part, dataset)
    return PtpPlan(speaker=speaker, newest=ordered[0], editions=ordered)


def missing_file(dataset: Dataset, part: str) -> str:
    """The name of the file that holds ``part`` of the edition, by its siblings' names."""
    for name in sorted(dataset.files):
        m = re.search(r"(?i)([-_ .])f\d+(?=$|[-_ .(])", name.rsplit(".", 1)[0])
        if m is not None:
            stem = name.rsplit(".", 1)[0]
            return f"{stem[: m.start()]}{m.group(1)}{part}"
    return f"the {part} file of {dataset.edition}"


def _part_key(part: str) -> tuple[int, str]:
    return (int(part[1:]), "") if _NUMBERED.match(part) else (10**6, part)
