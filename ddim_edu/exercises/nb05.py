"""Exercises of notebook 05, quality against S and η: where σ̂ puts more noise than a step may
carry, and the speed-up at matched quality read with paired spreads."""

from __future__ import annotations

import math

import torch

from ..sampling import ddim_coefficients
from ..schedule import linear_schedule, timesteps
from ._core import _call, _rng, exercise


def _reference_overshoot(schedule, taus: list[int]) -> list[int]:
    coeffs = ddim_coefficients(schedule, taus, variance="sigma_hat")
    return [c.t for c in coeffs if c.sigma_noise > c.noise_level]


@exercise(
    "05.1",
    "where σ̂ overshoots",
    '''
    def overshoot(alpha_bar, taus):
        """The timesteps t of the sub-sequence taus (descending) whose step x_t -> x_prev draws
        fresh noise sigma_hat larger than the noise x_prev should carry, sqrt(1 - alpha_bar_prev).
        alpha_bar is the schedule's tensor of T levels; the last step lands on the clean image."""
        ...
    ''',
)
def _check_overshoot(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    cases = [(1000, 10, 0.02)]
    for _ in range(3):
        T = int(torch.randint(200, 1200, (1,), generator=gen))  # noqa: N806
        S = int(torch.randint(4, 60, (1,), generator=gen))  # noqa: N806
        cases.append((T, S, float(torch.rand(1, generator=gen)) * 0.03 + 0.01))
    for T, S, beta_end in cases:  # noqa: N806
        schedule = linear_schedule(T=T, beta_end=beta_end)
        alpha_bar, taus = schedule.alpha_bar, timesteps(S, T)
        expected = _reference_overshoot(schedule, taus)
        out = _call(fn, alpha_bar.clone(), list(taus))
        try:
            got = [int(v) for v in out]
        except (TypeError, ValueError):
            return False, f"Expected a list of timesteps (ints), got {out!r:.80}."
        if got == expected:
            continue
        pairs = list(zip(taus, [*taus[1:], None]))
        a = [float(alpha_bar[t]) for t in taus]
        a_prev = [float(alpha_bar[p]) if p is not None else 1.0 for _, p in pairs]
        sig = [math.sqrt(1 - x / y) for x, y in zip(a, a_prev)]
        with_last = [t for t, p, s in zip(taus, a_prev, sig) if s > math.sqrt(max(1 - p, 0.0))]
        if got == [taus.index(t) for t in expected]:
            return False, "Those are positions in taus; return the timesteps t themselves."
        if got == with_last and got != expected:
            return False, (
                "The last step lands on the clean image and draws no noise at all (z = 0 there), "
                "so it cannot overshoot: leave it out."
            )
        if got == [] and expected:
            return False, (
                "None found, but σ̂ does overshoot. Two comparisons find none: η = 1's σ "
                "(√((1 − ᾱ_prev)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev)) never exceeds √(1 − ᾱ_prev), the "
                "direction term keeps the rest; and σ̂ = √(1 − ᾱ_t/ᾱ_prev) never exceeds √(1 − ᾱ_t), "
                "the level the step leaves. Compare σ̂ with √(1 − ᾱ_prev), the level it lands on."
            )
        return False, (
            f"For T = {T}, S = {S}: expected {expected}, got {got[:12]}. Hint: pair each t with the next "
            "entry of taus (ᾱ_prev = 1 after the last), and compare σ̂ with √(1 − ᾱ_prev)."
        )
    return True, (
        "σ̂ overshoots only on the last few steps, where √(1 − ᾱ_prev) falls fastest: the noise it "
        "draws there outlasts the steps that were meant to remove it."
    )


def _matched(ddim: dict, ddpm: list, T: int, k_se: float = 2.0, paired: bool = True):  # noqa: N803
    k = len(ddpm)
    for S in sorted(ddim):  # noqa: N806
        if paired:
            d = [a - b for a, b in zip(ddim[S], ddpm)]
            mean = sum(d) / k
            se = math.sqrt(sum((v - mean) ** 2 for v in d) / (k - 1) / k)
        else:
            mean = sum(ddim[S]) / k - sum(ddpm) / k
            var = lambda xs: sum((v - sum(xs) / k) ** 2 for v in xs) / (k - 1)  # noqa: E731
            se = math.sqrt(var(ddim[S]) / k + var(ddpm) / k)
        if mean <= k_se * se:
            return T / S
    return None


def _speedup_case(gen: torch.Generator, k: int) -> tuple[dict, list]:
    """Per-seed values where the x_T seed moves every cell together (as on MNIST): pairing
    removes that common part, the unpaired spread keeps it. The paired differences have a
    standard error of exactly 0.01, and the excess of each S is placed so that the right rule
    (S = 100), the unpaired one (20), one with the standard deviation (50) and one with no
    tolerance (200) each pick a different S."""

    def standardised(sd: float) -> torch.Tensor:
        v = torch.randn(k, generator=gen, dtype=torch.float64)
        v = v - v.mean()
        return v / v.std() * sd

    common, own = standardised(0.25), standardised(0.01 * math.sqrt(k))
    ddpm = [1.0 + float(c) for c in common]
    ddim = {}
    for S, excess in ((10, 0.8), (20, 0.05), (50, 0.03), (100, 0.015), (200, -0.005)):  # noqa: N806
        ddim[S] = [1.0 + excess + float(c + o) for c, o in zip(common, own)]
    return ddim, ddpm


@exercise(
    "05.2",
    "the speed-up at matched quality",
    '''
    def matched_speedup(ddim, ddpm, T=1000):
        """T / S for the smallest S at which DDIM matches DDPM within the paired spread.

        ddim: {S: [value for each x_T seed]} of eta = 0; ddpm: [value for each x_T seed] of
        eta = 1 at S = T, the seeds in the same order (paired). Lower values are better. "Matches"
        means: the mean over seeds of ddim[S][i] - ddpm[i] is at most two standard errors of
        those differences."""
        ...
    ''',
)
def _check_matched_speedup(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    for k in (3, 5, 4):
        ddim, ddpm = _speedup_case(gen, k)
        expected = _matched(ddim, ddpm, 1000)
        out = _call(fn, ddim, ddpm, 1000)
        try:
            got = float(out)
        except (TypeError, ValueError):
            return False, f"Expected a number (the speed-up T / S), got {out!r:.80}."
        if math.isclose(got, expected, rel_tol=1e-9):
            continue
        unpaired = _matched(ddim, ddpm, 1000, paired=False)
        strict = _matched(ddim, ddpm, 1000, k_se=0.0)
        sd_not_se = None
        for S in sorted(ddim):  # noqa: N806
            d = [a - b for a, b in zip(ddim[S], ddpm)]
            m = sum(d) / k
            if m <= 2 * math.sqrt(sum((v - m) ** 2 for v in d) / (k - 1)):
                sd_not_se = 1000 / S
                break
        if unpaired is not None and math.isclose(got, unpaired):
            return False, (
                "You compared the two cells' means with their unpaired spreads. The x_T seed moves "
                "both cells together, so take the differences seed by seed first: their spread is "
                "the one that says whether the samplers differ."
            )
        if sd_not_se is not None and math.isclose(got, sd_not_se):
            return (
                False,
                "Divide the spread of the differences by √(number of seeds): the standard error, not the standard deviation.",
            )
        if strict is not None and math.isclose(got, strict):
            return (
                False,
                "You asked for a mean difference ≤ 0; the tolerance is two standard errors of the paired differences.",
            )
        if math.isclose(got, (1000 / expected) / 1000):
            return False, "Upside down: the speed-up is T / S."
        return (
            False,
            f"Got {got:g}, expected {expected:g}. Hint: for each S from the smallest, differences seed by seed, their mean and standard error.",
        )
    return (
        True,
        "Paired over x_T, the spread is that of the differences, and it is what makes a small speed-up claim checkable.",
    )
