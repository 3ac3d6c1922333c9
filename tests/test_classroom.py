"""Student notebooks: in sync with the instructor notebooks, without solutions, and they fit."""

import copy
import json
import os
from pathlib import Path

import pytest

from ddim_edu import classroom
from ddim_edu.exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[1]
STUDENT = ROOT / "notebooks" / "student"
INSTRUCTOR = {p.name: p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}


def load(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def tagged(nb, tag):
    return [c for c in nb["cells"] if tag in c.get("metadata", {}).get("tags", [])]


def test_committed_student_notebooks_equal_a_fresh_build():
    assert sorted(p.name for p in STUDENT.glob("*.ipynb")), "no student notebooks committed"
    assert classroom.out_of_sync() == []


def test_every_exercise_appears_in_exactly_one_instructor_notebook():
    ids = [
        c["metadata"]["exercise"] for p in INSTRUCTOR.values() for c in tagged(load(p), "solution")
    ]
    assert sorted(ids) == sorted(EXERCISES)


@pytest.mark.parametrize("path", sorted(STUDENT.glob("*.ipynb")), ids=lambda p: p.name)
def test_student_notebook_has_skeletons_and_no_solution(path):
    nb = load(path)
    teacher = load(INSTRUCTOR[path.name])
    assert not tagged(nb, "solution")
    solutions = tagged(teacher, "solution")
    skeletons = tagged(nb, "skeleton")
    assert [c["metadata"]["exercise"] for c in skeletons] == [
        c["metadata"]["exercise"] for c in solutions
    ]
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    # each skeleton is followed by its checker call, and holds none of the solution's code
    for i, cell in enumerate(nb["cells"]):
        if "skeleton" in cell["metadata"].get("tags", []):
            ex = cell["metadata"]["exercise"]
            after = nb["cells"][i + 1]
            assert "check" in after["metadata"]["tags"]
            assert "".join(after["source"]).startswith(f'check("{ex}", ')
            assert "    ..." in "".join(cell["source"]) or "= ..." in "".join(cell["source"])
            assert "return" not in "".join(cell["source"])


def test_build_is_deterministic_and_check_reports_drift(tmp_path):
    first = classroom.build()
    assert first == classroom.build()
    classroom.write(target=tmp_path)
    assert classroom.main(["check", "--target", str(tmp_path)]) == 0
    victim = sorted(tmp_path.glob("*.ipynb"))[0]
    victim.write_text(victim.read_text().replace("...", "pass", 1))
    assert classroom.main(["check", "--target", str(tmp_path)]) == 1


def test_a_solution_cell_without_its_exercise_is_refused():
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["solution"]}, "source": "x = 1",
                     "outputs": [], "execution_count": 1}], "metadata": {}}  # fmt: skip
    with pytest.raises(ValueError, match="must name its exercise in metadata"):
        classroom.student_notebook(nb, "99_x.ipynb")


def _run(nb, cwd):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    node = nbformat.reads(json.dumps(nb), as_version=4)
    client = nbclient.NotebookClient(
        node, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return node


@pytest.mark.parametrize("path", sorted(STUDENT.glob("*.ipynb")), ids=lambda p: p.name)
def test_skeletons_replaced_by_the_solutions_run_top_to_bottom(path, monkeypatch):
    monkeypatch.setenv("DDIM_EDU_FAST", "1")
    nb = copy.deepcopy(load(path))
    solutions = {
        c["metadata"]["exercise"]: c["source"]
        for c in tagged(load(INSTRUCTOR[path.name]), "solution")
    }
    for cell in tagged(nb, "skeleton"):
        cell["source"] = solutions[cell["metadata"]["exercise"]]
    done = _run(nb, ROOT / "notebooks")
    checks = [c for c in done.cells if "check" in c.metadata.get("tags", [])]
    assert checks
    for cell in checks:
        text = json.dumps([o.get("data", o.get("text")) for o in cell.outputs], ensure_ascii=False)
        assert "✅ correct" in text, text


# as handed out (every answer still `...`): the two shortest notebooks, the mechanism is the same
@pytest.mark.parametrize("path", sorted(STUDENT.glob("0[12]_*.ipynb")), ids=lambda p: p.name)
def test_the_handed_out_notebook_runs_and_says_not_yet(path, monkeypatch):
    monkeypatch.setenv("DDIM_EDU_FAST", "1")
    done = _run(load(path), ROOT / "notebooks")
    checks = [c for c in done.cells if "check" in c.metadata.get("tags", [])]
    for cell in checks:
        text = json.dumps([o.get("data", o.get("text")) for o in cell.outputs], ensure_ascii=False)
        assert "❌ not yet" in text and "replace the `...`" in text, text
    assert os.environ["DDIM_EDU_FAST"] == "1"
