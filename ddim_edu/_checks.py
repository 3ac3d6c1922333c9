"""Argument checks shared by the samplers and the rest of the package: each raises ValueError
naming the argument and what is accepted. Kept apart so that the modules open with the
mathematics."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import torch


def _as_int(value: object) -> int | None:
    """``value`` as an int if it is an integer scalar (Python, NumPy or torch), else None.

    Bools are not integers here, and neither are floats such as 10.0.
    """
    if isinstance(value, bool) or (isinstance(value, torch.Tensor) and value.dtype == torch.bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def _check_int(
    name: str, value: object, low: int | None, high: int | None = None, hint: str = ""
) -> int:
    """Return ``value`` as an int, or raise ValueError naming ``name`` and the accepted range.

    ``low`` and ``high`` are inclusive (``low=None`` with no ``high``: any integer); ``hint`` is
    appended to the accepted text, e.g. ``" or None"`` or ``" (steps)"``.
    """
    if high is not None:
        accepted = f"an integer in [{low}, {high}]{hint}"
    else:
        accepted = ("an integer" if low is None else f"an integer >= {low}") + hint
    n = _as_int(value)
    if n is None:
        raise ValueError(f"{name} must be {accepted}, got {value!r}")
    if (low is not None and n < low) or (high is not None and n > high):
        raise ValueError(f"{name} must be {accepted}, got {n}")
    return n


def _check_x(name: str, x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(
            f"{name} must have a batch dimension with at least one row, got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values; it must be finite")
    return x


def _check_eta(eta: object) -> float:
    if hasattr(eta, "item") and getattr(eta, "ndim", None) == 0:
        eta = eta.item()  # a 0-d tensor or a NumPy scalar is a number too
    if (
        isinstance(eta, bool)
        or not isinstance(eta, (int, float))
        or not math.isfinite(eta)
        or eta < 0
    ):
        raise ValueError(f"eta must be a finite number >= 0 (0 = DDIM, 1 = DDPM), got {eta!r}")
    return float(eta)


def _check_choice(name: str, value: object, accepted: Sequence[str]) -> str:
    if value not in accepted:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, accepted))}, got {value!r}")
    return value  # type: ignore[return-value]


def _check_clip(clip: object) -> float | None:
    if clip is None:
        return None
    if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0:
        raise ValueError(
            f"clip must be None or a number > 0 (x_0 is clamped to [-clip, clip]), got {clip!r}"
        )
    return float(clip)


def _check_noise(noise: object, n_steps: int, like: torch.Tensor) -> list[torch.Tensor] | None:
    if noise is None:
        return None
    noise = list(noise)  # type: ignore[call-overload]
    if len(noise) != n_steps:
        raise ValueError(f"noise must hold one tensor per step ({n_steps}), got {len(noise)}")
    for z in noise:
        if not isinstance(z, torch.Tensor) or z.shape != like.shape:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(
                f"each noise tensor must have the shape of x_T {tuple(like.shape)}, got {got}"
            )
    return [z.to(device=like.device, dtype=like.dtype) for z in noise]


def _available_devices() -> list[str]:
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def check_device(device: object, name: str = "device") -> torch.device:
    """``device`` as a ``torch.device`` this torch can use, or ValueError naming what is available.

    Accepts a ``torch.device`` or a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    """
    available = _available_devices()
    try:
        dev = torch.device(device)  # type: ignore[arg-type]
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{name} must be a device such as {', '.join(map(repr, available))}, got {device!r}"
        ) from None
    usable = dev.type == "cpu" or (
        dev.type == "cuda"
        and torch.cuda.is_available()
        and (dev.index is None or dev.index < torch.cuda.device_count())
    )
    if dev.type == "mps":
        usable = "mps" in available
    if not usable:
        raise ValueError(
            f"{name} {str(dev)!r} is not available to this torch {torch.__version__}; "
            f"available: {', '.join(available)}"
        )
    return dev
