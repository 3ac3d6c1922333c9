"""Exercises of notebook 04, trajectories and the ODE: the coordinates of eq. 13, one Euler step."""

from __future__ import annotations

import math

import torch

from ..sampling import ddim_step, eps_and_x0, to_ode_coordinates
from ._core import _as_tensor, _call, _compare, _random_levels, _rng, _tensor, exercise


@exercise(
    "04.1",
    "the ODE's coordinates",
    '''
    def ode_coordinates(x, alpha_bar):
        """(x_bar, sigma) of eq. 13 for x at level alpha_bar."""
        ...
    ''',
)
def _check_ode_coordinates(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    x = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    a = float(torch.rand(1, generator=gen, dtype=torch.float64)) * 0.9 + 0.05
    out = _call(fn, x, a)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return False, f"Return a pair (x_bar, sigma), got {type(out).__name__}."
    xbar, sig = _as_tensor(out[0]), _as_tensor(out[1])
    if xbar is None or sig is None:
        return False, "Both x_bar and sigma must be numbers or tensors."
    xbar_ref, sigma_ref = to_ode_coordinates(x, a)
    ok, msg = _compare(
        xbar,
        xbar_ref,
        "x_bar",
        {
            "x_bar is x / √ᾱ, not x · √ᾱ.": x * math.sqrt(a),
            "x_bar lacks the square root: x / √ᾱ.": x / a,
        },
        "eq. 13 rescales x_t by 1 / √ᾱ_t.",
    )
    if not ok:
        return ok, msg
    ok, msg = _compare(
        sig.reshape(()),
        sigma_ref,
        "sigma",
        {
            "sigma lacks its square root: σ = √((1 − ᾱ) / ᾱ).": sigma_ref**2,
            "sigma is upside down: σ = √((1 − ᾱ) / ᾱ), the noise-to-signal ratio.": 1 / sigma_ref,
        },
        "σ_t = √((1 − ᾱ_t) / ᾱ_t) grows from 0 at the data to large at x_T.",
    )
    return ok, ("x̄ and σ match the reference on fresh random inputs." if ok else msg)


@exercise(
    "04.2",
    "one Euler step of the ODE",
    '''
    def euler_step(xt, eps, alpha_bar_t, alpha_bar_prev):
        """x at level alpha_bar_prev after one Euler step of eq. 14 in sigma, from xt with noise prediction eps."""
        ...
    ''',
)
def _check_euler_step(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    at, ap = (float(v) for v in _random_levels(gen, n=1))
    xt = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    got = _tensor(fn, xt, eps, at, ap)
    # the Euler step in (x̄, σ) is DDIM's η = 0 step: the reference is the sampler's own update
    _, x0 = eps_and_x0(eps, xt, at)
    expected = ddim_step(eps, x0, ap, 0.0)
    xbar_t, s_t = to_ode_coordinates(xt, at)
    s_p = to_ode_coordinates(xt, ap)[1]  # σ at the level the step lands on
    mistakes = {
        "You returned x̄_{t−1}: multiply by √ᾱ_{t−1} to come back to x.": xbar_t + (s_p - s_t) * eps,
        "The step goes the wrong way: use (σ_{t−1} − σ_t), which is negative when denoising.": math.sqrt(
            ap
        )
        * (xbar_t + (s_t - s_p) * eps),
        "x_t was not rescaled to x̄_t = x_t / √ᾱ_t before the step.": math.sqrt(ap)
        * (xt + (s_p - s_t) * eps),
    }
    return _compare(
        got,
        expected,
        "x_{t−1}",
        mistakes,
        "x̄_{t−1} = x̄_t + (σ_{t−1} − σ_t) ε, then x_{t−1} = √ᾱ_{t−1} x̄_{t−1}; it equals DDIM's η = 0 step.",
    )
