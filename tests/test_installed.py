"""The course from an installed package: the records it reads ship inside it, the 05.1 checker and
a student notebook run outside the repository, and ``classroom check`` says when it has nothing to
check."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import ddim_edu
from ddim_edu import classroom, records

ROOT = Path(__file__).resolve().parents[1]
STUDENT_05 = ROOT / "notebooks" / "student" / "05_quality_vs_steps_and_eta.ipynb"


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
    own: put that folder on PYTHONPATH and run from elsewhere to use the package as installed."""
    tmp = tmp_path_factory.mktemp("installed")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "ddim_edu", src / "ddim_edu", ignore=shutil.ignore_patterns("__pycache__")
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
    assert len(reading) == 3  # the grid, its columns still in parts, a part's provenance
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

    def text(cell):  # what a cell printed and the text of the values it displayed
        data = [o.get("data", {}) for o in cell.outputs]
        shown = [d.get(k, "") for d in data for k in ("text/plain", "text/markdown")]
        return "".join([*(o.get("text", "") for o in cell.outputs), *shown])

    assert "fast mode" in text(nb.cells[0])
    first_part = json.loads(records.parts("mnist_grid")[0].read_text())
    assert records.load("mnist_grid")["meta"]["command"] in text(
        nb.cells[1]
    )  # it prints its record's
    assert first_part["meta"]["command"] in text(nb.cells[3])  # command, and a part's
    assert "❌ not yet" in text(nb.cells[-2]) and "replace the `...`" in text(nb.cells[-2])
    assert text(nb.cells[-1]).strip() == str(site / "ddim_edu" / "__init__.py")  # not the repo's
    assert not (work / "benchmarks").exists()
