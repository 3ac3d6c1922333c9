"""Command line: ``python -m ddim_edu <command>``."""

from __future__ import annotations

import argparse
import os
import sys

from .sweep import S_GRID


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"step counts must be integers >= 1, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    from . import demo

    parser = argparse.ArgumentParser(prog="python -m ddim_edu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "demo",
        help="S x eta table on a 2-D Gaussian mixture with the exact eps*; writes figures/",
        description=(demo.__doc__ or "").strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out", default="figures", help="folder for figures and the JSON record (default: figures)"
    )
    p.add_argument(
        "--n",
        type=int,
        default=demo.N_SAMPLES,
        help=f"samples per cell (default: {demo.N_SAMPLES})",
    )
    p.add_argument(
        "--steps",
        type=_int_list,
        default=S_GRID,
        help="comma-separated step counts S (default: %(default)s)",
    )
    p.add_argument(
        "--seed", type=int, default=demo.SEED, help="seed for x_T, noise and reference (default: 0)"
    )
    p.add_argument(
        "--spacing",
        default=demo.SPACING,
        choices=["uniform", "quadratic", "trailing", "linspace"],
        help="timestep spacing (default: uniform, the paper's)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_train_parser(sub)

    from . import classifier

    p = sub.add_parser(
        "train-classifier",
        help="train a digit classifier (8x8 digits or MNIST) whose features define digits-FID, MNIST-FID and KID",
        description=(classifier.__doc__ or "").strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        default="digits",
        choices=classifier.DATA,
        help="digits (8x8) or mnist (28x28) (default: %(default)s)",
    )
    p.add_argument("--out", default=None, help="output folder (default: runs/<data>_classifier)")
    p.add_argument(
        "--steps", type=int, default=classifier.STEPS, help="optimizer steps (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=classifier.SEED, help="seed (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    p = sub.add_parser(
        "export",
        help="copy a run's EMA weights into the shipped weights folder and record them in its manifest",
    )
    p.add_argument("--run", required=True, help="run folder holding checkpoint.safetensors")
    p.add_argument("--name", required=True, help="name to load it by, e.g. digits")
    p.add_argument(
        "--folder", default=None, help="weights folder (default: the package's ddim_edu/weights)"
    )
    _add_sweep_parser(sub)

    p = sub.add_parser(
        "make-shapes",
        help="write a folder of synthetic 32x32 RGB images (coloured shapes) to try the own-images recipe",
    )
    p.add_argument("--out", required=True, help="folder to create (must be empty or new)")
    p.add_argument("--n", type=int, default=4000, help="number of images (default: %(default)s)")
    p.add_argument("--size", type=int, default=32, help="side in pixels (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    return parser


SWEEP_HELP = """\
The S x eta grid of notebook 05 (the paper's Table 1) for a shipped model or a training run.

Every cell samples n images from the same x_T and noise seed with (S, eta) and scores them
against the data: digits-FID for the digits, patch-SWD (multi-scale sliced Wasserstein
distance of image patches, needing no pretrained network) for an image folder, the sliced
Wasserstein distance for the 2-D sets; each beside its real-vs-real noise floor. Writes one
JSON results file (the format of benchmarks/results/digits_quality.json, which notebook 05
shows) and a heat-map PNG next to it.

Under torchrun the cells are split across the processes (balanced by S) and rank 0 writes
the file; the numbers equal a one-process run with the same seed:

    torchrun --nproc_per_node=4 -m ddim_edu sweep --run-dir runs/shapes --samples 10000 --out runs/shapes/sweep.json
"""


def _add_sweep_parser(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="the S x eta quality grid (Table 1) for a model, as a results file; splits cells under torchrun",
        description=SWEEP_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--model",
        default=None,
        help="a shipped model by name (default: digits when --run-dir is not given)",
    )
    src.add_argument(
        "--run-dir", default=None, help="a training run folder (its checkpoint's EMA weights)"
    )
    p.add_argument(
        "--data",
        default=None,
        help="data to compare with: digits, gmm, moons, swissroll or an image folder "
        "(default: the data the model was trained on)",
    )
    p.add_argument(
        "--samples", type=int, default=1000, help="samples per cell (default: %(default)s)"
    )
    p.add_argument(
        "--steps",
        type=_int_list,
        default=S_GRID,
        help="comma-separated S values (default: 10,20,50,100,1000)",
    )
    p.add_argument(
        "--etas",
        default="0,0.2,0.5,1,sigma_hat",
        help="comma-separated eta values; sigma_hat is DDPM's larger variance (default: %(default)s)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of x_T and of the noise (default: %(default)s)"
    )
    p.add_argument(
        "--spacing",
        default="uniform",
        choices=["uniform", "quadratic", "trailing", "linspace"],
        help="timestep spacing (default: uniform, the paper's)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        help="sample a cell in chunks of this many (default: all at once)",
    )
    p.add_argument(
        "--fast",
        choices=("auto", "on", "off"),
        default="auto",
        help="sample with ddim_edu.fast.FastSampler (default: on a GPU only)",
    )
    p.add_argument(
        "--device", default="auto", help="auto | cpu | cuda | mps (default: %(default)s)"
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="fast sampler with the network run through torch.compile (pays off for long GPU sweeps)",
    )
    p.add_argument("--out", default="runs/sweep.json", help="results file (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_train_parser(sub) -> None:
    from .train import TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a denoiser (UNet for images, MLP for 2-D points) with EMA and checkpoints",
        description=(
            "Train a noise-prediction model with DDPM's simple loss. Checkpoints go to --out "
            "(written atomically); running the same command again resumes from the last one.\n\n"
            "Several processes (GPUs, or CPU processes with gloo): put torchrun in front,\n"
            "    torchrun --nproc_per_node=4 -m ddim_edu train --data DIR --batch-size 256 ...\n"
            "--batch-size stays the global batch (each process takes batch-size / N rows of it), "
            "so N processes train like one, and a checkpoint resumes with any N. Rank 0 keeps the "
            "EMA, writes checkpoints and prints. Under torchrun write options in full "
            "(torchrun itself reads abbreviations such as --n or --run)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        default=d.data,
        help="digits (8x8 handwritten digits), mnist (28x28 MNIST digits, the 8,000 of the training "
        "split), gmm, moons, swissroll (2-D points), or the path of a folder of PNG/JPEG images "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--steps", type=int, default=d.steps, help="total optimizer steps (default: %(default)s)"
    )
    p.add_argument("--out", default=None, help="checkpoint folder (default: runs/<data>)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        help="examples per step (default: %(default)s)",
    )
    p.add_argument(
        "--lr", type=float, default=d.lr, help="AdamW peak learning rate (default: %(default)s)"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=d.warmup,
        help="linear learning-rate warm-up steps (default: %(default)s)",
    )
    p.add_argument(
        "--decay",
        type=int,
        default=d.decay,
        help="decay the learning rate linearly to 0 over the last DECAY steps (default: %(default)s, constant)",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=d.weight_decay,
        help="AdamW weight decay (default: %(default)s)",
    )
    p.add_argument(
        "--grad-clip",
        type=float,
        default=d.grad_clip,
        help="max gradient norm (default: %(default)s)",
    )
    p.add_argument(
        "--ema-decay",
        type=float,
        default=d.ema_decay,
        help="EMA decay of the sampling weights (default: %(default)s)",
    )
    p.add_argument(
        "--width",
        type=int,
        default=d.width,
        help="UNet base channels or MLP hidden width (default: %(default)s)",
    )
    p.add_argument(
        "--channel-mults",
        type=_int_list,
        default=d.channel_mults,
        help="UNet channel multipliers, one per resolution, comma-separated (default: 1,2)",
    )
    p.add_argument(
        "--res-blocks",
        type=int,
        default=d.res_blocks,
        help="residual blocks per resolution / MLP depth (default: %(default)s)",
    )
    p.add_argument(
        "--dropout",
        type=float,
        default=d.dropout,
        help="UNet dropout inside residual blocks, in [0, 1) (default: %(default)s)",
    )
    p.add_argument(
        "--conditional",
        action="store_true",
        help="class-conditional UNet with a learned 'no class' entry (labelled data: mnist)",
    )
    p.add_argument(
        "--label-dropout",
        type=float,
        default=d.label_dropout,
        help="conditional: probability of training a label as 'no class', for classifier-free "
        "guidance (default: %(default)s)",
    )
    p.add_argument(
        "--no-attention",
        action="store_true",
        help="UNet without self-attention at the lowest resolution",
    )
    p.add_argument(
        "--schedule",
        default=d.schedule,
        choices=["linear", "cosine"],
        help="beta schedule (default: %(default)s)",
    )
    p.add_argument("--T", type=int, default=d.T, help="diffusion steps T (default: %(default)s)")
    p.add_argument(
        "--prediction",
        default=d.prediction,
        choices=["eps", "x0", "v"],
        help="network target (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help="seed for initialisation, batches and noise (default: %(default)s)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=d.checkpoint_every,
        help="steps between checkpoints (default: %(default)s)",
    )
    p.add_argument(
        "--image-size", type=int, default=None, help="image folders: resize to this square size"
    )
    p.add_argument(
        "--channels",
        type=int,
        default=None,
        choices=[1, 3],
        help="image folders: 1 (gray) or 3 (RGB); default automatic",
    )
    p.add_argument(
        "--flip",
        action="store_true",
        help="image folders: mirror each training image left-right with probability 1/2 "
        "(for content without handedness, e.g. photographs; refused for digits)",
    )
    p.add_argument(
        "--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps (default: %(default)s)"
    )
    p.add_argument(
        "--init-from",
        default=None,
        help="start from trained weights instead of a random initialisation: a shipped model's "
        "name (e.g. mnist) or an exported .safetensors file; the model options must match, and "
        "the checkpoint and a later export record the chain of commands",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded as the command that ran
    if args.command == "train":
        return _train(args)
    if args.command == "train-classifier":
        from .classifier import train_classifier

        try:
            train_classifier(
                args.out or f"runs/{args.data}_classifier",
                steps=args.steps,
                seed=args.seed,
                progress=not args.no_progress,
                data=args.data,
            )
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    if args.command == "export":
        from pathlib import Path

        from .pretrained import WEIGHTS, export

        try:
            entry = export(
                args.run, args.name, folder=Path(args.folder) if args.folder else WEIGHTS
            )
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(
            f"exported {args.name}: {entry['file']} ({entry['size_bytes'] / 1e6:.2f} MB, sha256 {entry['sha256'][:12]}...)"
        )
        return 0
    if args.command == "sweep":
        try:
            return _sweep(args)
        except ValueError as err:
            _report(err)
            return 2
    if args.command == "make-shapes":
        from .data import make_shapes_folder

        try:
            folder = make_shapes_folder(args.out, n=args.n, size=args.size, seed=args.seed)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"wrote {args.n} images of {args.size}x{args.size} to {folder}")
        return 0
    if args.command == "demo":
        from .demo import run_demo

        if args.n < 2:
            print("error: --n must be an integer >= 2", file=sys.stderr)
            return 2
        try:
            run_demo(
                args.out,
                n=args.n,
                steps=args.steps,
                seed=args.seed,
                spacing=args.spacing,
                progress=not args.no_progress,
            )
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return 0


def _train(args) -> int:
    from pathlib import Path

    from .train import NonFiniteLossError, TrainConfig, train

    out = args.out or str(Path("runs") / Path(args.data).name)
    try:
        cfg = TrainConfig(
            data=args.data,
            image_size=args.image_size,
            channels=args.channels,
            flip=args.flip,
            schedule=args.schedule,
            T=args.T,
            prediction=args.prediction,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            warmup=args.warmup,
            decay=args.decay,
            weight_decay=args.weight_decay,
            grad_clip=args.grad_clip,
            ema_decay=args.ema_decay,
            seed=args.seed,
            width=args.width,
            channel_mults=args.channel_mults,
            res_blocks=args.res_blocks,
            attention=not args.no_attention,
            dropout=args.dropout,
            conditional=args.conditional,
            label_dropout=args.label_dropout,
            out=out,
            checkpoint_every=args.checkpoint_every,
            device=args.device,
            init_from=args.init_from,
        )
        launcher = "python -m ddim_edu"
        if "WORLD_SIZE" in os.environ and os.environ["WORLD_SIZE"] != "1":
            launcher = f"torchrun --nproc_per_node={os.environ.get('LOCAL_WORLD_SIZE', os.environ['WORLD_SIZE'])} -m ddim_edu"
        train(cfg, progress=not args.no_progress, command=" ".join([launcher, *args.argv]))
    except (ValueError, NonFiniteLossError) as err:
        _report(err)
        return 1 if isinstance(err, NonFiniteLossError) else 2
    return 0


def _parse_etas(text: str) -> list[float | str]:
    etas: list[float | str] = []
    for v in text.split(","):
        v = v.strip()
        if v == "sigma_hat":
            etas.append(v)
            continue
        try:
            etas.append(float(v))
        except ValueError:
            raise ValueError(
                f"--etas must be comma-separated numbers >= 0 or sigma_hat, got {text!r}"
            ) from None
    return etas


def _sweep(args) -> int:
    import json
    from pathlib import Path

    import torch

    from . import distributed, pretrained
    from .sweep import make_target, run_sweep
    from .train import load_run, pick_device

    etas = _parse_etas(args.etas)
    ctx, dist_device = distributed.setup(args.device)
    try:
        device = dist_device if dist_device is not None else pick_device(args.device)

        def load():
            if args.run_dir:
                model = load_run(args.run_dir)
                train_cfg = json.loads((Path(args.run_dir) / "checkpoint.json").read_text())[
                    "train"
                ]
                return model, f"run {args.run_dir} (step {model.step})", train_cfg
            name = args.model or "digits"
            model = pretrained.load(name)
            if not hasattr(model, "schedule"):
                raise ValueError(
                    f"--model {name!r} is not a denoiser; choose one of the shipped denoisers"
                )
            return model, f"shipped {name}: {model.info['command']}", {"data": _shipped_data(name)}

        model, model_name, train_cfg = distributed.attempt(ctx, "loading the model", load)
        model = model.to(device)
        data = args.data or train_cfg["data"]
        target = distributed.attempt(
            ctx,
            f"loading data {data!r}",
            lambda: make_target(
                data,
                image_size=train_cfg.get("image_size"),
                channels=train_cfg.get("channels"),
                n=args.samples,
                seed=args.seed,
                device=device,
            ),
        )
        fast = args.fast == "on" or (args.fast == "auto" and device.type == "cuda")
        if args.compile:
            fast = {"compile": True}
        command = " ".join(
            (
                [f"torchrun --nproc_per_node={ctx.world} -m ddim_edu"]
                if ctx.enabled
                else ["python -m ddim_edu"]
            )
            + args.argv
        )
        record = run_sweep(
            model,
            model.schedule,
            target,
            n=args.samples,
            steps=args.steps,
            etas=etas,
            seed=args.seed,
            spacing=args.spacing,
            fast=fast,
            batch=args.batch,
            prediction=getattr(model, "prediction", "eps"),
            device=device,
            ctx=ctx,
            progress=not args.no_progress,
            command=command,
            model_name=model_name,
        )
        if record is not None:
            from .plotting import save_sweep_figure
            from .sweep import GridResult

            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_text(json.dumps(record, indent=1))
            tmp.replace(out)
            g = record["grid"]
            grid = GridResult(
                **{
                    k: g[k]
                    for k in ("steps", "etas", "values", "seconds", "metric", "floor", "floor_std")
                }
            )
            figure = save_sweep_figure(grid, record["meta"], out.with_suffix(".png"))
            print(grid.table(digits=4))
            print(f"checks: {json.dumps(record['checks'])}")
            print(
                f"wrote {out} and {figure} ({record['meta']['wall_s']} s, {ctx.world} process(es))"
            )
    except BaseException:
        if ctx.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()  # no barrier: the others may be stuck
        raise
    distributed.teardown(ctx)
    return 0


def _shipped_data(name: str) -> str:
    return {
        "digits": "digits",
        "mlp_gmm": "gmm",
        "mlp_moons": "moons",
        "mlp_swissroll": "swissroll",
    }.get(name, name)


def _report(err: Exception) -> None:
    """Print an input error once: errors every rank agreed on come from rank 0 only."""
    from .distributed import DistributedError, env_world
    from .train import NonFiniteLossError

    rank, world, _ = env_world()
    if world > 1 and rank != 0 and isinstance(err, (DistributedError, NonFiniteLossError)):
        return
    prefix = f"[rank {rank}] " if world > 1 and rank != 0 else ""
    print(f"{prefix}error: {err}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
