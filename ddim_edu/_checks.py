"""Argument checks shared by the samplers: each raises ValueError naming the argument and what
is accepted. Kept apart so that the sampling modules open with the mathematics."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


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
