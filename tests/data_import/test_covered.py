"""COVERED-DX and COVERED-DX-UNKNOWN: the claim's diagnoses against the covered list of its
payer, the shipped starter list or a loaded contractor article, and "no list" kept apart
from "not on the list"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from dexacode.cli_data import format_status
from dexacode.coding import code as code_with
from dexacode.contract import CodingResult
from dexacode.data import import_files, status
from dexacode.icd10 import Icd10Library
from dexacode.rulebook import RuleBook, RuleBookError, load_rulebook
from tests.conftest import finding, ids, make_encounter
from tests.data_import.conftest import MCD_FILES

Coder = Callable[..., CodingResult]

# A 72-year-old man with normal results on a screening study: none of Medicare's
# categories, so his claim carries only Z13.820.
UNQUALIFIED_MAN = {
    "patient__sex": "M",
    "patient__birth_date": "1954-02-01",
    "patient__menopausal_status": None,
}


def _load_article(data_dir: Path, book: RuleBook) -> None:
    import_files(
        "mcd-article", MCD_FILES, article="57132", payer="medicare", data_dir=data_dir, book=book
    )


def test_starter_list_passes_a_qualified_woman(coder: Coder) -> None:
    result = coder()  # Z13.820 + Z78.0, postmenopausal
    assert "COVERED-DX" not in ids(result) and "COVERED-DX-UNKNOWN" not in ids(result)


def test_starter_list_flags_a_claim_with_no_covered_diagnosis(coder: Coder) -> None:
    result = coder(**UNQUALIFIED_MAN)
    assert result.diagnoses == ["Z13.820"]
    hit = finding(result, "COVERED-DX")
    assert hit.severity == "error" and hit.line == "77080"
    assert "starter list drawn from the national coverage categories" in hit.message
    assert "Z13.820" in hit.message


def test_starter_list_borders_m85_8_but_not_m85_80(coder: Coder) -> None:
    site = coder(**UNQUALIFIED_MAN, patient__conditions=["M85.851"])
    assert "COVERED-DX" not in ids(site)
    unspecified = coder(**UNQUALIFIED_MAN, patient__conditions=["M85.80"])
    assert "COVERED-DX" in ids(unspecified)


def test_vfa_alone_is_not_governed_by_the_bone_mass_list(coder: Coder) -> None:
    result = coder(**UNQUALIFIED_MAN, exam__sites=[], exam__vfa=True, results=[])
    assert [line.cpt for line in result.lines] == ["77086"]
    assert "COVERED-DX" not in ids(result)


def test_a_payer_without_a_list_gets_unknown_not_covered(coder: Coder) -> None:
    result = coder(payer="commercial", **UNQUALIFIED_MAN)
    assert "COVERED-DX" not in ids(result)
    info = finding(result, "COVERED-DX-UNKNOWN")
    assert info.severity == "info" and "--payer commercial" in info.message


def test_a_loaded_article_replaces_the_starter_list_for_its_payer(
    coder: Coder, data_dir: Path, book: RuleBook
) -> None:
    # Z79.52 alone is on the starter list and in the article's group 1 too; Z79.51 is on
    # the starter list but not in the article.
    inhaled = {"patient__conditions": ["Z79.51"], **UNQUALIFIED_MAN}
    assert "COVERED-DX" not in ids(coder(**inhaled))
    _load_article(data_dir, book)
    hit = finding(coder(**inhaled), "COVERED-DX")
    assert "article A57132 version 12" in hit.message
    # Before the article's effective date the starter list still applies.
    assert "COVERED-DX" not in ids(coder(date_of_service="2023-12-01", **inhaled))
    # Another payer is untouched by it.
    assert "COVERED-DX-UNKNOWN" in ids(coder(payer="commercial", **inhaled))


def test_the_article_names_codes_it_does_not_cover(
    coder: Coder, data_dir: Path, book: RuleBook
) -> None:
    _load_article(data_dir, book)
    # (M85.80, also on the article's list, never reaches the corrected claim.)
    result = coder(**UNQUALIFIED_MAN, order__reason="diagnostic", patient__conditions=["Z13.89"])
    assert result.diagnoses == ["Z13.89"]
    messages = [f.message for f in result.findings if f.id == "COVERED-DX"]
    assert any("and it names Z13.89 as not covered" in m for m in messages), messages


def test_must_be_billed_with_becomes_a_pairing_rule(
    coder: Coder, data_dir: Path, book: RuleBook
) -> None:
    _load_article(data_dir, book)
    # Group 3: Z13.820 must be billed with Z78.0 or Z90.721 - Z90.722.
    met = coder()  # Z13.820 + Z78.0
    assert "COVERED-DX" not in ids(met)
    ranged = coder(**UNQUALIFIED_MAN, patient__conditions=["E21.0", "Z90.722"])
    assert "COVERED-DX" not in ids(ranged)
    unmet = coder(**UNQUALIFIED_MAN, patient__conditions=["E21.0"])
    hit = finding(unmet, "COVERED-DX")
    assert "Z13.820 must be billed with one of Z78.0, Z90.721..Z90.722 (group 3)" in hit.message
    # Group 2: Z09 must be billed with a code from group 1.
    z09 = {"order__reason": "monitoring", "patient__conditions": ["Z09"], **UNQUALIFIED_MAN}
    lone = coder(**z09)
    assert any("Z09 must be billed with" in f.message for f in lone.findings)
    paired = coder(**{**z09, "patient__conditions": ["Z09", "Z87.310"]})
    assert not any("Z09 must be billed with" in f.message for f in paired.findings)


def _profile(folder: Path, body: str) -> list[Path]:
    folder.mkdir(exist_ok=True)
    (folder / "acme.toml").write_text(body, encoding="utf-8")
    return [folder]


def test_a_profile_inherits_or_clears_the_covered_list(
    tmp_path: Path, library: Icd10Library
) -> None:
    head = 'name = "acme"\nlabel = "Acme"\nextends = "medicare"\neffective = 2015-10-01\n'
    head += 'source = ["seed"]\n'
    inherits = load_rulebook(_profile(tmp_path / "a", head))
    cleared = load_rulebook(_profile(tmp_path / "b", head + 'covered_list = ""\n'))
    enc = make_encounter(payer="acme", **UNQUALIFIED_MAN)
    assert "COVERED-DX" in ids(code_with(enc, rulebook=inherits, icd=library))
    assert "COVERED-DX-UNKNOWN" in ids(code_with(enc, rulebook=cleared, icd=library))


def test_a_profile_naming_an_unknown_list_is_refused(tmp_path: Path) -> None:
    body = 'name = "acme"\nlabel = "Acme"\nextends = "medicare"\neffective = 2015-10-01\n'
    body += 'source = ["seed"]\ncovered_list = "no-such-list"\n'
    with pytest.raises(RuleBookError, match="unknown covered_list 'no-such-list'"):
        load_rulebook(_profile(tmp_path / "c", body))


def test_an_article_governs_no_claim_after_its_end_date(
    coder: Coder, data_dir: Path, book: RuleBook, tmp_path: Path
) -> None:
    folder = tmp_path / "mcd"
    folder.mkdir()
    for path in MCD_FILES:
        text = path.read_text(encoding="utf-8")
        if path.name == "article.csv":  # version 12 retired: its last day 2025-06-30
            text = text.replace(
                "2024-01-04 00:00:00,,2023-12-21",
                "2024-01-04 00:00:00,2025-06-30 00:00:00,2023-12-21",
            )
        (folder / path.name).write_text(text, encoding="utf-8")
    # Attached to a payer with no list of its own: after the end date, no list applies.
    report = import_files(
        "mcd-article",
        sorted(folder.glob("*.csv")),
        article="57132",
        payer="commercial",
        data_dir=data_dir,
        book=book,
    )
    assert report.ends == dt.date(2025, 6, 30)
    last_day = coder(payer="commercial", date_of_service="2025-06-30", **UNQUALIFIED_MAN)
    assert "COVERED-DX" in ids(last_day) and "COVERED-DX-UNKNOWN" not in ids(last_day)
    assert "MCD article A57132 v12 for commercial" in last_day.editions
    after = coder(payer="commercial", date_of_service="2025-07-01", **UNQUALIFIED_MAN)
    assert "COVERED-DX" not in ids(after) and "COVERED-DX-UNKNOWN" in ids(after)
    assert not any("A57132" in e for e in after.editions)
    (shown,) = status(dt.date(2025, 7, 1), data_dir).of("mcd-article")
    assert (shown.governs_from, shown.governs_to) == (dt.date(2024, 1, 4), dt.date(2025, 6, 30))
    assert "governs 2024-01-04 to 2025-06-30 (its end date: it governs no claim after it)" in (
        format_status(status(dt.date(2025, 7, 1), data_dir))
    )
