"""The worked examples (copied from the project's shared examples) hold, through the command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, load_example

DEXACODE = [sys.executable, "-m", "dexacode"]


def _line_set(lines: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((line["cpt"], tuple(sorted(line.get("modifiers") or []))) for line in lines)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_worked_example_holds(path: Path, tmp_path: Path) -> None:
    body = load_example(path)
    expect = body["expect"]
    src = tmp_path / "encounter.json"
    src.write_text(json.dumps(body["encounter"]))
    proc = subprocess.run(
        [*DEXACODE, "code", str(src), "--format", "json"], capture_output=True, text=True
    )
    if expect.get("exit") == 2:
        assert proc.returncode == 2
        assert proc.stdout == ""
        assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("dexacode:")
        return
    assert proc.returncode in (0, 1), proc.stderr
    if "exit" in expect:
        assert proc.returncode == expect["exit"]
    result = json.loads(proc.stdout)
    if "lines" in expect:
        assert _line_set(result["lines"]) == _line_set(expect["lines"])
        assert all(line["units"] == 1 for line in result["lines"])
    for code in expect.get("diagnoses_include", []):
        assert code in result["diagnoses"]
    for code in expect.get("diagnoses_exclude", []):
        assert code not in result["diagnoses"]
    if "category" in expect:
        assert result["interpretation"]["category"] == expect["category"]
    for key in ("medicare_category", "next_eligible_date", "guideline_indicated"):
        if key in expect:
            assert result["coverage"][key] == expect[key]
    found = {f["id"] for f in result["findings"]}
    assert set(expect.get("findings_include", [])) <= found
    assert not set(expect.get("findings_exclude", [])) & found
    assert all(f["message"] and f["sources"] for f in result["findings"])
    # Exit status follows the findings: 1 exactly when an error-level finding is present.
    has_error = any(f["severity"] == "error" for f in result["findings"])
    assert proc.returncode == (1 if has_error else 0)
