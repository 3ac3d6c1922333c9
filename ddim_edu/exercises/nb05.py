"""Exercises of notebook 05, quality against S and η: the speed-up, the Fréchet distance, and the
noise that class counts put into a feature mean."""

from __future__ import annotations

import math

import torch

from .. import records
from ..metrics import _sqrtm_psd
from ._core import _as_tensor, _compare, _rng, _tensor, exercise


@exercise(
    "05.1",
    "the speed-up at matched quality",
    """
    speedup = ...  # 1000 / (smallest S at which eta = 0 is at least as good as eta = 1 with S = 1000)
    """,
)
def _check_speedup(value, seed: int) -> tuple[bool, str]:
    stored = records.load("digits_quality")
    g = stored["grid"]
    row = {str(e): dict(zip(g["steps"], v)) for e, v in zip(g["etas"], g["values"])}
    target = row["1.0"][1000]
    s_match = min(S for S in g["steps"] if row["0.0"][S] <= target)
    expected = 1000 // s_match
    loose = [S for S in g["steps"] if row["0.0"][S] <= 1.5 * target]
    v = _as_tensor(value)
    if v is None or v.numel() != 1:
        return False, f"Expected one number (a speed-up factor), got {value!r}."
    v = float(v)
    if math.isclose(v, expected, rel_tol=1e-6):
        return (
            True,
            f"η = 0 first matches η = 1 at S = 1000 when S = {s_match}: {expected}× fewer network calls.",
        )
    if loose and math.isclose(v, 1000 // min(loose), rel_tol=1e-6):
        return (
            False,
            "That is the speed-up within 1.5× of the quality; the exercise asks for at least as good (≤). Hint: compare with ≤ target.",
        )
    if math.isclose(v, s_match / 1000, rel_tol=1e-6):
        return False, f"Upside down: the speed-up is 1000 / S, here 1000 / {s_match}."
    return False, (
        f"Got {v:g}. Hint: take η = 1 at S = 1000 as the target, find the smallest S where the η = 0 row is ≤ it, "
        "and divide 1000 by that S."
    )


def _random_spd(gen: torch.Generator, d: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


@exercise(
    "05.2",
    "the Fréchet distance",
    '''
    def frechet(mu1, c1, mu2, c2):
        """The Fréchet distance between N(mu1, c1) and N(mu2, c2)."""
        ...
    ''',
)
def _check_frechet(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    d = 6
    mu1, mu2 = (
        torch.randn(d, generator=gen, dtype=torch.float64),
        torch.randn(d, generator=gen, dtype=torch.float64),
    )
    c1, c2 = _random_spd(gen, d), _random_spd(gen, d)
    got = _tensor(fn, mu1.clone(), c1.clone(), mu2.clone(), c2.clone(), scalar=True)
    # the matrix square root metrics.frechet_distance uses (it takes feature sets, not moments)
    s1 = _sqrtm_psd(c1)
    cross = torch.trace(_sqrtm_psd(s1 @ c2 @ s1))
    mean_term = ((mu1 - mu2) ** 2).sum()
    traces = torch.trace(c1) + torch.trace(c2)
    expected = mean_term + traces - 2 * cross
    mistakes = {
        "The factor 2 in front of the cross term is missing.": mean_term + traces - cross,
        "The mean term |μ₁ − μ₂|² is missing.": traces - 2 * cross,
        "The square root of C₁C₂ was taken element by element; it must be a matrix square root.": mean_term
        + traces
        - 2 * torch.trace((c1 @ c2).abs().sqrt()),
        "|μ₁ − μ₂| is not squared.": (mu1 - mu2).norm() + traces - 2 * cross,
    }
    return _compare(
        got.reshape(()),
        expected,
        "the distance",
        mistakes,
        "|μ₁ − μ₂|² + tr(C₁ + C₂ − 2 (C₁^½ C₂ C₁^½)^½); eigh gives matrix square roots.",
    )


@exercise(
    "05.3",
    "class-count noise in the feature mean",
    '''
    def class_count_shift(class_means, p, n):
        """E‖m̂ − m‖² for a chunk of n i.i.d. samples whose class counts c are Multinomial(n, p):
        m̂ = Σ_k (c_k / n) μ_k, m = Σ_k p_k μ_k; class_means is (K, d), p is (K,)."""
        ...
    ''',
)
def _check_class_count_shift(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    k = int(torch.randint(4, 11, (1,), generator=gen))
    d = int(torch.randint(3, 9, (1,), generator=gen))
    n = int(torch.randint(50, 1000, (1,), generator=gen))
    means = torch.randn(k, d, generator=gen, dtype=torch.float64) * 2
    p = torch.softmax(torch.randn(k, generator=gen, dtype=torch.float64), 0)
    got = _tensor(fn, means.clone(), p.clone(), n, scalar=True)
    m = p @ means
    spread = (p * ((means - m) ** 2).sum(1)).sum()
    uniform = ((means - means.mean(0)) ** 2).sum(1).mean()
    mistakes = {
        "The 1 / n is missing: the counts' fractions c_k / n vary less as the chunk grows.": spread,
        "Divided by n²: Var(c_k / n) = p_k (1 − p_k) / n, one factor n.": spread / n**2,
        "The class means were not centred on m: the shift only sees their spread about the overall mean.": (
            p * (means**2).sum(1)
        ).sum()
        / n,
        "The classes were weighted equally; weight each by its probability p_k.": uniform / n,
    }
    return _compare(
        got.reshape(()),
        spread / n,
        "the expected squared shift",
        mistakes,
        "Cov(c / n) = (diag(p) − p pᵀ) / n, so E‖m̂ − m‖² = Σ_k p_k ‖μ_k − m‖² / n.",
    )
