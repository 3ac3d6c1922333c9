"""Exercises of notebook 02, the non-Markovian process: σ_t(η), the mean of eq. 7, one DDIM step."""

from __future__ import annotations

import math

import torch

from ..forward import (
    ddim_sigma,
    ddpm_posterior,
    direction_coefficient,
    q_sigma_posterior,
    sigma_hat,
)
from ..sampling import ddim_step, eps_and_x0
from ._core import _compare, _floats, _random_levels, _rng, _tensor, exercise

_SIGMA_HINT = "eq. 16: σ_t(η) = η √((1 − ᾱ_{t−1}) / (1 − ᾱ_t)) √(1 − ᾱ_t / ᾱ_{t−1})."


@exercise(
    "02.1",
    "σ_t(η)",
    '''
    def sigma(alpha_bar_t, alpha_bar_prev, eta):
        """σ_t(η) of eq. 16 for a step from level alpha_bar_t to alpha_bar_prev."""
        ...
    ''',
)
def _check_sigma(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    a_t, a_prev = _random_levels(gen)
    etas = torch.rand(len(a_t), generator=gen, dtype=torch.float64)
    etas[0], etas[1] = 1.0, 0.0
    cases = list(zip(a_t.tolist(), a_prev.tolist(), etas.tolist()))
    got = _floats([_tensor(fn, at, ap, eta, scalar=True) for at, ap, eta in cases])
    expected = _floats([ddim_sigma(at, ap, eta) for at, ap, eta in cases])
    mistakes = {
        "You returned σ² (the variance): a square root is missing.": expected**2,
        "η is applied twice (η² instead of η): σ is linear in η.": etas * expected,
        "You used ᾱ_t / ᾱ_{t−1} where 1 − ᾱ_t / ᾱ_{t−1} belongs (that is α_t, not β_t).": etas
        * ((1 - a_prev) / (1 - a_t)).sqrt()
        * (a_t / a_prev).sqrt(),
        "The factor √((1 − ᾱ_{t−1}) / (1 − ᾱ_t)) is missing: that is η √β_t, DDPM's larger σ̂ scaled.": etas
        * _floats([sigma_hat(at, ap) for at, ap, _ in cases]),
    }
    verdict = _compare(got, expected, "σ", mistakes, _SIGMA_HINT)
    first = float(got[0])  # the first case has η = 1
    if not math.isclose(first, float(expected[0]), rel_tol=1e-6):
        ddpm_std = math.sqrt(ddpm_posterior(*cases[0][:2])[2])
        return False, (
            f"Your σ at η = 1 should equal DDPM's posterior standard deviation: got {first:.4g}, "
            f"expected {ddpm_std:.4g}. " + verdict[1]
        )
    return verdict


@exercise(
    "02.2",
    "the mean of q_σ(x_{t−1} | x_t, x_0)",
    '''
    def posterior_mean(x0, xt, alpha_bar_t, alpha_bar_prev, sigma):
        """The mean of eq. 7."""
        ...
    ''',
)
def _check_posterior_mean(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    a_t, a_prev = _random_levels(gen, n=1)
    at, ap = float(a_t), float(a_prev)
    sigma = ddim_sigma(at, ap, 0.6)
    x0 = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    xt = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    got = _tensor(fn, x0, xt, at, ap, sigma)
    expected, _ = q_sigma_posterior(xt, x0, at, ap, sigma)
    eps, _ = eps_and_x0(x0, xt, at, prediction="x0")  # the noise in x_t, given x_0
    direction = direction_coefficient(ap, sigma)
    mistakes = {
        "σ² is missing under the square root: the direction term is √(1 − ᾱ_{t−1} − σ²).": q_sigma_posterior(
            xt, x0, at, ap, 0.0
        )[0],
        "x_0's coefficient uses ᾱ_t: it should be √ᾱ_{t−1}, the level you step to.": math.sqrt(at)
        * x0
        + direction * eps,
        "The direction is not normalised: divide (x_t − √ᾱ_t x_0) by √(1 − ᾱ_t) to get ε.": math.sqrt(
            ap
        )
        * x0
        + direction * (xt - math.sqrt(at) * x0),
    }
    return _compare(
        got,
        expected,
        "the mean",
        mistakes,
        "eq. 7: √ᾱ_{t−1} x_0 + √(1 − ᾱ_{t−1} − σ²) (x_t − √ᾱ_t x_0) / √(1 − ᾱ_t).",
    )


@exercise(
    "02.3",
    "one DDIM step",
    '''
    def my_ddim_step(xt, eps, alpha_bar_t, alpha_bar_prev, eta, z):
        """x_{t-1} by eq. 12 with σ_t(η) of eq. 16; z is standard normal noise."""
        ...
    ''',
)
def _check_ddim_step(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    a_t, a_prev = _random_levels(gen, n=1)
    at, ap = float(a_t), float(a_prev)
    xt = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    z = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eta = 0.7
    got = _tensor(fn, xt, eps, at, ap, eta, z)
    sigma = ddim_sigma(at, ap, eta)
    _, x0 = eps_and_x0(eps, xt, at)
    x0_no_roots = (xt - (1 - at) * eps) / at
    mistakes = {
        "σ is applied twice: the noise term is σ z, not σ² z.": ddim_step(
            eps, x0, ap, sigma, sigma**2, z
        ),
        "The direction term keeps √(1 − ᾱ_{t−1}): with noise added it must be √(1 − ᾱ_{t−1} − σ²).": ddim_step(
            eps, x0, ap, 0.0, sigma, z
        ),
        "The predicted x_0 lacks its square roots: x_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t.": ddim_step(
            eps, x0_no_roots, ap, sigma, sigma, z
        ),
        "The noise term is missing (that is the η = 0 update).": ddim_step(eps, x0, ap, sigma),
    }
    return _compare(
        got,
        ddim_step(eps, x0, ap, sigma, sigma, z),
        "x_{t−1}",
        mistakes,
        "eq. 12 with σ from eq. 16; check it against `ddim_edu.sampling.ddim_step`.",
    )
