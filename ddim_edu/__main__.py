"""Command line: ``python -m ddim_edu <command>``."""

from __future__ import annotations

import argparse
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
        help="train the digits classifier whose features define digits-FID and KID",
        description=(classifier.__doc__ or "").strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out", default="runs/digits_classifier", help="output folder (default: %(default)s)"
    )
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
    return parser


def _add_train_parser(sub) -> None:
    from .train import TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a denoiser (UNet for images, MLP for 2-D points) with EMA and checkpoints",
        description=(
            "Train a noise-prediction model with DDPM's simple loss. Checkpoints go to --out "
            "(written atomically); running the same command again resumes from the last one."
        ),
    )
    p.add_argument(
        "--data",
        default=d.data,
        help="digits (8x8 handwritten digits), gmm, moons, swissroll (2-D points), or the path of a "
        "folder of PNG/JPEG images (default: %(default)s)",
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
        "--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps (default: %(default)s)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return _train(args)
    if args.command == "train-classifier":
        from .classifier import train_classifier

        train_classifier(args.out, steps=args.steps, seed=args.seed, progress=not args.no_progress)
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
            out=out,
            checkpoint_every=args.checkpoint_every,
            device=args.device,
        )
        train(cfg, progress=not args.no_progress)
    except (ValueError, NonFiniteLossError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1 if isinstance(err, NonFiniteLossError) else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
