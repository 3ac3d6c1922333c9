"""Checkers for the notebooks' exercises: specific feedback, never only "incorrect".

Each exercise has an id ("01.2" = notebook 01, exercise 2), a skeleton (what a student starts
from: signature, docstring, ``...``) and a checker. A checker accepts any correct answer (a
function, or a value where the exercise asks for one), tests a function on fresh random inputs
against this package's reference, and answers a wrong one with what differs, by how much, and a
hint; for the usual mistakes (alpha_t used for alpha_bar_t, a missing square root, sigma applied
twice, ...) it names the mistake.

    from ddim_edu.exercises import check
    check("02.1", my_sigma)        # shows the feedback; bool(feedback) is True when correct

Instructor notebooks end each exercise's solution cell with ``assert check(...)``;
``python -m ddim_edu.classroom build`` turns them into student notebooks.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .forward import ddim_sigma, ddpm_posterior
from .schedule import linear_schedule


@dataclass
class Feedback:
    """The verdict on one answer: ``ok``, and a message that says why."""

    exercise: str
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    @property
    def verdict(self) -> str:
        return f"Exercise {self.exercise}: {'✅ correct' if self.ok else '❌ not yet'}."

    def __str__(self) -> str:
        return f"{self.verdict} {self.message}"

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        return f"**{self.verdict}** {self.message}"


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    skeleton: str  # the code a student starts from
    checker: Callable[[object, int], tuple[bool, str]]


# --- helpers --------------------------------------------------------------------------------------


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_schedule_betas(gen: torch.Generator) -> torch.Tensor:
    n = int(torch.randint(20, 400, (1,), generator=gen))
    return (torch.rand(n, generator=gen, dtype=torch.float64) * 0.04 + 1e-4).sort().values


def _random_levels(gen: torch.Generator, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs (alpha_bar_t, alpha_bar_prev) with 0 < alpha_bar_t < alpha_bar_prev < 1."""
    a_t = torch.rand(n, generator=gen, dtype=torch.float64) * 0.9 + 0.05
    a_prev = a_t + (1 - a_t) * (torch.rand(n, generator=gen, dtype=torch.float64) * 0.9 + 0.05)
    return a_t, a_prev


def _as_tensor(value: object) -> torch.Tensor | None:
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def _unanswered(answer: object) -> str | None:
    if answer is Ellipsis or answer is None:
        return "Not answered yet: replace the `...` with your answer."
    return None


def _call(fn: object, *args) -> tuple[object, str | None]:
    """fn(*args), or an explanation of why it could not be called or returned nothing."""
    if not callable(fn):
        return None, f"Expected a function, got {type(fn).__name__}."
    try:
        out = fn(*args)
    except Exception as err:  # a student's function may raise anything
        return None, f"Your function raised {type(err).__name__}: {err}"
    if out is None or out is Ellipsis:
        return (
            None,
            "Your function returned nothing: replace the `...` with your code and `return` the result.",
        )
    return out, None


def _compare(
    got: torch.Tensor,
    expected: torch.Tensor,
    what: str,
    mistakes: dict[str, torch.Tensor],
    hint: str,
) -> tuple[bool, str]:
    """Equal within 1e-4 (relative), else name a known mistake, else the largest difference."""
    got, expected = got.double(), expected.double()
    if got.shape != expected.shape:
        return False, f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}."
    if torch.allclose(got, expected, rtol=1e-4, atol=1e-7):  # float32 answers pass too
        return True, f"{what} matches the reference on fresh random inputs."
    for message, wrong in mistakes.items():
        if wrong.shape == got.shape and torch.allclose(got, wrong.double(), rtol=1e-4, atol=1e-7):
            return False, f"{message} Hint: {hint}"
    i = int((got - expected).abs().argmax())
    g, e = float(got.reshape(-1)[i]), float(expected.reshape(-1)[i])
    return False, (
        f"{what} differs from the reference: got {g:.4g}, expected {e:.4g} "
        f"(largest difference {abs(g - e):.2g}). Hint: {hint}"
    )


# --- notebook 01: the forward process -------------------------------------------------------------


def _check_alpha_bar(fn, seed: int) -> tuple[bool, str]:
    if msg := _unanswered(fn):
        return False, msg
    betas = _random_schedule_betas(_rng(seed))
    out, err = _call(fn, betas.clone())
    if err:
        return False, err
    got = _as_tensor(out)
    if got is None:
        return False, f"Expected a tensor of {len(betas)} values, got {type(out).__name__}."
    alphas = 1 - betas
    expected = torch.cumprod(alphas, 0)
    mistakes = {
        "You returned α_t = 1 − β_t itself, not the cumulative product ᾱ_t.": alphas,
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


def _check_q_sample(fn, seed: int) -> tuple[bool, str]:
    if msg := _unanswered(fn):
        return False, msg
    gen = _rng(seed)
    x0 = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    a = float(torch.rand(1, generator=gen, dtype=torch.float64)) * 0.8 + 0.1
    out, err = _call(fn, x0.clone(), a, eps.clone())
    if err:
        return False, err
    got = _as_tensor(out)
    if got is None:
        return False, f"Expected a tensor, got {type(out).__name__}."
    expected = math.sqrt(a) * x0 + math.sqrt(1 - a) * eps
    mistakes = {
        "The square roots are missing: the coefficients are √ᾱ and √(1 − ᾱ), not ᾱ and 1 − ᾱ.": a
        * x0
        + (1 - a) * eps,
        "The two coefficients are swapped: x_0 gets √ᾱ, the noise √(1 − ᾱ).": math.sqrt(1 - a) * x0
        + math.sqrt(a) * eps,
        "The noise term is missing.": math.sqrt(a) * x0,
    }
    return _compare(
        got,
        expected,
        "x_t",
        mistakes,
        "x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε keeps unit variance for unit-variance data.",
    )


def _check_half_signal(value, seed: int) -> tuple[bool, str]:
    if msg := _unanswered(value):
        return False, msg
    ab = linear_schedule().alpha_bar
    expected = int(torch.nonzero(ab.sqrt() < 0.5)[0])
    wrong_no_sqrt = int(torch.nonzero(ab < 0.5)[0])
    if isinstance(value, bool) or not isinstance(value, int):
        if hasattr(value, "__index__"):
            value = int(value.__index__())
        else:
            return False, f"Expected a whole number (a timestep), got {value!r}."
    if value == expected:
        return (
            True,
            f"t = {expected}: √ᾱ_t = {ab[expected].sqrt():.4f} < 0.5, SNR ᾱ/(1 − ᾱ) = {ab[expected] / (1 - ab[expected]):.3f}.",
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


def _check_posterior_variance(fn, seed: int) -> tuple[bool, str]:
    if msg := _unanswered(fn):
        return False, msg
    a_t, a_prev = _random_levels(_rng(seed))
    got = []
    for at, ap in zip(a_t.tolist(), a_prev.tolist()):
        out, err = _call(fn, at, ap)
        if err:
            return False, err
        v = _as_tensor(out)
        if v is None or v.numel() != 1:
            return False, f"Expected one number, got {out!r}."
        got.append(float(v))
    got_t = torch.tensor(got, dtype=torch.float64)
    expected = torch.tensor(
        [ddpm_posterior(at, ap)[2] for at, ap in zip(a_t.tolist(), a_prev.tolist())]
    )
    beta = 1 - a_t / a_prev
    mistakes = {
        "That is β_t, the forward step's variance; the posterior's is smaller by (1 − ᾱ_{t−1}) / (1 − ᾱ_t).": beta,
        "That is the standard deviation; the exercise asks for the variance β̃_t.": expected.sqrt(),
        "You used ᾱ_t where ᾱ_{t−1} belongs in the first factor.": (1 - a_t) / (1 - a_prev) * beta,
    }
    return _compare(
        got_t, expected, "β̃_t", mistakes, "β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · (1 − ᾱ_t / ᾱ_{t−1})."
    )


# --- notebook 02: the non-Markovian process ---------------------------------------------------------


def _check_sigma(fn, seed: int) -> tuple[bool, str]:
    if msg := _unanswered(fn):
        return False, msg
    gen = _rng(seed)
    a_t, a_prev = _random_levels(gen)
    etas = torch.rand(len(a_t), generator=gen, dtype=torch.float64)
    etas[0], etas[1] = 1.0, 0.0
    got = []
    for at, ap, eta in zip(a_t.tolist(), a_prev.tolist(), etas.tolist()):
        out, err = _call(fn, at, ap, eta)
        if err:
            return False, err
        v = _as_tensor(out)
        if v is None or v.numel() != 1:
            return False, f"Expected one number, got {out!r}."
        got.append(float(v))
    got_t = torch.tensor(got, dtype=torch.float64)
    expected = torch.tensor(
        [ddim_sigma(at, ap, e) for at, ap, e in zip(a_t.tolist(), a_prev.tolist(), etas.tolist())]
    )
    if not math.isclose(got[0], expected[0], rel_tol=1e-6):
        ddpm_std = math.sqrt(ddpm_posterior(a_t[0].item(), a_prev[0].item())[2])
        return False, (
            f"Your σ at η = 1 should equal DDPM's posterior standard deviation: got {got[0]:.4g}, "
            f"expected {ddpm_std:.4g}. "
            + _compare(got_t, expected, "σ", _sigma_mistakes(a_t, a_prev, etas), _SIGMA_HINT)[1]
        )
    return _compare(got_t, expected, "σ", _sigma_mistakes(a_t, a_prev, etas), _SIGMA_HINT)


_SIGMA_HINT = "eq. 16: σ_t(η) = η √((1 − ᾱ_{t−1}) / (1 − ᾱ_t)) √(1 − ᾱ_t / ᾱ_{t−1})."


def _sigma_mistakes(a_t, a_prev, etas) -> dict[str, torch.Tensor]:
    right = etas * ((1 - a_prev) / (1 - a_t)).sqrt() * (1 - a_t / a_prev).sqrt()
    return {
        "You returned σ² (the variance): a square root is missing.": right**2,
        "η is applied twice (η² instead of η): σ is linear in η.": etas * right,
        "You used ᾱ_t / ᾱ_{t−1} where 1 − ᾱ_t / ᾱ_{t−1} belongs (that is α_t, not β_t).": etas
        * ((1 - a_prev) / (1 - a_t)).sqrt()
        * (a_t / a_prev).sqrt(),
        "The factor √((1 − ᾱ_{t−1}) / (1 − ᾱ_t)) is missing: that is η √β_t, DDPM's larger σ̂ scaled.": etas
        * (1 - a_t / a_prev).sqrt(),
    }


def _check_posterior_mean(fn, seed: int) -> tuple[bool, str]:
    if msg := _unanswered(fn):
        return False, msg
    gen = _rng(seed)
    a_t, a_prev = _random_levels(gen, n=1)
    at, ap = float(a_t), float(a_prev)
    sigma = ddim_sigma(at, ap, 0.6)
    x0 = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    xt = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    out, err = _call(fn, x0.clone(), xt.clone(), at, ap, sigma)
    if err:
        return False, err
    got = _as_tensor(out)
    if got is None:
        return False, f"Expected a tensor, got {type(out).__name__}."
    direction = (xt - math.sqrt(at) * x0) / math.sqrt(1 - at)
    expected = math.sqrt(ap) * x0 + math.sqrt(1 - ap - sigma**2) * direction
    mistakes = {
        "σ² is missing under the square root: the direction term is √(1 − ᾱ_{t−1} − σ²).": math.sqrt(
            ap
        )
        * x0
        + math.sqrt(1 - ap) * direction,
        "x_0's coefficient uses ᾱ_t: it should be √ᾱ_{t−1}, the level you step to.": math.sqrt(at)
        * x0
        + math.sqrt(1 - ap - sigma**2) * direction,
        "The direction is not normalised: divide (x_t − √ᾱ_t x_0) by √(1 − ᾱ_t) to get ε.": math.sqrt(
            ap
        )
        * x0
        + math.sqrt(1 - ap - sigma**2) * (xt - math.sqrt(at) * x0),
    }
    return _compare(
        got,
        expected,
        "the mean",
        mistakes,
        "eq. 7: √ᾱ_{t−1} x_0 + √(1 − ᾱ_{t−1} − σ²) (x_t − √ᾱ_t x_0) / √(1 − ᾱ_t).",
    )


def _check_ddim_step(fn, seed: int) -> tuple[bool, str]:
    if msg := _unanswered(fn):
        return False, msg
    gen = _rng(seed)
    a_t, a_prev = _random_levels(gen, n=1)
    at, ap = float(a_t), float(a_prev)
    xt = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    z = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eta = 0.7
    out, err = _call(fn, xt.clone(), eps.clone(), at, ap, eta, z.clone())
    if err:
        return False, err
    got = _as_tensor(out)
    if got is None:
        return False, f"Expected a tensor, got {type(out).__name__}."
    sigma = ddim_sigma(at, ap, eta)
    x0 = (xt - math.sqrt(1 - at) * eps) / math.sqrt(at)
    expected = math.sqrt(ap) * x0 + math.sqrt(1 - ap - sigma**2) * eps + sigma * z
    mistakes = {
        "σ is applied twice: the noise term is σ z, not σ² z.": math.sqrt(ap) * x0
        + math.sqrt(1 - ap - sigma**2) * eps
        + sigma**2 * z,
        "The direction term keeps √(1 − ᾱ_{t−1}): with noise added it must be √(1 − ᾱ_{t−1} − σ²).": math.sqrt(
            ap
        )
        * x0
        + math.sqrt(1 - ap) * eps
        + sigma * z,
        "The predicted x_0 lacks its square roots: x_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t.": math.sqrt(
            ap
        )
        * ((xt - (1 - at) * eps) / at)
        + math.sqrt(1 - ap - sigma**2) * eps
        + sigma * z,
        "The noise term is missing (that is the η = 0 update).": math.sqrt(ap) * x0
        + math.sqrt(1 - ap - sigma**2) * eps,
    }
    return _compare(
        got,
        expected,
        "x_{t−1}",
        mistakes,
        "eq. 12 with σ from eq. 16; check it against `ddim_edu.sampling.ddim_step`.",
    )


EXERCISES: dict[str, Exercise] = {
    e.id: e
    for e in [
        Exercise(
            "01.1",
            "ᾱ from the betas",
            'def alpha_bar_from_betas(betas):\n    """ᾱ_t for t = 0..T-1 from a 1-D tensor of β_t."""\n    ...',
            _check_alpha_bar,
        ),
        Exercise(
            "01.2",
            "sampling q(x_t | x_0)",
            'def q_sample(x0, alpha_bar_t, eps):\n    """x_t drawn from q(x_t | x_0), given the noise eps (same shape as x0)."""\n    ...',
            _check_q_sample,
        ),
        Exercise(
            "01.3",
            "where half the signal is gone",
            "half_signal_t = ...  # the first t (linear schedule) with sqrt(alpha_bar_t) < 0.5",
            _check_half_signal,
        ),
        Exercise(
            "01.4",
            "the posterior's variance",
            'def posterior_variance(alpha_bar_t, alpha_bar_prev):\n    """β̃_t, the variance of q(x_{t-1} | x_t, x_0), from two levels of ᾱ."""\n    ...',
            _check_posterior_variance,
        ),
        Exercise(
            "02.1",
            "σ_t(η)",
            'def sigma(alpha_bar_t, alpha_bar_prev, eta):\n    """σ_t(η) of eq. 16 for a step from level alpha_bar_t to alpha_bar_prev."""\n    ...',
            _check_sigma,
        ),
        Exercise(
            "02.2",
            "the mean of q_σ(x_{t−1} | x_t, x_0)",
            'def posterior_mean(x0, xt, alpha_bar_t, alpha_bar_prev, sigma):\n    """The mean of eq. 7."""\n    ...',
            _check_posterior_mean,
        ),
        Exercise(
            "02.3",
            "one DDIM step",
            'def my_ddim_step(xt, eps, alpha_bar_t, alpha_bar_prev, eta, z):\n    """x_{t-1} by eq. 12 with σ_t(η) of eq. 16; z is standard normal noise."""\n    ...',
            _check_ddim_step,
        ),
    ]
}


def check(exercise: str, answer: object, seed: int | None = None) -> Feedback:
    """Check an answer to an exercise; returns (and, in a notebook, displays) the feedback.

    A function is tried on random inputs drawn afresh at every call (pass ``seed`` to repeat a
    draw); a value is compared with the package's own result.
    """
    if exercise not in EXERCISES:
        raise ValueError(f"exercise must be one of {', '.join(EXERCISES)}, got {exercise!r}")
    if seed is None:
        seed = secrets.randbits(31)
    ok, message = EXERCISES[exercise].checker(answer, seed)
    return Feedback(exercise, ok, message)
