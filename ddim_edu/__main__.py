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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
