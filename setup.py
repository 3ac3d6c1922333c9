"""Build step that puts the course's notebooks into the wheel; everything else is in pyproject.toml.

The repository keeps the notebooks at its top level: the instructor notebooks in notebooks/ and the
student copies in notebooks/student/. A wheel only carries what is inside the package, so
``build_py`` copies them into the package it builds, as ``ddim_edu/_notebooks/`` and
``ddim_edu/_notebooks/student/``, where ``ddim_edu.course`` finds them once installed. The copy
goes to the build folder only: the source tree is left as it is. An editable install copies
nothing, since ``ddim_edu.course`` reads the repository's notebooks/ directly.

A build from a folder without the notebooks fails rather than produce a wheel without the course.
An sdist carries them (MANIFEST.in), so a wheel built from it has them too.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import FileError

HERE = Path(__file__).resolve().parent
PATTERN = "[0-9][0-9]_*.ipynb"  # as ddim_edu.course.PATTERN: 01_forward_process.ipynb, ...
FOLDERS = {"": HERE / "notebooks", "student": HERE / "notebooks" / "student"}


def notebook_files(build_lib: str) -> list[tuple[str, str]]:
    """(target in the build folder, source) for every instructor and student notebook."""
    pairs = []
    for sub, folder in FOLDERS.items():
        found = sorted(folder.glob(PATTERN))
        if not found:
            raise FileError(
                f"no notebooks ({PATTERN}) in {folder}: the wheel would lack the course's "
                "notebooks; build from the repository or from its sdist"
            )
        target = os.path.join(build_lib, "ddim_edu", "_notebooks", sub)
        pairs += [(os.path.join(target, path.name), str(path)) for path in found]
    return pairs


class build_py_with_notebooks(build_py):
    """``build_py``, then the notebooks copied into the built package (not in editable mode)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        pairs = notebook_files(self.build_lib)
        # a build folder is reused: a notebook renamed since the last build must not ship too
        shutil.rmtree(os.path.join(self.build_lib, "ddim_edu", "_notebooks"), ignore_errors=True)
        for target, source in pairs:
            self.mkpath(os.path.dirname(target))
            self.copy_file(source, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return [*outputs, *(target for target, _ in notebook_files(self.build_lib))]


setup(cmdclass={"build_py": build_py_with_notebooks})
