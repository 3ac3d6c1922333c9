"""Files on disk: the checkpoint format, the one atomic writer, and the description of a device.

A run folder holds ``checkpoint.safetensors`` (tensors named ``model.*``, ``ema.*`` and
``optim.<i>.<name>``; the metadata, one JSON value per key, in the safetensors header) and
``checkpoint.json``, the same metadata for people. The metadata carries the model config
(``models.config_dict``), the schedule (``Schedule.to_dict``: every parameter, so a model always
comes back with the schedule it was trained with), the prediction target, the training config,
the step, the wall time, the loss history, the device and the exact command.

Checksums: ``checkpoint.json`` records the ``sha256`` of ``checkpoint.safetensors``, and the
safetensors header itself carries ``content_sha256``, a digest of everything else in the file
(header and tensor bytes), so the file checks itself even when a save was interrupted between the
two renames. :func:`read_run` (used by :func:`load_checkpoint` and :func:`load_run`) checks both;
a damaged file is refused by name. Checkpoints written before checksums load unchecked.

One writer per run folder: :func:`lock_run` creates ``<out>/train.lock`` (pid, host, start time)
with ``O_CREAT | O_EXCL`` and removes it when the run ends. A lock whose process no longer runs on
this host (a run that was killed) is reported as stale and taken over; a live one, or one held on
another host, refuses the second trainer.

Every file the package writes goes through :func:`write_atomic`: the bytes go to a temporary file
in the same folder, are flushed to the disk, and the temporary file is renamed over the target.
An interrupted or failed write leaves the previous file as it was, never half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import safe_open
from safetensors.torch import save as safetensors_bytes
from torch import nn

from .models import build_model, config_dict
from .schedule import schedule_from_dict

CHECKPOINT = "checkpoint.safetensors"  # the tensors and their metadata
CHECKPOINT_JSON = "checkpoint.json"  # the same metadata, for people
FORMAT = "ddim-edu-checkpoint/1"  # recorded in every checkpoint's metadata
CONTENT_SHA256 = "content_sha256"  # header entry: digest of the rest of the file (_content_digest)
LOCK = "train.lock"  # held by the one process that trains into a run folder


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


def _content_digest(raw: bytes) -> tuple[str, str | None, dict]:
    """Read a safetensors file's bytes: (digest, recorded, header).

    ``digest``: sha256 of the header without its ``content_sha256`` entry (keys sorted) followed by
    the tensor bytes; ``recorded``: that entry's value (None when there is none); ``header``: the
    parsed header. Raises ValueError when the bytes are not a safetensors file.
    """
    if len(raw) < 8:
        raise ValueError(f"it has {len(raw)} bytes, fewer than a header needs")
    n = int.from_bytes(raw[:8], "little")
    if 8 + n > len(raw):
        raise ValueError(f"its header length ({n} bytes) runs past the end of the file")
    try:
        header = json.loads(raw[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"its header is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    canonical = dict(header)
    recorded = None
    if isinstance(header.get("__metadata__"), dict):
        meta = dict(header["__metadata__"])
        recorded = meta.pop(CONTENT_SHA256, None)
        canonical["__metadata__"] = meta
    h = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode())
    h.update(memoryview(raw)[8 + n :])
    if recorded is not None:
        with contextlib.suppress(json.JSONDecodeError):
            recorded = json.loads(recorded)
    return h.hexdigest(), recorded, header


def write_checkpoint(out: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write ``<out>/checkpoint.safetensors`` (``tensors``; ``meta`` and its ``content_sha256`` in
    its header) and ``<out>/checkpoint.json`` (``meta`` and the ``sha256`` of the safetensors file),
    each atomically; ``meta`` gets the ``format`` entry."""
    out = Path(out)
    meta = {k: v for k, v in meta.items() if k not in (CONTENT_SHA256, "sha256")}
    meta["format"] = FORMAT
    header = {k: json.dumps(v) for k, v in meta.items()}
    digest, _, _ = _content_digest(safetensors_bytes(tensors, metadata=header))
    data = safetensors_bytes(tensors, metadata={**header, CONTENT_SHA256: json.dumps(digest)})
    write_atomic(out / CHECKPOINT, data)
    write_json(out / CHECKPOINT_JSON, {**meta, "sha256": hashlib.sha256(data).hexdigest()})


def save_checkpoint(
    out: str | Path,
    model,
    ema,
    optimizer,
    meta: dict,
    rng: dict[int, dict[str, torch.Tensor]] | None = None,
) -> None:
    """Write model, EMA and optimizer state plus ``meta`` atomically into ``out``.

    ``rng``: the random-number-generator states of each rank (``{rank: {"cpu": ..., "cuda": ...}}``,
    as ``torch.get_rng_state`` returns them), saved as ``rng.<rank>.<kind>`` so that a resumed run
    draws the same dropout masks as an uninterrupted one.
    """
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors |= {f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()}
    for i, state in optimizer.state_dict()["state"].items():
        for k, v in state.items():
            tensors[f"optim.{i}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    for rank, states in (rng or {}).items():
        for kind, v in states.items():
            tensors[f"rng.{rank}.{kind}"] = v.detach().cpu().contiguous()
    write_checkpoint(out, tensors, meta)


def read_checkpoint_meta(path: str | Path) -> dict:
    """The metadata of a checkpoint or exported weights file (no tensors are read, nothing is
    checked: :func:`read_run` checks a run folder)."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise ValueError(
            f"checkpoint {str(path)!r} is not a readable safetensors file: {err}"
        ) from None
    try:
        return {k: json.loads(v) for k, v in raw.items() if k != CONTENT_SHA256}
    except json.JSONDecodeError as err:
        raise ValueError(f"checkpoint {str(path)!r} has corrupt metadata: {err}") from None


def _read_run(out: str | Path) -> tuple[dict, bytes]:
    """(metadata, bytes) of a run folder's checkpoint, after checking the folder: both files are
    there, ``checkpoint.json`` is a JSON object, and the checkpoint matches its checksums."""
    out = Path(out)
    path, record = out / CHECKPOINT, out / CHECKPOINT_JSON
    if not path.is_file():
        also = f", although {str(record)!r} is there" if record.exists() else ""
        raise ValueError(f"no checkpoint at {str(path)!r}{also}")
    try:
        text = record.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(
            f"{str(record)!r} is missing: a run folder keeps the record of its checkpoint and the "
            f"checkpoint's sha256 there, next to {CHECKPOINT}; restore it from a copy of the run"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{str(record)!r} cannot be read: {err}") from None
    try:
        recorded = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(record)!r} is not valid JSON: {err}") from None
    if not isinstance(recorded, dict):
        raise ValueError(f"{str(record)!r} must hold a JSON object, got {type(recorded).__name__}")
    raw = path.read_bytes()
    try:
        digest, own, header = _content_digest(raw)
        meta = {
            k: json.loads(v)
            for k, v in (header.get("__metadata__") or {}).items()
            if k != CONTENT_SHA256
        }
    except ValueError as err:  # JSONDecodeError included
        raise ValueError(
            f"checkpoint {str(path)!r} is not a readable safetensors file: {err}"
        ) from None
    want = recorded.get("sha256")
    if want is not None and hashlib.sha256(raw).hexdigest() != want:
        if own is None or own != digest:
            raise ValueError(
                f"checkpoint {str(path)!r} does not match the sha256 recorded in {str(record)!r} "
                f"(recorded {str(want)[:12]}..., the file has {hashlib.sha256(raw).hexdigest()[:12]}"
                "...): it was damaged or changed after it was written; restore it from a copy"
            )
        # the file checks itself: the record is from the save before (a run that was stopped
        # between writing the two files); the next save rewrites it
        print(
            f"warning: {record} is older than {path} (step {recorded.get('step')} against "
            f"{meta.get('step')}: a save was interrupted); using {CHECKPOINT}, which matches its "
            "own checksum",
            file=sys.stderr,
        )
    elif own is not None and own != digest:
        raise ValueError(
            f"checkpoint {str(path)!r} does not match its own {CONTENT_SHA256}: it was damaged or "
            "changed after it was written; restore it from a copy"
        )
    return meta, raw


def read_run(out: str | Path) -> dict:
    """The metadata of the checkpoint in run folder ``out``, checked as :func:`load_run` checks it:
    a missing or invalid ``checkpoint.json`` or a checkpoint that fails its sha256 is a ValueError
    naming the file."""
    return _read_run(out)[0]


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


def load_checkpoint(
    out: str | Path,
    model,
    ema,
    optimizer,
    expected: dict | None = None,
    check: Callable[[dict], None] | None = None,
) -> dict:
    """Restore the three states from ``out``; the checkpoint's model config must match the model's,
    and each entry of ``expected`` (e.g. the run's schedule and prediction) the checkpoint's own:
    resuming with another schedule or objective would go on training the old weights on a new
    target. ``check(meta)`` runs first and may refuse the checkpoint (``train`` compares the run's
    options). The folder is checked as :func:`read_run` checks it.

    Returns the checkpoint's metadata and, under ``"rng_state"``, the random-number-generator
    states saved with it (``{rank: {kind: tensor}}``, empty for older checkpoints).
    """
    path = Path(out) / CHECKPOINT
    meta, raw = _read_run(out)
    if check is not None:
        check(meta)
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
    tensors = safetensors_load(raw)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state: dict[int, dict] = {}
    rng: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
        elif k.startswith("rng."):
            _, rank, kind = k.split(".", 2)
            rng.setdefault(int(rank), {})[kind] = v
    sd = optimizer.state_dict()
    sd["state"] = state
    optimizer.load_state_dict(sd)
    return {**meta, "rng_state": rng}


def load_run(out: str | Path, weights: str = "ema") -> nn.Module:
    """A trained model from a run folder, in eval mode, with ``.schedule`` (every parameter it was
    trained with), ``.prediction`` and ``.step`` set. The folder is checked as :func:`read_run`
    checks it."""
    if weights not in ("ema", "model"):
        raise ValueError(f"weights must be 'ema' or 'model', got {weights!r}")
    meta, raw = _read_run(out)
    model = build_model(meta["model"])
    prefix = weights + "."
    tensors = safetensors_load(raw)
    model.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
    model.eval().requires_grad_(False)
    model.schedule = schedule_from_dict(meta["schedule"])
    model.prediction = meta.get("prediction", "eps")
    model.step = meta.get("step", 0)
    return model


# --- one writer per run folder --------------------------------------------------------------------


class RunLock:
    """The lock of one run folder, held by this process until :meth:`release` (or the end of a
    ``with`` block)."""

    def __init__(self, path: Path, token: str, created: list[Path]) -> None:
        self.path: Path | None = path
        self.token = token
        self.created = created  # folders lock_run made, deepest first

    def release(self) -> None:
        """Remove the lock file (if it is still this one) and the folders ``lock_run`` created
        for it that stayed empty."""
        if self.path is not None:
            with contextlib.suppress(OSError, ValueError):
                if json.loads(self.path.read_text()).get("token") == self.token:
                    self.path.unlink()
            self.path = None
        for folder in self.created:
            try:
                folder.rmdir()
            except OSError:
                break
        self.created = []

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot; Linux only, else None): a pid that
    was reused by a later process starts later."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _running(holder: dict) -> bool | None:
    """Whether the process a lock names still runs; None when this machine cannot tell (the lock
    was taken on another host, or the system has no way to ask)."""
    if os.name != "posix" or holder.get("host") != socket.gethostname():
        return None
    pid = holder["pid"]
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, run by another user
        return True
    except OSError:
        return None
    start = holder.get("pid_start")
    if start is not None and _process_start(pid) not in (None, start):
        return False  # the pid now belongs to a process started later
    return True


def _clear_stale(path: Path, out: Path, option: str) -> None:
    """The lock ``path`` exists: raise naming its holder when that may still run; when it is stale
    (its process no longer runs on this host) report it and remove it."""
    try:
        holder = json.loads(path.read_text())
    except FileNotFoundError:
        return  # released meanwhile
    except (OSError, ValueError):
        holder = None
    if not isinstance(holder, dict) or not isinstance(holder.get("pid"), int) or holder["pid"] < 1:
        raise ValueError(
            f"run folder {str(out)!r} is locked: {str(path)!r} exists but does not name its holder "
            f"(another trainer may be starting); if no trainer uses {option} {str(out)!r}, delete "
            "the lock file and start again"
        )
    pid, host, since = holder["pid"], holder.get("host"), holder.get("started", "?")
    alive = _running(holder)
    if alive is None:
        raise ValueError(
            f"run folder {str(out)!r} is locked by pid {pid} on host {host!r} (since {since}), "
            f"which cannot be checked from here; if no trainer runs there any more, delete "
            f"{str(path)!r} and start again"
        )
    if alive:
        raise ValueError(
            f"run folder {str(out)!r} is in use by another trainer (pid {pid} on {host}, since "
            f"{since}), which holds {str(path)!r}; wait for it to finish, or give another {option}"
        )
    print(
        f"warning: {path} is a stale lock: pid {pid} on {host} (since {since}) no longer runs (a "
        "run that was killed); taking it over",
        file=sys.stderr,
    )
    # rename, then check: of two trainers that both found the stale lock, only one removes it
    grave = path.with_name(f".{LOCK}.{os.getpid()}.stale")
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        return
    try:
        moved = json.loads(grave.read_text())
    except (OSError, ValueError):
        moved = None
    if moved != holder:  # another trainer took the lock over first: give its lock back
        with contextlib.suppress(OSError):
            os.link(grave, path)
        grave.unlink(missing_ok=True)
        raise ValueError(
            f"run folder {str(out)!r} is in use by another trainer, which has just taken over "
            f"the stale lock {str(path)!r}; wait for it to finish, or give another {option}"
        )
    grave.unlink(missing_ok=True)


def lock_run(out: str | Path, option: str = "--out") -> RunLock:
    """Check that ``out`` can be a run folder and make this process its one writer.

    ``out`` must be a folder, or not exist yet (it is created, and removed again on release if it
    stays empty), and must be writable: otherwise a ValueError names ``option`` and the path, before
    any work. ``<out>/train.lock`` is created atomically (``O_CREAT | O_EXCL``) and holds this
    process's pid, host and start time. When it exists already, the trainer that holds it is
    named and this one is refused; a lock left by a process that no longer runs on this host is
    reported as stale and taken over. Returns the lock; release it when the run ends.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(
            f"{option} {str(out)!r} is a file, not a folder: give the folder to write the "
            "checkpoints into"
        )
    created = []
    folder = out
    while not folder.exists() and folder != folder.parent:
        created.append(folder)
        folder = folder.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"{option} {str(out)!r} cannot be created: {err.strerror or err}"
        ) from None
    path = out / LOCK
    token = os.urandom(8).hex()
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "pid_start": _process_start(os.getpid()),
        "token": token,
    }
    lock = RunLock(path, token, created)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                _clear_stale(path, out, option)
            except BaseException:
                lock.path = None  # not ours: release only removes the folders made above
                lock.release()
                raise
            continue
        except OSError as err:
            lock.path = None
            lock.release()
            raise ValueError(
                f"{option} {str(out)!r} cannot be written: {err.strerror or err}"
            ) from None
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(holder, f)
        except OSError as err:
            path.unlink(missing_ok=True)
            lock.path = None
            lock.release()
            raise ValueError(
                f"{option} {str(out)!r} cannot be written: {err.strerror or err}"
            ) from None
        return lock
    raise ValueError(
        f"run folder {str(out)!r} is in use by another trainer, which took its lock "
        f"{str(path)!r} just now; wait for it to finish, or give another {option}"
    )
