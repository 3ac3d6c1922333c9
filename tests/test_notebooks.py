"""The committed notebooks: one clean top-to-bottom run each, and the course's conventions."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_sequence_is_numbered_without_gaps():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers[:3] == [1, 2, 3] and numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_holds_one_clean_run(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), counts
    for cell in code:
        for out in cell["outputs"]:
            assert out["output_type"] != "error", "".join(cell["source"])[:80]
            text = "".join(out.get("text", ""))
            assert "Traceback" not in text
    # it was run in full mode, not in the FAST mode the tests use
    first = "".join(code[0]["outputs"][0]["text"]) if code[0]["outputs"] else ""
    assert "full mode" in first
    # every notebook has at least one stored figure
    assert any(
        o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
        for c in code
        for o in c["outputs"]
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_what_you_will_learn_and_ends_with_exercises(path):
    nb = json.loads(path.read_text())
    markdown = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert "What you will learn" in markdown[0]
    headings = [h for m in markdown for h in re.findall(r"^## .*$", m, re.M)]
    assert headings[-1].startswith("## Exercises")  # the last section holds the exercises
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "assert " in code
