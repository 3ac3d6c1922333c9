"""The paper's Table 1 on MNIST: the S x eta grid of the shipped MNIST UNet, paired over x_T seeds.

    .venv/bin/python benchmarks/mnist_grid.py                        # every missing part, then the summary
    .venv/bin/python benchmarks/mnist_grid.py --steps 10,20 --seeds 0  # some parts only
    .venv/bin/python benchmarks/mnist_grid.py --summary-only          # the summary from the parts there
    .venv/bin/python benchmarks/mnist_grid.py --guidance 2 --steps 10,20  # guided rows: eta 0 and 1

The grid is built from parts: one part is one S and one x_T seed, with every eta of the paper's
grid and ``--n`` samples a cell, sampled by ``ddim_edu.sweep.run_sweep`` (x_T from
``manual_seed(seed)`` and noise from ``noise_seed(seed, 0)``, the same in every cell of the part;
no clipping, as in the paper). Each sample gets a class drawn from the training split's class
frequencies (the same labels in every cell of a seed, like x_T) and is sampled with guidance
scale 1: this samples the data's distribution p(x) = sum_y p(y) p(x | y) through the network's
class entries, at 1.4-1.8x the MNIST-FID floor, where its "no class" entry stays at about 18x
(ddim_edu/records/mnist_quality.json); so the grid shows the sampler's effects rather than that
entry's error. Each part is written to ``PARTS/S{S}_seed{seed}.json`` as soon as it is done and is
skipped when it is there already; within a part, each finished cell (one eta) is kept in
``PARTS/in_progress/S{S}_seed{seed}/`` until the part is written. So a long CPU run can stop at
any time and continue later, losing at most the cell it was sampling.

With ``--guidance W`` the parts are the guided rows people ask about next: eta = 0 and eta = 1,
classes 0-9 in turn (n / 10 of each) with guidance scale W, the same x_T and noise;
``PARTS/S{S}_seed{seed}_w{W}.json``, summary ``mnist_grid_w{W}.json``.

The summary (``--out``) holds, for every (eta, S) cell measured for all of ``--seeds``: the mean
MNIST-FID over the seeds and the per-seed values; and paired comparisons. Two cells of one seed
share x_T, so their difference is free of x_T's luck: for each pair the summary gives the mean
difference over the seeds and its standard error (the spread of the per-seed differences over
sqrt(number of seeds)). It also draws ``--figure``.

On the 2-core CPU one network call costs about 4.4 ms per 28x28 image here (metric included),
so one part takes about 22 s per step: S = 10 about 4 minutes, S = 100 about 37 minutes.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import shutil
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
LABELS = (
    "one class per sample, drawn i.i.d. from the training split's class frequencies "
    "(generator 1000 + seed), guidance scale 1: samples of p(x) = sum_y p(y) p(x | y)"
)
RECORDS = ROOT / "ddim_edu" / "records"


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def part_path(parts: Path, S: int, seed: int, w: float | None = None) -> Path:  # noqa: N803
    """The part of (S, seed); with a guidance scale ``w``, the guided part."""
    return parts / (f"S{S}_seed{seed}.json" if w is None else f"S{S}_seed{seed}_w{w:g}.json")


def cells_path(part: Path) -> Path:
    """Where the cells of a part in progress are kept until the part is written: a run stopped
    part-way (the end of a session, say) continues from its last finished cell."""
    return part.parent / "in_progress" / part.stem


def data_labels(n: int, seed: int) -> torch.Tensor:
    """The labels of x_T seed ``seed``: ``ddim_edu.data.mnist_labels(n, 1000 + seed)``."""
    from ddim_edu.data import mnist_labels

    return mnist_labels(n, 1000 + seed)


def run_part(
    S: int,  # noqa: N803
    seed: int,
    etas,
    n: int,
    path: Path,
    device: str = "cpu",
    w: float | None = None,
) -> dict:
    """One part. ``w`` None: labels from the data's frequencies, w = 1; else classes 0-9 in turn
    (n / 10 of each) with guidance scale ``w``."""
    from ddim_edu import pretrained
    from ddim_edu.checkpoints import write_json
    from ddim_edu.guidance import ClassConditioned
    from ddim_edu.sweep import make_target, run_sweep

    model = pretrained.load("mnist", device=device)
    labels = data_labels(n, seed) if w is None else torch.arange(n) % 10
    eps_model = ClassConditioned(model, labels, guidance_scale=1.0 if w is None else w)
    target = make_target("mnist", n=n, seed=seed, device=device)
    command = f"python benchmarks/mnist_grid.py --steps {S} --seeds {seed} --n {n}"
    if w is not None:
        command += f" --guidance {w:g}"
    record = run_sweep(
        eps_model,
        model.schedule,
        target,
        n=n,
        steps=[S],
        etas=etas,
        seed=seed,
        fast=True,
        batch=None,  # one chunk: the labels belong to the rows of x_T
        progress=False,
        command=command,
        model_name=f"shipped mnist: {model.info['command']}",
        device=device,
        cells_dir=cells_path(path),
    )
    record["meta"]["labels"] = (
        LABELS if w is None else f"classes 0-9 in turn, one per sample, guidance scale {w:g}"
    )
    write_json(path, record)
    cells = cells_path(path)
    shutil.rmtree(cells)  # the part now holds every cell
    if not any(cells.parent.iterdir()):
        cells.parent.rmdir()
    return record


def _shown(path: Path) -> str:
    """A path relative to the repository when it lies inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def eta_key(eta) -> str:
    return eta if eta == "sigma_hat" else str(float(eta))


def summarize(parts: Path, steps: list[int], seeds: list[int], w: float | None = None) -> dict:
    """Mean over seeds and paired differences, for every S whose parts exist for all seeds."""
    values: dict[str, dict[int, list[float]]] = {}
    confident: dict[str, dict[int, list[float]]] = {}
    metas, complete, etas = [], [], None
    floor = None
    for S in sorted(steps):  # noqa: N806
        paths = [part_path(parts, S, seed, w) for seed in seeds]
        if not all(p.exists() for p in paths):
            continue
        complete.append(S)
        for p in paths:
            record = json.loads(p.read_text())
            grid = record["grid"]
            etas = grid["etas"]
            floor = grid.get("floor")
            metas.append(record["meta"])
            for eta, row, conf in zip(grid["etas"], grid["values"], grid["confident"]):
                values.setdefault(eta_key(eta), {}).setdefault(S, []).append(row[0])
                confident.setdefault(eta_key(eta), {}).setdefault(S, []).append(conf[0])
    if not complete:
        raise SystemExit(f"no complete S column in {parts} for seeds {seeds}")
    k = len(seeds)

    def paired(a: list[float], b: list[float]) -> dict:
        d = [x - y for x, y in zip(a, b)]
        mean = sum(d) / k
        se = round(math.sqrt(sum((v - mean) ** 2 for v in d) / (k - 1) / k), 4) if k > 1 else None
        return {"mean": round(mean, 4), "se": se, "per_seed": [round(v, 4) for v in d]}

    keys = [eta_key(e) for e in etas]
    comparisons = []
    for S in complete:  # noqa: N806
        for e in keys[1:]:
            comparisons.append(
                {"a": f"eta={e}, S={S}", "b": f"eta=0.0, S={S}"}
                | paired(values[e][S], values["0.0"][S])
            )
    for e in keys:
        for S0, S1 in zip(complete, complete[1:]):  # noqa: N806
            comparisons.append(
                {"a": f"eta={e}, S={S0}", "b": f"eta={e}, S={S1}"}
                | paired(values[e][S0], values[e][S1])
            )
    means = [[round(sum(values[e][S]) / k, 4) for S in complete] for e in keys]
    from ddim_edu.sweep import grid_checks

    return {
        "meta": {
            "parts": [_shown(part_path(parts, S, s, w)) for S in complete for s in seeds],
            "devices": sorted({m["device"] for m in metas}),
            "dates": sorted({m["date"] for m in metas}),
            "n_per_cell": metas[0]["n_per_cell"],
            "seeds": seeds,
            "part_wall_s": sum(m["wall_s"] for m in metas),
            "command": "python benchmarks/mnist_grid.py " + " ".join(sys.argv[1:]),
            "metric": "MNIST-FID",
            "noise": metas[0]["noise"],
            "model": metas[0]["model"],
            "labels": metas[0].get("labels"),
            "guidance_scale": w,
        },
        "steps": complete,
        "etas": etas,
        "mean": means,
        "per_seed": {
            e: {str(S): [round(v, 4) for v in values[e][S]] for S in complete} for e in keys
        },
        "confident": {
            e: {str(S): round(sum(confident[e][S]) / k, 4) for S in complete} for e in keys
        },
        "floor": floor,
        "paired": comparisons,
        "checks": grid_checks(means, etas, complete),
    }


def draw(summary: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from ddim_edu.checkpoints import write_atomic

    steps, etas, k = summary["steps"], summary["etas"], len(summary["meta"]["seeds"])
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, e in enumerate(etas):
        per = summary["per_seed"][eta_key(e)]
        mean = [sum(per[str(S)]) / k for S in steps]
        label = "σ̂ (sigma_hat)" if e == "sigma_hat" else f"η = {e:g}"
        ax0.plot(steps, mean, marker="o", label=label, color=f"C{i}")
    ax0.set_xscale("log")
    ax0.set_yscale("log")
    ax0.set_xticks(steps, [str(s) for s in steps])
    ax0.set_xlabel("S (sampling steps, log scale)")
    ax0.set_ylabel("MNIST-FID (lower is better, log scale)")
    if summary["floor"]:
        ax0.axhline(summary["floor"], color="gray", ls=":", label="real held-out digits (floor)")
    n = summary["meta"]["n_per_cell"]
    ax0.set_title(f"mean over {k} x_T seeds, {n:,} samples a cell")
    ax0.legend(fontsize=8)
    # paired differences to eta = 0 at each S, with their standard errors
    for i, e in enumerate(etas[1:], start=1):
        rows = [c for c in summary["paired"] if c["a"].startswith(f"eta={eta_key(e)}, S=")]
        rows = [c for c in rows if c["b"].startswith("eta=0.0")]
        label = "σ̂" if e == "sigma_hat" else f"η = {e:g}"
        ax1.errorbar(
            steps,
            [c["mean"] for c in rows],
            yerr=[2 * (c["se"] or 0.0) for c in rows],
            marker="o",
            capsize=3,
            label=label,
            color=f"C{i}",
        )
    ax1.axhline(0, color="black", lw=0.8)
    ax1.set_yscale("symlog", linthresh=0.1)  # sigma_hat's gap is 100x the others'
    ax1.set_xscale("log")
    ax1.set_xticks(steps, [str(s) for s in steps])
    ax1.set_xlabel("S (sampling steps, log scale)")
    ax1.set_ylabel("MNIST-FID minus that of η = 0, same x_T (symlog)")
    for ax in (ax0, ax1):
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax1.set_title(f"paired differences, ±2 standard errors ({k} seeds)")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=120, format="png")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return path


def draw_samples(path: Path, steps=(5, 10, 20, 50), per_row: int = 10) -> Path:
    """One row per (S, eta in {0, 1}) from the same x_T (seed 0) and the same labels (those of
    the grid's seed 0): what the grid's numbers are about, seen."""
    from ddim_edu import pretrained
    from ddim_edu.fast import FastSampler
    from ddim_edu.guidance import ClassConditioned
    from ddim_edu.pipeline import save_image_grid
    from ddim_edu.schedule import timesteps

    model = pretrained.load("mnist")
    x_T = torch.randn((per_row, 1, 28, 28), generator=torch.Generator().manual_seed(0))  # noqa: N806
    cond = ClassConditioned(model, data_labels(per_row, 0), guidance_scale=1.0)
    rows = []
    for S in steps:  # noqa: N806
        for eta in (0.0, 1.0):
            sampler = FastSampler(cond, model.schedule, timesteps(S, model.schedule.T), eta=eta)
            rows.append(sampler(x_T, generator=torch.Generator().manual_seed(1)).clamp(-1, 1))
    return save_image_grid(torch.cat(rows), path, nrow=per_row, scale=2)


def draw_front(summary: dict, path: Path, steps=(10, 20, 50), per_row: int = 8) -> Path:
    """The README's picture: left, samples from one x_T (seed 0, the grid's seed-0 labels) for each
    S of ``steps`` at eta = 0 and eta = 1, one labelled row each; right, the grid's mean MNIST-FID
    against S for every eta of the summary, beside the floor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from ddim_edu import pretrained
    from ddim_edu.checkpoints import write_atomic
    from ddim_edu.fast import FastSampler
    from ddim_edu.guidance import ClassConditioned
    from ddim_edu.schedule import timesteps

    model = pretrained.load("mnist")
    x_T = torch.randn((per_row, 1, 28, 28), generator=torch.Generator().manual_seed(0))  # noqa: N806
    cond = ClassConditioned(model, data_labels(per_row, 0), guidance_scale=1.0)
    rows, names = [], []
    for eta in (0.0, 1.0):
        for S in steps:  # noqa: N806
            sampler = FastSampler(cond, model.schedule, timesteps(S, model.schedule.T), eta=eta)
            with torch.no_grad():
                x = sampler(x_T, generator=torch.Generator().manual_seed(1)).clamp(-1, 1)
            rows.append(torch.cat(list(x[:, 0]), dim=1))  # (28, 28 per_row)
            names.append(f"η = {eta:g}, S = {S}")
    fig = plt.figure(figsize=(12.5, 4.4))
    grid = fig.add_gridspec(1, 2, width_ratios=[1.45, 1.0], wspace=0.28)
    left = grid[0].subgridspec(len(rows), 1, hspace=0.08)
    for i, (row, name) in enumerate(zip(rows, names)):
        ax = fig.add_subplot(left[i])
        ax.imshow(row.numpy(), cmap="gray", vmin=-1, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        if i == 0:
            ax.set_title(f"{per_row} samples from one x_T (seed 0), classes {data_labels(per_row, 0).tolist()}",
                         fontsize=10)  # fmt: skip
    ax = fig.add_subplot(grid[1])
    k, grid_steps = len(summary["meta"]["seeds"]), summary["steps"]
    for i, e in enumerate(summary["etas"]):
        per = summary["per_seed"][eta_key(e)]
        mean = [sum(per[str(S)]) / k for S in grid_steps]
        ax.plot(grid_steps, mean, marker="o", color=f"C{i}",
                label="σ̂ (DDPM's larger variance)" if e == "sigma_hat" else f"η = {e:g}")  # fmt: skip
    if summary["floor"]:
        ax.axhline(summary["floor"], color="gray", ls=":", label="real held-out digits (floor)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(grid_steps, [str(S) for S in grid_steps])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("S (sampling steps, log scale)")
    ax.set_ylabel("MNIST-FID (lower is better, log scale)")
    n = summary["meta"]["n_per_cell"]
    ax.set_title(f"quality against S and η: {k} x_T seeds × {n:,} samples a cell", fontsize=10)
    ax.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png", bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return path


def main(argv: list[str] | None = None) -> dict:
    from ddim_edu.sweep import ETA_GRID

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=_ints, default=[10, 20, 50, 100])
    parser.add_argument("--seeds", type=_ints, default=[0, 1, 2])
    parser.add_argument("--n", type=int, default=1000, help="samples a cell (default: 1000)")
    parser.add_argument("--parts", default=str(RECORDS / "mnist_grid"), help="folder of the parts")
    parser.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="the guided rows instead: eta 0 and 1, classes 0-9 in turn, this guidance scale",
    )
    parser.add_argument(
        "--out", default=None, help="the summary (default: ddim_edu/records/mnist_grid[_wW].json)"
    )
    parser.add_argument("--figure", default=None, help="default: figures/mnist_grid[_wW].png")
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument(
        "--samples-figure",
        default=None,
        help="also draw samples from one x_T, a row per (S, eta 0 / 1), S = 5, 10, 20, 50",
    )
    parser.add_argument(
        "--front-figure",
        default=None,
        help="also draw the README's picture: samples at S = 10, 20, 50 for eta 0 and 1 beside the grid",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default: cpu)")
    parser.add_argument(
        "--deadline-s",
        type=float,
        default=None,
        help="start no new part after this many seconds (the parts done are kept)",
    )
    args = parser.parse_args(argv)
    w = args.guidance
    suffix = "" if w is None else f"_w{w:g}"
    parts = Path(args.parts)
    out = Path(args.out or RECORDS / f"mnist_grid{suffix}.json")
    figure = Path(args.figure or ROOT / "figures" / f"mnist_grid{suffix}.png")
    etas = ETA_GRID if w is None else (0.0, 1.0)
    if out.resolve() == figure.resolve():
        parser.error("--out and --figure must be different files")
    for p in (parts, out.parent, figure.parent):
        p.mkdir(parents=True, exist_ok=True)  # checked before the work
    from ddim_edu._checks import check_device

    device = str(check_device(args.device, "--device"))
    start = time.perf_counter()
    if not args.summary_only:
        for S in args.steps:  # noqa: N806
            for seed in args.seeds:
                path = part_path(parts, S, seed, w)
                if path.exists():
                    continue
                if args.deadline_s is not None and time.perf_counter() - start > args.deadline_s:
                    print(f"deadline: S = {S}, seed {seed} and later parts not started")
                    break
                t0 = time.perf_counter()
                record = run_part(S, seed, etas, args.n, path, device, w)
                values = [round(row[0], 3) for row in record["grid"]["values"]]
                print(
                    f"S = {S}, seed {seed}: {values} ({time.perf_counter() - t0:.0f} s)", flush=True
                )
    from ddim_edu.checkpoints import write_json

    summary = summarize(parts, args.steps, args.seeds, w)
    write_json(out, summary)
    draw(summary, figure)
    print(json.dumps({"steps": summary["steps"], "mean": summary["mean"]}, indent=1))
    print(f"wrote {out} and {figure}")
    if args.samples_figure:
        print(f"wrote {draw_samples(Path(args.samples_figure))}")
    if args.front_figure:
        print(f"wrote {draw_front(summary, Path(args.front_figure))}")
    return summary


if __name__ == "__main__":
    main()
