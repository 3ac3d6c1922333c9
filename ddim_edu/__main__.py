"""Command line: ``python -m ddim_edu <command>``.

Every option is a field of a dataclass that carries its help text (and its choices) in
``metadata``: ``train.TrainConfig``, ``sweep.SweepConfig`` and the small option classes below.
``add_options`` turns the fields into argparse options and ``config_from_args`` turns the parsed
options back into the dataclass, so a new option is one new field, and it appears in ``--help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import classifier, demo
from ._checks import _check_int
from .checkpoints import CHECKPOINT, CHECKPOINT_JSON
from .schedule import SPACINGS
from .sweep import S_GRID, SweepConfig, load_results, run_sweep_command
from .train import TrainConfig

# --- options from dataclass fields -----------------------------------------------------------


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


def _shown(value) -> str:
    """A default as ``--help`` shows it: (1, 2) as 1,2 and 1.0 as 1, the way it is typed."""
    if isinstance(value, tuple):
        return ",".join(_shown(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one option to ``parser`` for each field of the dataclass ``cls`` with ``metadata["help"]``.

    The flag is the field's name with dashes (``batch_size``: ``--batch-size``). A bool field is
    a switch: ``--flip`` sets a field that defaults to False, ``--no-attention`` clears one that
    defaults to True. ``tuple[int, ...]`` takes comma-separated integers >= 1, ``X | None`` an X,
    and a field without a default is a required option. ``metadata`` may also give ``choices``,
    ``type`` (the parser of the option's text, for types beyond these), ``group`` (options of
    one group exclude each other), ``metavar`` (the value's name in the help) and ``positional``
    (True: a positional argument named by ``metavar``, for a field without a default). The help
    shows the field's default unless the text names it.
    Options left out are left out of the parsed namespace, so the dataclass fills in its own
    defaults (see ``config_from_args``).
    """
    hints = typing.get_type_hints(cls)
    groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "help" not in meta:
            continue
        target = parser
        if "group" in meta:
            if meta["group"] not in groups:
                groups[meta["group"]] = parser.add_mutually_exclusive_group()
            target = groups[meta["group"]]
        kind = hints[f.name]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        text = meta["help"]
        if kind is bool:
            if f.default:
                flag, action = "--no-" + f.name.replace("_", "-"), "store_false"
                text += " (on by default; this flag turns it off)"
            else:
                flag, action = "--" + f.name.replace("_", "-"), "store_true"
            target.add_argument(
                flag, action=action, dest=f.name, default=argparse.SUPPRESS, help=text
            )
            continue
        if "type" in meta:
            parse = meta["type"]
        elif typing.get_origin(kind) is tuple and typing.get_args(kind) == (int, ...):
            parse = _int_list
        elif kind in (int, float, str):
            parse = kind
        else:
            raise TypeError(
                f"{cls.__name__}.{f.name}: no command-line form for {kind!r}; "
                'give metadata["type"] or leave out metadata["help"]'
            )
        if meta.get("positional"):
            if not required:
                raise TypeError(f"{cls.__name__}.{f.name}: a positional argument has no default")
            target.add_argument(
                f.name,
                type=parse,
                choices=meta.get("choices"),
                metavar=meta.get("metavar"),
                help=text.replace("%", "%%"),
            )
            continue
        if not required and f.default is not None and "(default" not in text:
            text += f" (default: {_shown(f.default)})"
        target.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=parse,
            choices=meta.get("choices"),
            metavar=meta.get("metavar"),
            required=required,
            default=argparse.SUPPRESS,
            help=text.replace("%", "%%"),
        )


def config_from_args(cls: type, args: argparse.Namespace):
    """The dataclass ``cls`` from the options ``add_options`` added: given ones, else defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names})


# --- the commands' options (train and sweep: train.TrainConfig, sweep.SweepConfig) --------------


@dataclass
class DemoOptions:
    """``demo``: the arguments of ``demo.run_demo``."""

    out: str = field(default="figures", metadata={"help": "folder for figures and the JSON record"})
    n: int = field(default=demo.N_SAMPLES, metadata={"help": "samples per cell"})
    steps: tuple[int, ...] = field(
        default=S_GRID, metadata={"help": "comma-separated step counts S"}
    )
    seed: int = field(default=demo.SEED, metadata={"help": "seed for x_T, noise and reference"})
    spacing: str = field(
        default=demo.SPACING,
        metadata={"help": "timestep spacing; uniform is the paper's", "choices": SPACINGS},
    )

    def __post_init__(self) -> None:
        self.n = _check_int("--n", self.n, 2)
        self.seed = _check_int("--seed", self.seed, 0)


@dataclass
class ClassifierOptions:
    """``train-classifier``: the arguments of ``classifier.train_classifier``."""

    data: str = field(
        default="digits",
        metadata={"help": "digits (8x8) or mnist (28x28)", "choices": classifier.DATA},
    )
    out: str | None = field(
        default=None, metadata={"help": "output folder (default: runs/<data>_classifier)"}
    )
    steps: int = field(default=classifier.STEPS, metadata={"help": "optimizer steps"})
    seed: int = field(default=classifier.SEED, metadata={"help": "seed"})
    overwrite: bool = field(
        default=False, metadata={"help": "replace a checkpoint that --out already holds"}
    )

    def __post_init__(self) -> None:
        if self.out is None:
            self.out = f"runs/{self.data}_classifier"
        self.steps = _check_int("--steps", self.steps, 1)


@dataclass
class ExportOptions:
    """``export``: the arguments of ``pretrained.export``."""

    run: str = field(metadata={"help": "run folder holding checkpoint.safetensors"})
    name: str = field(
        metadata={
            "help": "name to load it by, e.g. digits: letters, digits, '_', '-' and '.'; "
            "the file is <name>.safetensors inside --folder"
        }
    )
    folder: str | None = field(
        default=None,
        metadata={
            "help": "weights folder (default: the package's ddim_edu/weights, only in a source "
            "checkout; an installed package needs --folder)"
        },
    )
    overwrite: bool = field(
        default=False, metadata={"help": "replace a model of that name (or its file) in --folder"}
    )


@dataclass
class ShapesOptions:
    """``make-shapes``: the arguments of ``data.make_shapes_folder``."""

    out: str = field(metadata={"help": "folder to create (must be empty or new)"})
    n: int = field(default=4000, metadata={"help": "number of images"})
    size: int = field(default=32, metadata={"help": "side in pixels"})
    seed: int = field(default=0, metadata={"help": "seed"})
    overwrite: bool = field(
        default=False, metadata={"help": "write into a folder that is not empty"}
    )


@dataclass
class NotebooksOptions:
    """``notebooks``: the arguments of ``course.copy_notebooks``."""

    folder: str = field(
        metadata={
            "help": "folder to copy them into (created if needed)",
            "positional": True,
            "metavar": "DIR",
        }
    )
    student: bool = field(
        default=False,
        metadata={
            "help": "the student copies (exercise skeletons and their checks, no outputs) "
            "instead of the instructor notebooks (solutions and the outputs of a full run)"
        },
    )
    force: bool = field(
        default=False, metadata={"help": "replace notebooks of the same name already in DIR"}
    )


# --- output paths: checked before any work, so that a typo fails in a second, not after an hour ---


def _writable_folder(folder: Path, option: str, given: str) -> None:
    """The nearest existing folder at or above ``folder`` (the writer creates the rest) must be a
    folder that this process can write in; else ValueError naming ``option`` and its value."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    where = (
        f"{option} {given!r}"
        if existing == Path(given)
        else f"{option} {given!r}: {str(existing)!r}"
    )
    if not existing.is_dir():
        raise ValueError(f"{where} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{where} is a folder this process cannot write in")


def check_out_file(path: str | Path, option: str) -> Path:
    """A file a command will write: not a folder, in a folder that exists or can be created and
    is writable. Nothing is created."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{option} {str(path)!r} is a folder; give a file path inside it or elsewhere"
        )
    _writable_folder(path.parent, option, str(path))
    return path


def check_out_folder(path: str | Path, option: str, files: tuple[str, ...] = ()) -> Path:
    """A folder a command will write ``files`` into: a folder (or creatable), writable, and none of
    ``files`` in it a folder. Nothing is created."""
    path = Path(path)
    _writable_folder(path, option, str(path))
    for name in files:
        if (path / name).is_dir():
            raise ValueError(
                f"{option} {str(path)!r}: {str(path / name)!r} is a folder, not a file"
            )
    return path


def _is_sweep_results(path: Path) -> bool:
    try:
        load_results(path)
    except (ValueError, OSError, TypeError, AttributeError):
        return False
    return True


def check_sweep_out(cfg: SweepConfig) -> None:
    """``sweep --out`` and its heat map (``.png`` beside it): files, writable, and either new, an
    earlier sweep's output, or ``--overwrite`` given."""
    out = check_out_file(cfg.out, "--out")
    figure = check_out_file(out.with_suffix(".png"), "--out")
    if cfg.overwrite or _is_sweep_results(out):
        return
    for path in (out, figure):
        if path.exists() or path.is_symlink():
            raise ValueError(
                f"--out {cfg.out!r}: {str(path)!r} exists and is not an earlier sweep's output; "
                "pass --overwrite to replace it, or choose another --out"
            )


# --- what each command runs: (options, command line, progress) -> None -------------------------


def _train(cfg: TrainConfig, command: str, progress: bool) -> None:
    from .train import train

    train(cfg, progress=progress, command=command)


def _sweep(cfg: SweepConfig, command: str, progress: bool) -> None:
    check_sweep_out(cfg)
    run_sweep_command(cfg, command=command, progress=progress)


def _demo(o: DemoOptions, command: str, progress: bool) -> None:
    check_out_folder(o.out, "--out", demo.OUTPUTS)
    demo.run_demo(**dataclasses.asdict(o), progress=progress, command=command)


def _train_classifier(o: ClassifierOptions, command: str, progress: bool) -> None:
    check_out_folder(o.out, "--out", (CHECKPOINT, CHECKPOINT_JSON))
    classifier.train_classifier(**dataclasses.asdict(o), progress=progress, command=command)


def _export(o: ExportOptions, command: str, progress: bool) -> None:
    from . import pretrained

    pretrained.check_name(o.name, "--name")
    if o.folder is None and not pretrained.in_source_checkout():
        raise ValueError(
            f"--folder is needed: the default, {str(pretrained.WEIGHTS)!r}, belongs to an "
            "installed copy of ddim_edu, which the next upgrade replaces; give --folder DIR and "
            "load the model with pretrained.load(name, folder=DIR)"
        )
    folder = check_out_folder(o.folder or pretrained.WEIGHTS, "--folder")
    entry = pretrained.export(o.run, o.name, folder=folder, overwrite=o.overwrite)
    print(
        f"exported {o.name}: {folder / entry['file']} ({entry['size_bytes'] / 1e6:.2f} MB, "
        f"sha256 {entry['sha256'][:12]}...)"
    )


def _make_shapes(o: ShapesOptions, command: str, progress: bool) -> None:
    from .data import make_shapes_folder

    check_out_folder(o.out, "--out")
    folder = make_shapes_folder(**dataclasses.asdict(o))
    print(f"wrote {o.n} images of {o.size}x{o.size} to {folder}")


def _notebooks(o: NotebooksOptions, command: str, progress: bool) -> None:
    from . import course

    names = tuple(p.name for p in course.notebooks(o.student))
    folder = check_out_folder(o.folder, "DIR", names)
    for path in course.copy_notebooks(folder, student=o.student, force=o.force):
        print(f"wrote {path}")
    kind = "student" if o.student else "instructor"
    print(f"{len(names)} {kind} notebooks from {course.folder(o.student)} in {folder}")
    missing = course.missing_requirements()
    if missing:
        print(
            "to run them, install JupyterLab and what they use: pip install "
            + " ".join(f'"{r}"' for r in missing)
        )
    print(f"open them with: jupyter lab {folder}")


TRAIN_HELP = """\
Train a noise-prediction model with DDPM's simple loss. Checkpoints go to --out (written
atomically); running the same command again resumes from the last one.

Several processes (GPUs, or CPU processes with gloo): put torchrun in front,
    torchrun --nproc_per_node=4 -m ddim_edu train --data DIR --batch-size 256 ...
--batch-size stays the global batch (each process takes batch-size / N rows of it), so N
processes train like one, and a checkpoint resumes with any N. Rank 0 keeps the EMA, writes
checkpoints and prints. Under torchrun write options in full (torchrun itself reads
abbreviations such as --n or --run).
"""

SWEEP_HELP = """\
The S x eta grid of notebook 05 (the paper's Table 1) for a shipped model or a training run.

Every cell samples n images from the same x_T and noise seed with (S, eta) and scores them
against the data: digits-FID for the digits, patch-SWD (multi-scale sliced Wasserstein
distance of image patches, needing no pretrained network) for an image folder, the sliced
Wasserstein distance for the 2-D sets; each beside its real-vs-real noise floor. Writes one
JSON results file (the format of ddim_edu/records/digits_quality.json, which notebook 05
shows) and a heat-map PNG next to it.

Under torchrun the cells are split across the processes (balanced by S) and rank 0 writes
the file; the numbers equal a one-process run with the same seed:

    torchrun --nproc_per_node=4 -m ddim_edu sweep --run-dir runs/shapes --samples 10000 --out runs/shapes/sweep.json
"""


NOTEBOOKS_HELP = """\
Copy the course's notebooks into a folder of your own, to run and edit them there: the
instructor notebooks (solutions, and the outputs of a full run), or with --student the student
copies (each exercise a skeleton to fill in, followed by its check). They run from any folder;
what they read ships inside the package. Files already in DIR are kept unless --force.

    python -m ddim_edu notebooks --student course
    jupyter lab course
"""


@dataclass(frozen=True)
class Command:
    options: type  # the dataclass of its options
    run: Callable[[typing.Any, str, bool], None]
    help: str  # its line in `python -m ddim_edu --help`, which must fit in 80 columns
    description: str = ""  # the head of the command's own --help
    progress: bool = True  # whether it has --no-progress


COMMANDS = {
    "demo": Command(
        DemoOptions,
        _demo,
        "S x eta table on a 2-D mixture with the exact eps*",
        (demo.__doc__ or "").strip(),
    ),
    "train": Command(
        TrainConfig,
        _train,
        "train a denoiser (image UNet or 2-D MLP) with EMA",
        TRAIN_HELP,
    ),
    "train-classifier": Command(
        ClassifierOptions,
        _train_classifier,
        "train the classifier behind digits-FID, MNIST-FID, KID",
        (classifier.__doc__ or "").strip(),
    ),
    "export": Command(
        ExportOptions,
        _export,
        "add a run's EMA weights to a weights folder",
        "Copy a run's EMA weights into a weights folder and record them in its manifest.",
        progress=False,
    ),
    "sweep": Command(
        SweepConfig,
        _sweep,
        "the S x eta quality grid (Table 1) as a results file",
        SWEEP_HELP,
    ),
    "make-shapes": Command(
        ShapesOptions,
        _make_shapes,
        "write synthetic 32x32 RGB images of coloured shapes",
        "Write a folder of synthetic 32x32 RGB images (coloured shapes) to try the own-images "
        "recipe.",
        progress=False,
    ),
    "notebooks": Command(
        NotebooksOptions,
        _notebooks,
        "copy the course's notebooks (--student: exercises)",
        NOTEBOOKS_HELP,
        progress=False,
    ),
}


def command_list() -> str:
    """Every command and its one-line help, aligned: what ``python -m ddim_edu --help`` lists."""
    width = max(map(len, COMMANDS)) + 2
    lines = [f"  {name:<{width}}{command.help}" for name, command in COMMANDS.items()]
    return "\n".join(["commands:", *lines])


def build_parser() -> argparse.ArgumentParser:
    # the commands are listed as written (argparse would wrap a help after a long name)
    head = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(
        prog="python -m ddim_edu",
        usage="%(prog)s [-h] COMMAND ...",
        description=f"{head}\n\n{command_list()}",
        epilog="python -m ddim_edu COMMAND --help shows the options of one command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS, prog=parser.prog
    )
    for name, command in COMMANDS.items():
        p = sub.add_parser(
            name,
            description=command.description or command.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_options(p, command.options)
        if command.progress:
            p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = COMMANDS[args.command]
    progress = not getattr(args, "no_progress", False)
    return exit_code(
        lambda: command.run(config_from_args(command.options, args), _command_line(argv), progress)
    )


def _command_line(argv: list[str]) -> str:
    """The command that ran, as checkpoints and results record it (torchrun's form under it)."""
    launcher = "python -m ddim_edu"
    world = os.environ.get("WORLD_SIZE", "1")
    if world != "1":
        launcher = (
            f"torchrun --nproc_per_node={os.environ.get('LOCAL_WORLD_SIZE', world)} -m ddim_edu"
        )
    return " ".join([launcher, *argv])


# OSErrors that come from a path the user gave: input errors like a ValueError
PATH_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def exit_code(run: Callable[[], object]) -> int:
    """Run a command and return its exit code: 0 when it finishes; for an input error
    (ValueError, which includes the errors the ranks of a torchrun job agreed on, or a file that
    is missing, in the way or not permitted) one line ``error: ...`` on stderr and 2; for a loss
    that became NaN or infinite, or another error of the system (a full disk), the same line and
    1. Anything else is a bug and keeps its traceback."""
    from .train import NonFiniteLossError

    try:
        run()
    except (ValueError, *PATH_ERRORS) as err:
        _report(err)
        return 2
    except (NonFiniteLossError, OSError) as err:
        _report(err)
        return 1
    return 0


def _report(err: Exception) -> None:
    """Print an input error once: errors every rank agreed on come from rank 0 only."""
    from .distributed import DistributedError, env_world
    from .train import NonFiniteLossError

    rank, world, _ = env_world()
    if world > 1 and rank != 0 and isinstance(err, (DistributedError, NonFiniteLossError)):
        return
    prefix = f"[rank {rank}] " if world > 1 and rank != 0 else ""
    text = str(err)
    if isinstance(err, OSError) and err.filename is not None:
        text = f"{str(err.filename)!r}: {err.strerror}"  # the file first, without [Errno n]
    print(f"{prefix}error: {text}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
