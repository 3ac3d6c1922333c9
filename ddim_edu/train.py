"""Training with DDPM's "simple" loss, EMA weights and atomic, resumable checkpoints.

Theorem 1 of the DDIM paper: for every sigma, the variational objective J_sigma equals a weighted
DDPM loss plus a constant, so one network trained with the unweighted ("simple") loss

    L = E_{t, x_0, eps} || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2

serves every eta at sampling time, without retraining.

Checkpoints: ``<out>/checkpoint.safetensors`` holds model, EMA and optimizer tensors and, in its
metadata, the configs, the step and the wall time; ``<out>/checkpoint.json`` repeats the metadata
for people. Each file is written to a temporary name and renamed, so an interrupted run always
leaves the last good checkpoint. Every step draws its batch, timesteps and noise from a generator
seeded by (seed, step), so a resumed run takes exactly the path an uninterrupted one would.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from .data import Dataset, get_dataset
from .models import NULL_CLASS, MLPConfig, MLPDenoiser, UNet, UNetConfig, build_model, config_dict
from .sampling import PREDICTIONS
from .schedule import Schedule, get_schedule

CHECKPOINT = "checkpoint.safetensors"
FORMAT = "ddim-edu-checkpoint/1"


@dataclass
class TrainConfig:
    # data and schedule
    data: str = "digits"  # digits | mnist | gmm | moons | swissroll | path of an image folder
    image_size: int | None = None  # resize folder images to this size (None: keep)
    channels: int | None = None  # folder images: 1 or 3 (None: automatic)
    flip: bool = False  # folder images: random left-right mirroring
    schedule: str = "linear"  # linear | cosine
    T: int = 1000  # diffusion steps
    prediction: str = "eps"  # what the network predicts: eps | x0 | v
    # optimisation
    steps: int = 20_000  # optimizer steps in total (a resumed run continues up to this)
    batch_size: int = 128  # examples per step
    lr: float = 1e-3  # AdamW peak learning rate
    warmup: int = 200  # linear warm-up steps
    decay: int = (
        0  # linear decay of the learning rate to 0 over the last `decay` steps (0: constant)
    )
    weight_decay: float = 0.0  # AdamW weight decay
    grad_clip: float = 1.0  # max gradient norm
    ema_decay: float = 0.999  # EMA of the weights, used for sampling
    seed: int = 0  # seeds initialisation, batches, timesteps and noise
    # model (UNet for images, MLP for 2-D points)
    width: int = 32  # UNet base channels / MLP hidden width
    channel_mults: tuple[int, ...] = (1, 2)  # UNet: channel multiplier per resolution
    res_blocks: int = 2  # UNet: residual blocks per resolution; MLP: residual blocks
    attention: bool = True  # UNet: self-attention at the lowest resolution
    dropout: float = 0.0  # UNet: dropout inside the residual blocks (regularises small data sets)
    conditional: bool = False  # UNet: class-conditional (labelled data: mnist)
    label_dropout: float = 0.1  # conditional: probability of training a label as "no class"
    # bookkeeping
    out: str = "runs/digits"  # checkpoint folder
    checkpoint_every: int = 1000  # steps between checkpoints (and at the end)
    log_every: int = 50  # steps between loss records
    device: str = "auto"  # auto | cpu | cuda | mps
    init_from: str | None = (
        None  # start from shipped weights (a name, e.g. mnist) or a .safetensors
    )
    extra: dict = field(default_factory=dict)  # free-form notes stored with the checkpoint

    def __post_init__(self) -> None:
        self.channel_mults = tuple(self.channel_mults)
        for name in ("steps", "batch_size", "T", "checkpoint_every", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("lr", "grad_clip"):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, int | float)
                or not (v > 0 and math.isfinite(v))
            ):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        for name in ("warmup", "decay"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0 (steps), got {v!r}")
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
        if self.prediction not in PREDICTIONS:
            raise ValueError(
                f"prediction must be one of {', '.join(map(repr, PREDICTIONS))}, got {self.prediction!r}"
            )
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith(
            "cuda:"
        ):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint was left untouched."""


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
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
        target = a.sqrt() * eps - (1 - a).sqrt() * x0
    return torch.mean((model(x_t, t, *extra) - target) ** 2)


# --- checkpoints -------------------------------------------------------------------------------


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(out: Path, model, ema, optimizer, meta: dict) -> None:
    """Write model, EMA and optimizer state plus ``meta`` atomically into ``out``."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors |= {f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()}
    for i, state in optimizer.state_dict()["state"].items():
        for k, v in state.items():
            tensors[f"optim.{i}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    meta = {**meta, "format": FORMAT}
    out.mkdir(parents=True, exist_ok=True)
    metadata = {k: json.dumps(v) for k, v in meta.items()}
    _atomic_write(out / CHECKPOINT, lambda p: save_file(tensors, str(p), metadata=metadata))
    _atomic_write(out / "checkpoint.json", lambda p: p.write_text(json.dumps(meta, indent=1)))


def read_checkpoint_meta(path: str | Path) -> dict:
    """The metadata of a checkpoint or exported weights file (no tensors are read)."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise ValueError(
            f"checkpoint {str(path)!r} is not a readable safetensors file: {err}"
        ) from None
    try:
        return {k: json.loads(v) for k, v in raw.items()}
    except json.JSONDecodeError as err:
        raise ValueError(f"checkpoint {str(path)!r} has corrupt metadata: {err}") from None


def load_checkpoint(out: Path, model, ema, optimizer, expected: dict | None = None) -> dict:
    """Restore the three states from ``out``; the checkpoint's model config must match the model's,
    and each entry of ``expected`` (e.g. the run's schedule and prediction) the checkpoint's own:
    resuming with another objective would go on training the old weights on a new target."""
    path = out / CHECKPOINT
    meta = read_checkpoint_meta(path)
    if meta.get("model") != config_dict(model):
        raise ValueError(
            f"model config does not match checkpoint {str(path)!r}: checkpoint has {meta.get('model')}, "
            f"this run builds {config_dict(model)}; use another --out or the same model options"
        )
    for key, want in (expected or {}).items():
        if key in meta and meta[key] != want:
            raise ValueError(
                f"{key} does not match checkpoint {str(path)!r}: checkpoint has {meta[key]!r}, "
                f"this run asks for {want!r}; use another --out or the checkpoint's {key}"
            )
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    sd = optimizer.state_dict()
    sd["state"] = state
    optimizer.load_state_dict(sd)
    return meta


# --- the loop ---------------------------------------------------------------------------------------


def train(cfg: TrainConfig, progress: bool = True, command: str | None = None) -> dict:
    """Train (or resume) a denoiser as ``cfg`` says; returns the final checkpoint metadata.

    Under ``torchrun --nproc_per_node=N`` the model is wrapped in DistributedDataParallel (NCCL on
    CUDA, gloo on the CPU). ``cfg.batch_size`` stays the *global* batch: every rank draws the
    step's batch indices, timesteps and noise from the same seeded generator and keeps its own
    block of ``batch_size / N`` rows (a distributed sampler without epochs), and DDP averages the
    gradients, so N processes follow the path of one process up to float rounding, and a
    checkpoint resumes with any N. Rank 0 alone keeps the EMA, writes checkpoints, prints and
    shows the progress bar.
    """
    ctx, dist_device = distributed.setup(cfg.device)
    try:
        return _train(cfg, ctx, dist_device, progress, command)
    finally:
        if ctx.enabled:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _train(cfg, ctx, dist_device, progress: bool, command: str | None) -> dict:
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
    schedule = get_schedule(cfg.schedule, cfg.T)
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
        "schedule": {"name": cfg.schedule, "T": cfg.T},
        "prediction": cfg.prediction,
        "data": data.describe(),
        "step": 0,
        "wall_s": 0.0,
        "loss": None,
        "history": [],
        "device": device_name(device)
        + (f" x {ctx.world} processes ({ctx.backend})" if ctx.enabled else ""),
        "world_size": ctx.world,
        "command": command or " ".join(["python -m ddim_edu", *sys.argv[1:]]),
    }
    if chain:
        meta["chain"] = chain

    # Resume: rank 0 reads the checkpoint (only it needs to see the run folder) and hands the
    # step, model and optimizer state to the others; an unreadable or mismatched checkpoint is
    # reported on every rank.
    def read_saved():
        if not (out / CHECKPOINT).exists():
            return None
        expected = {k: meta[k] for k in ("schedule", "prediction")}
        saved = load_checkpoint(out, model, ema, optimizer, expected)
        return {k: saved[k] for k in ("step", "wall_s", "loss", "history") if k in saved}

    saved = distributed.attempt(
        ctx, f"resuming from {out / CHECKPOINT}", read_saved if ctx.main else lambda: None
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
    if saved is not None:
        meta.update(saved)
        if meta["step"] >= cfg.steps:
            if ctx.main:
                print(
                    f"{out / CHECKPOINT} is already at step {meta['step']} >= steps={cfg.steps}; nothing to do"
                )
            return meta
        if ctx.main:
            print(f"resuming from step {meta['step']} of {out / CHECKPOINT}")

    if ctx.main:
        print(f"{model.summary()} on {meta['device']}; data {data.describe()}")
    if ctx.enabled:
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
    wall_before = meta["wall_s"]
    t0 = time.perf_counter()
    model_params = [p for p in model.parameters()]
    ema_params = [p for p in ema.parameters()] if ema is not None else []
    bar = tqdm(
        range(start_step, cfg.steps),
        initial=start_step,
        total=cfg.steps,
        disable=not progress or not ctx.main,
    )
    # The loss stays on the device between log points: no host-device synchronisation per step.
    # The first non-finite loss (its step and value) is tracked there too and checked before any
    # checkpoint is written, so a run that diverges never overwrites the last good checkpoint.
    running_sum = torch.zeros((), device=device)
    running_n = 0
    first_bad = torch.full((), -1, dtype=torch.int64, device=device)
    bad_value = torch.zeros((), device=device)
    for step in bar:
        gen = step_generator(cfg.seed, step)
        x0, y = data.labeled_batch(cfg.batch_size, gen)
        x0 = x0[rows].to(device, non_blocking=True)
        y = y[rows].to(device) if cfg.conditional else None
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step)
        loss = diffusion_loss(
            net,
            x0,
            schedule,
            cfg.prediction,
            gen,
            shard=(ctx.rank, ctx.world),
            labels=y,
            label_dropout=cfg.label_dropout,
        )
        value = loss.detach()
        new_bad = ~torch.isfinite(value) & (first_bad < 0)
        first_bad = torch.where(new_bad, step, first_bad)
        bad_value = torch.where(new_bad, value, bad_value)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        if ema is not None:
            decay = min(cfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, model_params, 1 - decay)
        running_sum += value
        running_n += 1
        done = step + 1
        log_now = done % cfg.log_every == 0 or done == cfg.steps
        save_now = done % cfg.checkpoint_every == 0 or done == cfg.steps
        if log_now or save_now:
            # the one synchronisation, every log_every steps: the first bad step on any rank
            bad = torch.where(first_bad >= 0, first_bad, torch.iinfo(torch.int64).max)
            bad_step = int(distributed.all_min(ctx, bad.clone()))
            if bad_step != torch.iinfo(torch.int64).max:
                raise NonFiniteLossError(
                    f"loss became {float(bad_value) if first_bad >= 0 else 'non-finite'} at step "
                    f"{bad_step}{' (on some rank)' if ctx.enabled else ''}; stopped without saving. "
                    f"The last good checkpoint ({out / CHECKPOINT}, step {meta['step']}) is "
                    "unchanged. Try a smaller --lr."
                )
        if log_now:
            avg = float(distributed.all_sum(ctx, running_sum.clone())) / (running_n * ctx.world)
            meta["history"].append([done, round(avg, 6)])
            meta["loss"] = avg
            running_sum.zero_()
            running_n = 0
            bar.set_postfix(loss=f"{avg:.4f}")
        if save_now:
            meta["step"] = done
            meta["wall_s"] = round(wall_before + time.perf_counter() - t0, 1)
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
            if ctx.main:
                save_checkpoint(out, model, ema, optimizer, meta)
    bar.close()
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()  # every rank returns after rank 0 wrote the final checkpoint
    if ctx.main:
        print(
            f"step {meta['step']}: loss {meta['loss']:.4f}, {meta['wall_s']:.0f} s in all; saved {out / CHECKPOINT}"
        )
    return meta


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


def load_run(out: str | Path, weights: str = "ema") -> nn.Module:
    """A trained model from a run folder, in eval mode, with ``.schedule`` and ``.prediction`` set."""
    path = Path(out) / CHECKPOINT
    if not path.exists():
        raise ValueError(f"no checkpoint at {str(path)!r}")
    if weights not in ("ema", "model"):
        raise ValueError(f"weights must be 'ema' or 'model', got {weights!r}")
    meta = read_checkpoint_meta(path)
    model = build_model(meta["model"])
    prefix = weights + "."
    tensors = load_file(str(path))
    model.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
    model.eval().requires_grad_(False)
    model.schedule = get_schedule(meta["schedule"]["name"], meta["schedule"]["T"])
    model.prediction = meta.get("prediction", "eps")
    model.step = meta.get("step", 0)
    return model


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        import platform

        return (
            f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
        )
    return str(device)
