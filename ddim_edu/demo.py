"""``make demo``: the S x eta table on a 2-D Gaussian mixture with the exact eps*.

With eps* there is no model error, so the table shows what the sampler alone costs: each cell
is the sliced Wasserstein distance between n samples and n fresh samples of the mixture, read
against the noise floor (the same distance between two independent true samples of size n).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from . import plotting  # noqa: E402
from ._checks import _check_int  # noqa: E402
from .checkpoints import write_atomic  # noqa: E402
from .gmm import GaussianMixture  # noqa: E402
from .metrics import noise_floor, sliced_wasserstein  # noqa: E402
from .sampling import ddim_sample  # noqa: E402
from .schedule import linear_schedule, timesteps  # noqa: E402
from .sweep import ETA_GRID, S_GRID, check_grid, noise_seed, quality_grid, run_metadata  # noqa: E402

# defaults of python -m ddim_edu demo, sized to run in about a minute on 2 CPU cores
N_SAMPLES = 10_000  # samples per cell (and size of the reference sample)
SEED = 0  # seeds x_T, the sampler's noise and the reference sample
SPACING = "uniform"  # the paper's range(0, T, T // S)
TRAJECTORY_S = 100  # steps for the trajectory figure
N_PATHS = 48  # particle paths drawn per panel
OUTPUTS = ("demo_trajectories.png", "demo_quality.png", "demo_quality.json")  # written into out


def run_demo(
    out: str | Path = "figures",
    n: int = N_SAMPLES,
    steps: tuple[int, ...] = S_GRID,
    seed: int = SEED,
    spacing: str = SPACING,
    progress: bool = True,
    command: str = "python -m ddim_edu demo",
) -> dict:
    """Run the grid, print the table, write the files ``OUTPUTS`` (two figures and a JSON record)
    into ``out``, replacing those of an earlier demo there."""
    start = time.perf_counter()
    schedule = linear_schedule()
    check_grid(steps, ETA_GRID, schedule.T, spacing)
    seed = _check_int("seed", seed, 0)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mixture = GaussianMixture.example_2d()
    eps_star = mixture.eps_model(schedule)

    gen = torch.Generator().manual_seed(seed)
    x_T = torch.randn(n, 2, dtype=torch.float64, generator=gen)
    reference = mixture.sample(n, gen)

    def distance(x: torch.Tensor) -> float:
        return sliced_wasserstein(x, reference)

    floor, floor_std = noise_floor(
        mixture.sample, n, sliced_wasserstein, repeats=5, seed=seed + 1, reference=reference
    )
    grid = quality_grid(
        eps_star,
        x_T,
        schedule,
        distance,
        steps=steps,
        etas=ETA_GRID,
        spacing=spacing,
        seed=seed,
        metric="sliced Wasserstein-2 distance",
        progress=progress,
    )
    grid.floor, grid.floor_std = floor, floor_std

    # DDPM (eta = 1) and DDIM (eta = 0) from the same x_T
    paths = {}
    for eta in (1.0, 0.0):
        _, traj = ddim_sample(
            eps_star,
            x_T[:N_PATHS],
            schedule,
            timesteps(TRAJECTORY_S, schedule.T, spacing),
            eta=eta,
            generator=noise_seed(seed),
            return_trajectory=True,
            progress=False,
        )
        paths[eta] = traj.x

    grid.meta = run_metadata(command) | {
        "data": "ddim_edu.gmm.GaussianMixture.example_2d() with exact eps*",
        "schedule": schedule.name,
        "T": schedule.T,
        "spacing": spacing,
        "n_per_cell": n,
        "seed": seed,
        "floor_repeats": 5,
        "wall_s": round(time.perf_counter() - start, 1),
    }
    _figures(out, grid, paths, mixture, n)
    record = grid.to_dict()
    write_atomic(out / OUTPUTS[2], json.dumps(record, indent=1))

    print(f"\nSliced Wasserstein-2 distance to the mixture, n = {n} per cell, exact eps*,")
    print(f"{spacing} spacing, same x_T and noise seed in every cell (lower is better):\n")
    print(grid.table())
    print(f"\nwrote {', '.join(str(out / name) for name in OUTPUTS)}")
    print(f"({grid.meta['wall_s']} s on {grid.meta['device']})")
    return record


def _figures(out: Path, grid, paths, mixture, n: int) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), constrained_layout=True)
    for ax, eta, name in zip(axes, (1.0, 0.0), ("DDPM (η = 1)", "DDIM (η = 0)")):
        plotting.density_2d(ax, mixture.log_prob, lim=3.0)
        plotting.paths_2d(ax, paths[eta], n_paths=N_PATHS)
        ax.set_title(f"{name}, S = {TRAJECTORY_S}, {paths[eta].shape[1]} particles")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(
        "From the same x_T: stochastic (left) and deterministic (right) paths, over the data density"
    )
    fig.savefig(out / OUTPUTS[0], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    plotting.grid_heatmap(axes[0], grid, relative_to_floor=True)
    axes[0].set_title(f"SW₂ to the true mixture in units of the noise floor ({grid.floor:.3f})")
    plotting.grid_curves(axes[1], grid)
    axes[1].set_title(f"SW₂ against S (n = {n} samples per cell)")
    fig.suptitle("2-D Gaussian mixture, exact ε*: the sampler's own error")
    fig.savefig(out / OUTPUTS[1], dpi=110)
    plt.close(fig)
