"""The course from an installed package: the records it reads and the notebooks ship inside it, the
05.1 checker and a student notebook run outside the repository, ``python -m ddim_edu notebooks``
copies the notebooks out of it, ``classroom check`` says when it has nothing to check, and
environment.yml installs what ``make lab`` does."""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import ddim_edu
from ddim_edu import classroom, course, records

ROOT = Path(__file__).resolve().parents[1]
STUDENT_05 = ROOT / "notebooks" / "student" / "05_quality_vs_steps_and_eta.ipynb"
INSTRUCTOR = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STUDENT = sorted((ROOT / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb"))


def test_records_are_read_from_the_package_folder():
    assert records.FOLDER == Path(ddim_edu.__file__).resolve().parent / "records"
    assert records.path("digits_quality") == records.FOLDER / "digits_quality.json"
    assert records.path("gpu_session.log").read_text().strip()
    assert records.load("digits_quality")["grid"]["steps"] == [10, 20, 50, 100, 1000]
    assert {"digits_quality.json", "digits_s10_replicates.json", "gpu_session.log"} <= set(
        records.available()
    )


def test_a_record_made_of_parts_lists_its_files_and_names_what_exists():
    parts = records.parts("mnist_grid")
    assert {"S5_seed0.json", "S10_seed1.json", "S20_seed2.json"} <= {p.name for p in parts}
    assert all(p.parent == records.FOLDER / "mnist_grid" for p in parts)
    for wrong in ("mnist_gird", "../records", "digits_quality.json"):
        with pytest.raises(
            ValueError, match=r"no stored record made of parts named .*available: mnist_grid"
        ):
            records.parts(wrong)


@pytest.mark.parametrize("name", ["digits_quality_gpu", "../benchmarks/results/digits_quality"])
def test_an_unknown_record_is_refused_naming_it_and_those_available(name):
    with pytest.raises(ValueError, match=f"no stored record '{name}'.*available: .*digits_quality"):
        records.path(name)


def test_a_log_is_not_loaded_as_json():
    with pytest.raises(
        ValueError, match="'gpu_session.log' is not JSON; read it with records.path"
    ):
        records.load("gpu_session.log")


def test_classroom_check_without_notebooks_fails_naming_the_folder(tmp_path, capsys):
    empty = tmp_path / "notebooks"
    target = tmp_path / "student"
    assert classroom.main(["check", "--source", str(empty), "--target", str(target)]) == 2
    assert f"no instructor notebooks (NN_*.ipynb) in {empty}" in capsys.readouterr().err
    assert classroom.main(["build", "--source", str(empty), "--target", str(target)]) == 2
    assert not target.exists()  # nothing written


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package built as a wheel from a copy of the source and unpacked into a folder of its
    own: put that folder on PYTHONPATH and run from elsewhere to use the package as installed.
    The wheel itself is in the folder's sibling dist/."""
    tmp = tmp_path_factory.mktemp("installed")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "setup.py", "MANIFEST.in"):
        shutil.copy(ROOT / name, src / name)
    for name in ("ddim_edu", "notebooks"):  # setup.py copies notebooks/ into the wheel
        shutil.copytree(
            ROOT / name,
            src / name,
            ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "_notebooks"),
        )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", str(src), "-w", str(tmp / "dist")],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (tmp / "dist").glob("ddim_edu-*.whl")
    site = tmp / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    work = tmp / "work"  # the current folder of every run: neither the repository nor the wheel
    work.mkdir()
    return site, work


def _run_installed(installed, args, **kwargs):
    site, work = installed
    env = dict(os.environ, PYTHONPATH=str(site), DDIM_EDU_FAST="1")
    return subprocess.run(
        [sys.executable, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300,
        **kwargs,
    )  # fmt: skip


PROBE = """
import json, sys
import ddim_edu
from ddim_edu import records
from ddim_edu.exercises import check

def overshoot(alpha_bar, taus):
    prev = [float(alpha_bar[p]) for p in taus[1:]]
    return [t for t, p in zip(taus, prev) if 1 - float(alpha_bar[t]) / p > 1 - p]


right, wrong = check("05.1", overshoot), check("05.1", lambda alpha_bar, taus: [])
print(json.dumps({
    "files": sorted(m.__file__ for n, m in sys.modules.items()
                    if n.startswith("ddim_edu") and getattr(m, "__file__", None)),
    "available": records.available(),
    "steps": records.load("digits_quality")["grid"]["steps"],
    "parts": [p.name for p in records.parts("mnist_grid")],
    "right": [bool(right), right.message],
    "wrong": [bool(wrong), wrong.message],
}))
"""


@pytest.mark.slow
def test_records_and_the_05_1_checker_work_from_the_installed_package(installed):
    site, _ = installed
    proc = _run_installed(installed, ["-c", PROBE])
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    # the repository's ddim_edu is not what ran: every module came from the unpacked wheel
    assert got["files"] and all(Path(f).is_relative_to(site / "ddim_edu") for f in got["files"])
    assert got["available"] == records.available()  # every record is package data
    assert got["steps"] == [10, 20, 50, 100, 1000]
    assert (
        got["parts"] == [p.name for p in records.parts("mnist_grid")]
        and "S10_seed0.json" in got["parts"]
    )
    assert got["right"][0] is True and "σ̂ overshoots only on the last few steps" in got["right"][1]
    assert got["wrong"][0] is False and "None found, but σ̂ does overshoot" in got["wrong"][1]


@pytest.mark.slow
def test_classroom_check_from_the_installed_package_fails_with_no_notebooks(installed):
    site, _ = installed
    proc = _run_installed(installed, ["-m", "ddim_edu.classroom", "check"])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"no instructor notebooks (NN_*.ipynb) in {site / 'notebooks'}" in proc.stderr
    assert "in sync" not in proc.stdout


def _text(cell) -> str:
    """What a cell printed and the text of the values it displayed."""
    data = [o.get("data", {}) for o in cell.outputs]
    shown = [d.get(k, "") for d in data for k in ("text/plain", "text/markdown")]
    return "".join([*(o.get("text", "") for o in cell.outputs), *shown])


def _reads_a_record(cell) -> bool:
    return cell["cell_type"] == "code" and "records." in "".join(cell["source"])


@pytest.mark.slow
def test_the_student_notebook_05_reads_its_records_from_its_own_folder(installed, monkeypatch):
    """The handed-out notebook, alone in a folder outside the repository, run from that folder
    with the installed package: its imports, every cell that reads a record, and exercise 05.1
    (the cells in between sample with the network and read no file: they are left out)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    site, work = installed
    nb = nbformat.read(STUDENT_05, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    reading = [c for c in code if _reads_a_record(c)]
    # the grid, its columns still in parts, the guided rows, a part's provenance
    assert len(reading) == 4
    exercise = [c for c in code if c.metadata.get("exercise") == "05.1"]
    assert [c.metadata.tags for c in exercise] == [["skeleton"], ["check"]]
    where = nbformat.v4.new_code_cell("import ddim_edu\nprint(ddim_edu.__file__)")
    nb.cells = [code[0], *reading, *exercise, where]
    folder = work / "course"  # what a student was handed: the notebook and nothing beside it
    folder.mkdir()
    path = folder / STUDENT_05.name
    nbformat.write(nb, path)

    monkeypatch.setenv("PYTHONPATH", str(site))  # the kernel inherits it
    monkeypatch.setenv("DDIM_EDU_FAST", "1")
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    text = _text

    assert "fast mode" in text(nb.cells[0])
    first_part = json.loads(records.parts("mnist_grid")[0].read_text())
    assert records.load("mnist_grid")["meta"]["command"] in text(
        nb.cells[1]
    )  # it prints its record's
    guided = records.load("mnist_grid_w2")
    assert f"guidance scale w = {guided['meta']['guidance_scale']:g}" in text(nb.cells[3])
    assert first_part["meta"]["command"] in text(nb.cells[4])  # command, and a part's
    assert "❌ not yet" in text(nb.cells[-2]) and "replace the `...`" in text(nb.cells[-2])
    assert text(nb.cells[-1]).strip() == str(site / "ddim_edu" / "__init__.py")  # not the repo's
    assert not (work / "benchmarks").exists()


# --- the notebooks: inside the wheel, and copied out of it by `python -m ddim_edu notebooks` ------


@pytest.mark.slow
def test_the_wheel_holds_every_instructor_and_student_notebook(installed):
    site, _ = installed
    (wheel,) = (site.parent / "dist").glob("ddim_edu-*.whl")
    expected = {f"ddim_edu/_notebooks/{p.name}": p for p in INSTRUCTOR}
    expected |= {f"ddim_edu/_notebooks/student/{p.name}": p for p in STUDENT}
    assert len(INSTRUCTOR) >= 8 and [p.name for p in STUDENT] == [p.name for p in INSTRUCTOR]
    with zipfile.ZipFile(wheel) as z:
        shipped = {n for n in z.namelist() if n.startswith("ddim_edu/_notebooks/")}
        assert shipped == set(expected)  # each of them, and nothing else
        for name, source in expected.items():
            assert z.read(name) == source.read_bytes(), name
        (record,) = [n for n in z.namelist() if n.endswith(".dist-info/RECORD")]
        listed = {line.split(",")[0] for line in z.read(record).decode().splitlines()}
    assert set(expected) <= listed  # pip installs and uninstalls them with the package


@pytest.fixture(scope="module")
def handed_out(installed):
    """The student notebooks as a student gets them: ``python -m ddim_edu notebooks --student``
    run with the installed package into a new folder two levels down (it creates both)."""
    _, work = installed
    folder = work / "class" / "student"
    return _run_installed(
        installed, ["-m", "ddim_edu", "notebooks", "--student", str(folder)]
    ), folder


@pytest.mark.slow
def test_the_notebooks_command_copies_them_out_of_the_installed_package(installed, handed_out):
    site, work = installed
    proc, folder = handed_out
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(folder.iterdir()) == [folder / p.name for p in STUDENT]
    for p in STUDENT:
        assert (folder / p.name).read_bytes() == p.read_bytes()
    lines = proc.stdout.splitlines()
    assert lines[: len(STUDENT)] == [f"wrote {folder / p.name}" for p in STUDENT]
    source = site / "ddim_edu" / "_notebooks" / "student"  # the wheel's copy, not the repository's
    assert f"{len(STUDENT)} student notebooks from {source} in {folder}" in lines
    assert lines[-1] == f"open them with: jupyter lab {folder}"

    teacher = work / "teacher"
    proc = _run_installed(installed, ["-m", "ddim_edu", "notebooks", str(teacher)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(teacher.iterdir()) == [teacher / p.name for p in INSTRUCTOR]
    assert all((teacher / p.name).read_bytes() == p.read_bytes() for p in INSTRUCTOR)
    assert f"from {site / 'ddim_edu' / '_notebooks'} in {teacher}" in proc.stdout


@pytest.mark.slow
def test_the_notebooks_command_keeps_a_students_work_unless_force(installed):
    _, work = installed
    folder = work / "my_course"
    command = ["-m", "ddim_edu", "notebooks", "--student", str(folder)]
    assert _run_installed(installed, command).returncode == 0
    mine = folder / STUDENT[0].name
    mine.write_text("my answers")
    proc = _run_installed(installed, command)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        f"error: {str(mine)!r} exists (and {len(STUDENT) - 1} more of the notebooks); pass "
        "force=True (--force) to replace them, or choose another folder\n"
    )
    assert mine.read_text() == "my answers"
    proc = _run_installed(installed, [*command, "--force"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert mine.read_bytes() == STUDENT[0].read_bytes()


@pytest.mark.slow
def test_help_from_the_installed_package_lists_the_notebooks_command(installed):
    proc = _run_installed(installed, ["-m", "ddim_edu", "--help"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"^  notebooks +copy the course's notebooks", proc.stdout, re.M)


@pytest.mark.slow
def test_a_handed_out_student_notebook_runs_top_to_bottom_from_its_folder(
    installed, handed_out, monkeypatch
):
    """Notebook 01 (the shortest) exactly as ``notebooks --student`` wrote it, run top to bottom
    from the folder it was copied to with the installed package, as "Run All" in JupyterLab runs
    it for a student who has not started the exercises: every cell runs without an error (a
    skeleton's ``...`` is valid Python and a checker reports instead of raising) and every
    check says "not yet". DDIM_EDU_FAST=1 keeps it short; the full-size run reads the same files.
    The instructor copies are byte for byte the notebooks ``make test`` runs under nbval, and
    the handed-out notebooks' run with the solutions filled in is tests/test_classroom.py's: not
    repeated here. One cell is added at the end, in memory only: which ddim_edu ran."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    site, _ = installed
    proc, folder = handed_out
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = nbformat.read(folder / STUDENT[0].name, as_version=4)
    checks = [c for c in nb.cells if "check" in c.metadata.get("tags", [])]
    assert len(checks) >= 3
    nb.cells.append(nbformat.v4.new_code_cell("import ddim_edu\nprint(ddim_edu.__file__)"))

    monkeypatch.setenv("PYTHONPATH", str(site))  # the kernel inherits it
    monkeypatch.setenv("DDIM_EDU_FAST", "1")
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()  # raises CellExecutionError at the first cell that fails

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert "fast mode" in _text(code[0])
    for cell in checks:
        assert "❌ not yet" in _text(cell), cell.source
    assert _text(nb.cells[-1]).strip() == str(site / "ddim_edu" / "__init__.py")
    assert sorted(p.name for p in folder.iterdir()) == [p.name for p in STUDENT]  # wrote nothing


def test_the_checkout_reads_the_repositorys_notebooks():
    """From a source checkout (and an editable install) the notebooks are the repository's own:
    nothing is copied into the package there."""
    assert course.folder() == ROOT / "notebooks"
    assert course.folder(student=True) == ROOT / "notebooks" / "student"
    assert course.notebooks() == INSTRUCTOR and course.notebooks(student=True) == STUDENT
    assert not (ROOT / "ddim_edu" / "_notebooks").exists()


def test_a_copy_without_notebooks_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setattr(course, "HERE", tmp_path / "ddim_edu")  # an installed copy: no pyproject
    monkeypatch.setattr(course, "PACKAGED", tmp_path / "ddim_edu" / "_notebooks")
    with pytest.raises(
        ValueError,
        match=r"holds no student notebooks \(\[0-9\]\[0-9\]_\*\.ipynb\); looked in "
        + re.escape(str(tmp_path / "ddim_edu" / "_notebooks" / "student")),
    ):
        course.folder(student=True)


# --- environment.yml: what `make lab` installs ------------------------------------------------


def test_environment_yml_installs_what_make_lab_installs():
    """``make lab`` installs the package (its dependencies) and its ``notebooks`` extra; the conda
    environment lists the same requirements, torch under conda-forge's name, and installs the
    package with that extra, so that pip adds whatever the list might miss."""
    yaml = pytest.importorskip("yaml")
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["notebooks"]]
    wanted = [r.replace("torch", "pytorch", 1) if r.startswith("torch") else r for r in wanted]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert sorted(d for d in conda if not d.startswith(("python=", "pip"))) == sorted(wanted)
    assert "pip" in conda and pip == ["-e .[notebooks]"]
    makefile = (ROOT / "Makefile").read_text()
    assert '$(PIP) install --quiet -e ".[notebooks]"' in makefile  # what make lab adds to .core
