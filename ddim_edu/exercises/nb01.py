"""Exercises of notebook 01, the forward process: ᾱ, sampling q(x_t | x_0), the posterior,
and the signal-to-noise ratio of the levels t = 0 .. T-1."""

from __future__ import annotations

import torch

from .._checks import _as_int
from ..forward import ddpm_posterior, q_sample, sigma_hat
from ..schedule import Schedule, cosine_schedule, linear_schedule
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
        got,
        expected,
        "ᾱ",
        mistakes,
        "ᾱ_t = ∏_{s ≤ t} (1 − β_s) is a running product: entry t holds the product of the α_s "
        "= 1 − β_s for every s up to and including t.",
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
        "section 2 gives the mean and the variance of q(x_t | x_0); ε has unit variance, so "
        "ask what it must be scaled by to carry variance 1 − ᾱ_t, and what scales x_0.",
    )


@exercise(
    "01.3",
    "where half the signal is gone",
    """
    half_signal_t = ...  # the first code index t (linear schedule) with sqrt(alpha_bar_t) < 0.5
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
    if not 0 <= value < len(ab):
        return (
            False,
            f"t = {value} is not a level: code indices run from 0 to T − 1 = {len(ab) - 1}.",
        )
    if value == expected:
        snr = schedule.snr()[expected]
        return (
            True,
            f"t = {expected}: √ᾱ_t = {ab[expected].sqrt():.4f} < 0.5, SNR ᾱ/(1 − ᾱ) = {snr:.3f}.",
        )
    if value == wrong_no_sqrt:
        return False, (
            f"t = {value} is where ᾱ_t drops below 0.5, but the signal's coefficient is √ᾱ_t. "
            "Hint: look at what multiplies x_0 in q(x_t | x_0)."
        )
    root = float(ab[value].sqrt())
    if value == expected + 1:
        return False, (
            "Off by one: one level earlier √ᾱ_t is already below 0.5. Hint: code indices start at "
            "0 (the first noisy level is t = 0), one less than the paper's."
        )
    if value == expected - 1:
        return False, (
            f"Off by one: at t = {value}, √ᾱ_t = {root:.4f} is still at or above 0.5; the question "
            "asks for the first t below it."
        )
    side = "still at or above" if root >= 0.5 else "already below"
    return False, (
        f"At t = {value}, √ᾱ_t = {root:.4f} is {side} 0.5: look for the first t where it is below "
        "0.5. Hint: compute √ᾱ_t for every level of the linear schedule at once and see where it "
        "crosses 0.5."
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
        got,
        expected,
        "β̃_t",
        mistakes,
        "β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t (section 5), where β_t is the one step from "
        "ᾱ_{t−1} to ᾱ_t: write it with the two levels alone (one step multiplies ᾱ by 1 − β_t).",
    )


def _snr_counts(schedule: Schedule) -> dict[str, int]:
    """The count 01.5 asks for, and the counts its typical mistakes give, for one schedule."""
    ab, snr = schedule.alpha_bar, schedule.snr()
    n = int((snr > 1).sum())
    return {
        "right": n,
        "below": int((snr < 1).sum()),  # counted the levels where noise dominates
        "plus_one": n + 1,  # the paper's (1-based) index of the first level below SNR = 1
        "minus_one": n - 1,  # the last index above SNR = 1, taken for the count
        "sqrt_half": int((ab.sqrt() > 0.5).sum()),  # exercise 01.3's threshold
        "one_root": int((ab > (1 - ab).sqrt()).sum()),  # a coefficient against a variance
    }


_SNR_MISTAKES = {
    "below": "you counted the levels with SNR below 1, where the noise dominates; the question "
    "asks for those where the signal does.",
    "plus_one": "one too many. The levels with SNR > 1 are t = 0, 1, … up to just before the "
    "first level below 1; with indices starting at 0, how many is that?",
    "minus_one": "one too few: that is the last index with SNR > 1, and indices start at 0.",
    "sqrt_half": "you counted the levels with √ᾱ_t > 0.5, exercise 01.3's threshold. SNR = 1 is "
    "where the two coefficients are equal, √ᾱ_t = √(1 − ᾱ_t).",
    "one_root": "you compared ᾱ_t with √(1 − ᾱ_t): compare like with like, the two coefficients "
    "or the two variances.",
}


@exercise(
    "01.5",
    "how many levels keep more signal than noise",
    """
    snr_above_one = ...  # [linear, cosine]: how many of the T = 1000 levels t have SNR_t > 1
    """,
)
def _check_snr_above_one(value, seed: int) -> tuple[bool, str]:
    schedules = {"linear": linear_schedule(), "cosine": cosine_schedule()}
    counts = {name: _snr_counts(s) for name, s in schedules.items()}
    T = len(schedules["linear"].alpha_bar)  # noqa: N806 (the paper's symbol)
    items = value.tolist() if hasattr(value, "tolist") else value
    if not isinstance(items, list | tuple) or len(items) != 2:
        return False, f"Expected two counts, [linear, cosine], got {value!r:.80}."
    got = [_as_int(v) for v in items]
    if None in got:
        try:
            numbers = [float(v) for v in items]
        except (TypeError, ValueError):
            numbers = []
        if numbers and all(0 < v < 1 for v in numbers):
            return False, (
                "Those look like fractions of the T levels; the question asks for counts "
                "(how many levels)."
            )
        return False, f"Expected two whole numbers (counts of levels), got {items!r:.80}."
    right = [c["right"] for c in counts.values()]
    if got == right:
        (n_lin, n_cos) = right
        return True, (
            f"Linear {n_lin}, cosine {n_cos} of the {T} levels keep more signal than noise "
            "(SNR > 1, the same as ᾱ_t > 1/2). SNR falls with t, so these are the levels "
            f"t = 0 … {n_lin - 1} (linear) and t = 0 … {n_cos - 1} (cosine): each count equals "
            "the code index where SNR first drops below 1, a level the paper, counting from 1, "
            f"calls t = {n_lin + 1} and t = {n_cos + 1}."
        )
    if got == right[::-1]:
        return False, "The two counts are swapped: the order is [linear, cosine]."
    verdicts = {}  # name -> (count given, the key of the mistake it matches, or None)
    for (name, c), g in zip(counts.items(), got):
        if g != c["right"]:
            verdicts[name] = (g, next((key for key in _SNR_MISTAKES if c[key] == g), None))
    keys = {key for _, key in verdicts.values()}
    if len(verdicts) == 2 and len(keys) == 1 and None not in keys:
        return False, f"Both counts ({got[0]}, {got[1]}): " + _SNR_MISTAKES[keys.pop()]
    parts = [f"The {name} count is right." for name in counts if name not in verdicts]
    for name, (g, key) in verdicts.items():
        if not 0 <= g <= T:
            parts.append(f"{name} ({g}): a count of levels lies between 0 and T = {T}.")
        elif key is not None:
            parts.append(f"{name} ({g}): " + _SNR_MISTAKES[key])
        else:
            side = "high" if g > counts[name]["right"] else "low"
            parts.append(
                f"{name} ({g}): too {side}. Hint: compute SNR_t = ᾱ_t / (1 − ᾱ_t) at every level "
                "of that schedule and count the levels where it exceeds 1."
            )
    return False, " ".join(parts)
