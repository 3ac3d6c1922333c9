"""Shipped weights: loaded offline, checked against a manifest, never unpickled.

``ddim_edu/weights/manifest.json`` lists every file with its sha256, the model config, the exact
command that trained it, the device, the wall time and the final loss. ``load(name)`` refuses a
file whose checksum differs from the manifest. Weights are safetensors (plain tensors and a JSON
header), so loading runs no code from the file.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from .checkpoints import CHECKPOINT, read_checkpoint_meta, write_atomic, write_json
from .models import build_model
from .schedule import schedule_from_dict

WEIGHTS = Path(__file__).parent / "weights"
MANIFEST = "manifest.json"


def _manifest(folder: Path = WEIGHTS) -> dict:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def available(folder: Path = WEIGHTS) -> list[str]:
    """Names of the shipped models."""
    return sorted(_manifest(folder))


def info(name: str, folder: Path = WEIGHTS) -> dict:
    """The manifest entry of ``name``: file, sha256, model config, command, device, wall time, loss."""
    manifest = _manifest(folder)
    if name not in manifest:
        raise ValueError(
            f"name must be one of {', '.join(map(repr, sorted(manifest)))}, got {name!r}"
        )
    return manifest[name]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load(name: str, device: str | torch.device = "cpu", folder: Path = WEIGHTS) -> nn.Module:
    """A shipped model in eval mode, usable directly as ``eps_model(x, t)``.

    Denoisers get ``.schedule`` (the schedule they were trained with) and ``.prediction``; every
    model gets ``.info`` (its manifest entry). Raises ValueError when the file is missing, does not
    match the manifest's sha256, or does not fit the recorded config.
    """
    entry = info(name, folder)
    path = Path(folder) / entry["file"]
    if not path.exists():
        raise ValueError(f"pretrained weights {str(path)!r} for {name!r} are missing")
    data = path.read_bytes()
    digest = sha256(data)
    if digest != entry["sha256"]:
        raise ValueError(
            f"pretrained weights {str(path)!r} do not match the manifest: sha256 {digest[:12]}... "
            f"but expected {entry['sha256'][:12]}...; the file is damaged or was changed. Restore it "
            f"(git checkout -- {path.name}) or retrain it with: {entry['command']}"
        )
    try:
        tensors = load_safetensors(data)
    except Exception as err:
        raise ValueError(
            f"pretrained weights {str(path)!r} are not a valid safetensors file: {err}"
        ) from None
    model = build_model(entry["model"])
    try:
        model.load_state_dict(tensors)
    except RuntimeError as err:
        raise ValueError(
            f"pretrained weights {str(path)!r} do not fit the config {entry['model']}: {err}"
        ) from None
    model.eval().requires_grad_(False).to(device)
    if "schedule" in entry:
        model.schedule = schedule_from_dict(entry["schedule"])
        model.prediction = entry.get("prediction", "eps")
    model.info = entry
    return model


def export(
    run: str | Path,
    name: str,
    folder: Path = WEIGHTS,
    weights: str = "ema",
    notes: dict | None = None,
) -> dict:
    """Copy a run's EMA (or raw) weights into ``folder`` as ``<name>.safetensors`` and record them.

    The manifest entry keeps the run's config, its schedule with every parameter, command, device,
    wall time and final loss, and the sha256 of the written file. Both files are written to
    temporary names and renamed.
    """
    from safetensors.torch import load_file

    path = Path(run) / CHECKPOINT
    if not path.exists():
        raise ValueError(f"run folder {str(run)!r} has no {CHECKPOINT}")
    meta = read_checkpoint_meta(path)
    tensors = load_file(str(path))
    prefix = weights + "." if any(k.startswith(weights + ".") for k in tensors) else "model."
    state = {
        k[len(prefix) :]: v.float().contiguous() for k, v in tensors.items() if k.startswith(prefix)
    }
    entry = {
        "file": f"{name}.safetensors",
        "model": meta["model"],
        "weights": prefix[:-1],
        "command": meta.get("command"),
        "device": meta.get("device"),
        "wall_s": meta.get("wall_s"),
        "steps": meta.get("step"),
        "final_loss": None if meta.get("loss") is None else round(float(meta["loss"]), 5),
        "exported": _dt.date.today().isoformat(),
    }
    for key in ("schedule", "prediction", "data", "held_out_accuracy", "held_out_size", "chain"):
        if key in meta:
            entry[key] = meta[key]
    if "schedule" in entry:  # in full, also from a checkpoint that saved only its name and T
        entry["schedule"] = schedule_from_dict(entry["schedule"]).to_dict()
    if notes:
        entry.update(notes)
    data = save_safetensors(state, metadata={"name": name, "model": json.dumps(meta["model"])})
    entry["sha256"] = sha256(data)
    entry["size_bytes"] = len(data)
    folder = Path(folder)
    write_atomic(folder / entry["file"], data)
    manifest = _manifest(folder)
    manifest[name] = entry
    write_json(folder / MANIFEST, manifest, sort_keys=True)
    return entry
