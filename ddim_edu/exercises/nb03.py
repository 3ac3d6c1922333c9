"""Exercises of notebook 03, training a denoiser: the simple loss and the v target."""

from __future__ import annotations

import math

import torch

from ..forward import v_target
from ..schedule import linear_schedule
from ._core import _compare, _rng, _tensor, exercise


def _linear_net(gen: torch.Generator, d: int = 2):
    """A fixed random 'network' eps(x, t) for checking losses: linear in x, smooth in t."""
    w = torch.randn(d, d, generator=gen, dtype=torch.float64) * 0.3
    return lambda x, t: x @ w + 0.001 * t.to(torch.float64)[:, None]


@exercise(
    "03.1",
    "the simple loss",
    '''
    def simple_loss(eps_model, x0, t, eps, alpha_bar):
        """DDPM's simple loss for a batch x0 (B, d), timesteps t (B,), noise eps and the schedule's alpha_bar (T,)."""
        ...
    ''',
)
def _check_simple_loss(fn, seed: int) -> tuple[bool, str]:
    # one loss is one number, and a wrong formula can match it by chance on one draw (the x_0 target
    # has the noise's distribution here): the answer must match on three independent draws
    gen = _rng(seed)
    for _ in range(3):
        ok, message = _simple_loss_once(fn, gen)
        if not ok:
            break
    return ok, message


def _simple_loss_once(fn, gen: torch.Generator) -> tuple[bool, str]:
    ab = linear_schedule().alpha_bar
    net = _linear_net(gen)
    x0 = torch.randn(128, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(128, 2, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 1000, (128,), generator=gen)
    # the reference, from this checker's own ᾱ, x_0, t and ε before the student's call, which gets
    # copies of them (_call): an answer that changes alpha_bar in place cannot move the target.
    # One level per row, which forward.q_sample (one t for the batch) does not take.
    a = ab[t][:, None]
    xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
    expected = ((net(xt, t) - eps) ** 2).mean()
    got = _tensor(fn, net, x0, t, eps, ab, scalar=True)
    mistakes = {
        "The target is the noise ε, not x_0 (that is the x0-prediction loss).": (
            (net(xt, t) - x0) ** 2
        ).mean(),
        "x_t lacks its square roots: x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε.": (
            (net(a * x0 + (1 - a) * eps, t) - eps) ** 2
        ).mean(),
        "You summed the squared errors; the simple loss is their mean.": (
            (net(xt, t) - eps) ** 2
        ).sum(),
        "The network saw x_0 instead of the noisy x_t.": ((net(x0, t) - eps) ** 2).mean(),
    }
    return _compare(
        got.reshape(()),
        expected,
        "the loss",
        mistakes,
        "noise x_0 to level ᾱ_t with ε, then mean((ε_θ(x_t, t) − ε)²).",
    )


@exercise(
    "03.2",
    "the v target",
    '''
    def v_target(x0, eps, alpha_bar_t):
        """The velocity a v-prediction network learns at level alpha_bar_t."""
        ...
    ''',
)
def _check_v_target(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    x0 = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    a = float(torch.rand(1, generator=gen, dtype=torch.float64)) * 0.8 + 0.1
    got = _tensor(fn, x0, eps, a)
    expected = v_target(x0, eps, a)
    sa, s1a = math.sqrt(a), math.sqrt(1 - a)
    mistakes = {
        "The sign is flipped: v = √ᾱ ε − √(1 − ᾱ) x_0.": s1a * x0 - sa * eps,
        "The coefficients are swapped: ε gets √ᾱ and x_0 gets √(1 − ᾱ).": s1a * eps - sa * x0,
        "The square roots are missing.": a * eps - (1 - a) * x0,
    }
    return _compare(
        got,
        expected,
        "v",
        mistakes,
        "v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 (Salimans & Ho); see `ddim_edu.sampling.eps_and_x0`.",
    )
