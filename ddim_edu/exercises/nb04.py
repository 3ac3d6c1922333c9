"""Exercises of notebook 04, trajectories and the ODE: the coordinates of eq. 13, one Euler step,
and the probability-flow velocity written with the score of q_t (Proposition 1).

The notebook writes s = sqrt((1 - alpha_bar) / alpha_bar) for the ODE time (the paper's sigma of
eq. 13), to keep sigma for the sampler's noise sigma_t(eta).
"""

from __future__ import annotations

import math

import torch

from ..gmm import GaussianMixture
from ..sampling import ddim_step, eps_and_x0, to_ode_coordinates
from ._core import _as_tensor, _call, _compare, _random_levels, _rng, _tensor, exercise


@exercise(
    "04.1",
    "the ODE's coordinates",
    '''
    def ode_coordinates(x, alpha_bar):
        """(x_bar, s) of eq. 13 for x at level alpha_bar (s is the paper's sigma, the ODE time)."""
        ...
    ''',
)
def _check_ode_coordinates(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    x = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    a = float(torch.rand(1, generator=gen, dtype=torch.float64)) * 0.9 + 0.05
    out = _call(fn, x, a)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return False, f"Return a pair (x_bar, s), got {type(out).__name__}."
    xbar, s = _as_tensor(out[0]), _as_tensor(out[1])
    if xbar is None or s is None:
        return False, "Both x_bar and s must be numbers or tensors."
    xbar_ref, s_ref = to_ode_coordinates(x, a)
    shrunk, no_root = x * math.sqrt(a), x / a
    ok, msg = _compare(
        xbar,
        xbar_ref,
        "x_bar",
        {
            "x_bar shrinks the signal once more; it should undo the shrinking of eq. 4.": shrunk,
            "x_bar divides by ᾱ itself, but eq. 4 scales the signal by its square root.": no_root,
        },
        "eq. 13 rescales x_t so that its signal part is x_0 itself, at every level.",
    )
    if not ok:
        return ok, msg
    ok, msg = _compare(
        s.reshape(()),
        s_ref,
        "s",
        {
            "s lacks its square root: it is a ratio of standard deviations, not of variances.": (
                s_ref**2
            ),
            "s is upside down: it is the noise-to-signal ratio, 0 at the data and large at x_T.": (
                1 / s_ref
            ),
        },
        "s_t compares the noise's standard deviation in x_t with the signal's scale (eq. 4).",
    )
    return ok, ("x̄ and s match the reference on fresh random inputs." if ok else msg)


@exercise(
    "04.2",
    "one Euler step of the ODE",
    '''
    def euler_step(xt, eps, alpha_bar_t, alpha_bar_prev):
        """x at level alpha_bar_prev after one Euler step of eq. 14 in s, from xt with noise prediction eps."""
        ...
    ''',
)
def _check_euler_step(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    at, ap = (float(v) for v in _random_levels(gen, n=1))
    xt = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    got = _tensor(fn, xt, eps, at, ap)
    # the Euler step in (x̄, s) is DDIM's η = 0 step: the reference is the sampler's own update
    _, x0 = eps_and_x0(eps, xt, at)
    expected = ddim_step(eps, x0, ap, 0.0)
    xbar_t, s_t = to_ode_coordinates(xt, at)
    s_p = to_ode_coordinates(xt, ap)[1]  # s at the level the step lands on
    stayed_in_xbar = xbar_t + (s_p - s_t) * eps
    wrong_way = math.sqrt(ap) * (xbar_t + (s_t - s_p) * eps)
    not_rescaled = math.sqrt(ap) * (xt + (s_p - s_t) * eps)
    mistakes = {
        "You returned x̄_{t−1}: come back to x at the level the step lands on.": stayed_in_xbar,
        "The step goes the wrong way: denoising makes s smaller, so the step in s is negative.": (
            wrong_way
        ),
        "x_t was not rescaled to x̄_t before the step.": not_rescaled,
    }
    return _compare(
        got,
        expected,
        "x_{t−1}",
        mistakes,
        "three moves: into x̄ at the level you leave, one Euler step in s with slope ε, back to x "
        "at the level you land on. The result must be DDIM's η = 0 step.",
    )


def _random_mixture(gen: torch.Generator, k: int = 3, d: int = 2) -> GaussianMixture:
    """A mixture of k Gaussians in d dimensions with random weights, means and covariances."""
    weights = torch.rand(k, generator=gen, dtype=torch.float64) + 0.2
    means = torch.randn(k, d, generator=gen, dtype=torch.float64) * 1.5
    a = torch.randn(k, d, d, generator=gen, dtype=torch.float64) * 0.4
    covs = a @ a.transpose(-1, -2) + 0.05 * torch.eye(d, dtype=torch.float64)
    return GaussianMixture(weights / weights.sum(), means, covs)


@exercise(
    "04.3",
    "the probability-flow velocity from the score of q_t",
    '''
    def pf_velocity(score_q, x, alpha_bar):
        """d x_bar / d s of the VE probability-flow ODE at x (level alpha_bar), from score_q(x) = grad_x log q_t(x)."""
        ...
    ''',
)
def _check_pf_velocity(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    mixture = _random_mixture(gen)
    # levels with s > 1.5, so that no mistake below can agree with the answer by chance
    a = float(torch.rand(1, generator=gen, dtype=torch.float64)) * 0.35 + 0.05
    s = math.sqrt((1 - a) / a)
    noisy = mixture.noisy(a)  # q_t, the density of x at this level
    x = noisy.sample(64, generator=gen)

    def score_q(y):
        return noisy.score_at(y)

    got = _tensor(fn, score_q, x, a)
    # the reference goes the long way, through p_s, the density of x̄ = x_0 + s ε (section 6.3)
    eye = torch.eye(mixture.dim, dtype=torch.float64)
    p_s = GaussianMixture(mixture.weights, mixture.means, mixture.covs + s**2 * eye)
    expected = -s * p_s.score_at(x / math.sqrt(a))
    score, root_a = score_q(x), math.sqrt(a)
    no_chain_rule = -s * score
    upside_down = -s / root_a * score
    flipped = s * root_a * score
    half = -0.5 * s * root_a * score
    variance = -(s**2) * root_a * score
    mistakes = {
        "That is −s times the score of q_t, taken with respect to x; the ODE's score is taken "
        "with respect to x̄, and the change of variables changes its scale.": no_chain_rule,
        "The chain rule's factor is upside down.": upside_down,
        "The sign is flipped: the probability flow carries points towards the data as s shrinks.": (
            flipped
        ),
        "A factor ½ too small: in the probability-flow ODE the ½ multiplies d(s²)/ds.": half,
        "s² is the variance of the noise; the ODE's factor is ½ d(s²)/ds.": variance,
    }
    return _compare(
        got,
        expected,
        "d x̄/ds",
        mistakes,
        "start from d x̄/ds = −s ∇_x̄ log p_s(x̄) (section 6.3) and ask how p_s, the density of "
        "x̄ = x / √ᾱ, is related to q_t, the density of x; then apply the chain rule.",
    )
