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
import re
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from ._checks import check_device
from .checkpoints import CHECKPOINT, read_checkpoint_meta, read_run, write_atomic, write_json
from .models import build_model
from .schedule import schedule_from_dict

WEIGHTS = Path(__file__).parent / "weights"
MANIFEST = "manifest.json"


# a model's name: letters, digits, '_', '-' and '.', starting with a letter or a digit; its file is
# <name>.safetensors directly inside the weights folder
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def check_name(name: object, what: str = "name") -> str:
    """``name`` if it is a plain model name (see ``NAME``; no folders, no '..'), else ValueError."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{what} must be a plain name (letters, digits, '_', '-' and '.', at most 100, "
            f"starting with a letter or a digit; no folders, no '..'), got {name!r}"
        )
    return name


def _manifest(folder: Path = WEIGHTS, required: bool = False) -> dict:
    """``folder``'s manifest as {name: entry}; {} when it has none, unless ``required``.

    Raises ValueError naming the manifest when it is missing (and required), is not valid JSON,
    or is not an object of entries."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        if required:
            raise ValueError(
                f"manifest {str(path)!r} is missing: {str(folder)!r} is not a weights folder "
                "(pretrained.export writes one)"
            )
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"manifest {str(path)!r} is not valid JSON: {err}") from None
    if not isinstance(manifest, dict) or not all(isinstance(e, dict) for e in manifest.values()):
        raise ValueError(
            f"manifest {str(path)!r} must be a JSON object that maps each name to its entry"
        )
    return manifest


def available(folder: Path = WEIGHTS) -> list[str]:
    """Names of the shipped models (none when ``folder`` has no manifest)."""
    return sorted(_manifest(folder))


def info(name: str, folder: Path = WEIGHTS) -> dict:
    """The manifest entry of ``name``: file, sha256, model config, command, device, wall time, loss.

    Raises ValueError naming the manifest when it is missing or unreadable, does not list
    ``name``, or lists it with a file outside ``folder`` or without its sha256 or model config."""
    manifest = _manifest(folder, required=True)
    path = Path(folder) / MANIFEST
    if not manifest:
        raise ValueError(f"manifest {str(path)!r} lists no models, so not {name!r}")
    if name not in manifest:
        raise ValueError(
            f"name must be one of {', '.join(map(repr, sorted(manifest)))}, got {name!r} "
            f"(the models of manifest {str(path)!r})"
        )
    entry = manifest[name]
    for key in ("file", "sha256", "model"):
        if key not in entry:
            raise ValueError(f"manifest {str(path)!r}: entry {name!r} has no {key!r}")
    file = entry["file"]
    if (
        not isinstance(file, str)
        or Path(file).name != file
        or file[:1] in ("", ".")
        or "\\" in file
    ):
        raise ValueError(
            f"manifest {str(path)!r}: entry {name!r} has file {file!r}; it must be the name of a "
            "file inside the weights folder"
        )
    return entry


def in_source_checkout() -> bool:
    """Whether ``WEIGHTS`` belongs to a source checkout (``pyproject.toml`` beside ``ddim_edu/``),
    where an export updates the files the repository ships; an installed copy's weights folder
    is replaced by the next upgrade and may not be writable."""
    return (WEIGHTS.parent.parent / "pyproject.toml").is_file()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load(name: str, device: str | torch.device = "cpu", folder: Path = WEIGHTS) -> nn.Module:
    """A shipped model in eval mode, usable directly as ``eps_model(x, t)``.

    Denoisers get ``.schedule`` (the schedule they were trained with) and ``.prediction``; every
    model gets ``.info`` (its manifest entry). Raises ValueError when the file is missing, does not
    match the manifest's sha256, or does not fit the recorded config, and when ``device`` is not
    one this torch can use.
    """
    device = check_device(device)
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
    overwrite: bool = False,
) -> dict:
    """Copy a run's EMA (or raw) weights into ``folder`` as ``<name>.safetensors`` and record them.

    The manifest entry keeps the run's config, its schedule with every parameter, command, device,
    wall time and final loss, and the sha256 of the written file. Both files are written to
    temporary names and renamed.

    Before anything is written: ``name`` must be a plain name (``check_name``), its file must lie
    inside ``folder`` (a symlink leading out is refused), the manifest must be readable, and a
    name the manifest lists or a file already there is replaced only with ``overwrite=True``.
    """
    from safetensors.torch import load_file

    check_name(name)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"weights folder {str(folder)!r} is a file, not a folder")
    file = f"{name}.safetensors"
    target = folder / file
    if target.resolve().parent != folder.resolve():
        raise ValueError(
            f"{str(target)!r} leads outside the weights folder {str(folder)!r} (a symlink?)"
        )
    manifest = _manifest(folder)
    if not overwrite and (name in manifest or target.exists() or target.is_symlink()):
        where = f"manifest {str(folder / MANIFEST)!r}" if name in manifest else str(folder)
        raise ValueError(
            f"{name!r} already exists in {where} ({str(target)!r}); pass overwrite=True "
            "(--overwrite) to replace it, or choose another name"
        )
    path = Path(run) / CHECKPOINT
    if not path.exists():
        raise ValueError(f"run folder {str(run)!r} has no {CHECKPOINT}")
    read_run(run)  # its checksums: a damaged checkpoint is refused, not shipped with a new sha256
    meta = read_checkpoint_meta(path)
    tensors = load_file(str(path))
    prefix = weights + "." if any(k.startswith(weights + ".") for k in tensors) else "model."
    state = {
        k[len(prefix) :]: v.float().contiguous() for k, v in tensors.items() if k.startswith(prefix)
    }
    entry = {
        "file": file,
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
        entry["file"] = file  # the one path the manifest records, whatever the notes say
    data = save_safetensors(state, metadata={"name": name, "model": json.dumps(meta["model"])})
    entry["sha256"] = sha256(data)
    entry["size_bytes"] = len(data)
    existed = target.exists()
    write_atomic(target, data)
    manifest[name] = entry
    try:
        write_json(folder / MANIFEST, manifest, sort_keys=True)
    except BaseException:
        if not existed:  # no weights file that the manifest does not list
            target.unlink(missing_ok=True)
        raise
    return entry
