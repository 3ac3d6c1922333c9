"""Sample quality of the shipped digits UNet: the targets in README, and the S x eta table.

    .venv/bin/python benchmarks/digits_quality.py                # 1,000 samples a cell, S up to 1000 (~35 min, 1 CPU core)
    .venv/bin/python benchmarks/digits_quality.py --n 10000      # the full-size grid (for a GPU)
    .venv/bin/python benchmarks/digits_quality.py --n 300 --steps 10,20   # a quick look

Writes benchmarks/results/digits_quality.json (with device, date and command),
figures/digits_samples.png and figures/digits_quality.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ddim_edu import plotting, pretrained  # noqa: E402
from ddim_edu.data import load_digits  # noqa: E402
from ddim_edu.fast import FastSampler  # noqa: E402
from ddim_edu.metrics import DigitsQuality, copy_fraction  # noqa: E402
from ddim_edu.pipeline import save_image_grid  # noqa: E402
from ddim_edu.sampling import ddim_sample  # noqa: E402
from ddim_edu.schedule import timesteps  # noqa: E402
from ddim_edu.sweep import ETA_GRID, GridResult, grid_checks, make_target, run_sweep  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, default=1000, help="samples per cell of the table (default: 1000)"
    )
    parser.add_argument(
        "--n-headline",
        type=int,
        default=2000,
        help="samples for the S = 50, eta = 0 headline (default: 2000)",
    )
    parser.add_argument(
        "--steps",
        default="10,20,50,100,1000",
        help="step counts S of the table (default: 10,20,50,100,1000)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fast",
        choices=("auto", "on", "off"),
        default="auto",
        help="sample with ddim_edu.fast.FastSampler (default: on a GPU only)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="with the fast sampler, run the network through torch.compile (GPU sweeps)",
    )
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "digits_quality.json")
    )
    parser.add_argument("--figures", default=str(ROOT / "figures"))
    args = parser.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    start = time.perf_counter()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    fast = args.fast == "on" or (args.fast == "auto" and device == "cuda")
    model = pretrained.load("digits", device=device)
    quality = DigitsQuality(device=device)
    n_max = max(args.n, args.n_headline)
    x_T = torch.randn(n_max, 1, 8, 8, generator=torch.Generator().manual_seed(args.seed)).to(device)

    # 1. the headline: DDIM, S = 50, eta = 0
    t0 = time.perf_counter()
    if fast:
        x = FastSampler(model, model.schedule, timesteps(50))(x_T[: args.n_headline]).cpu()
    else:
        x = ddim_sample(
            model, x_T[: args.n_headline], model.schedule, timesteps(50), eta=0.0, progress=False
        ).cpu()
    seconds = time.perf_counter() - t0
    headline = quality(x)
    print(
        f"DDIM S = 50, eta = 0, {args.n_headline} samples ({seconds:.1f} s): {headline.summary()}"
    )
    copies, threshold = copy_fraction(x, load_digits()[0])
    print(
        f"near-copies of a training digit (closer than 95 % of real digits are to each other): {copies:.1%}"
    )
    save_image_grid(x[:100], Path(args.figures) / "digits_samples.png", nrow=10, scale=4)

    # 2. the S x eta table (same x_T and noise seed in every cell): what `python -m ddim_edu sweep` runs
    command = " ".join(
        ["python benchmarks/digits_quality.py", *(sys.argv[1:] if argv is None else argv)]
    )
    record = run_sweep(
        model,
        model.schedule,
        make_target("digits", device=device),
        n=args.n,
        steps=steps,
        etas=ETA_GRID,
        seed=args.seed,
        fast={"compile": True} if (fast and args.compile) else fast,
        device=device,
        progress=True,
        command=command,
        model_name=pretrained.info("digits")["command"],
    )
    g = record["grid"]
    grid = GridResult(
        **{k: g[k] for k in ("steps", "etas", "values", "seconds", "metric", "floor", "floor_std")}
    )
    print("\ndigits-FID (lower is better), floor = real-vs-real at the same size:")
    print(grid.table(digits=3))
    record["meta"]["wall_s"] = round(time.perf_counter() - start, 1)
    record["headline"] = {
        "S": 50,
        "eta": 0.0,
        "seconds": round(seconds, 2),
        **headline.__dict__,
        "near_copy_fraction": copies,
        "near_copy_threshold": threshold,
    }
    record["checks"] |= {
        "fid_below_3x_floor": headline.fid < 3 * headline.fid_floor,
        "confident_at_least_90pct": headline.confident >= 0.9,
        "class_tv_below_0.05": headline.class_tv < 0.05,
    }
    print("\nchecks:", json.dumps(record["checks"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1))

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    plotting.grid_heatmap(axes[0], grid, relative_to_floor=True)
    axes[0].set_title(f"digits-FID in units of the real-vs-real floor ({grid.floor:.2f})")
    plotting.grid_curves(axes[1], grid)
    axes[1].set_title(f"digits-FID against S ({args.n} samples per cell)")
    fig.suptitle(f"Shipped digits UNet: the S x η table ({record['meta']['device']})")
    fig.savefig(Path(args.figures) / "digits_quality.png", dpi=110)
    plt.close(fig)
    print(f"\nwrote {args.out} and figures in {args.figures} ({record['meta']['wall_s']} s)")
    return record


if __name__ == "__main__":
    main()
