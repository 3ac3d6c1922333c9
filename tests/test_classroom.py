"""Student notebooks: in sync with the instructor notebooks, without solutions, and they fit."""

import copy
import json
import os
import subprocess
import sys
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


def test_a_model_answer_stays_in_the_instructor_copy():
    question = {"cell_type": "markdown", "metadata": {}, "source": "Which η leaves more noise?"}
    answer = {
        "cell_type": "markdown",
        "metadata": {"tags": ["model-answer"]},
        "source": "σ̂, by 0.32.",
    }
    nb = {"cells": [question, answer], "metadata": {}}
    student = classroom.student_notebook(nb, "99_x.ipynb")
    assert [c["source"] for c in student["cells"]] == ["Which η leaves more noise?"]
    for path in STUDENT.glob("*.ipynb"):  # and no handed-out notebook holds one
        assert not tagged(load(path), "model-answer"), path.name


def _run_under_nbval(nb, name, tmp_name):
    """Run a notebook top to bottom under nbval in a fresh process (the executor `make test` uses
    for every notebook), from a folder beside notebooks/ so that its relative paths still hold."""
    folder = ROOT / f".classroom-{tmp_name}"  # one level below the root, like notebooks/
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(nb), encoding="utf-8")
    env = dict(os.environ, DDIM_EDU_FAST="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", str(folder / name)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def _asserting_checks(nb, expect_ok: bool):
    """Turn each check cell into an assert on its verdict, so that nbval fails when it is wrong."""
    for cell in tagged(nb, "check"):
        call = "".join(cell["source"])
        cell["source"] = f"assert {'' if expect_ok else 'not '}{call}, {call}"
    return nb


@pytest.mark.parametrize("path", sorted(STUDENT.glob("*.ipynb")), ids=lambda p: p.name)
def test_skeletons_replaced_by_the_solutions_run_top_to_bottom(path):
    nb = copy.deepcopy(load(path))
    solutions = {
        c["metadata"]["exercise"]: c["source"]
        for c in tagged(load(INSTRUCTOR[path.name]), "solution")
    }
    for cell in tagged(nb, "skeleton"):
        cell["source"] = solutions[cell["metadata"]["exercise"]]
    assert tagged(nb, "check")
    proc = _run_under_nbval(_asserting_checks(nb, expect_ok=True), path.name, "solved")
    assert proc.returncode == 0, proc.stdout[-3000:]


# as handed out (every answer still `...`): the two shortest notebooks, the mechanism is the same
@pytest.mark.parametrize("path", sorted(STUDENT.glob("0[12]_*.ipynb")), ids=lambda p: p.name)
def test_the_handed_out_notebook_runs_and_says_not_yet(path):
    from ddim_edu.exercises import check

    for cell in tagged(load(path), "skeleton"):
        namespace: dict = {}
        exec("".join(cell["source"]), namespace)  # noqa: S102 - the skeleton is generated here
        answer = [v for k, v in namespace.items() if not k.startswith("__")][0]
        assert "replace the `...`" in check(cell["metadata"]["exercise"], answer).message
    proc = _run_under_nbval(_asserting_checks(load(path), expect_ok=False), path.name, "handed_out")
    assert proc.returncode == 0, proc.stdout[-3000:]
