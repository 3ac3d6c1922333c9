"""Exercises of notebook 02, the non-Markovian process: σ_t(η), the mean of eq. 7, one DDIM step,
and how much of the first level's noise survives along the sub-sequence τ."""

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
from ..sampling import ddim_coefficients, ddim_step, eps_and_x0
from ..schedule import Schedule, linear_schedule, timesteps
from ._core import _call, _compare, _floats, _random_levels, _rng, _tensor, exercise

_SIGMA_HINT = (
    "eq. 16 is a product of three factors: η, a ratio of the two noise variances 1 − ᾱ, and the "
    "square root of the step's own β, 1 − ᾱ_t / ᾱ_prev. Check each factor, and that η = 1 gives "
    "DDPM's posterior standard deviation."
)


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
        "You used ᾱ_t / ᾱ_prev where 1 − ᾱ_t / ᾱ_prev belongs (that is α_t, not β_t).": etas
        * ((1 - a_prev) / (1 - a_t)).sqrt()
        * (a_t / a_prev).sqrt(),
        "The factor √((1 − ᾱ_prev) / (1 − ᾱ_t)) is missing: that is η √β_t, DDPM's larger σ̂ scaled.": etas
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
        "σ² is missing under the square root of the direction term: the fresh noise σ z takes its share of the variance 1 − ᾱ_prev.": q_sigma_posterior(
            xt, x0, at, ap, 0.0
        )[0],
        "x_0's coefficient uses ᾱ_t, the level you leave: x_0 is scaled for the level you land on.": math.sqrt(
            at
        )
        * x0
        + direction * eps,
        "The direction is not normalised: x_t − √ᾱ_t x_0 is ε times the noise scale of level t, not ε itself.": math.sqrt(
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
        "eq. 7 has two terms: x_0 at the level you land on, and the noise already in x_t (the ε that "
        "x_t and x_0 determine) with the weight that leaves room for σ². Test each with σ = 0 first.",
    )


@exercise(
    "02.3",
    "one DDIM step",
    '''
    def my_ddim_step(xt, eps, alpha_bar_t, alpha_bar_prev, eta, z):
        """x_prev by eq. 12 with σ_t(η) of eq. 16; z is standard normal noise."""
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
        "The direction term keeps all of √(1 − ᾱ_prev): with fresh noise added, σ² must come out of it.": ddim_step(
            eps, x0, ap, 0.0, sigma, z
        ),
        "The predicted x_0 lacks its square roots: compare your x_0 with eq. 9.": ddim_step(
            eps, x0_no_roots, ap, sigma, sigma, z
        ),
        "The noise term is missing (that is the η = 0 update).": ddim_step(eps, x0, ap, sigma),
    }
    return _compare(
        got,
        ddim_step(eps, x0, ap, sigma, sigma, z),
        "x_prev",
        mistakes,
        "eq. 12 has three terms (the predicted x_0, the direction pointing to x_t, the random noise): "
        "check each one alone, e.g. with η = 0 the noise term must vanish.",
    )


def _reference_memory(schedule: Schedule, taus: list[int], eta: float) -> list[float]:
    """Corr(noise of x_{taus[i]}, noise of x_{taus[0]} | x_0) for each entry of taus.

    A step keeps the old noise with weight ``direction`` and adds fresh noise σ z, so the old
    noise's share of x_prev's noise (a ratio of standard deviations) is direction / √(1 − ᾱ_prev);
    the shares multiply along the chain. The last step lands on x_0, which has no noise left.
    """
    rho = [1.0]
    for c in ddim_coefficients(schedule, taus, eta)[:-1]:
        rho.append(rho[-1] * c.direction / c.noise_level)
    return rho


def _chain(alpha_bar: torch.Tensor, pairs: list[tuple[int, int]], eta: float, share) -> list[float]:
    """The product along ``pairs`` of ``share(ᾱ_t, ᾱ_prev, σ)``: the reference and its mistakes."""
    out = [1.0]
    for t, t_prev in pairs:
        a_t, a_prev = float(alpha_bar[t]), float(alpha_bar[t_prev])
        out.append(out[-1] * share(a_t, a_prev, ddim_sigma(a_t, a_prev, eta)))
    return out


@exercise(
    "02.4",
    "how much of the first level's noise survives along τ",
    '''
    def noise_memory(alpha_bar, taus, eta):
        """For each entry of taus (descending, in the order timesteps() gives them), the correlation,
        given x_0, between the noise in x at that level and the noise in x at taus[0]: a list of
        len(taus) numbers, the first 1.0. alpha_bar is the schedule's tensor of T levels; each
        step goes from one entry of taus to the next, with sigma_t(eta) of eq. 16."""
        ...
    ''',
)
def _check_noise_memory(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    cases = [(1000, 0.02, 10, "uniform", 1.0)]
    # linspace before quadratic: there t − T // S stays a timestep, so a fixed stride is named
    for spacing, eta in (("linspace", None), ("quadratic", None), ("trailing", 0.0)):
        T = int(torch.randint(200, 1200, (1,), generator=gen))  # noqa: N806
        beta_end = float(torch.rand(1, generator=gen)) * 0.03 + 0.01
        S = int(torch.randint(4, 40, (1,), generator=gen))  # noqa: N806
        if eta is None:
            eta = float(torch.rand(1, generator=gen)) * 0.8 + 0.2
        cases.append((T, beta_end, S, spacing, eta))
    for T, beta_end, S, spacing, eta in cases:  # noqa: N806
        schedule = linear_schedule(T=T, beta_end=beta_end)
        taus = timesteps(S, T, spacing)
        expected = _reference_memory(schedule, taus, eta)
        out = _call(fn, schedule.alpha_bar.clone(), list(taus), eta)
        try:
            got = [float(v) for v in out]
        except (TypeError, ValueError):
            return False, f"Expected a list of numbers, one per entry of taus, got {out!r:.80}."
        case = f"For T = {T}, S = {S} ({spacing!r} spacing), η = {eta:.3g}"
        if _close(got, expected):
            continue
        if _close(got, expected[1:]):
            return False, (
                "Start with 1.0 for taus[0] itself (its noise is perfectly correlated with itself): "
                "one number per entry of taus."
            )
        if len(got) == len(expected) + 1 and _close(got[:-1], expected):
            return False, (
                "One number too many: the last step lands on x_0, which has no noise left to "
                "compare. Stop at taus[-1]."
            )
        if _close(got, expected[::-1]):
            return (
                False,
                "Your list is reversed: follow taus in its own order, from the noisiest level.",
            )
        ab, pairs = schedule.alpha_bar, list(zip(taus, taus[1:]))
        adjacent = [(t, t - 1) for t, _ in pairs]
        stride = [(t, max(t - T // S, 0)) for t, _ in pairs]
        mistakes = {
            "You paired each entry of taus with the adjacent timestep t − 1: a step of the sub-sequence "
            "goes to the next entry τ_{i−1}, many timesteps away, and its σ is much larger.": _chain(
                ab, adjacent, eta, _old_share
            ),
            "You paired each entry with t − T // S, a fixed stride: that is the next entry only for "
            "the 'uniform' spacing. Take the next entry from taus itself.": _chain(
                ab, stride, eta, _old_share
            ),
            "You multiplied the fresh shares σ / √(1 − ᾱ_prev): those measure the new noise z. The "
            "correlation with the first level is carried by the old noise, the direction term.": _chain(
                ab, pairs, eta, lambda a, p, s: s / math.sqrt(1 - p)
            ),
            "You multiplied the old noise's share of the variance: a correlation is a ratio of standard "
            "deviations, so a square root is missing.": _chain(
                ab, pairs, eta, lambda a, p, s: 1 - s**2 / (1 - p)
            ),
            "You multiplied the direction coefficients themselves: they weigh ε in x, not in x's noise. "
            "Divide by the noise scale of the level you land on.": _chain(
                ab, pairs, eta, lambda a, p, s: math.sqrt(max(1 - p - s**2, 0.0))
            ),
            "You compared σ with the noise of the level you leave, √(1 − ᾱ_t): the shares are of the "
            "noise x_prev carries, at the level you land on.": _chain(
                ab, pairs, eta, lambda a, p, s: math.sqrt(max(1 - s**2 / (1 - a), 0.0))
            ),
        }
        for message, wrong in mistakes.items():
            if _close(got, wrong):
                return False, f"{case}: {message}"
        if len(got) != len(expected):
            return (
                False,
                f"{case}: expected {len(expected)} numbers, one per entry of taus, got {len(got)}.",
            )
        i = next(k for k, (g, e) in enumerate(zip(got, expected)) if not _close([g], [e]))
        return False, (
            f"{case}: the first difference is at taus[{i}] = {taus[i]}: got {got[i]:.4g}, expected "
            f"{expected[i]:.4g}. Hint: split the noise x_prev carries into the part the direction term "
            "keeps and the fresh σ z; what fraction of its standard deviation is the old part?"
        )
    ddpm, half = (_reference_memory(linear_schedule(), timesteps(10), eta) for eta in (1.0, 0.5))
    return True, (
        f"matches the reference for every spacing tried. With S = 10 uniform steps, η = 1 keeps "
        f"{ddpm[1]:.2f} of the first level's noise after one step and {ddpm[-1]:.0e} at the last "
        f"level; η = 0.5 still keeps {half[-1]:.2f} there, and η = 0 all of it."
    )


def _old_share(a_t: float, a_prev: float, sigma: float) -> float:
    return math.sqrt(max(1 - sigma**2 / (1 - a_prev), 0.0))


def _close(got: list[float], expected: list[float]) -> bool:
    return len(got) == len(expected) and all(
        math.isclose(g, e, rel_tol=1e-4, abs_tol=1e-7) for g, e in zip(got, expected)
    )
