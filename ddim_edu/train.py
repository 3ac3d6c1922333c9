"""Training with DDPM's "simple" loss, EMA weights and atomic, resumable checkpoints.

Theorem 1 of the DDIM paper: for every sigma, the variational objective J_sigma equals a weighted
DDPM loss plus a constant, so one network trained with the unweighted ("simple") loss

    L = E_{t, x_0, eps} || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2

serves every eta at sampling time, without retraining.

Checkpoints (``ddim_edu.checkpoints``): ``<out>/checkpoint.safetensors`` holds model, EMA and
optimizer tensors and, in its metadata, the configs, the schedule with all its parameters, the step
and the wall time; ``<out>/checkpoint.json`` repeats the metadata for people. Each file is written
to a temporary name and renamed, so an interrupted run always leaves the last good checkpoint.
Every step draws its batch, timesteps and noise from a generator seeded by (seed, step), and the
checkpoint keeps the state of the generators dropout draws from, so a resumed run takes exactly the
path an uninterrupted one would.

The run folder is checked and locked before any work (``checkpoints.lock_run``: one trainer per
folder; a lock left by a killed run is reported as stale and taken over). A resume must ask for the
same run: every option except ``--out``, ``--checkpoint-every``, ``--log-every`` and ``--device``
must equal the checkpoint's, and ``--steps`` may change only where the learning rate of the steps
already taken stays the same (``_check_same_run``). The record (command, data, options) stays that
of the first start; each resume appends itself to ``resumes``. Before a checkpoint is written the
updated weights are checked (finite, and a finite loss on the next batch), so a checkpoint never
holds a diverged model.

``_train`` reads as the loop; its parts are ``_resume`` (read the checkpoint, check it asks for
the same run, restore the state), ``_train_step`` (one optimizer step and the EMA) and
``_log_and_save``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from dataclasses import Field, asdict, dataclass, field, fields
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from ._checks import _check_int, check_device

# the checkpoint format lives in ddim_edu.checkpoints; these names stay importable from here
from .checkpoints import (  # noqa: F401
    CHECKPOINT,
    CHECKPOINT_JSON,
    FORMAT,
    describe_device,
    load_checkpoint,
    load_run,
    lock_run,
    read_checkpoint_meta,
    save_checkpoint,
)
from .checkpoints import describe_device as device_name  # noqa: F401
from .data import Dataset, get_dataset
from .forward import v_target
from .models import NULL_CLASS, MLPConfig, MLPDenoiser, UNet, UNetConfig, config_dict
from .sampling import PREDICTIONS
from .schedule import SCHEDULE_PARAMS, Schedule, get_schedule


@dataclass
class TrainConfig:
    """The options of a training run; each field with ``metadata["help"]`` is an option of
    ``python -m ddim_edu train`` (``--batch-size`` for ``batch_size``), generated from it."""

    # data and schedule
    data: str = field(
        default="digits",
        metadata={
            "help": "digits (8x8 handwritten digits), mnist (28x28 MNIST digits, the 8,000 of the "
            "training split), gmm, moons, swissroll (2-D points), or the path of a folder of "
            "PNG/JPEG images"
        },
    )
    image_size: int | None = field(
        default=None, metadata={"help": "image folders: resize to this square size (default: keep)"}
    )
    channels: int | None = field(
        default=None,
        metadata={
            "help": "image folders: 1 (gray) or 3 (RGB) (default: automatic)",
            "choices": (1, 3),
        },
    )
    flip: bool = field(
        default=False,
        metadata={
            "help": "image folders: mirror each training image left-right with probability 1/2 "
            "(for content without handedness, e.g. photographs; refused for digits)"
        },
    )
    schedule: str = field(
        default="linear", metadata={"help": "beta schedule", "choices": tuple(SCHEDULE_PARAMS)}
    )
    T: int = field(default=1000, metadata={"help": "diffusion steps T"})
    beta_start: float | None = field(
        default=None, metadata={"help": "linear schedule: beta at the first step (default: 1e-4)"}
    )
    beta_end: float | None = field(
        default=None, metadata={"help": "linear schedule: beta at the last step (default: 0.02)"}
    )
    cosine_s: float | None = field(
        default=None, metadata={"help": "cosine schedule: the offset s (default: 0.008)"}
    )
    prediction: str = field(
        default="eps",
        metadata={"help": "what the network predicts (its target)", "choices": PREDICTIONS},
    )
    # optimisation
    steps: int = field(
        default=20_000,
        metadata={
            "help": "optimizer steps in total (a resumed run continues up to this; it may grow "
            "on resume, with --decay only while the decay has not begun)"
        },
    )
    batch_size: int = field(
        default=128,
        metadata={"help": "examples per step (under torchrun: the global batch of all processes)"},
    )
    lr: float = field(default=1e-3, metadata={"help": "AdamW peak learning rate"})
    warmup: int = field(default=200, metadata={"help": "linear learning-rate warm-up steps"})
    decay: int = field(
        default=0,
        metadata={
            "help": "decay the learning rate linearly to 0 over the last DECAY steps "
            "(default: 0, constant)"
        },
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    grad_clip: float = field(default=1.0, metadata={"help": "max gradient norm"})
    ema_decay: float = field(
        default=0.999, metadata={"help": "EMA decay of the weights used for sampling"}
    )
    seed: int = field(
        default=0, metadata={"help": "seed of initialisation, batches, timesteps and noise"}
    )
    # model (UNet for images, MLP for 2-D points)
    width: int = field(default=32, metadata={"help": "UNet base channels or MLP hidden width"})
    channel_mults: tuple[int, ...] = field(
        default=(1, 2),
        metadata={"help": "UNet channel multipliers, one per resolution, comma-separated"},
    )
    res_blocks: int = field(
        default=2, metadata={"help": "UNet: residual blocks per resolution; MLP: residual blocks"}
    )
    attention: bool = field(
        default=True, metadata={"help": "UNet: self-attention at the lowest resolution"}
    )
    dropout: float = field(
        default=0.0,
        metadata={
            "help": "UNet: dropout inside the residual blocks, in [0, 1) (regularises small "
            "data sets)"
        },
    )
    conditional: bool = field(
        default=False,
        metadata={
            "help": "class-conditional UNet with a learned 'no class' entry (labelled data: mnist)"
        },
    )
    label_dropout: float = field(
        default=0.1,
        metadata={
            "help": "conditional: probability of training a label as 'no class', for "
            "classifier-free guidance"
        },
    )
    # bookkeeping
    out: str | None = field(
        default=None,
        metadata={"help": "checkpoint folder (default: runs/<name of the data>, e.g. runs/digits)"},
    )
    checkpoint_every: int = field(
        default=1000, metadata={"help": "steps between checkpoints (and one at the end)"}
    )
    log_every: int = field(default=50, metadata={"help": "steps between loss records"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:N or mps"})
    init_from: str | None = field(
        default=None,
        metadata={
            "help": "start from trained weights instead of a random initialisation: a shipped "
            "model's name (e.g. mnist) or an exported .safetensors file; the model options must "
            "match, and the checkpoint and a later export record the chain of commands"
        },
    )
    # free-form notes stored with the checkpoint (no help: not a command-line option)
    extra: dict = field(default_factory=dict)

    def schedule_params(self) -> dict:
        """The schedule parameters this run sets (the others take the schedule's defaults)."""
        given = {"beta_start": self.beta_start, "beta_end": self.beta_end, "s": self.cosine_s}
        params = {k: v for k, v in given.items() if v is not None}
        for k in params:
            if k not in SCHEDULE_PARAMS[self.schedule]:
                flag = "--cosine-s" if k == "s" else "--" + k.replace("_", "-")
                raise ValueError(
                    f"{flag} does not apply to the {self.schedule!r} schedule (it takes "
                    f"{', '.join(SCHEDULE_PARAMS[self.schedule])})"
                )
        return params

    def __post_init__(self) -> None:
        self.channel_mults = tuple(self.channel_mults)
        if self.out is None:
            self.out = str(Path("runs") / Path(self.data).name)
        for name in ("steps", "batch_size", "T", "checkpoint_every", "log_every"):
            setattr(self, name, _check_int(name, getattr(self, name), 1))
        for name in ("lr", "grad_clip"):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, int | float)
                or not (v > 0 and math.isfinite(v))
            ):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        for name in ("warmup", "decay"):
            setattr(self, name, _check_int(name, getattr(self, name), 0, hint=" (steps)"))
        wd = self.weight_decay
        if (
            isinstance(wd, bool)
            or not isinstance(wd, int | float)
            or not (wd >= 0 and math.isfinite(wd))
        ):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {wd!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if not 0 <= self.label_dropout < 1:
            raise ValueError(f"label_dropout must lie in [0, 1), got {self.label_dropout}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must lie in [0, 1), got {self.ema_decay}")
        if self.schedule not in SCHEDULE_PARAMS:
            raise ValueError(
                f"schedule must be one of {', '.join(map(repr, SCHEDULE_PARAMS))}, got {self.schedule!r}"
            )
        self.schedule_params()  # a parameter of another schedule is refused here, by its flag
        if self.prediction not in PREDICTIONS:
            raise ValueError(
                f"prediction must be one of {', '.join(map(repr, PREDICTIONS))}, got {self.prediction!r}"
            )
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith(
            "cuda:"
        ):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")


class NonFiniteLossError(RuntimeError):
    """The loss or the weights became NaN or infinite (or the update overflowed); nothing was
    saved, and the last good checkpoint, if there is one, was left untouched."""


# options a resumed run may change: where and how often it writes and logs, where it runs, free
# notes, and --steps (within the rule of _check_same_run); every other option defines the run
MAY_CHANGE_ON_RESUME = ("out", "checkpoint_every", "log_every", "device", "extra", "steps")


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then MPS, then the CPU; any other name is checked (``check_device``)."""
    if name != "auto":
        return check_device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def make_model(cfg: TrainConfig, data: Dataset) -> nn.Module:
    """The UNet for image data, the MLP for points, sized by ``cfg``."""
    if cfg.conditional and (len(data.shape) != 3 or not data.num_classes):
        raise ValueError(
            f"conditional needs labelled images (data 'mnist'); {data.name!r} has no labels"
        )
    if len(data.shape) == 3:
        c, h, w = data.shape
        if h != w:
            raise ValueError(f"images must be square, got {h}x{w}; pass --image-size to resize")
        return UNet(
            UNetConfig(
                image_size=h,
                in_channels=c,
                base_channels=cfg.width,
                channel_mults=cfg.channel_mults,
                num_res_blocks=cfg.res_blocks,
                attention=cfg.attention,
                dropout=cfg.dropout,
                num_classes=data.num_classes if cfg.conditional else 0,
            )
        )
    return MLPDenoiser(MLPConfig(dim=data.shape[0], hidden=cfg.width, depth=cfg.res_blocks))


def initialise_from(model: nn.Module, source: str) -> list[dict]:
    """Load the weights of ``source`` into ``model`` (a fresh run continues earlier training).

    ``source``: the name of a shipped model (checked against its manifest's sha256) or the path of
    a weights file written by ``pretrained.export``. Its model config must equal this run's.
    Returns the chain of commands that made those weights, this one's predecessors first: the
    new run records it, and ``export`` copies it into the manifest. The optimizer starts afresh.
    """
    from safetensors.torch import load_file

    from . import pretrained

    path = Path(source)
    if source in pretrained.available():
        folder, name = pretrained.WEIGHTS, source
    elif path.is_file():
        # an exported file: its folder's manifest (when it lists the file) gives its record
        listed = pretrained._manifest(path.parent)
        folder = path.parent
        name = next((k for k, e in listed.items() if e.get("file") == path.name), None)
    else:
        raise ValueError(
            f"init_from must be a shipped model ({', '.join(pretrained.available())}) or a "
            f"weights file, got {source!r}"
        )
    if name is not None:
        entry = pretrained.info(name, folder)
        state = pretrained.load(name, folder=folder).state_dict()  # checks the sha256
        origin = f"{name} (sha256 {entry['sha256'][:12]})"
    else:
        entry = {"model": read_checkpoint_meta(path).get("model")}
        state = load_file(str(path))
        origin = f"file {str(path)!r}"
    if entry.get("model") != config_dict(model):
        raise ValueError(
            f"init_from {source!r} has model {entry.get('model')}, but this run builds "
            f"{config_dict(model)}; use the same model options"
        )
    model.load_state_dict(state)
    link = {k: entry.get(k) for k in ("command", "steps", "device", "wall_s", "final_loss")}
    return [*entry.get("chain", []), {"from": origin, **link}]


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up over ``warmup`` steps, constant, then linear decay to 0 over the last ``decay``."""
    lr = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup, 1))
    if cfg.decay > 0:
        lr *= min(1.0, (cfg.steps - step) / cfg.decay)
    return lr


def step_generator(seed: int, step: int) -> torch.Generator:
    """The CPU generator of one training step: same (seed, step), same batch and noise."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def diffusion_loss(
    model: nn.Module,
    x0: torch.Tensor,
    schedule: Schedule,
    prediction: str,
    generator: torch.Generator,
    shard: tuple[int, int] = (0, 1),
    labels: torch.Tensor | None = None,
    label_dropout: float = 0.0,
) -> torch.Tensor:
    """The "simple" loss for one batch: t uniform on 0..T-1, eps ~ N(0, I), MSE on the target.

    ``labels`` (class-conditional models): each is replaced by the null label (-1) with
    probability ``label_dropout``, so that the network also learns the unconditional eps.

    ``shard=(rank, world)``: ``x0`` holds rank's block of a global batch of ``world * len(x0)``
    rows. t and eps are drawn for the whole global batch, so every rank's generator advances
    alike, and sliced to the same block: the ranks together compute the batch one process would.
    """
    rank, world = shard
    n = x0.shape[0]
    rows = slice(rank * n, (rank + 1) * n)
    t = torch.randint(0, schedule.T, (n * world,), generator=generator)[rows]
    eps = torch.randn((n * world, *x0.shape[1:]), generator=generator)[rows]
    t, eps = t.to(x0.device), eps.to(x0.device)
    extra = ()
    if labels is not None:
        drop = (torch.rand(n * world, generator=generator) < label_dropout)[rows]
        extra = (torch.where(drop.to(labels.device), NULL_CLASS, labels),)
    a = schedule.alpha_bar.to(x0.device, torch.float32)[t].view(-1, *([1] * (x0.ndim - 1)))
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    if prediction == "eps":
        target = eps
    elif prediction == "x0":
        target = x0
    else:
        target = v_target(x0, eps, a)
    return torch.mean((model(x_t, t, *extra) - target) ** 2)


# --- the loop ---------------------------------------------------------------------------------------


def train(
    cfg: TrainConfig,
    progress: bool = True,
    command: str | None = None,
    schedule: Schedule | None = None,
) -> dict:
    """Train (or resume) a denoiser as ``cfg`` says; returns the final checkpoint metadata.

    ``schedule``: train with this schedule instead of ``get_schedule(cfg.schedule, cfg.T)``, e.g.
    ``linear_schedule(beta_end=0.03)``. Every parameter of it is saved with the checkpoint, so the
    model comes back with it (``load_run``, ``pretrained.export``), and resuming the run with any
    other schedule is refused.

    Under ``torchrun --nproc_per_node=N`` the model is wrapped in DistributedDataParallel (NCCL on
    CUDA, gloo on the CPU). ``cfg.batch_size`` stays the *global* batch: every rank draws the
    step's batch indices, timesteps and noise from the same seeded generator and keeps its own
    block of ``batch_size / N`` rows (a distributed sampler without epochs), and DDP averages the
    gradients, so N processes follow the path of one process up to float rounding, and a
    checkpoint resumes with any N. Rank 0 alone keeps the EMA, writes checkpoints, prints and
    shows the progress bar.

    ``cfg.out`` is checked and locked first (``checkpoints.lock_run``): a file, an unwritable
    folder, or a folder another trainer holds is refused before any work. Resuming with options
    that change the run is refused naming the option (``_check_same_run``).
    """
    ctx, dist_device = distributed.setup(cfg.device)
    lock = None
    try:
        # before any work: --out must be a writable folder that no other trainer holds (rank 0
        # writes the checkpoints, so rank 0 alone checks and locks it)
        lock = distributed.attempt(
            ctx,
            f"locking the run folder {cfg.out!r}",
            (lambda: lock_run(cfg.out)) if ctx.main else (lambda: None),
        )
        return _train(cfg, ctx, dist_device, progress, command, schedule)
    finally:
        if lock is not None:
            lock.release()
        if ctx.enabled:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _train(cfg, ctx, dist_device, progress: bool, command: str | None, schedule) -> dict:
    out = Path(cfg.out)
    device = dist_device if dist_device is not None else pick_device(cfg.device)
    rows = distributed.shard(ctx, cfg.batch_size)
    data = distributed.attempt(
        ctx,
        f"loading data {cfg.data!r}",
        lambda: get_dataset(
            cfg.data, image_size=cfg.image_size, channels=cfg.channels, flip=cfg.flip
        ),
    )
    if schedule is None:
        schedule = get_schedule(cfg.schedule, cfg.T, **cfg.schedule_params())
    torch.manual_seed(cfg.seed)
    model = make_model(cfg, data)
    chain = initialise_from(model, cfg.init_from) if cfg.init_from else []
    model = model.to(device)
    ema = copy.deepcopy(model).requires_grad_(False) if ctx.main else None
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        fused=device.type == "cuda" or None,  # one kernel for the whole update on a GPU
    )
    meta = {
        "model": config_dict(model),
        "train": {k: v for k, v in asdict(cfg).items()},
        "schedule": schedule.to_dict(),
        "prediction": cfg.prediction,
        "data": data.describe(),
        "step": 0,
        "wall_s": 0.0,
        "loss": None,
        "history": [],
        "device": describe_device(device)
        + (f" x {ctx.world} processes ({ctx.backend})" if ctx.enabled else ""),
        "world_size": ctx.world,
        "command": command or " ".join(["python -m ddim_edu", *sys.argv[1:]]),
    }
    command = meta["command"]
    if chain:
        meta["chain"] = chain

    expected = {k: meta[k] for k in ("schedule", "prediction")}
    saved = _resume(ctx, out, model, ema, optimizer, expected, cfg, data)
    if saved is not None:
        rng = saved.pop("rng_state", {}).get(ctx.rank)
        meta.update(saved)  # the record (command, data, options) stays that of the first start
        if meta["step"] >= cfg.steps:
            if ctx.main:
                print(
                    f"{out / CHECKPOINT} is already at step {meta['step']} >= steps={cfg.steps}; nothing to do"
                )
            return meta
        resume = {"command": command, "from_step": meta["step"], "steps": cfg.steps}
        meta["resumes"] = [*meta.get("resumes", []), {**resume, "device": meta["device"]}]
        if rng is not None:
            _set_rng_state(rng, device)  # dropout goes on with the masks it would have drawn
        if ctx.main:
            print(f"resuming from step {meta['step']} of {out / CHECKPOINT}")
    else:
        rng = None
    if ctx.main:
        print(f"{model.summary()} on {meta['device']}; data {data.describe()}")

    if ctx.enabled:
        if rng is None:
            # a different dropout stream per rank (with dropout > 0 the ranks differ from one process)
            torch.manual_seed(cfg.seed * 1_000_003 + 7919 * ctx.rank + meta["step"])
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    else:
        net = model
    model.train()
    start_step = meta["step"]
    started = time.perf_counter() - meta["wall_s"]  # the clock's reading at wall time 0
    losses = _LossLog(device)
    bar = tqdm(
        range(start_step, cfg.steps),
        initial=start_step,
        total=cfg.steps,
        disable=not progress or not ctx.main,
    )

    def after_update(done: int):  # checks the weights before they are saved
        return _loss_after_update(cfg, done, data, rows, model, schedule, ctx)

    for step in bar:
        try:
            loss = _train_step(cfg, step, data, rows, net, model, ema, optimizer, schedule, ctx)
        except OverflowError as err:
            raise NonFiniteLossError(
                f"{err}; stopped without saving. {_last_good(out, meta)} Try a smaller --lr."
            ) from None
        losses.add(step, loss)
        _log_and_save(
            cfg, ctx, step + 1, losses, meta, bar, started, out, model, ema, optimizer, after_update
        )
    bar.close()
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()  # every rank returns after rank 0 wrote the final checkpoint
    if ctx.main:
        print(
            f"step {meta['step']}: loss {meta['loss']:.4f}, {meta['wall_s']:.0f} s in all; saved {out / CHECKPOINT}"
        )
    return meta


# what a resume takes from the checkpoint: the record of the run as first started, and its state
RESUMED = ("command", "data", "train", "chain", "resumes", "step", "wall_s", "loss", "history")


def _resume(ctx, out: Path, model, ema, optimizer, expected: dict, cfg, data) -> dict | None:
    """Restore model, EMA and optimizer from ``out``'s checkpoint when there is one, and return its
    record (command, data, options, chain, resumes), step, wall time, loss, history and
    ``rng_state`` (None for a fresh run).

    ``expected``: the run's schedule and prediction, which the checkpoint's must equal; ``cfg``
    and ``data`` must ask for the same run (``_check_same_run``). Rank 0 reads the checkpoint
    (only it needs to see the run folder) and hands the step, model and optimizer state to the
    others; an unreadable or mismatched checkpoint is reported on every rank.
    """

    def read() -> dict | None:
        if not (out / CHECKPOINT).exists() and not (out / CHECKPOINT_JSON).exists():
            return None
        saved = load_checkpoint(
            out,
            model,
            ema,
            optimizer,
            expected,
            check=lambda meta: _check_same_run(cfg, meta, out / CHECKPOINT, data),
        )
        return {k: saved[k] for k in (*RESUMED, "rng_state") if k in saved}

    saved = distributed.attempt(
        ctx, f"resuming from {out / CHECKPOINT}", read if ctx.main else lambda: None
    )
    if ctx.enabled:
        state = distributed.broadcast(
            ctx,
            None
            if saved is None
            else {
                "meta": saved,
                "model": {k: v.cpu() for k, v in model.state_dict().items()},
                "optim": _cpu_state(optimizer.state_dict()),
            },
        )
        if state is not None and not ctx.main:
            saved = state["meta"]
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optim"])
    return saved


def _batch(cfg, step: int, data, rows: slice, model):
    """Step ``step``'s generator and this rank's rows of its batch (and labels), on the model's
    device."""
    gen = step_generator(cfg.seed, step)
    x0, y = data.labeled_batch(cfg.batch_size, gen)
    device = next(model.parameters()).device
    x0 = x0[rows].to(device, non_blocking=True)
    y = y[rows].to(device) if cfg.conditional else None
    return gen, x0, y


def _step_loss(cfg, net, x0, y, gen, schedule, ctx) -> torch.Tensor:
    """The loss of one batch, as the training step and the after-update check compute it."""
    return diffusion_loss(
        net,
        x0,
        schedule,
        cfg.prediction,
        gen,
        shard=(ctx.rank, ctx.world),
        labels=y,
        label_dropout=cfg.label_dropout,
    )


def _train_step(cfg, step: int, data, rows: slice, net, model, ema, optimizer, schedule, ctx):
    """One optimizer step (and the EMA update on rank 0); returns the loss, detached, on the device.

    The batch, timesteps and noise come from ``step_generator(seed, step)``: the same step of a
    resumed run draws exactly what it would have drawn without the interruption.
    """
    gen, x0, y = _batch(cfg, step, data, rows, model)
    lr = learning_rate(cfg, step)
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = _step_loss(cfg, net, x0, y, gen, schedule, ctx)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    try:
        optimizer.step()
    except RuntimeError as err:  # Adam's step size lr / (1 - beta1^k) beyond float32's range
        if "overflow" not in str(err):
            raise
        raise OverflowError(
            f"the update of step {step} overflowed float32 at learning rate {lr:.3g} ({err})"
        ) from None
    if ema is not None:
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
    return loss.detach()


class _LossLog:
    """The loss between log points and the first non-finite value, kept on the device.

    Nothing here synchronises host and device per step; ``check`` and ``mean`` do, once per log
    point. The first non-finite value (its step, kind and value) is checked before any checkpoint
    is written, so a run that diverges never overwrites the last good checkpoint. Its kinds: a
    training loss (``add``), or the weights after an update (``add_after_update``: non-finite
    weights, or a non-finite loss with them).
    """

    NONE = torch.iinfo(torch.int64).max  # "no bad step"
    LOSS, AFTER_UPDATE, WEIGHTS = 0, 1, 2  # what was non-finite

    def __init__(self, device: torch.device) -> None:
        self.sum = torch.zeros((), device=device)
        self.n = 0
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        self.bad_value = torch.zeros((), device=device)
        self.bad_kind = torch.zeros((), dtype=torch.int64, device=device)

    def _note(self, step: int, value: torch.Tensor, bad: torch.Tensor, kind) -> None:
        new_bad = bad & (self.first_bad < 0)
        self.first_bad = torch.where(new_bad, step, self.first_bad)
        self.bad_value = torch.where(new_bad, value, self.bad_value)
        self.bad_kind = torch.where(new_bad, kind, self.bad_kind)

    def add(self, step: int, value: torch.Tensor) -> None:
        """The training loss of step ``step`` (0-based)."""
        self._note(step, value, ~torch.isfinite(value), self.LOSS)
        self.sum += value
        self.n += 1

    def add_after_update(self, done: int, finite: torch.Tensor, value: torch.Tensor) -> None:
        """After ``done`` steps: whether every weight is finite, and the loss the weights give on
        the next batch (not part of the logged mean)."""
        kind = torch.where(finite, self.AFTER_UPDATE, self.WEIGHTS)
        self._note(done, value, ~finite | ~torch.isfinite(value), kind)

    def check(self, ctx, out: Path, meta: dict) -> None:
        """Raise NonFiniteLossError if any rank saw a non-finite value since the start."""
        bad = torch.where(self.first_bad >= 0, self.first_bad, self.NONE)
        bad_step = int(distributed.all_min(ctx, bad.clone()))
        if bad_step == self.NONE:
            return
        mine = int(self.first_bad) == bad_step  # else another rank saw it first
        value = float(self.bad_value) if mine else "non-finite"
        kind = int(self.bad_kind) if mine else self.LOSS
        if kind == self.WEIGHTS:
            what = f"the weights became non-finite in the update of step {bad_step - 1}"
        elif kind == self.AFTER_UPDATE:
            what = (
                f"after the update of step {bad_step - 1} the loss became {value} (the weights "
                "diverged; checked before saving them)"
            )
        else:
            what = f"loss became {value} at step {bad_step}"
        raise NonFiniteLossError(
            f"{what}{' (on some rank)' if ctx.enabled else ''}; stopped without saving. "
            f"{_last_good(out, meta)} Try a smaller --lr."
        )

    def mean(self, ctx) -> float:
        """The mean loss over every rank's steps since the last call; starts the next interval."""
        avg = float(distributed.all_sum(ctx, self.sum.clone())) / (self.n * ctx.world)
        self.sum.zero_()
        self.n = 0
        return avg


def _log_and_save(
    cfg, ctx, done, losses, meta, bar, started, out, model, ema, optimizer, after_update
) -> None:
    """After ``done`` steps: every ``log_every`` steps record the mean loss in ``meta``, every
    ``checkpoint_every`` steps (and after the last) save a checkpoint; both first stop the run if
    any rank saw a non-finite loss, and a save first checks the weights it would write
    (``after_update(done)``: finite, with a finite loss; see ``_loss_after_update``). ``started``: ``time.perf_counter()`` at the run's wall time 0
    (earlier than this process's start when the run was resumed)."""
    log_now = done % cfg.log_every == 0 or done == cfg.steps
    save_now = done % cfg.checkpoint_every == 0 or done == cfg.steps
    if not (log_now or save_now):
        return
    if save_now:  # the weights about to be saved: finite, and a finite loss on the next batch
        losses.add_after_update(done, *after_update(done))
    losses.check(ctx, out, meta)  # the one synchronisation, every log_every steps
    if log_now:
        avg = losses.mean(ctx)
        meta["history"].append([done, round(avg, 6)])
        meta["loss"] = avg
        bar.set_postfix(loss=f"{avg:.4f}")
    if save_now:
        meta["step"] = done
        meta["wall_s"] = round(time.perf_counter() - started, 1)
        if ctx.enabled:
            # DDP keeps the replicas identical; check it, bit for bit, at every checkpoint
            digests = distributed.gather(ctx, weights_digest(model))
            if ctx.main:
                meta["rank_weights_sha256"] = digests
                if len(set(digests)) > 1:
                    print(
                        f"warning: the ranks' weights differ at step {done}: {digests}",
                        file=sys.stderr,
                    )
        states = distributed.gather(ctx, _rng_state(next(model.parameters()).device))
        if ctx.main:
            save_checkpoint(out, model, ema, optimizer, meta, rng=dict(enumerate(states)))


def _loss_after_update(cfg, done: int, data, rows: slice, model, schedule, ctx):
    """(finite, loss): whether every weight is finite after ``done`` steps, and the loss the
    weights give on the batch of step ``done``.

    A loss is computed before its update, so a finite training loss does not vouch for the weights
    the update made (with ``--lr 3e37`` they are about 3e37). This loss is computed in eval mode
    (no dropout mask drawn) from its own generator: the run's random state is untouched.
    """
    gen, x0, y = _batch(cfg, done, data, rows, model)
    model.eval()
    try:
        with torch.no_grad():
            loss = _step_loss(cfg, model, x0, y, gen, schedule, ctx)
    finally:
        model.train()
    finite = torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all()
    return finite, loss


def _last_good(out: Path, meta: dict) -> str:
    """What a stopped run left on disk, truthfully."""
    if meta["step"] > 0:
        return f"The last good checkpoint ({out / CHECKPOINT}, step {meta['step']}) is unchanged."
    return f"No checkpoint was written to {out}: the run stopped before its first one."


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The states of the generators dropout draws from on ``device``: the CPU's and the device's."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def _set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    """Restore ``_rng_state``'s states (those of another kind of device are left as they are)."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    elif device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"])


def _flag(f: Field) -> str:
    """The command-line flag of a TrainConfig field."""
    name = f.name.replace("_", "-")
    return f"--no-{name}" if f.default is True else f"--{name}"


def _same_folder(a: str, b: str) -> bool:
    """Whether two --data values name the same data (the same word, or the same folder)."""
    if os.path.normpath(a) == os.path.normpath(b):
        return True
    return Path(a).is_dir() and Path(a).resolve() == Path(b).resolve()


def _check_same_run(cfg: TrainConfig, saved: dict, path: Path, data: Dataset) -> None:
    """Refuse to resume checkpoint ``path`` (metadata ``saved``) with options that change the run.

    Every option except those in ``MAY_CHANGE_ON_RESUME`` must equal the one recorded at the first
    start (options the record does not have, from older versions, are not compared), and the
    data must still describe itself alike (an image folder that gained or lost images is other
    data). ``--steps`` may change when the learning rate of every step already taken stays the
    same: always without ``--decay``; with ``--decay D`` only while the steps taken lie before the
    decay window of both the old and the new ``--steps`` (the decay is anchored at the end).
    """
    stored = saved.get("train")
    if not isinstance(stored, dict):
        return  # a checkpoint from before the options were recorded
    now = json.loads(json.dumps(asdict(cfg)))  # tuples as lists, as the record holds them

    def shown(f: Field, value) -> str:
        return f"{f.name}={value}" if isinstance(value, bool) else repr(value)

    for f in fields(cfg):
        if f.name in MAY_CHANGE_ON_RESUME or f.name not in stored:
            continue
        old, new = stored[f.name], now[f.name]
        if f.name == "data" and isinstance(old, str) and _same_folder(old, new):
            continue
        if old != new:
            raise ValueError(
                f"{_flag(f)} does not match checkpoint {str(path)!r}: checkpoint has "
                f"{shown(f, old)}, this run asks for {shown(f, new)}; resume with the "
                "checkpoint's value, or train into another --out"
            )
    described = saved.get("data")  # "<name>: <size> of shape <shape>"; the name spells the path
    if (
        isinstance(described, str)
        and described.rsplit(": ", 1)[-1] != data.describe().rsplit(": ", 1)[-1]
    ):
        raise ValueError(
            f"--data {cfg.data!r} is not the data of checkpoint {str(path)!r}: it was trained on "
            f"{saved['data']!r}, this run loads {data.describe()!r}; train into another --out"
        )
    previous = (saved.get("resumes") or [{}])[-1].get("steps", stored.get("steps"))
    step = saved.get("step", 0)
    if (
        cfg.decay
        and isinstance(previous, int)
        and cfg.steps != previous
        and step < cfg.steps
        and step - 1 > min(previous, cfg.steps) - cfg.decay
    ):
        raise ValueError(
            f"--steps does not match checkpoint {str(path)!r}: checkpoint has {previous}, this run "
            f"asks for {cfg.steps}; with --decay {cfg.decay} the learning rate decays over the last "
            f"{cfg.decay} steps, and the {step} steps taken reach into that decay, so another "
            f"--steps changes their learning rate; resume with --steps {previous}, or train into "
            "another --out"
        )


def weights_digest(model: nn.Module) -> str:
    """sha256 of every parameter's bytes, in order: equal digests, bit-identical weights."""
    import hashlib

    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _cpu_state(state: dict) -> dict:
    """An optimizer state dict with every tensor on the CPU (to send it to other ranks)."""
    return {
        "state": {
            i: {k: torch.as_tensor(v).cpu() for k, v in st.items()}
            for i, st in state["state"].items()
        },
        "param_groups": state["param_groups"],
    }
