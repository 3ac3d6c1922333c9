"""The S x eta grid of the paper's Table 1, for any eps_model and any distance.

One cell = sample from the same x_T with (S, eta) and measure a distance to the data. Reusing
x_T (and the noise seed) across cells makes the comparison paired: differences between cells are
the sampler's, not the luck of the draw.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from .fast import FastSampler
from .sampling import EpsModel, ddim_sample
from .schedule import Schedule, timesteps

S_GRID = (10, 20, 50, 100, 1000)
ETA_GRID: tuple[float | str, ...] = (0.0, 0.2, 0.5, 1.0, "sigma_hat")


def eta_options(eta: float | str) -> dict:
    """Keyword arguments of ``ddim_sample`` for an entry of the eta grid (a number or "sigma_hat")."""
    if eta == "sigma_hat":
        return {"variance": "sigma_hat"}
    if isinstance(eta, str):
        raise ValueError(f"eta must be a number >= 0 or 'sigma_hat', got {eta!r}")
    return {"eta": float(eta)}


def eta_label(eta: float | str) -> str:
    """How an eta grid entry is printed: 0.0, 0.2, ..., and "σ̂" for sigma_hat."""
    return "σ̂" if eta == "sigma_hat" else f"{float(eta):g}"


@dataclass
class GridResult:
    """values[i][j] and seconds[i][j] belong to etas[i] and steps[j]."""

    steps: list[int]
    etas: list[float | str]
    values: list[list[float]]
    seconds: list[list[float]]
    metric: str
    floor: float | None = None
    floor_std: float | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self, digits: int = 4) -> str:
        """A plain-text table: one row per eta, one column per S, the floor underneath."""
        head = "eta \\ S".ljust(9) + "".join(f"{s:>10d}" for s in self.steps)
        rows = [head]
        for eta, vals in zip(self.etas, self.values):
            rows.append(eta_label(eta).ljust(9) + "".join(f"{v:>10.{digits}f}" for v in vals))
        if self.floor is not None:
            rows.append(f"noise floor {self.floor:.{digits}f} ± {self.floor_std or 0:.{digits}f}")
        return "\n".join(rows)


def quality_grid(
    eps_model: EpsModel,
    x_T: torch.Tensor,  # noqa: N803
    schedule: Schedule,
    distance: Callable[[torch.Tensor], float],
    *,
    steps: Sequence[int] = S_GRID,
    etas: Sequence[float | str] = ETA_GRID,
    spacing: str = "uniform",
    seed: int = 0,
    metric: str = "distance",
    progress: bool = True,
    fast: bool | dict = False,
) -> GridResult:
    """Sample every (eta, S) cell from the same x_T and noise seed and score it with ``distance``.

    ``distance(samples) -> float`` compares a batch of samples with the data (lower is better).
    ``fast=True`` (or a dict of ``FastSampler`` options such as ``{"autocast": "bf16"}``) samples
    with ``ddim_edu.fast.FastSampler``: the same samples up to float rounding, without the
    per-step overhead (what a GPU run wants).
    """
    check_grid(steps, etas, schedule.T, spacing)
    fast_options = fast if isinstance(fast, dict) else ({} if fast else None)
    values, seconds = [], []
    bar = tqdm(total=len(steps) * len(etas), desc="S x eta grid", disable=not progress)
    for eta in etas:
        options = eta_options(eta)
        row_v, row_s = [], []
        for S in steps:
            start = time.perf_counter()
            taus = timesteps(S, schedule.T, spacing)
            gen = torch.Generator().manual_seed(seed)
            if fast_options is None:
                x = ddim_sample(
                    eps_model, x_T, schedule, taus, generator=gen, progress=False, **options
                )
            else:
                sampler = FastSampler(eps_model, schedule, taus, **options, **fast_options)
                x = sampler(x_T, generator=gen)
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
            row_s.append(time.perf_counter() - start)
            row_v.append(float(distance(x)))
            bar.update()
        values.append(row_v)
        seconds.append(row_s)
    bar.close()
    return GridResult(list(steps), list(etas), values, seconds, metric)


def check_grid(steps: Sequence[int], etas: Sequence[float | str], T: int, spacing: str) -> None:  # noqa: N803
    """Validate a whole grid before any cell runs, so a typo fails in a second, not after an hour."""
    if not steps or not etas:
        raise ValueError("steps and etas must each hold at least one value")
    for S in steps:
        timesteps(S, T, spacing)
    for eta in etas:
        opts = eta_options(eta)
        if "eta" in opts and not (opts["eta"] >= 0 and opts["eta"] < float("inf")):
            raise ValueError(f"eta must be a finite number >= 0 or 'sigma_hat', got {eta!r}")


def run_metadata(command: str) -> dict:
    """Where and when a result was computed: device, date, command, versions."""
    if torch.cuda.is_available():
        device = torch.cuda.get_device_name(0)
    else:
        device = f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return {
        "device": device,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
