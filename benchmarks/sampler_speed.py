"""Where the time goes: the sampler against the network, against diffusers, and against S.

    make bench                                   # installs diffusers (only for this), runs everything
    .venv/bin/python benchmarks/sampler_speed.py --quick     # a smoke run (seconds)

Measured on the CPU with the shipped digits UNet (1x8x8), in one run:
1. per-step cost of the sampler alone (a stand-in network that returns a stored tensor, so only
   the update, the noise and the bookkeeping are timed) for ``ddim_sample``, ``FastSampler`` and
   diffusers' ``DDIMScheduler.step`` at batch 1, 64 and 1024 with eta = 0.5, beside the cost of one
   UNet call at the same batch;
2. that ``FastSampler`` and ``DDIMScheduler`` give the same samples from the same x_T and seed;
3. wall time against S for DDIM (fast path) and 1000-step DDPM with the real network;
4. training throughput (images/s);
5. with --notebooks, the time of each notebook under nbval in FAST mode.

Writes ddim_edu/records/sampler_speed.json and figures/time_vs_S.png (with the GPU numbers of
ddim_edu/records/gpu_session.json beside the CPU ones, when that file exists).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "ddim_edu" / "records"  # stored results, shipped in the package
sys.path.insert(0, str(ROOT))

from ddim_edu import pretrained  # noqa: E402
from ddim_edu.checkpoints import write_json  # noqa: E402
from ddim_edu.fast import FastSampler  # noqa: E402
from ddim_edu.sampling import ddim_sample, ddpm_sample  # noqa: E402
from ddim_edu.schedule import timesteps  # noqa: E402
from ddim_edu.sweep import run_metadata  # noqa: E402
from ddim_edu.train import TrainConfig, train  # noqa: E402


def median_time(fn, repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class StoredOutput:
    """A stand-in network: returns one stored tensor (no arithmetic), so only the sampler is timed."""

    def __init__(self, out: torch.Tensor) -> None:
        self.out = out

    def __call__(self, x, t):
        return self.out


def diffusers_scheduler(S: int):  # noqa: N803
    from diffusers import DDIMScheduler

    # the paper's setting as this package implements it: linear betas, "leading" spacing
    # (= range(0, T, T // S)), the last step lands on alpha_bar = 1, no clipping
    sched = DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=0,
        timestep_spacing="leading",
        prediction_type="epsilon",
    )
    sched.set_timesteps(S)
    return sched


def diffusers_sample(model, x_T, S: int, eta: float, seed: int):  # noqa: N803
    sched = diffusers_scheduler(S)
    gen = torch.Generator().manual_seed(seed)
    x = x_T
    for t in sched.timesteps:
        out = model(x, torch.full((x.shape[0],), int(t), dtype=torch.int64))
        x = sched.step(out, t, x, eta=eta, generator=gen).prev_sample
    return x


def step_costs(model, batches, S: int, repeat: int, with_diffusers: bool) -> dict:  # noqa: N803
    rows = {}
    for b in batches:
        x = torch.randn(b, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        t = torch.full((b,), 500, dtype=torch.int64)
        with torch.no_grad():
            unet = median_time(lambda x=x, t=t: model(x, t), repeat=max(3, repeat * 64 // b))
            stored = StoredOutput(model(x, t))
        fast = FastSampler(stored, model.schedule, timesteps(S), eta=0.5)
        row = {
            "unet_call_ms": 1e3 * unet,
            "fast_step_ms": 1e3 * median_time(lambda f=fast, x=x: f(x, generator=0), repeat) / S,
            "plain_step_ms": 1e3
            * median_time(
                lambda x=x, s=stored: ddim_sample(
                    s, x, model.schedule, timesteps(S), 0.5, generator=0, progress=False
                ),
                repeat,
            )
            / S,
        }
        if with_diffusers:
            row["diffusers_step_ms"] = (
                1e3
                * median_time(lambda x=x, s=stored: diffusers_sample(s, x, S, 0.5, 0), repeat)
                / S
            )
            row["fast_over_diffusers"] = row["fast_step_ms"] / row["diffusers_step_ms"]
        row["fast_over_unet"] = row["fast_step_ms"] / row["unet_call_ms"]
        rows[str(b)] = {k: round(v, 5) for k, v in row.items()}
        print(f"batch {b}: {rows[str(b)]}", flush=True)
    return rows


def agreement(model, with_diffusers: bool) -> dict:
    x_T = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    result = {}
    for eta in (0.0, 0.5):
        ours = FastSampler(model, model.schedule, timesteps(50), eta=eta)(x_T, generator=7)
        plain = ddim_sample(
            model, x_T, model.schedule, timesteps(50), eta, generator=7, progress=False
        )
        row = {"fast_vs_plain_max_abs": float((ours - plain).abs().max())}
        if with_diffusers:
            with torch.no_grad():
                ref = diffusers_sample(model, x_T, 50, eta, 7)
            row["fast_vs_diffusers_max_abs"] = float((ours - ref).abs().max())
        result[f"eta_{eta:g}"] = row
    return result


def wall_vs_steps(model, batch: int, steps: list[int], ddpm: bool) -> dict:
    x = torch.randn(batch, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    walls = {}
    for S in steps:  # noqa: N806
        sampler = FastSampler(model, model.schedule, timesteps(S))
        walls[str(S)] = round(median_time(lambda s=sampler: s(x), repeat=1 if S >= 500 else 3), 4)
        print(f"DDIM S = {S}: {walls[str(S)]} s", flush=True)
    out = {"batch": batch, "ddim_fast": walls}
    if ddpm:
        out["ddpm_1000"] = round(
            median_time(
                lambda: ddpm_sample(model, x, model.schedule, generator=0, progress=False), 1, 0
            ),
            4,
        )
        print(f"DDPM 1000 steps: {out['ddpm_1000']} s", flush=True)
    return out


def training_throughput(batch: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            data="digits", steps=steps, batch_size=batch, device="cpu", out=tmp,
            checkpoint_every=10**6, log_every=10**6,
        )  # fmt: skip
        meta = train(cfg, progress=False, command="benchmark")
    return {
        "batch": batch,
        "steps": steps,
        "images_per_s": round(steps * batch / meta["wall_s"], 1),
        "step_ms": round(1e3 * meta["wall_s"] / steps, 2),
    }


def notebook_times() -> dict:
    times = {}
    env = dict(os.environ, DDIM_EDU_FAST="1")
    for nb in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env", str(nb)],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
        times[nb.stem] = {
            "seconds": round(time.perf_counter() - start, 1),
            "passed": proc.returncode == 0,
        }
        print(f"{nb.stem}: {times[nb.stem]}", flush=True)
    return times


def plot(record: dict, path: Path) -> None:
    panels = [("CPU", record["wall_vs_S"])]
    gpu_file = RECORDS / "gpu_session.json"
    if gpu_file.exists():
        gpu = json.loads(gpu_file.read_text())
        if "wall_vs_S" in gpu.get("bench", {}):
            panels.append((gpu["bench"]["device"], gpu["bench"]["wall_vs_S"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.2), squeeze=False)
    for ax, (name, w) in zip(axes[0], panels):
        S = [int(s) for s in w["ddim_fast"]]  # noqa: N806
        secs = list(w["ddim_fast"].values())
        ax.loglog(S, secs, "o-", label="DDIM (η = 0), fast path")
        ideal = [secs[0] * s / S[0] for s in S]
        ax.loglog(S, ideal, "k:", lw=1, label="proportional to S")
        if "ddpm_1000" in w:
            ax.loglog([1000], [w["ddpm_1000"]], "s", color="crimson", label="DDPM, 1000 steps")
        ax.set(xlabel="number of steps S", ylabel="seconds per batch",
               title=f"{name}, batch {w['batch']}")  # fmt: skip
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Sampling time of the shipped digits UNet against S")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--notebooks", action="store_true", help="also time each notebook")
    parser.add_argument("--no-diffusers", action="store_true", help="skip the reference")
    parser.add_argument("--out", default=str(RECORDS / "sampler_speed.json"))
    parser.add_argument("--figure", default=str(ROOT / "figures" / "time_vs_S.png"))
    args = parser.parse_args(argv)
    with_diffusers = not args.no_diffusers
    if with_diffusers:
        try:
            import diffusers  # noqa: F401
        except ImportError:
            print("diffusers is not installed (make bench installs it); skipping the reference")
            with_diffusers = False
    start = time.perf_counter()
    model = pretrained.load("digits")
    command = " ".join(
        ["python benchmarks/sampler_speed.py", *(sys.argv[1:] if argv is None else argv)]
    )
    record: dict = {"meta": run_metadata(command)}
    if with_diffusers:
        import diffusers

        record["meta"]["diffusers"] = diffusers.__version__
    S = 20 if args.quick else 200  # noqa: N806
    record["step_cost"] = step_costs(
        model, [1, 64, 1024], S, 3 if args.quick else 7, with_diffusers
    )
    record["step_cost_S"] = S
    record["agreement"] = agreement(model, with_diffusers)
    steps = [10, 50] if args.quick else [10, 20, 50, 100, 200, 500, 1000]
    record["wall_vs_S"] = wall_vs_steps(model, 64, steps, ddpm=not args.quick)
    w = record["wall_vs_S"]["ddim_fast"]
    record["wall_ratio_1000_over_50"] = None if "1000" not in w else round(w["1000"] / w["50"], 2)
    record["training"] = training_throughput(128, 10 if args.quick else 60)
    if args.notebooks:
        record["notebooks_fast_nbval"] = notebook_times()
    record["meta"]["wall_s"] = round(time.perf_counter() - start, 1)
    write_json(args.out, record)
    plot(record, Path(args.figure))
    print(json.dumps({k: v for k, v in record.items() if k != "meta"}, indent=1))
    return record


if __name__ == "__main__":
    main()
