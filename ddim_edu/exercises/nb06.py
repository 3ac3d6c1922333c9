"""Exercises of notebook 06, inversion and interpolation: slerp and one step of the encoder."""

from __future__ import annotations

import math

import torch

from ..latent import lerp, slerp
from ..sampling import ddim_step, eps_and_x0
from ._core import _as_tensor, _call, _compare, _random_levels, _rng, _tensor, exercise


@exercise(
    "06.1",
    "spherical interpolation",
    '''
    def my_slerp(z0, z1, alpha):
        """The point a fraction alpha of the way from z0 to z1 along the great circle (1-D tensors)."""
        ...
    ''',
)
def _check_slerp(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    z0 = torch.randn(64, generator=gen, dtype=torch.float64)
    z1 = torch.randn(64, generator=gen, dtype=torch.float64)
    alphas = [0.0, 0.25, 0.5, 0.9]
    got, expected, lin, swapped = [], [], [], []
    for a in alphas:
        out = _call(fn, z0, z1, a)
        v = _as_tensor(out)
        if v is None or v.shape != z0.shape:
            return False, f"Expected a tensor of shape {tuple(z0.shape)}, got {out!r:.60}."
        got.append(v)
        expected.append(slerp(z0, z1, a))
        lin.append(lerp(z0, z1, a))
        swapped.append(slerp(z0, z1, 1 - a))
    theta = torch.arccos((z0 @ z1) / (z0.norm() * z1.norm()))
    no_division = torch.stack(
        [torch.sin((1 - a) * theta) * z0 + torch.sin(a * theta) * z1 for a in alphas]
    )
    mistakes = {
        "That is linear interpolation: its midpoint has a smaller norm than either end.": torch.stack(
            lin
        ),
        "α runs the wrong way: α = 0 must give z0 and α = 1 give z1.": torch.stack(swapped),
        "The weights are not divided by sin θ: the path leaves the circle between the ends.": no_division,
    }
    return _compare(
        torch.stack(got), torch.stack(expected), "slerp", mistakes,
        f"θ = arccos(z0·z1 / (|z0| |z1|)) (here {float(theta):.3f} rad), weights sin((1 − α)θ)/sin θ and sin(αθ)/sin θ.",
    )  # fmt: skip


@exercise(
    "06.2",
    "one step of the encoder",
    '''
    def invert_step(x, eps, alpha_bar_from, alpha_bar_to):
        """x moved from level alpha_bar_from up to the noisier alpha_bar_to along the DDIM ODE."""
        ...
    ''',
)
def _check_invert_step(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    a_to, a_from = (float(v) for v in _random_levels(gen, n=1))  # a_to < a_from: noisier
    x = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    got = _tensor(fn, x, eps, a_from, a_to)
    # the encoder's step is the η = 0 update run upwards, as in sampling.ddim_invert
    _, x0 = eps_and_x0(eps, x, a_from)
    _, x0_wrong_level = eps_and_x0(eps, x, a_to)
    x0_no_roots = (x - (1 - a_from) * eps) / a_from
    mistakes = {
        "The levels are swapped: x_0 comes from the level you start at (ᾱ_from), the step lands on ᾱ_to.": ddim_step(
            eps, x0_wrong_level, a_from, 0.0
        ),
        "The predicted x_0 lacks its square roots.": ddim_step(eps, x0_no_roots, a_to, 0.0),
        "The noise direction is missing: add √(1 − ᾱ_to) ε.": math.sqrt(a_to) * x0,
    }
    return _compare(
        got,
        ddim_step(eps, x0, a_to, 0.0),
        "x at the noisier level",
        mistakes,
        "run the η = 0 step upwards: predict x_0 at ᾱ_from, then √ᾱ_to x_0 + √(1 − ᾱ_to) ε.",
    )
