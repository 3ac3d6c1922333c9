"""Sample quality of the shipped MNIST UNet: the targets of the README, as one results file.

    .venv/bin/python benchmarks/mnist_quality.py                       # the full check (58 min, 2 CPU cores)
    .venv/bin/python benchmarks/mnist_quality.py --n 300 --seeds 0     # a quick look (~3 min)
    .venv/bin/python benchmarks/mnist_quality.py --run-dir runs/mnist  # a training run instead

What it measures (MNIST-FID in the features of the shipped ``mnist_classifier``, reference A = the
8,000 training digits; floor = real held-out digits drawn with i.i.d. class counts, same size):

* unconditional, DDIM S = 50, eta = 0, ``--n`` samples for each x_T seed of ``--seeds``:
  MNIST-FID and its floor, the confident fraction (p >= 0.9), the class histogram and the
  near-copy rate against the training split;
* guided, the same S and eta, ``--n`` samples with one requested class per image (classes 0-9
  in turn), at each scale of ``--guidance``: the fraction classified as the requested class;
* S = 10 from one x_T: eta = 0, eta = 1 and sigma_hat (the paper's order);
* throughput of the pipeline (images per second at S = 50, batch 256) beside the bare network's
  forward throughput at the same batch.

Writes ddim_edu/records/mnist_quality.json (device, date, command), figures/mnist_samples.png
(100 unconditional samples) and figures/mnist_guided.png (one row per class).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from ddim_edu import pretrained
from ddim_edu.checkpoints import write_json
from ddim_edu.data import load_mnist
from ddim_edu.fast import FastSampler
from ddim_edu.guidance import ClassConditioned
from ddim_edu.metrics import copy_fraction
from ddim_edu.pipeline import DDIMPipeline, save_image_grid
from ddim_edu.quality import DigitsQuality
from ddim_edu.schedule import timesteps
from ddim_edu.sweep import eta_options, noise_seed, run_metadata
from ddim_edu.train import load_run

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "ddim_edu" / "records"  # stored results, shipped in the package


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def sample(
    model,
    n: int,
    S: int,  # noqa: N803
    eta,
    seed: int,
    batch: int,
    labels=None,
    w: float = 1.0,
) -> torch.Tensor:
    """n samples with x_T from ``manual_seed(seed)`` and noise from ``noise_seed(seed, chunk)``.

    ``labels`` (n,) asks for one class per image (guidance scale ``w``); None samples with the
    "no class" entry. The chunks, x_T and noise are the same either way.
    """
    x_T = torch.randn((n, 1, 28, 28), generator=torch.Generator().manual_seed(seed))  # noqa: N806
    taus = timesteps(S, model.schedule.T)
    out = []
    for k, start in enumerate(range(0, n, batch)):
        eps_model = model
        if labels is not None:
            eps_model = ClassConditioned(model, labels[start : start + batch], guidance_scale=w)
        sampler = FastSampler(eps_model, model.schedule, taus, clip=1.0, **eta_options(eta))
        gen = torch.Generator().manual_seed(noise_seed(seed, k))
        out.append(sampler(x_T[start : start + batch], generator=gen))
    return torch.cat(out).clamp(-1, 1)


def data_labels(n: int, seed: int) -> torch.Tensor:
    """The labels of x_T seed ``seed``: ``ddim_edu.data.mnist_labels(n, 1000 + seed)``."""
    from ddim_edu.data import mnist_labels

    return mnist_labels(n, 1000 + seed)


def unconditional_row(quality, x, train_x, seed: int, wall: float) -> dict:
    s = quality(x)
    copies, threshold = copy_fraction(x, train_x)
    return {
        "seed": seed,
        "n": s.n,
        "fid": round(s.fid, 4),
        "floor": round(s.fid_floor, 4),
        "floor_sd": round(s.fid_floor_sd, 4),
        "fid_over_floor": round(s.fid_ratio, 3),
        "confident": round(s.confident, 4),
        "class_fractions": s.class_fractions,
        "class_tv": round(s.class_tv, 4),
        "class_tv_floor": round(s.class_tv_floor, 4),
        "near_copy_fraction": round(copies, 4),
        "near_copy_threshold": round(threshold, 3),
        "sampling_s": round(wall, 1),
        "summary": f"{s.summary()}, near-copies {copies:.1%}",
    }


def meets_targets(rows: list[dict]) -> dict:
    return {
        "fid_at_most_2x_floor": all(r["fid_over_floor"] <= 2.0 for r in rows),
        "confident_at_least_90pct": all(r["confident"] >= 0.9 for r in rows),
        "class_fractions_in_6_14pct": all(
            0.06 <= f <= 0.14 for r in rows for f in r["class_fractions"]
        ),
        "near_copies_at_most_5pct": all(r["near_copy_fraction"] <= 0.05 for r in rows),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="samples per set (default: 2000)")
    parser.add_argument("--seeds", type=_ints, default=[0, 1, 2], help="x_T seeds (default: 0,1,2)")
    parser.add_argument(
        "--guidance", type=_floats, default=[1.0, 2.0, 3.0], help="guidance scales (default: 1,2,3)"
    )
    parser.add_argument(
        "--n-guided", type=int, default=500, help="samples per guidance scale (default: 500)"
    )
    parser.add_argument(
        "--figure-scale", type=float, default=2.0, help="guidance scale of mnist_guided.png"
    )
    parser.add_argument(
        "--throughput-batch", type=int, default=256, help="batch of the throughput timing"
    )
    parser.add_argument("--batch", type=int, default=500, help="sampling batch (default: 500)")
    parser.add_argument("--run-dir", default=None, help="a training run instead of shipped mnist")
    parser.add_argument("--out", default=str(RECORDS / "mnist_quality.json"))
    parser.add_argument("--figures", default=str(ROOT / "figures"), help="folder for the PNGs")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)  # checked before the work
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)

    t_start = time.perf_counter()
    model = load_run(args.run_dir) if args.run_dir else pretrained.load("mnist")
    source = f"run {args.run_dir} (step {model.step})" if args.run_dir else model.info["command"]
    quality = DigitsQuality(data="mnist")
    train_x, _ = load_mnist("train")
    record: dict = {
        "meta": run_metadata(
            " ".join(["python benchmarks/mnist_quality.py", *(argv or sys.argv[1:])])
        ),
        "model": source,
        "metric": {
            "name": quality.metric,
            "classifier_held_out_accuracy": pretrained.info("mnist_classifier")[
                "held_out_accuracy"
            ],
            "reference": "the 8,000 training digits (A)",
            "floor": "held-out digits drawn with i.i.d. class counts, same sample size",
        },
    }

    # 1. unconditional, S = 50, eta = 0, several x_T seeds: (a) the "no class" entry; (b) one
    # label per image drawn from the data's class frequencies with w = 1, which samples the same
    # marginal p(x) = sum_y p(y) p(x | y) through the conditional network
    for key, labelled in (("unconditional", False), ("data_labels", True)):
        rows = []
        for seed in args.seeds:
            labels = data_labels(args.n, seed) if labelled else None
            t0 = time.perf_counter()
            x = sample(model, args.n, 50, 0.0, seed, args.batch, labels=labels)
            row = unconditional_row(quality, x, train_x, seed, time.perf_counter() - t0)
            print(f"{key} seed {seed}: {row['summary']}", flush=True)
            rows.append(row)
            if seed == args.seeds[0] and not labelled:
                save_image_grid(x[:100], figures / "mnist_samples.png", nrow=10, scale=2)
        record[key] = rows

    # 2. guided: one requested class per image, classes 0..9 in turn
    labels = torch.arange(args.n_guided) % 10
    guided = []
    for w in args.guidance:
        x = sample(model, args.n_guided, 50, 0.0, args.seeds[0], args.batch, labels=labels, w=w)
        acc = quality.class_accuracy(x, labels)
        s = quality(x)
        guided.append(
            {
                "guidance_scale": w,
                "n": args.n_guided,
                "class_accuracy": round(acc, 4),
                "confident": round(s.confident, 4),
                "fid": round(s.fid, 4),
                "floor": round(s.fid_floor, 4),
                "fid_over_floor": round(s.fid_ratio, 3),
            }
        )
        print(f"guided w = {w}: {acc:.1%} as requested, {s.summary()}", flush=True)
        if w == args.figure_scale:
            order = torch.argsort(labels[:100], stable=True)
            save_image_grid(x[:100][order], figures / "mnist_guided.png", nrow=10, scale=2)
    record["guided"] = guided

    # 3. S = 10 from one x_T: the paper's order eta 0 < eta 1 < sigma_hat
    s10 = {}
    for eta in (0.0, 1.0, "sigma_hat"):
        x = sample(model, args.n, 10, eta, args.seeds[0], args.batch)
        s10[str(eta)] = round(quality(x).fid, 4)
        print(f"S = 10, eta = {eta}: {quality.metric} {s10[str(eta)]}", flush=True)
    record["s10"] = {
        "values": s10,
        "paper_order": s10["0.0"] < s10["1.0"] < s10["sigma_hat"],
    }

    # 4. throughput at batch 256: the pipeline (S = 50) and the bare network
    tb = args.throughput_batch
    pipe = DDIMPipeline(model)
    pipe(batch_size=8, num_inference_steps=2, generator=0, progress=False)  # warm-up
    t0 = time.perf_counter()
    pipe(batch_size=tb, num_inference_steps=50, generator=0, progress=False)
    pipe_ips = tb / (time.perf_counter() - t0)
    x = torch.randn(tb, 1, 28, 28)
    t = torch.full((tb,), 500)
    with torch.no_grad():
        model(x, t)
        t0 = time.perf_counter()
        for _ in range(5):
            model(x, t)
    forward_ips = 5 * tb / (time.perf_counter() - t0)
    record["throughput"] = {
        "batch": tb,
        "pipeline_images_per_s_S50": round(pipe_ips, 2),
        "network_forward_images_per_s": round(forward_ips, 1),
        # time of one pipeline call over the time of its 50 bare network calls (1.0: no overhead)
        "pipeline_over_50_forwards": round(forward_ips / (50 * pipe_ips), 3),
    }
    print(f"throughput: {record['throughput']}", flush=True)

    best = max(guided, key=lambda g: g["class_accuracy"])
    record["targets"] = {
        "unconditional": meets_targets(record["unconditional"]),
        "data_labels": meets_targets(record["data_labels"]),
        "guided_at_least_97pct": best["class_accuracy"] >= 0.97,
        "guided_scale": best["guidance_scale"],
        "s10_paper_order": record["s10"]["paper_order"],
    }
    record["meta"]["wall_s"] = round(time.perf_counter() - t_start, 1)
    write_json(out, record)
    print(json.dumps(record["targets"], indent=1))
    print(f"wrote {out} ({record['meta']['wall_s']} s)")
    return record


if __name__ == "__main__":
    main()
