"""Files on disk: the checkpoint format, the one atomic writer, and the description of a device.

A run folder holds ``checkpoint.safetensors`` (tensors named ``model.*``, ``ema.*`` and
``optim.<i>.<name>``; the metadata, one JSON value per key, in the safetensors header) and
``checkpoint.json``, the same metadata for people. The metadata carries the model config
(``models.config_dict``), the schedule (``Schedule.to_dict``: every parameter, so a model always
comes back with the schedule it was trained with), the prediction target, the training config,
the step, the wall time, the loss history, the device and the exact command.

Every file the package writes goes through :func:`write_atomic`: the bytes go to a temporary file
in the same folder, are flushed to the disk, and the temporary file is renamed over the target.
An interrupted or failed write leaves the previous file as it was, never half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open
from safetensors.torch import save as safetensors_bytes
from torch import nn

from .models import build_model, config_dict
from .schedule import schedule_from_dict

CHECKPOINT = "checkpoint.safetensors"  # the tensors and their metadata
CHECKPOINT_JSON = "checkpoint.json"  # the same metadata, for people
FORMAT = "ddim-edu-checkpoint/1"  # recorded in every checkpoint's metadata


# --- writing files ------------------------------------------------------------------------------


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` so that ``path`` is never half-written.

    The data goes to a temporary file next to ``path``, is fsynced, and replaces ``path`` with
    ``os.replace`` (atomic on POSIX and Windows). When anything fails the temporary file is
    removed and ``path`` keeps its old content. Missing parent folders are created.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if os.name == "posix":  # make the rename itself durable
        with contextlib.suppress(OSError):
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    return path


def write_json(path: str | Path, obj, sort_keys: bool = False) -> Path:
    """``obj`` as indented JSON (one space, a final newline), written atomically."""
    return write_atomic(path, json.dumps(obj, indent=1, sort_keys=sort_keys) + "\n")


def write_safetensors(
    path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> Path:
    """A safetensors file of ``tensors`` (with string ``metadata`` in its header), atomically."""
    return write_atomic(path, safetensors_bytes(tensors, metadata=metadata))


# --- describing the device ------------------------------------------------------------------------


def describe_device(device: torch.device | str | None = None) -> str:
    """The device a result was computed on, as recorded in checkpoints, manifests and results.

    ``"NVIDIA H100 80GB HBM3"`` for a CUDA device, ``"CPU (x86_64, 2 cores, 1 threads)"`` for the
    CPU (cores of the machine, threads torch uses), ``"Apple MPS (arm64)"`` for Apple's GPU.
    ``None``: the first CUDA device when there is one, else the CPU.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return (
            f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
        )
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()})"
    return str(device)


# --- checkpoints ----------------------------------------------------------------------------------


def write_checkpoint(out: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write ``<out>/checkpoint.safetensors`` (``tensors``, ``meta`` in its header) and
    ``<out>/checkpoint.json``, each atomically; ``meta`` gets the ``format`` entry."""
    out = Path(out)
    meta = {**meta, "format": FORMAT}
    header = {k: json.dumps(v) for k, v in meta.items()}
    write_safetensors(out / CHECKPOINT, tensors, header)
    write_json(out / CHECKPOINT_JSON, meta)


def save_checkpoint(out: str | Path, model, ema, optimizer, meta: dict) -> None:
    """Write model, EMA and optimizer state plus ``meta`` atomically into ``out``."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors |= {f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()}
    for i, state in optimizer.state_dict()["state"].items():
        for k, v in state.items():
            tensors[f"optim.{i}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    write_checkpoint(out, tensors, meta)


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


def _comparable(key: str, value):
    """A metadata entry in the form two runs compare: a schedule with all its parameters (old
    checkpoints saved only name and T, which means the defaults)."""
    if key == "schedule" and isinstance(value, dict):
        return schedule_from_dict(value).to_dict()
    return value


def _shown(value):
    """A metadata entry as an error message shows it: a custom schedule's betas summarised."""
    if isinstance(value, dict) and isinstance(value.get("betas"), list):
        return {**value, "betas": f"<{len(value['betas'])} values>"}
    return value


def load_checkpoint(out: str | Path, model, ema, optimizer, expected: dict | None = None) -> dict:
    """Restore the three states from ``out``; the checkpoint's model config must match the model's,
    and each entry of ``expected`` (e.g. the run's schedule and prediction) the checkpoint's own:
    resuming with another schedule or objective would go on training the old weights on a new
    target. Returns the checkpoint's metadata."""
    path = Path(out) / CHECKPOINT
    meta = read_checkpoint_meta(path)
    if meta.get("model") != config_dict(model):
        raise ValueError(
            f"model config does not match checkpoint {str(path)!r}: checkpoint has {meta.get('model')}, "
            f"this run builds {config_dict(model)}; use another --out or the same model options"
        )
    for key, want in (expected or {}).items():
        if key not in meta:
            continue
        have, want = _comparable(key, meta[key]), _comparable(key, want)
        if have != want:
            raise ValueError(
                f"{key} does not match checkpoint {str(path)!r}: checkpoint has {_shown(have)!r}, "
                f"this run asks for {_shown(want)!r}; use another --out or the checkpoint's {key}"
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


def load_run(out: str | Path, weights: str = "ema") -> nn.Module:
    """A trained model from a run folder, in eval mode, with ``.schedule`` (every parameter it was
    trained with), ``.prediction`` and ``.step`` set."""
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
    model.schedule = schedule_from_dict(meta["schedule"])
    model.prediction = meta.get("prediction", "eps")
    model.step = meta.get("step", 0)
    return model
