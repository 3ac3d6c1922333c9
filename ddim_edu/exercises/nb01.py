"""Exercises of notebook 01, the forward process: ᾱ, sampling q(x_t | x_0), the posterior."""

from __future__ import annotations

import torch

from .._checks import _as_int
from ..forward import ddpm_posterior, q_sample, sigma_hat
from ..schedule import Schedule, linear_schedule
from ._core import _compare, _floats, _random_levels, _rng, _tensor, exercise


def _random_schedule_betas(gen: torch.Generator) -> torch.Tensor:
    n = int(torch.randint(20, 400, (1,), generator=gen))
    return (torch.rand(n, generator=gen, dtype=torch.float64) * 0.04 + 1e-4).sort().values


@exercise(
    "01.1",
    "ᾱ from the betas",
    '''
    def alpha_bar_from_betas(betas):
        """ᾱ_t for t = 0..T-1 from a 1-D tensor of β_t."""
        ...
    ''',
)
def _check_alpha_bar(fn, seed: int) -> tuple[bool, str]:
    betas = _random_schedule_betas(_rng(seed))
    got = _tensor(fn, betas)
    schedule = Schedule(betas)
    expected = schedule.alpha_bar
    mistakes = {
        "You returned α_t = 1 − β_t itself, not the cumulative product ᾱ_t.": schedule.alphas,
        "You multiplied the β's, not the α's: ᾱ_t is the product of (1 − β_s).": torch.cumprod(
            betas, 0
        ),
        "Your values are shifted by one step: ᾱ_0 is 1 − β_0, not 1.": torch.cat(
            [torch.ones(1, dtype=torch.float64), expected[:-1]]
        ),
    }
    return _compare(
        got, expected, "ᾱ", mistakes, "ᾱ_t = ∏_{s ≤ t} (1 − β_s); `torch.cumprod` does it."
    )


@exercise(
    "01.2",
    "sampling q(x_t | x_0)",
    '''
    def q_sample(x0, alpha_bar_t, eps):
        """x_t drawn from q(x_t | x_0), given the noise eps (same shape as x0)."""
        ...
    ''',
)
def _check_q_sample(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    x0 = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    schedule = linear_schedule()
    middle = torch.nonzero((schedule.alpha_bar > 0.1) & (schedule.alpha_bar < 0.9))[:, 0]
    t = int(middle[torch.randint(len(middle), (1,), generator=gen)])  # a level between 0.1 and 0.9
    a = schedule.alpha_bar_at(t)
    got = _tensor(fn, x0, a, eps)
    expected = q_sample(x0, t, schedule, noise=eps)
    mistakes = {
        "The square roots are missing: the coefficients are √ᾱ and √(1 − ᾱ), not ᾱ and 1 − ᾱ.": a
        * x0
        + (1 - a) * eps,
        "The two coefficients are swapped: x_0 gets √ᾱ, the noise √(1 − ᾱ).": q_sample(
            eps, t, schedule, noise=x0
        ),
        "The noise term is missing.": q_sample(x0, t, schedule, noise=torch.zeros_like(eps)),
    }
    return _compare(
        got,
        expected,
        "x_t",
        mistakes,
        "x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε keeps unit variance for unit-variance data.",
    )


@exercise(
    "01.3",
    "where half the signal is gone",
    """
    half_signal_t = ...  # the first t (linear schedule) with sqrt(alpha_bar_t) < 0.5
    """,
)
def _check_half_signal(value, seed: int) -> tuple[bool, str]:
    schedule = linear_schedule()
    ab = schedule.alpha_bar
    expected = int(torch.nonzero(ab.sqrt() < 0.5)[0])
    wrong_no_sqrt = int(torch.nonzero(ab < 0.5)[0])
    t = _as_int(value)  # Python, NumPy and torch integers; not bools or floats
    if t is None:
        return False, f"Expected a whole number (a timestep), got {value!r}."
    value = t
    if value == expected:
        snr = schedule.snr()[expected]
        return (
            True,
            f"t = {expected}: √ᾱ_t = {ab[expected].sqrt():.4f} < 0.5, SNR ᾱ/(1 − ᾱ) = {snr:.3f}.",
        )
    if value == wrong_no_sqrt:
        return False, (
            f"t = {value} is where ᾱ_t drops below 0.5, but the signal's coefficient is √ᾱ_t. "
            "Hint: compare `alpha_bar.sqrt()` with 0.5."
        )
    if value == expected + 1:
        return (
            False,
            f"Off by one: at t = {expected} √ᾱ_t is already below 0.5. Hint: the first index, counting from 0.",
        )
    return False, (
        f"At t = {value}, √ᾱ_t = {float(ab[min(max(value, 0), len(ab) - 1)].sqrt()):.4f}: "
        "look for the first t where it is below 0.5. Hint: `torch.nonzero(alpha_bar.sqrt() < 0.5)[0]`."
    )


@exercise(
    "01.4",
    "the posterior's variance",
    '''
    def posterior_variance(alpha_bar_t, alpha_bar_prev):
        """β̃_t, the variance of q(x_{t-1} | x_t, x_0), from two levels of ᾱ."""
        ...
    ''',
)
def _check_posterior_variance(fn, seed: int) -> tuple[bool, str]:
    a_t, a_prev = _random_levels(_rng(seed))
    pairs = list(zip(a_t.tolist(), a_prev.tolist()))
    got = _floats([_tensor(fn, at, ap, scalar=True) for at, ap in pairs])
    expected = _floats([ddpm_posterior(at, ap)[2] for at, ap in pairs])
    beta = _floats([sigma_hat(at, ap) ** 2 for at, ap in pairs])  # the step's own β_t
    mistakes = {
        "That is β_t, the forward step's variance; the posterior's is smaller by (1 − ᾱ_{t−1}) / (1 − ᾱ_t).": beta,
        "That is the standard deviation; the exercise asks for the variance β̃_t.": expected.sqrt(),
        "You used ᾱ_t where ᾱ_{t−1} belongs in the first factor.": (1 - a_t) / (1 - a_prev) * beta,
    }
    return _compare(
        got, expected, "β̃_t", mistakes, "β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · (1 − ᾱ_t / ᾱ_{t−1})."
    )
