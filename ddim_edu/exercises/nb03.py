"""Exercises of notebook 03, training a denoiser: the simple loss, the v target, and the lowest
loss any denoiser can reach (for Gaussian data, in closed form)."""

from __future__ import annotations

import math

import torch

from ..forward import v_target
from ..schedule import linear_schedule
from ._core import _compare, _on_draws, _rng, _tensor, exercise


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
    return _on_draws(_simple_loss_once, fn, seed)


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
        "x_t lacks its square roots: ᾱ_t and 1 − ᾱ_t are variances, and eq. 4 scales x_0 and ε "
        "by standard deviations.": ((net(a * x0 + (1 - a) * eps, t) - eps) ** 2).mean(),
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
        "build each row's x_t from its x_0 and ε at its own level (eq. 4), ask the network about "
        "x_t, and compare its answer with the noise that went in; one number for the batch.",
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
        "The sign is flipped: put your v into x_0 = √ᾱ x_t − √(1 − ᾱ) v and see which term "
        "comes out with the wrong sign.": s1a * x0 - sa * eps,
        "The coefficients are swapped: at ᾱ → 1 (almost no noise) v must become the noise ε "
        "itself.": s1a * eps - sa * x0,
        "The square roots are missing: ᾱ and 1 − ᾱ are variances, and v mixes ε and x_0 with "
        "standard deviations.": a * eps - (1 - a) * x0,
    }
    return _compare(
        got,
        expected,
        "v",
        mistakes,
        "substitute x_t = √ᾱ x_0 + √(1 − ᾱ) ε into x_0 = √ᾱ x_t − √(1 − ᾱ) v and solve for v; "
        "ᾱ + (1 − ᾱ) = 1 does the rest.",
    )


@exercise(
    "03.3",
    "the lowest loss any denoiser can reach",
    '''
    def irreducible_loss(var, alpha_bar):
        """The lowest simple loss per dimension, E‖ε*(x_t) − ε‖² / d, at level alpha_bar (a float)
        for Gaussian data x_0 whose covariance has the eigenvalues var (a tensor of shape (d,))."""
        ...
    ''',
)
def _check_irreducible_loss(fn, seed: int) -> tuple[bool, str]:
    # one number again: it must match on three independent draws of variances and level
    return _on_draws(_irreducible_loss_once, fn, seed)


def _irreducible_loss_once(fn, gen: torch.Generator) -> tuple[bool, str]:
    var = torch.rand(3, generator=gen, dtype=torch.float64) * 2.0 + 0.05
    a = float(torch.rand(1, generator=gen, dtype=torch.float64)) * 0.8 + 0.1
    # one direction of data variance s²: Var x_t = ᾱ s² + 1 − ᾱ, Cov(ε, x_t) = √(1 − ᾱ); the best
    # predictor of ε is the regression on x_t, E[ε | x_t] = √(1 − ᾱ) x_t / Var x_t, which leaves
    # 1 − (1 − ᾱ) / Var x_t = ᾱ s² / (ᾱ s² + 1 − ᾱ)
    got = _tensor(fn, var, a, scalar=True)
    per_dim = a * var / (a * var + 1 - a)
    mean_var = var.mean()
    mistakes = {
        "That is the part of the noise that x_t explains, E‖ε*‖² / d; the loss is what is left of "
        "ε's unit variance.": ((1 - a) / (a * var + 1 - a)).mean(),
        "x_t's variance is off: the data enter x_t scaled by √ᾱ, so their variance is scaled too.": (
            var / (var + 1 - a)
        ).mean(),
        "You summed over the dimensions; the loss per dimension is their mean.": per_dim.sum(),
        "That is the error of the best x_0 prediction, E‖x_0 − E[x_0 | x_t]‖² / d; the question "
        "asks about ε.": (var * (1 - a) / (a * var + 1 - a)).mean(),
        "You averaged the variances first: each direction has its own loss, a ratio, and the "
        "ratios are what you average.": a * mean_var / (a * mean_var + 1 - a),
    }
    return _compare(
        got.reshape(()),
        per_dim.mean(),
        "the loss",
        mistakes,
        "take one principal direction with data variance s². Eq. 4 gives x_t's variance and its "
        "covariance with ε; for Gaussians the best prediction of ε is the linear regression on "
        "x_t, and what it cannot explain is the loss. Then average over the directions.",
    )
