"""The S = 10 column of the digits table, replicated: is eta = 0 the best few-step sampler?

    .venv/bin/python benchmarks/digits_s10_replicates.py                # 5 x_T seeds x 4 etas, 10,000 samples each (~9 min, 2 CPU threads)
    .venv/bin/python benchmarks/digits_s10_replicates.py --seeds 0,1 --n 2000   # a quick look

One cell of the stored grid cannot separate eta = 0 from eta = 0.2 at S = 10 (0.394 against 0.370,
the floor's spread for a cell is 0.034). Here every eta is sampled from the *same* x_T, seed after
seed, so the comparison is paired: the differences between etas are read against their own
scatter over seeds. Writes ddim_edu/records/digits_s10_replicates.json (device, date, command).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from ddim_edu import pretrained
from ddim_edu.checkpoints import write_json
from ddim_edu.quality import DigitsQuality
from ddim_edu.sweep import run_metadata, sample_cell

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "ddim_edu" / "records"  # stored results, shipped in the package


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="0,1,2,3,4", help="x_T seeds (default: %(default)s)")
    parser.add_argument("--etas", default="0,0.2,0.5,1", help="etas (default: %(default)s)")
    parser.add_argument(
        "--n", type=int, default=10000, help="samples per cell (default: %(default)s)"
    )
    parser.add_argument("--steps", type=int, default=10, help="S (default: %(default)s)")
    parser.add_argument("--out", default=str(RECORDS / "digits_s10_replicates.json"))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    etas = [float(e) for e in args.etas.split(",")]
    if len(seeds) < 2:
        raise SystemExit("--seeds needs at least two seeds for a spread")
    start = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = pretrained.load("digits", device=device)
    quality = DigitsQuality()
    fid: dict[float, list[float]] = {e: [] for e in etas}
    for seed in seeds:
        x_T = torch.randn(  # noqa: N806
            args.n, 1, 8, 8, generator=torch.Generator().manual_seed(1000 + seed)
        ).to(device)
        for eta in etas:
            with torch.no_grad():
                x = sample_cell(
                    model, x_T, model.schedule, args.steps, eta, seed=seed, fast=True, batch=1000
                )
            fid[eta].append(quality(x.cpu()).fid)
            print(f"x_T seed {seed}, eta {eta:g}: digits-FID {fid[eta][-1]:.4f}", flush=True)
    base = etas[0]
    paired = {}
    for eta in etas[1:]:
        d = [a - b for a, b in zip(fid[eta], fid[base])]
        paired[f"{eta:g}"] = {
            "mean_difference": statistics.mean(d),
            "sd_difference": statistics.stdev(d),
            "worse_in": sum(v > 0 for v in d),
            "of": len(d),
        }
    record = {
        "meta": run_metadata(
            " ".join(
                [
                    "python benchmarks/digits_s10_replicates.py",
                    *(sys.argv[1:] if argv is None else argv),
                ]
            )
        )
        | {
            "n_per_cell": args.n,
            "S": args.steps,
            "x_T_seeds": [1000 + s for s in seeds],
            "floor": quality.floor_at(args.n),
            "floor_sd": quality.floor_sd_at(args.n),
            "wall_s": round(time.perf_counter() - start, 1),
        },
        "fid": {f"{e:g}": v for e, v in fid.items()},
        "mean": {f"{e:g}": statistics.mean(v) for e, v in fid.items()},
        f"paired_against_eta_{base:g}": paired,
    }
    for eta, p in paired.items():
        print(
            f"eta {eta} - eta {base:g}: {p['mean_difference']:+.4f} ± {p['sd_difference']:.4f} "
            f"(sd over seeds), worse in {p['worse_in']} of {p['of']}"
        )
    write_json(args.out, record)
    return record


if __name__ == "__main__":
    main()
