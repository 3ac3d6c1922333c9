"""The course's notebooks, found wherever this copy of ddim_edu lives, and copied out to a folder.

    python -m ddim_edu notebooks DIR             # the instructor notebooks (solutions, outputs)
    python -m ddim_edu notebooks --student DIR   # the student copies (skeletons and checks)

A source checkout (or an editable install of one) reads the repository's notebooks/ and
notebooks/student/. An installed wheel carries a copy of both inside the package,
``ddim_edu/_notebooks/`` and ``ddim_edu/_notebooks/student/``, which setup.py puts there when the
wheel is built. A copied notebook runs from any folder: what it and the exercise checkers read
(weights, data, records) ships inside the package.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from .checkpoints import write_atomic

PATTERN = "[0-9][0-9]_*.ipynb"  # the numbered notebooks: 01_forward_process.ipynb, ...
HERE = Path(__file__).resolve().parent
PACKAGED = HERE / "_notebooks"  # in an installed wheel
CHECKOUT = HERE.parent / "notebooks"  # in a source checkout, beside ddim_edu/


def _kind(student: bool) -> str:
    return "student" if student else "instructor"


def folder(student: bool = False) -> Path:
    """The folder that holds the instructor notebooks (``student``: the student copies): the
    repository's in a source checkout, else the copy inside the installed package. Raises
    ValueError naming the folders it looked in when neither holds any."""
    in_checkout = (HERE.parent / "pyproject.toml").is_file()
    roots = [CHECKOUT, PACKAGED] if in_checkout else [PACKAGED]
    places = [root / "student" if student else root for root in roots]
    for place in places:
        if any(place.glob(PATTERN)):
            return place
    raise ValueError(
        f"this copy of ddim_edu holds no {_kind(student)} notebooks ({PATTERN}); looked in "
        f"{', '.join(str(p) for p in places)}. Install it from a wheel or the repository "
        "(pip install .), which carry them"
    )


def notebooks(student: bool = False) -> list[Path]:
    """The instructor notebooks (``student``: the student copies), sorted by number."""
    return sorted(folder(student).glob(PATTERN))


def copy_notebooks(target: str | Path, student: bool = False, force: bool = False) -> list[Path]:
    """Copy the instructor notebooks (``student``: the student copies) into the folder
    ``target``, created if needed, and return the files written.

    Notebooks of the same name already in ``target`` are kept, and nothing is written, unless
    ``force``. Raises ValueError for a ``target`` that is a file or a notebook's name that is a
    folder there; both are checked before anything is written."""
    sources = notebooks(student)
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{str(target)!r} is a file, not a folder")
    taken = [target / p.name for p in sources if (target / p.name).exists()]
    for path in taken:
        if path.is_dir():
            raise ValueError(
                f"{str(path)!r} is a folder, not a notebook; move it or choose another folder"
            )
    if taken and not force:
        more = f" (and {len(taken) - 1} more of the notebooks)" if len(taken) > 1 else ""
        raise ValueError(
            f"{str(taken[0])!r} exists{more}; pass force=True (--force) to replace "
            f"{'them' if more else 'it'}, or choose another folder"
        )
    return [write_atomic(target / p.name, p.read_bytes()) for p in sources]


def missing_requirements(extra: str = "notebooks") -> list[str]:
    """The requirements of the package's ``extra`` (what JupyterLab and the notebooks need beyond
    the package) that are not installed here, as written in the package's metadata; [] when they
    all are or when this copy has no metadata (run from a source folder without installing)."""
    try:
        requires = metadata.requires("ddim-edu") or []
    except metadata.PackageNotFoundError:
        return []
    from packaging.requirements import Requirement  # a dependency of matplotlib

    missing = []
    for text in requires:
        requirement = Requirement(text)
        if requirement.marker is None or not requirement.marker.evaluate({"extra": extra}):
            continue
        try:
            metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(text.split(";")[0].strip())
    return missing
