"""Small helpers shared by the notebooks: the FAST switch, the device, and where figures go.

``DDIM_EDU_FAST=1`` (set by ``make test``) selects small sizes so that every notebook runs in well
under three minutes on 2 CPU cores. Without it the notebooks run their full versions, scaled up
when CUDA is available.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

FAST = os.environ.get("DDIM_EDU_FAST", "0") not in ("", "0", "false", "False")


def device() -> torch.device:
    """CUDA when available (full runs), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def size(fast: int, full: int, gpu: int | None = None) -> int:
    """Pick a size: ``fast`` under DDIM_EDU_FAST, ``gpu`` (or ``full``) with CUDA, else ``full``."""
    if FAST:
        return fast
    if gpu is not None and torch.cuda.is_available():
        return gpu
    return full


def figures_dir() -> Path:
    """The repository's figures/ in full runs; a temporary folder in FAST runs (tests never
    overwrite the committed figures)."""
    if FAST:
        path = Path(tempfile.gettempdir()) / "ddim_edu_figures"
    else:
        here = Path.cwd()
        root = here.parent if here.name == "notebooks" else here
        path = root / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, name: str, dpi: int = 110) -> Path:
    """Save a matplotlib figure as figures/<name>.png (see ``figures_dir``)."""
    path = figures_dir() / f"{name}.png"
    # written beside its name, then renamed: a run that stops half-way, or two runs saving the same
    # figure at once (notebooks under test in parallel), never leave a truncated file
    part = path.with_name(f".{name}.{os.getpid()}.png")
    try:
        fig.savefig(part, dpi=dpi, bbox_inches="tight")
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path
