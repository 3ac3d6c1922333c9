"""Plots used by the notebooks and the demo. Each draws into a given matplotlib Axes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.colors as mcolors
import matplotlib.ticker as mticker
import numpy as np
import torch

from .sweep import GridResult, eta_label


def density_2d(
    ax,
    log_prob: Callable[[torch.Tensor], torch.Tensor],
    lim: float = 3.0,
    resolution: int = 160,
    cmap: str = "Blues",
    levels: int = 12,
):
    """Filled contours of exp(log_prob) over [-lim, lim]^2 (e.g. ``mixture.noisy(a).log_prob_at``)."""
    g = torch.linspace(-lim, lim, resolution, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    with torch.no_grad():
        dens = log_prob(pts).exp().reshape(resolution, resolution)
    cs = ax.contourf(xx.numpy(), yy.numpy(), dens.numpy(), levels=levels, cmap=cmap, zorder=0)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    return cs


def paths_2d(
    ax,
    xs: torch.Tensor,
    n_paths: int = 48,
    color: str = "black",
    start_color: str = "0.35",
    end_color: str = "crimson",
    alpha: float = 0.5,
    label_ends: bool = True,
):
    """Particle paths from a 2-D trajectory xs of shape (levels, N, 2): x_T dots, paths, end dots."""
    if xs.ndim != 3 or xs.shape[-1] != 2:
        raise ValueError(f"xs must have shape (levels, N, 2), got {tuple(xs.shape)}")
    p = xs[:, :n_paths].detach().cpu().numpy()
    for i in range(p.shape[1]):
        ax.plot(p[:, i, 0], p[:, i, 1], color=color, lw=0.6, alpha=alpha, zorder=2)
    ax.scatter(
        p[0, :, 0],
        p[0, :, 1],
        s=10,
        color=start_color,
        zorder=3,
        label="x_T" if label_ends else None,
    )
    ax.scatter(
        p[-1, :, 0],
        p[-1, :, 1],
        s=14,
        color=end_color,
        zorder=4,
        label="x_0" if label_ends else None,
    )


def grid_heatmap(ax, result: GridResult, relative_to_floor: bool = False, cmap: str = "viridis"):
    """The S x eta table as a heatmap with the value written in each cell (log colour scale)."""
    vals = np.asarray(result.values, dtype=float)
    shown = vals / result.floor if (relative_to_floor and result.floor) else vals
    pos = shown[shown > 0]
    norm = mcolors.LogNorm(vmin=pos.min(), vmax=pos.max()) if pos.size else None
    im = ax.imshow(shown, cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(len(result.steps)), [str(s) for s in result.steps])
    ax.set_yticks(range(len(result.etas)), [eta_label(e) for e in result.etas])
    ax.set_xlabel("number of sampling steps S")
    ax.set_ylabel("η")
    mid = np.sqrt(pos.min() * pos.max()) if pos.size else 0
    for i in range(shown.shape[0]):
        for j in range(shown.shape[1]):
            fmt = f"{shown[i, j]:.1f}×" if relative_to_floor else f"{shown[i, j]:.3f}"
            ax.text(
                j,
                i,
                fmt,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if shown[i, j] < mid else "black",
            )
    cbar = ax.figure.colorbar(im, ax=ax)
    cbar.set_label("distance / noise floor" if relative_to_floor else result.metric)
    fmt = mticker.FuncFormatter(lambda v, _: f"{v:g}×" if relative_to_floor else f"{v:g}")
    cbar.ax.yaxis.set_major_formatter(fmt)
    cbar.ax.yaxis.set_minor_formatter(fmt)
    return im


def grid_curves(ax, result: GridResult, colors: Sequence[str] | None = None):
    """Distance against S (log-log), one line per eta, with the noise floor as a band."""
    colors = colors or ["#1b9e77", "#66a61e", "#e6ab02", "#d95f02", "#7570b3"]
    for k, (eta, vals) in enumerate(zip(result.etas, result.values)):
        ax.plot(
            result.steps, vals, "o-", color=colors[k % len(colors)], label=f"η = {eta_label(eta)}"
        )
    if result.floor is not None:
        lo = result.floor - (result.floor_std or 0)
        hi = result.floor + (result.floor_std or 0)
        ax.axhspan(lo, hi, color="0.8", zorder=0, label="noise floor (±1 sd)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(result.steps, [str(s) for s in result.steps])
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("number of sampling steps S")
    ax.set_ylabel(result.metric)
    ax.legend(fontsize=8)


def sweep_figure(result: GridResult, meta: dict):
    """The two panels of a sweep results file: the table over its floor, and the curves against S."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
    floor = f"{result.floor:.3g}" if result.floor is not None else "n/a"
    grid_heatmap(axes[0], result, relative_to_floor=result.floor is not None)
    axes[0].set_title(f"{result.metric} / real-vs-real floor ({floor})")
    grid_curves(axes[1], result)
    axes[1].set_title(f"{result.metric} against S, {meta.get('n_per_cell', '?')} samples a cell")
    fig.suptitle(
        f"{meta.get('data', '')}: S x η grid on {meta.get('device', '?')}"
        + (f" ({meta['world_size']} processes)" if meta.get("world_size", 1) > 1 else ""),
        fontsize=10,
    )
    return fig


def save_sweep_figure(result: GridResult, meta: dict, path) -> str:
    """``sweep_figure`` written to ``path`` (PNG); returns the path."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = sweep_figure(result, meta)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
