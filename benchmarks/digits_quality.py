"""Sample quality of the shipped digits UNet: the targets in README, and the S x eta table.

    .venv/bin/python benchmarks/digits_quality.py                # 1,000 samples a cell, S up to 1000 (~35 min, 1 CPU core)
    .venv/bin/python benchmarks/digits_quality.py --n 10000      # the full-size grid (for a GPU)
    .venv/bin/python benchmarks/digits_quality.py --n 300 --steps 10,20   # a quick look
    .venv/bin/python benchmarks/digits_quality.py --headline-only --headline-seeds 0,123,7 \
        --out ddim_edu/records/digits_headline_cpu.json        # the 2,000-sample target, 3 x_T seeds
    .venv/bin/python benchmarks/digits_quality.py --refloor ddim_edu/records/digits_quality.json

Writes ddim_edu/records/digits_quality.json (with device, date and command),
figures/digits_samples.png and figures/digits_quality.png. ``--refloor FILE`` samples nothing: it
recomputes the floors of a stored record with the current ``DigitsQuality`` (the digits-FID values
themselves depend only on the samples and half A, so they stay) and redraws the figure.
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
from ddim_edu.checkpoints import write_json  # noqa: E402
from ddim_edu.data import load_digits  # noqa: E402
from ddim_edu.fast import FastSampler  # noqa: E402
from ddim_edu.metrics import copy_fraction  # noqa: E402
from ddim_edu.pipeline import save_image_grid  # noqa: E402
from ddim_edu.quality import DigitsQuality  # noqa: E402
from ddim_edu.sampling import ddim_sample  # noqa: E402
from ddim_edu.schedule import timesteps  # noqa: E402
from ddim_edu.sweep import (  # noqa: E402,F401
    ETA_GRID,
    GridResult,
    grid_checks,
    make_target,
    run_metadata,  # noqa: E402
    run_sweep,
)

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "ddim_edu" / "records"  # stored results, shipped in the package


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
        "--batch",
        type=int,
        default=None,
        help="sample each cell in chunks of this many x_T rows (default: all at once; on a CPU "
        "about 1,000 runs faster), chunk k drawing its noise from noise_seed(seed, k)",
    )
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
    parser.add_argument("--out", default=str(RECORDS / "digits_quality.json"))
    parser.add_argument("--figures", default=str(ROOT / "figures"))
    parser.add_argument(
        "--headline-seeds",
        default=None,
        help="comma-separated x_T seeds for the headline (default: --seed); the first is the headline",
    )
    parser.add_argument(
        "--headline-only", action="store_true", help="score the headline only, no S x eta table"
    )
    parser.add_argument(
        "--refloor",
        metavar="FILE",
        default=None,
        help="recompute the floors of a stored results file and redraw its figure (no sampling)",
    )
    args = parser.parse_args(argv)
    if args.refloor:
        return refloor(Path(args.refloor), Path(args.figures), argv)
    steps = [int(s) for s in args.steps.split(",")]
    seeds = [int(v) for v in (args.headline_seeds or str(args.seed)).split(",")]
    start = time.perf_counter()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    fast = args.fast == "on" or (args.fast == "auto" and device == "cuda")
    model = pretrained.load("digits", device=device)
    quality = DigitsQuality(device=device)
    n_max = max(args.n, args.n_headline)
    x_T = torch.randn(n_max, 1, 8, 8, generator=torch.Generator().manual_seed(args.seed)).to(device)

    # 1. the headline: DDIM, S = 50, eta = 0, 2,000 samples, for each x_T seed
    per_seed = []
    for k, seed in enumerate(seeds):
        x_seed = (
            x_T[: args.n_headline]
            if seed == args.seed
            else torch.randn(
                args.n_headline, 1, 8, 8, generator=torch.Generator().manual_seed(seed)
            ).to(device)
        )
        t0 = time.perf_counter()
        if fast:
            xs = FastSampler(model, model.schedule, timesteps(50))(x_seed).cpu()
        else:
            xs = ddim_sample(
                model, x_seed, model.schedule, timesteps(50), eta=0.0, progress=False
            ).cpu()
        secs = time.perf_counter() - t0
        score = quality(xs)
        copies_s, threshold = copy_fraction(xs, load_digits()[0])
        print(
            f"DDIM S = 50, eta = 0, x_T seed {seed}, {args.n_headline} samples ({secs:.1f} s): {score.summary()}"
        )
        per_seed.append(
            {
                "seed": seed,
                "fid": score.fid,
                "fid_ratio": score.fid_ratio,
                "near_copy_fraction": copies_s,
            }
        )
        if k == 0:
            x, headline, seconds, copies = xs, score, secs, copies_s
    print(
        f"near-copies of a training digit (closer than 95 % of real digits are to each other): {copies:.1%}"
    )
    save_image_grid(x[:100], Path(args.figures) / "digits_samples.png", nrow=10, scale=4)
    headline_record = {
        "S": 50,
        "eta": 0.0,
        "seconds": round(seconds, 2),
        **headline.__dict__,
        "near_copy_fraction": copies,
        "near_copy_threshold": threshold,
        "seeds": per_seed,
    }
    if args.headline_only:
        record = {
            "meta": run_metadata(
                " ".join(
                    [
                        "python benchmarks/digits_quality.py",
                        *(sys.argv[1:] if argv is None else argv),
                    ]
                )
            )
            | {
                "wall_s": round(time.perf_counter() - start, 1),
                "model": pretrained.info("digits")["command"],
            },
            "headline": headline_record,
            "checks": headline_checks(headline_record),
        }
        print("\nchecks:", json.dumps(record["checks"]))
        write_json(args.out, record)
        return record

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
        batch=args.batch,
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
    record["headline"] = headline_record
    record["checks"] |= headline_checks(headline_record)
    print("\nchecks:", json.dumps(record["checks"]))
    write_json(args.out, record)

    draw_grid(grid, record, Path(args.figures) / "digits_quality.png")
    print(f"\nwrote {args.out} and figures in {args.figures} ({record['meta']['wall_s']} s)")
    return record


def headline_checks(h: dict) -> dict:
    """The README's targets for the 2,000-sample headline (every x_T seed for the FID)."""
    ratios = [r["fid_ratio"] for r in h.get("seeds", [])] or [h["fid"] / h["fid_floor"]]
    return {
        "fid_below_3x_floor": max(ratios) < 3,
        "confident_at_least_90pct": h["confident"] >= 0.9,
        "class_tv_below_0.05": h["class_tv"] < 0.05,
    }


def draw_grid(grid: GridResult, record: dict, path: Path) -> None:
    n = record["meta"]["n_per_cell"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    plotting.grid_heatmap(axes[0], grid, relative_to_floor=True)
    axes[0].set_title(
        f"digits-FID / floor (i.i.d. real digits: {grid.floor:.3f} ± {grid.floor_std:.3f})"
    )
    plotting.grid_curves(axes[1], grid)
    axes[1].set_title(f"digits-FID against S ({n} samples per cell)")
    fig.suptitle(f"Shipped digits UNet: the S x η table ({record['meta']['device']})")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def refloor(path: Path, figures: Path, argv: list[str] | None) -> dict:
    """Recompute a stored record's floors with the current metric; the samples' values stay."""
    record = json.loads(path.read_text())
    quality = DigitsQuality()
    g = record["grid"]
    n = record["meta"]["n_per_cell"]
    note = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(
            ["python benchmarks/digits_quality.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "floor_before": g["floor"],
        "why": "floor = expected digits-FID of i.i.d. real digits (multinomial class counts) against half A; "
        "the earlier floor was the stratified half B against A, without class-count noise",
    }
    g["floor_stratified"] = quality.fid_floor_stratified
    g["floor"], g["floor_std"] = quality.floor_at(n), quality.floor_sd_at(n)
    h = record.get("headline")
    if h:
        m = h["n"]
        h["fid_floor"], h["fid_floor_sd"] = quality.floor_at(m), quality.floor_sd_at(m)
        h["fid_floor_stratified"] = quality.fid_floor_stratified
        h["class_tv_floor"] = quality.class_tv_floor(m)
        for r in h.get("seeds", []):
            r["fid_ratio"] = r["fid"] / h["fid_floor"]
        record["checks"] |= headline_checks(h)
    record["meta"]["floor_recomputed"] = note
    write_json(path, record)
    grid = GridResult(
        **{k: g[k] for k in ("steps", "etas", "values", "seconds", "metric", "floor", "floor_std")}
    )
    print(grid.table(digits=3))
    if path.name == "digits_quality.json":
        draw_grid(grid, record, figures / "digits_quality.png")
    print(f"floor {note['floor_before']:.4f} -> {g['floor']:.4f}; wrote {path}")
    return record


if __name__ == "__main__":
    main()
