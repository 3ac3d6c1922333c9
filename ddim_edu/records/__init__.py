"""The stored results records that the course reads at run time, shipped inside the package.

Each record is a JSON file written by a script under ``benchmarks/`` (with the device, date and
command that produced it), sometimes with the log of that run. Notebooks and exercise checkers
read them through this module, so they find them from any folder and from an installed wheel:

    from ddim_edu import records
    stored = records.load("digits_quality")           # the parsed JSON of digits_quality.json
    records.path("gpu_session.log")                   # the file itself

The benchmark scripts write here by default (``FOLDER``, ``ddim_edu/records/`` in a checkout).
"""

from __future__ import annotations

import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
SUFFIXES = (".json", ".log")  # what a record file ends with


def available() -> list[str]:
    """The file names of the stored records, sorted."""
    return sorted(p.name for p in FOLDER.iterdir() if p.suffix in SUFFIXES and p.is_file())


def path(name: str) -> Path:
    """The file of the record ``name``: a file name ("gpu_session.log") or a JSON record's name
    without its suffix ("digits_quality"). Raises ValueError naming the record and listing those
    available when there is no such record."""
    if not isinstance(name, str):
        raise ValueError(f"a record's name is a string, got {type(name).__name__}")
    file = name if Path(name).suffix in SUFFIXES else f"{name}.json"
    if Path(file).name != file or not (FOLDER / file).is_file():  # plain names only
        raise ValueError(
            f"no stored record {name!r} in {FOLDER}; available: {', '.join(available())}"
        )
    return FOLDER / file


def load(name: str) -> dict:
    """The parsed JSON of the record ``name`` (see ``path``)."""
    file = path(name)
    if file.suffix != ".json":
        raise ValueError(f"record {name!r} is not JSON; read it with records.path({name!r})")
    return json.loads(file.read_text(encoding="utf-8"))


def parts(name: str) -> list[Path]:
    """The files of a record stored as parts, one JSON file each in the folder ``name`` (for
    example "mnist_grid": one file per number of steps and x_T seed), sorted by name. Raises
    ValueError naming the folder when there is no such record."""
    folder = FOLDER / name if isinstance(name, str) and Path(name).name == name else None
    if folder is None or not folder.is_dir():
        known = sorted(
            p.name for p in FOLDER.iterdir() if p.is_dir() and not p.name.startswith("_")
        )
        raise ValueError(
            f"no stored record made of parts named {name!r}; available: {', '.join(known)}"
        )
    return sorted(folder.glob("*.json"))
