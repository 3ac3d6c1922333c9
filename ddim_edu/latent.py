"""Moving around DDIM's latent space x_T: spherical and linear interpolation, and 2-D grids.

With eta = 0, x_T determines the sample, so interpolating between two codes gives a path of
samples (section 5.3 of the paper). A Gaussian x_T in d dimensions has norm close to sqrt(d);
the straight line between two codes passes through points of norm about sqrt(d / 2), which the
model never saw as x_T. Spherical interpolation keeps the norm typical.
"""

from __future__ import annotations

import torch

from ._checks import _check_int


def _flat_pair(x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if x0.shape != x1.shape:
        raise ValueError(
            f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}"
        )
    return x0.reshape(x0.shape[0], -1) if x0.ndim > 1 else x0[None], x1.reshape(
        x1.shape[0], -1
    ) if x1.ndim > 1 else x1[None]


def slerp(x0: torch.Tensor, x1: torch.Tensor, alpha: float | torch.Tensor) -> torch.Tensor:
    """sin((1 - a) theta) / sin(theta) x0 + sin(a theta) / sin(theta) x1, theta = angle(x0, x1).

    x0, x1: (B, ...) codes (the angle is taken per row over all other dimensions) or single codes.
    alpha: a float in [0, 1]. Falls back to linear interpolation when the codes are parallel.
    """
    a = torch.as_tensor(alpha, dtype=torch.float64)
    f0, f1 = _flat_pair(x0, x1)
    f0d, f1d = f0.double(), f1.double()
    cos = (f0d * f1d).sum(1) / (f0d.norm(dim=1) * f1d.norm(dim=1))
    theta = torch.arccos(cos.clamp(-1, 1))[:, None]
    small = theta.abs() < 1e-6
    s = torch.sin(theta).where(~small, torch.ones_like(theta))
    w0 = torch.where(small, 1 - a, torch.sin((1 - a) * theta) / s)
    w1 = torch.where(small, a, torch.sin(a * theta) / s)
    out = (w0 * f0d + w1 * f1d).to(x0.dtype)
    return out.reshape(x0.shape)


def lerp(x0: torch.Tensor, x1: torch.Tensor, alpha: float) -> torch.Tensor:
    """(1 - a) x0 + a x1."""
    if x0.shape != x1.shape:
        raise ValueError(
            f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}"
        )
    return (1 - alpha) * x0 + alpha * x1


def interpolate(x0: torch.Tensor, x1: torch.Tensor, n: int, method: str = "slerp") -> torch.Tensor:
    """n codes from x0 to x1 (both ends included): (n, *x0.shape) for single codes x0, x1."""
    if method not in ("slerp", "lerp"):
        raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
    n = _check_int("n", n, 2)
    fn = slerp if method == "slerp" else lerp
    return torch.stack([fn(x0[None], x1[None], k / (n - 1))[0] for k in range(n)])


def latent_grid(corners: torch.Tensor, n: int) -> torch.Tensor:
    """An n x n grid of codes from four corners (4, ...) = [top-left, top-right, bottom-left,
    bottom-right], slerped along rows and then down the columns. Returns (n * n, ...), row-major."""
    if corners.shape[0] != 4:
        raise ValueError(f"corners must hold 4 codes, got {corners.shape[0]}")
    top = interpolate(corners[0], corners[1], n)
    bottom = interpolate(corners[2], corners[3], n)
    rows = [slerp(top, bottom, k / (n - 1)) for k in range(n)]
    return torch.cat(rows)
