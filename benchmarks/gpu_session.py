"""Everything this project measures on a GPU, as one script that fits a short GPU session.

    python benchmarks/gpu_session.py --out OUT              # on a CUDA machine (about 8 minutes)
    python benchmarks/gpu_session.py --out /tmp/x --tiny    # the same code path on a CPU, tiny sizes

1. Trains a few candidate digits UNets side by side with the training CLI (each a separate
   ``python -m ddim_edu train ... --device cuda`` process; the number of steps is set from a short
   probe so that training fits --train-s seconds).
2. Scores each candidate and the shipped model the same way (DDIM S = 50, eta = 0, 2,000 samples,
   digits-FID against its real-vs-real floor) and exports the best as the shipped "digits" weights.
3. Runs benchmarks/digits_quality.py with 10,000 samples a cell: the full S x eta grid.
4. Times the sampler: bare UNet forward against sampling throughput at the same batch, eager /
   bf16 / channels-last / CUDA graph, wall time against S for DDIM and DDPM, training images/s,
   and the agreement of bf16 with float32 samples.
5. (``--phases shapes``) The README's own-images recipe, timed: a synthetic folder of 32x32 RGB
   images, ``torchrun --nproc_per_node=<GPUs> -m ddim_edu train`` sized to --shapes-s seconds,
   then ``torchrun ... -m ddim_edu sweep`` on the result; copies the results file, its figure
   and a sample grid to OUT.

6. (``--phases mnist``) The class-conditional MNIST UNet, larger and longer than the CPU can
   train it: ``python -m ddim_edu train --data mnist --conditional ...`` sized by a probe to
   --mnist-s seconds, exported to OUT/weights (not into the package: the shipped "mnist" is
   replaced by hand, after reading the results), then benchmarks/mnist_quality.py on that run
   (unconditional quality over three x_T seeds, guided accuracy, the S = 10 order, throughput).
7. (``--phases mnist_grid``) benchmarks/mnist_grid.py on the shipped MNIST UNet with the S = 1000
   column: the parts land in OUT/mnist_grid/ (copy them into ddim_edu/records/mnist_grid/, then
   ``python benchmarks/mnist_grid.py --steps 10,20,50,100,1000 --summary-only``).

Every phase appends to OUT/gpu_session.json as it finishes, so a run cut short keeps what it did.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ddim_edu import pretrained  # noqa: E402
from ddim_edu.checkpoints import describe_device, write_json  # noqa: E402
from ddim_edu.fast import FastSampler  # noqa: E402
from ddim_edu.metrics import copy_fraction  # noqa: E402
from ddim_edu.quality import DigitsQuality  # noqa: E402
from ddim_edu.sampling import ddim_sample, ddpm_sample  # noqa: E402
from ddim_edu.schedule import timesteps  # noqa: E402
from ddim_edu.sweep import run_metadata  # noqa: E402
from ddim_edu.train import TrainConfig, load_run, train  # noqa: E402

# name -> training options beyond the common ones (all sized to ship well under 10 MB)
CANDIDATES = {
    "w32_drop0.1": ["--width", "32", "--dropout", "0.1"],
    "w48_drop0.1": ["--width", "48", "--dropout", "0.1"],
    "w48": ["--width", "48"],
    "w32_drop0.1_ema0.9995": ["--width", "32", "--dropout", "0.1", "--ema-decay", "0.9995"],
}


class Session:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.record: dict = {"meta": run_metadata(" ".join(["python", *sys.argv]))}
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def save(self, key: str, value) -> None:
        self.record[key] = value
        self.record["meta"]["elapsed_s"] = round(self.elapsed(), 1)
        write_json(self.out / "gpu_session.json", self.record)
        print(f"[{self.elapsed():6.1f} s] {key}: done", flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeat: int = 3) -> float:
    """Best-of-``repeat`` wall time of fn() in seconds, after one warm-up call."""
    fn()
    sync(device)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def train_all(work: Path, steps: int, batch: int, device: str, names, tag: str, timeout: float):
    """Start one training process per candidate, wait for all; returns name -> run folder."""
    procs, runs = {}, {}
    for name in names:
        run = work / f"{tag}_{name}"
        cmd = [
            sys.executable, "-m", "ddim_edu", "train", "--data", "digits",
            "--steps", str(steps), "--batch-size", str(batch), "--lr", "5e-4",
            "--decay", str(steps // 3), "--device", device, "--out", str(run),
            "--checkpoint-every", str(max(steps // 10, 1)), "--no-progress",
            *CANDIDATES[name],
        ]  # fmt: skip
        threads = "2" if device == "cuda" else "1"
        env = dict(os.environ, OMP_NUM_THREADS=threads, PYTHONPATH=str(ROOT))
        log = open(work / f"{tag}_{name}.log", "w")
        procs[name] = (subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log), log)
        runs[name] = run
    deadline = time.perf_counter() + timeout
    for proc, log in procs.values():
        try:
            proc.wait(timeout=max(deadline - time.perf_counter(), 1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    return runs


def score(model, quality: DigitsQuality, x_T, device) -> dict:  # noqa: N803
    start = time.perf_counter()
    x = FastSampler(model, model.schedule, timesteps(50))(x_T.to(device)).cpu()
    s = quality(x)
    copies, _ = copy_fraction(x, quality_real())
    return {
        "fid": round(s.fid, 4),
        "fid_floor": round(s.fid_floor, 4),
        "fid_over_floor": round(s.fid / s.fid_floor, 2),
        "kid": round(s.kid, 5),
        "confident": s.confident,
        "class_tv": round(s.class_tv, 4),
        "near_copies": round(copies, 4),
        "seconds": round(time.perf_counter() - start, 2),
    }


def quality_real():
    from ddim_edu.data import load_digits

    return load_digits()[0]


def grid_phase(ses: Session, args, out: Path, bench: dict) -> None:
    """The full S x eta grid with the chosen model, sized to the time that is left."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import digits_quality

    n = 10000
    if args.tiny:
        grid_args = ["--n", "300", "--n-headline", "300", "--steps", "10,20"]
    else:
        # 25 cells, 5 x (10 + 20 + 50 + 100 + 1000) network calls at batch n, plus scoring
        row = bench.get("batch_10000_S_50", {})
        per_call = min(row.get("fast", 1.2), row.get("fast_compile", float("inf"))) / 50
        projected = 1.2 * per_call * 5 * 1180 + 30
        left = args.deadline_s - ses.elapsed() - 15
        if projected > left:
            n = max(1000, int(10000 * left / projected) // 1000 * 1000)
        grid_args = ["--n", str(n), "--n-headline", "2000"]
        row = bench.get("batch_10000_S_50", {})
        if "fast_compile" in row and row["fast_compile"] < 0.9 * row.get("fast", float("inf")):
            grid_args.append("--compile")  # at least 10 % faster at the grid's batch
    grid_args += ["--out", str(out / "digits_quality.json"), "--figures", str(out)]
    t_grid = time.perf_counter()
    digits_quality.main(grid_args)
    ses.save("grid", {"wall_s": round(time.perf_counter() - t_grid, 1), "args": grid_args})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for results (created)")
    parser.add_argument("--train-s", type=float, default=180.0, help="seconds for training")
    parser.add_argument(
        "--shapes-s", type=float, default=240.0, help="seconds for the own-images training"
    )
    parser.add_argument(
        "--mnist-s", type=float, default=300.0, help="seconds for the MNIST training"
    )
    parser.add_argument("--max-steps", type=int, default=60000)
    parser.add_argument("--batch", type=int, default=256, help="training batch size")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (a CPU check)")
    parser.add_argument(
        "--phases", default="train,bench,grid", help="which phases to run (comma-separated)"
    )
    parser.add_argument(
        "--deadline-s", type=float, default=540.0, help="the grid is sized to end by then"
    )
    parser.add_argument(
        "--export-to", default=str(pretrained.WEIGHTS), help="where the chosen weights go"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "ddim_gpu_session"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = device.type
    ses = Session(out)
    phases = set(args.phases.split(","))
    names = list(CANDIDATES)[: 2 if args.tiny else None]
    n_score = 200 if args.tiny else 2000
    quality = DigitsQuality(device=device)

    if "train" in phases:
        # 1. probe the step time with all candidates running at once, then train
        probe_steps = 20 if args.tiny else 300
        runs = train_all(work, probe_steps, args.batch, dev, names, "probe", 600)
        step_s = {n: json.loads((r / "checkpoint.json").read_text())["wall_s"] / probe_steps
                  for n, r in runs.items()}  # fmt: skip
        slowest = max(step_s.values())
        steps = 40 if args.tiny else int(min(args.max_steps, args.train_s / slowest) // 1000 * 1000)
        steps = max(steps, 40 if args.tiny else 2000)
        ses.save("probe", {"step_s": step_s, "steps_chosen": steps, "batch": args.batch})
        runs = train_all(work, steps, args.batch, dev, names, "cand", 1.5 * args.train_s + 30)
        trained = {}
        for name, run in runs.items():
            meta = json.loads((run / "checkpoint.json").read_text())
            trained[name] = {
                "steps": meta["step"],
                "complete": meta["step"] == steps,
                "wall_s": meta["wall_s"],
                "images_per_s_concurrent": round(meta["step"] * args.batch / meta["wall_s"], 1),
                "final_loss": round(meta["loss"], 5),
                "command": meta["command"],
                "device": meta["device"],
            }
        ses.save("training", trained)

        # 2. score the candidates and the shipped model alike; export the best
        x_T = torch.randn(n_score, 1, 8, 8, generator=torch.Generator().manual_seed(123))
        scores = {"shipped": score(pretrained.load("digits", device=device), quality, x_T, device)}
        for name, run in runs.items():
            scores[name] = score(load_run(run).to(device), quality, x_T, device)
        best = min(scores, key=lambda k: scores[k]["fid"])
        ses.save("selection", {"scores": scores, "best": best, "n": n_score, "x_T_seed": 123})
        if best != "shipped":
            entry = pretrained.export(
                runs[best],
                "digits",
                folder=Path(args.export_to),
                notes={"selected_from": sorted(scores), "selection_n": n_score},
                overwrite=True,  # replaces the shipped digits entry in --export-to
            )
            print(f"exported {best}: {entry['size_bytes'] / 1e6:.1f} MB")
        for f in ("digits.safetensors", "manifest.json"):
            src = Path(args.export_to) / f
            if src.exists():
                shutil.copy(src, out / f)

    bench: dict = {}
    if "bench" in phases:
        # 3. where the time goes (before the grid, which is sized to the time left)
        model = pretrained.load("digits", device=device)
        bench["device"] = describe_device(device)
        batches = [64, 1024] if args.tiny else [64, 1024, 10000]
        S = 5 if args.tiny else 50  # noqa: N806
        for b in batches:
            xb = torch.randn(b, 1, 8, 8, generator=torch.Generator().manual_seed(0)).to(device)
            tb = torch.full((b,), 500, dtype=torch.int64, device=device)

            def forward(xb=xb, tb=tb):
                with torch.no_grad():
                    for _ in range(S):
                        model(xb, tb)

            row = {"unet_forward_x_S": timed(forward, device)}
            variants = {
                "plain_ddim_sample": lambda xb=xb: ddim_sample(
                    model, xb, model.schedule, timesteps(S), progress=False
                ),
                "fast": FastSampler(model, model.schedule, timesteps(S)),
                "fast_eta1": FastSampler(model, model.schedule, timesteps(S), eta=1.0),
                "fast_bf16": FastSampler(model, model.schedule, timesteps(S), autocast="bf16"),
                "fast_bf16_channels_last": FastSampler(
                    model, model.schedule, timesteps(S), autocast="bf16", channels_last=True
                ),
            }
            if dev == "cuda":
                variants["fast_cuda_graph"] = FastSampler(
                    model, model.schedule, timesteps(S), cuda_graph=True
                )
                variants["fast_bf16_cuda_graph"] = FastSampler(
                    model, model.schedule, timesteps(S), autocast="bf16", cuda_graph=True
                )
            variants["fast_compile"] = FastSampler(
                model, model.schedule, timesteps(S), compile=True
            )
            variants["fast_compile_bf16"] = FastSampler(
                model, model.schedule, timesteps(S), autocast="bf16", compile=True
            )
            for name, fn in variants.items():
                try:
                    if "compile" in name:
                        fn(xb)  # compilation happens on the first call; time what follows
                    row[name] = timed(lambda f=fn, xb=xb: f(xb), device)
                except Exception as err:  # an option that fails on this machine is recorded
                    row[name + "_error"] = f"{type(err).__name__}: {err}"[:300]
            row = {k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}
            row["images_per_s_fast"] = round(b / row["fast"], 1)
            row["sampling_over_forward"] = round(row["fast"] / row["unet_forward_x_S"], 3)
            bench[f"batch_{b}_S_{S}"] = row
            ses.save("bench", bench)

        # 3b. wall time against S, DDIM (fast path) and DDPM (1000 steps), at one batch
        b = 1024 if not args.tiny else 64
        xb = torch.randn(b, 1, 8, 8, generator=torch.Generator().manual_seed(0)).to(device)
        walls = {}
        for s_ in [10, 20, 50, 100, 1000] if not args.tiny else [5, 10]:
            sampler = FastSampler(model, model.schedule, timesteps(s_))
            walls[str(s_)] = round(timed(lambda smp=sampler: smp(xb), device, repeat=2), 4)
        ddpm_wall = timed(
            lambda: ddpm_sample(model, xb, model.schedule, generator=0, progress=False), device, 1
        )
        bench["wall_vs_S"] = {"batch": b, "ddim_fast": walls, "ddpm_1000": round(ddpm_wall, 4)}
        ses.save("bench", bench)

        # 3c. bf16 against float32: the same x_T and noise
        n_cmp = 300 if args.tiny else 10000
        x_T = torch.randn(n_cmp, 1, 8, 8, generator=torch.Generator().manual_seed(7)).to(device)
        agree = {}
        for eta in (0.0, 1.0):
            ref = FastSampler(model, model.schedule, timesteps(S), eta=eta)(x_T, generator=1)
            low = FastSampler(model, model.schedule, timesteps(S), eta=eta, autocast="bf16")(
                x_T, generator=1
            )
            plain = ddim_sample(model, x_T, model.schedule, timesteps(S), eta, generator=1,
                                progress=False)  # fmt: skip
            graph = FastSampler(model, model.schedule, timesteps(S), eta=eta, cuda_graph=True)
            graphed = graph(x_T, generator=1)
            graphed_again = graph(x_T, generator=1)  # a replay of the recorded graph
            last = FastSampler(model, model.schedule, timesteps(S), eta=eta, channels_last=True)(
                x_T, generator=1
            )
            try:
                compiled = FastSampler(model, model.schedule, timesteps(S), eta=eta, compile=True)
                compile_diff = float((compiled(x_T, generator=1) - ref).abs().max())
            except Exception as err:
                compile_diff = f"{type(err).__name__}: {err}"[:300]
            agree[f"eta_{eta:g}"] = {
                "compile_vs_eager_max_abs": compile_diff,
                "fast_vs_plain_max_abs": float((ref - plain).abs().max()),
                "bf16_vs_fp32_max_abs": float((ref - low).abs().max()),
                "fast_vs_plain_mean_abs": float((ref - plain).abs().mean()),
                "cuda_graph_vs_eager_max_abs": float((graphed - ref).abs().max()),
                "cuda_graph_replay_max_abs": float((graphed_again - graphed).abs().max()),
                "channels_last_vs_eager_max_abs": float((last - ref).abs().max()),
                "bf16_vs_fp32_mean_abs": float((ref - low).abs().mean()),
                "fid_fp32": round(quality(ref.cpu()).fid, 4),
                "fid_bf16": round(quality(low.cpu()).fid, 4),
            }
        bench["bf16_agreement"] = {"n": n_cmp, "S": S, **agree}
        ses.save("bench", bench)

        # 3d. training throughput, one process alone
        for tb_ in [128, 1024] if not args.tiny else [32]:
            cfg = TrainConfig(
                data="digits", steps=40 if args.tiny else 400, batch_size=tb_, device=dev,
                out=str(work / f"tput_{tb_}"), checkpoint_every=10**6, log_every=10**6,
            )  # fmt: skip
            meta = train(cfg, progress=False, command="benchmark")
            bench[f"train_batch_{tb_}"] = {
                "images_per_s": round(cfg.steps * tb_ / meta["wall_s"], 1),
                "step_ms": round(1000 * meta["wall_s"] / cfg.steps, 2),
            }
        ses.save("bench", bench)
    if "grid" in phases:
        grid_phase(ses, args, out, bench)
    if "shapes" in phases:
        shapes_phase(ses, args, out, work, dev)
    if "mnist" in phases:
        mnist_phase(ses, args, out, work, dev)
    if "mnist_grid" in phases:
        mnist_grid_phase(ses, args, out, dev)
    print(json.dumps(ses.record, indent=1)[:6000])


MNIST_MODEL = ["--width", "32", "--channel-mults", "1,2,2", "--res-blocks", "2"]


def mnist_phase(ses: Session, args, out: Path, work: Path, dev: str) -> None:
    """Train the conditional MNIST UNet for --mnist-s seconds, export it to OUT, score it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import mnist_quality

    model = (
        ["--width", "8", "--channel-mults", "1,2", "--res-blocks", "1"]
        if args.tiny
        else MNIST_MODEL
    )
    common = ["-m", "ddim_edu", "train", "--data", "mnist", "--conditional", *model]
    common += ["--batch-size", "16" if args.tiny else "256", "--lr", "1e-3", "--device", dev]
    common += ["--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="2" if dev == "cuda" else "1", PYTHONPATH=str(ROOT))

    def run(extra: list[str], timeout: float) -> None:
        with open(work / "mnist_train.log", "a") as log:
            subprocess.run([sys.executable, *common, *extra], cwd=ROOT, env=env, stdout=log,
                           stderr=log, timeout=timeout, check=True)  # fmt: skip

    probe_steps = 10 if args.tiny else 200
    run(["--steps", str(probe_steps), "--out", str(work / "mnist_probe")], 600)
    step_s = json.loads((work / "mnist_probe" / "checkpoint.json").read_text())["wall_s"]
    step_s /= probe_steps
    steps = 30 if args.tiny else max(2000, int(args.mnist_s / step_s) // 1000 * 1000)
    folder = work / "mnist_run"
    run(["--steps", str(steps), "--decay", str(steps // 3), "--out", str(folder),
         "--checkpoint-every", str(max(steps // 10, 1))], 1.5 * args.mnist_s + 120)  # fmt: skip
    meta = json.loads((folder / "checkpoint.json").read_text())
    entry = pretrained.export(folder, "mnist", folder=out / "weights")
    ses.save("mnist_training", {"step_s_probe": round(step_s, 4), "steps": steps,
                                "wall_s": meta["wall_s"], "final_loss": meta["loss"],
                                "command": meta["command"], "device": meta["device"],
                                "sha256": entry["sha256"]})  # fmt: skip
    quality_args = ["--run-dir", str(folder), "--out", str(out / "mnist_quality.json")]
    quality_args += ["--figures", str(out)]
    if args.tiny:
        quality_args += ["--n", "100", "--seeds", "0", "--guidance", "2"]
    else:
        quality_args += ["--n", "10000", "--guidance", "1,2,3", "--batch", "10000"]
    t0 = time.perf_counter()
    result = mnist_quality.main(quality_args)
    ses.save("mnist_quality", {"wall_s": round(time.perf_counter() - t0, 1),
                               "targets": result["targets"], "args": quality_args})  # fmt: skip


def mnist_grid_phase(ses: Session, args, out: Path, dev: str) -> None:
    """The shipped MNIST UNet's S x eta grid (benchmarks/mnist_grid.py) with the S = 1000 column the
    CPU cannot afford: parts S = 1000 first (three x_T seeds), then S = 100, 50, 20, 10, each
    written to OUT/mnist_grid/ as it finishes; no part starts after --deadline-s."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import mnist_grid

    steps = "20,10" if args.tiny else "1000,100,50,20,10"
    grid_args = ["--steps", steps, "--seeds", "0" if args.tiny else "0,1,2"]
    grid_args += ["--n", "20" if args.tiny else "1000", "--device", dev]
    grid_args += ["--parts", str(out / "mnist_grid"), "--out", str(out / "mnist_grid.json")]
    grid_args += ["--figure", str(out / "mnist_grid.png"), "--deadline-s", str(args.deadline_s)]
    t0 = time.perf_counter()
    summary = mnist_grid.main(grid_args)
    ses.save("mnist_grid", {"wall_s": round(time.perf_counter() - t0, 1), "args": grid_args,
                            "steps_complete": summary["steps"], "mean": summary["mean"]})  # fmt: skip
    # the guided rows (eta 0 and 1, w = 2) in the time that is left
    left = args.deadline_s - (time.perf_counter() - t0)
    guided = ["--guidance", "2", "--steps", "20" if args.tiny else "10,20,50,100"]
    guided += ["--seeds", "0" if args.tiny else "0,1,2", "--n", "20" if args.tiny else "1000"]
    guided += [
        "--device",
        dev,
        "--parts",
        str(out / "mnist_grid"),
        "--deadline-s",
        str(max(left, 0)),
    ]
    guided += ["--out", str(out / "mnist_grid_w2.json"), "--figure", str(out / "mnist_grid_w2.png")]
    t0 = time.perf_counter()
    try:
        summary = mnist_grid.main(guided)
    except SystemExit as stop:  # no S column complete before the deadline
        ses.save("mnist_grid_guided", {"args": guided, "stopped": str(stop)})
        return
    ses.save("mnist_grid_guided", {"wall_s": round(time.perf_counter() - t0, 1), "args": guided,
                                   "steps_complete": summary["steps"], "mean": summary["mean"]})  # fmt: skip


def torchrun(args: list[str], nproc: int, log: Path, timeout: float) -> tuple[int, float]:
    """``torchrun --standalone --nproc_per_node=nproc -m ddim_edu *args``: (return code, seconds)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += [f"--nproc_per_node={nproc}", "-m", "ddim_edu", *args]
    threads = "2" if torch.cuda.is_available() else "1"  # CPU check: one thread per process
    env = dict(os.environ, OMP_NUM_THREADS=threads, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    with open(log, "w") as f:
        try:
            rc = subprocess.run(
                cmd, cwd=ROOT, env=env, stdout=f, stderr=f, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            rc = -9
    return rc, time.perf_counter() - t0


def shapes_phase(ses: Session, args, out: Path, work: Path, dev: str) -> None:
    """The own-images recipe of the README on this machine, timed (training sized to --shapes-s)."""
    from ddim_edu.data import make_shapes_folder
    from ddim_edu.pipeline import save_image_grid

    nproc = max(torch.cuda.device_count(), 1) if dev == "cuda" else 2
    n_images = 200 if args.tiny else 10000
    folder = make_shapes_folder(work / "shapes", n=n_images, size=16 if args.tiny else 32)
    common = ["train", "--data", str(folder), "--width", "8" if args.tiny else "64"]
    common += [
        "--channel-mults",
        "1,2,2",
        "--dropout",
        "0.1",
        "--flip",
        "--batch-size",
        "16" if args.tiny else "256",
    ]
    common += ["--lr", "5e-4", "--device", dev, "--no-progress"]
    probe_steps = 10 if args.tiny else 200
    rc, _ = torchrun([*common, "--steps", str(probe_steps), "--out", str(work / "shapes_probe")],
                     nproc, work / "shapes_probe.log", 600)  # fmt: skip
    probe = json.loads((work / "shapes_probe" / "checkpoint.json").read_text())
    step_s = probe["wall_s"] / probe_steps
    steps = 30 if args.tiny else max(1000, int(args.shapes_s / step_s) // 500 * 500)
    run = work / "shapes_run"
    train_args = [*common, "--steps", str(steps), "--decay", str(steps // 3), "--out", str(run)]
    train_args += ["--checkpoint-every", str(max(steps // 10, 1))]
    rc, train_s = torchrun(train_args, nproc, work / "shapes_train.log", 1.5 * args.shapes_s + 60)
    meta = json.loads((run / "checkpoint.json").read_text())
    samples = 64 if args.tiny else 2000
    sweep_args = ["sweep", "--run-dir", str(run), "--samples", str(samples)]
    sweep_args += [
        "--steps",
        "5,10" if args.tiny else "10,20,50,100",
        "--etas",
        "0,0.5,1,sigma_hat",
    ]
    sweep_args += ["--device", dev, "--no-progress", "--out", str(out / "shapes_sweep.json")]
    sweep_rc, sweep_s = torchrun(sweep_args, nproc, work / "shapes_sweep.log", 600)
    model = load_run(run).to(dev)
    shape = (meta["model"]["in_channels"], meta["model"]["image_size"], meta["model"]["image_size"])
    x_T = torch.randn(64, *shape, generator=torch.Generator().manual_seed(0)).to(dev)
    x = FastSampler(model, model.schedule, timesteps(50))(x_T).cpu()
    save_image_grid(x, out / "shapes_samples.png", nrow=8, scale=4)
    for log in ("shapes_train.log", "shapes_sweep.log"):
        shutil.copy(work / log, out / log)
    ses.save(
        "shapes",
        {
            "processes": nproc,
            "images": n_images,
            "probe_step_s": round(step_s, 4),
            "train": {"rc": rc, "steps": meta["step"], "planned_steps": steps, "wall_s": round(train_s, 1),
                      "final_loss": meta["loss"], "command": meta["command"], "device": meta["device"]},
            "sweep": {"rc": sweep_rc, "wall_s": round(sweep_s, 1), "samples": samples},
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
