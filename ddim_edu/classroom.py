"""Student notebooks built from the instructor notebooks, so the two never drift apart.

    python -m ddim_edu.classroom build     # writes notebooks/student/ from notebooks/NN_*.ipynb
    python -m ddim_edu.classroom check     # exit 1 if notebooks/student/ is not a fresh build,
                                           # 2 if there is no notebooks/ to build from

In an instructor notebook, each exercise's solution is one code cell tagged ``solution`` whose
metadata names the exercise (``"exercise": "02.1"``) and which ends by asserting the checker's
verdict (``assert check("02.1", sigma)``). It runs like any other cell. A cell tagged
``model-answer`` (the answer to a "predict or explain" question, markdown or code) stays in the
instructor copy only. The build copies every notebook, clears all outputs, and replaces each
solution cell by two cells: the exercise's skeleton from ``ddim_edu.exercises`` (signature,
docstring, ``...`` where the student writes; written out above its checker in the notebook's
module, ``ddim_edu/exercises/nbNN.py``), tagged ``skeleton``, and the checker call, tagged
``check``. The output depends only on the instructor notebooks (no dates, no counters), so a test
can tell whether the committed student notebooks are in sync.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

from .checkpoints import write_atomic
from .exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks"
TARGET = SOURCE / "student"


def answer_name(skeleton: str) -> str:
    """The name the checker is called with: the function a skeleton defines, or its variable."""
    m = re.search(r"^def (\w+)\(", skeleton, re.M) or re.search(r"^(\w+)\s*=", skeleton, re.M)
    if m is None:
        raise ValueError(f"skeleton defines no function or variable:\n{skeleton}")
    return m.group(1)


def _code_cell(source: str, cell_id: str, tags: list[str], exercise: str) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": {"exercise": exercise, "tags": tags},
        "outputs": [],
        "source": source,
    }


def student_notebook(nb: dict, name: str) -> dict:
    """The student version of one instructor notebook (a dict in nbformat 4 JSON form)."""
    out = copy.deepcopy(nb)
    cells = []
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "model-answer" in tags:  # for the teacher: left out of the student copy
            continue
        if cell["cell_type"] == "code" and "solution" in tags:
            exercise = cell["metadata"].get("exercise")
            if exercise not in EXERCISES:
                raise ValueError(
                    f"{name}: a solution cell must name its exercise in metadata['exercise'] "
                    f"(one of {', '.join(EXERCISES)}), got {exercise!r}"
                )
            ex = EXERCISES[exercise]
            base = cell.get("id", f"ex{exercise}")
            cells.append(
                _code_cell(
                    f"# Exercise {exercise}: {ex.title}. Replace the ... with your answer.\n"
                    + ex.skeleton,
                    f"{base}-skeleton",
                    ["skeleton"],
                    exercise,
                )
            )
            cells.append(
                _code_cell(
                    f'check("{exercise}", {answer_name(ex.skeleton)})',
                    f"{base}-check",
                    ["check"],
                    exercise,
                )
            )
            continue
        cell = copy.deepcopy(cell)
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    out["cells"] = cells
    out["metadata"] = {
        k: v for k, v in nb.get("metadata", {}).items() if k in ("kernelspec", "language_info")
    }
    out["metadata"]["ddim_edu"] = {"student": True, "built_from": name}
    return out


def _dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def build(source: Path = SOURCE, target: Path = TARGET) -> dict[str, str]:
    """The student notebooks as {file name: JSON text}: one per numbered instructor notebook that
    has checked exercises (solution cells). Raises ValueError when ``source`` holds no numbered
    notebook."""
    paths = sorted(Path(source).glob("[0-9][0-9]_*.ipynb"))
    if not paths:  # an installed package has no notebooks/ beside it: nothing is "in sync"
        raise ValueError(
            f"no instructor notebooks (NN_*.ipynb) in {Path(source).resolve()}; name the course's "
            "notebooks with --source (and --target for the student copies)"
        )
    files = {}
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if has_exercises(nb):  # notebooks without checked exercises yet are not handed out
            files[path.name] = _dumps(student_notebook(nb, path.name))
    return files


def has_exercises(nb: dict) -> bool:
    return any("solution" in c.get("metadata", {}).get("tags", []) for c in nb["cells"])


def write(source: Path = SOURCE, target: Path = TARGET) -> list[Path]:
    files = build(source, target)  # before anything is written: no empty target on failure
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        written.append(write_atomic(target / name, text))
    return written


def out_of_sync(source: Path = SOURCE, target: Path = TARGET) -> list[str]:
    """Names of student notebooks that differ from a fresh build (or are missing or extra)."""
    fresh = build(source, target)
    have = {p.name: p.read_text(encoding="utf-8") for p in Path(target).glob("*.ipynb")}
    names = sorted(set(fresh) | set(have))
    return [n for n in names if fresh.get(n) != have.get(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ddim_edu.classroom",
        description="Build the student notebooks (solutions replaced by skeletons and checkers).",
    )
    parser.add_argument("command", choices=("build", "check"))
    parser.add_argument(
        "--source", default=str(SOURCE), help="instructor notebooks (default: notebooks/)"
    )
    parser.add_argument(
        "--target", default=str(TARGET), help="student notebooks (default: notebooks/student/)"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            for path in write(Path(args.source), Path(args.target)):
                print(f"wrote {path}")
            return 0
        stale = out_of_sync(Path(args.source), Path(args.target))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if stale:
        print("out of sync (run: python -m ddim_edu.classroom build):", ", ".join(stale))
        return 1
    print("student notebooks are in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
