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


class _Reject(Exception):
    """Raised inside a checker when an answer cannot be checked; ``check`` turns it into feedback."""


def _call(fn: object, *args) -> object:
    """fn(*args), or _Reject with the reason it could not be called or returned nothing."""
    if not callable(fn):
        raise _Reject(f"Expected a function, got {type(fn).__name__}.")
    try:
        out = fn(*args)
    except Exception as err:  # a student's function may raise anything
        raise _Reject(f"Your function raised {type(err).__name__}: {err}") from None
    if out is None or out is Ellipsis:
        raise _Reject(
            "Your function returned nothing: replace the `...` with your code and `return` the result."
        )
    return out


def _tensor(fn: object, *args, scalar: bool = False) -> torch.Tensor:
    """fn(*args) as a float64 tensor (one number when ``scalar``), or _Reject saying what came back."""
    out = _call(fn, *args)
    got = _as_tensor(out)
    if got is None or (scalar and got.numel() != 1):
        want = "one number" if scalar else "a tensor"
        raise _Reject(f"Expected {want}, got {type(out).__name__}: {str(out)[:60]}")
    return got.reshape(()) if scalar else got


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
    betas = _random_schedule_betas(_rng(seed))
    got = _tensor(fn, betas.clone())
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
    gen = _rng(seed)
    x0 = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    a = float(torch.rand(1, generator=gen, dtype=torch.float64)) * 0.8 + 0.1
    got = _tensor(fn, x0.clone(), a, eps.clone())
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
    a_t, a_prev = _random_levels(_rng(seed))
    got = []
    for at, ap in zip(a_t.tolist(), a_prev.tolist()):
        got.append(float(_tensor(fn, at, ap, scalar=True)))
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
    gen = _rng(seed)
    a_t, a_prev = _random_levels(gen)
    etas = torch.rand(len(a_t), generator=gen, dtype=torch.float64)
    etas[0], etas[1] = 1.0, 0.0
    got = []
    for at, ap, eta in zip(a_t.tolist(), a_prev.tolist(), etas.tolist()):
        got.append(float(_tensor(fn, at, ap, eta, scalar=True)))
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
    gen = _rng(seed)
    a_t, a_prev = _random_levels(gen, n=1)
    at, ap = float(a_t), float(a_prev)
    sigma = ddim_sigma(at, ap, 0.6)
    x0 = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    xt = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    got = _tensor(fn, x0.clone(), xt.clone(), at, ap, sigma)
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
    gen = _rng(seed)
    a_t, a_prev = _random_levels(gen, n=1)
    at, ap = float(a_t), float(a_prev)
    xt = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    z = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eta = 0.7
    got = _tensor(fn, xt.clone(), eps.clone(), at, ap, eta, z.clone())
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


# --- notebook 03: training --------------------------------------------------------------------------


def _linear_net(gen: torch.Generator, d: int = 2):
    """A fixed random 'network' eps(x, t) for checking losses: linear in x, smooth in t."""
    w = torch.randn(d, d, generator=gen, dtype=torch.float64) * 0.3
    return lambda x, t: x @ w + 0.001 * t.to(torch.float64)[:, None]


def _check_simple_loss(fn, seed: int) -> tuple[bool, str]:
    # one loss is one number, and a wrong formula can match it by chance on one draw (the x_0 target
    # has the noise's distribution here): the answer must match on three independent draws
    gen = _rng(seed)
    for _ in range(3):
        ok, message = _simple_loss_once(fn, gen)
        if not ok:
            break
    return ok, message


def _simple_loss_once(fn, gen: torch.Generator) -> tuple[bool, str]:
    ab = linear_schedule().alpha_bar
    net = _linear_net(gen)
    x0 = torch.randn(128, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(128, 2, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 1000, (128,), generator=gen)
    got = _tensor(fn, net, x0.clone(), t.clone(), eps.clone(), ab, scalar=True)
    a = ab[t][:, None]
    xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
    expected = ((net(xt, t) - eps) ** 2).mean()
    mistakes = {
        "The target is the noise ε, not x_0 (that is the x0-prediction loss).": (
            (net(xt, t) - x0) ** 2
        ).mean(),
        "x_t lacks its square roots: x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε.": (
            (net(a * x0 + (1 - a) * eps, t) - eps) ** 2
        ).mean(),
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
        "noise x_0 to level ᾱ_t with ε, then mean((ε_θ(x_t, t) − ε)²).",
    )


def _check_v_target(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    x0 = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    a = float(torch.rand(1, generator=gen, dtype=torch.float64)) * 0.8 + 0.1
    got = _tensor(fn, x0.clone(), eps.clone(), a)
    sa, s1a = math.sqrt(a), math.sqrt(1 - a)
    expected = sa * eps - s1a * x0
    mistakes = {
        "The sign is flipped: v = √ᾱ ε − √(1 − ᾱ) x_0.": s1a * x0 - sa * eps,
        "The coefficients are swapped: ε gets √ᾱ and x_0 gets √(1 − ᾱ).": s1a * eps - sa * x0,
        "The square roots are missing.": a * eps - (1 - a) * x0,
    }
    return _compare(
        got,
        expected,
        "v",
        mistakes,
        "v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 (Salimans & Ho); see `ddim_edu.sampling.eps_and_x0`.",
    )


# --- notebook 04: trajectories and the ODE ------------------------------------------------------------


def _check_ode_coordinates(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    x = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    a = float(torch.rand(1, generator=gen, dtype=torch.float64)) * 0.9 + 0.05
    out = _call(fn, x.clone(), a)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return False, f"Return a pair (x_bar, sigma), got {type(out).__name__}."
    xbar, sig = _as_tensor(out[0]), _as_tensor(out[1])
    if xbar is None or sig is None:
        return False, "Both x_bar and sigma must be numbers or tensors."
    ok, msg = _compare(
        xbar,
        x / math.sqrt(a),
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
        torch.tensor(math.sqrt((1 - a) / a), dtype=torch.float64),
        "sigma",
        {
            "sigma lacks its square root: σ = √((1 − ᾱ) / ᾱ).": torch.tensor(
                (1 - a) / a, dtype=torch.float64
            ),
            "sigma is upside down: σ = √((1 − ᾱ) / ᾱ), the noise-to-signal ratio.": torch.tensor(
                math.sqrt(a / (1 - a)), dtype=torch.float64
            ),
        },
        "σ_t = √((1 − ᾱ_t) / ᾱ_t) grows from 0 at the data to large at x_T.",
    )
    return ok, ("x̄ and σ match the reference on fresh random inputs." if ok else msg)


def _check_euler_step(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    at, ap = (float(v) for v in _random_levels(gen, n=1))
    xt = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    got = _tensor(fn, xt.clone(), eps.clone(), at, ap)
    s_t, s_p = math.sqrt((1 - at) / at), math.sqrt((1 - ap) / ap)
    xbar_prev = xt / math.sqrt(at) + (s_p - s_t) * eps
    expected = math.sqrt(ap) * xbar_prev
    mistakes = {
        "You returned x̄_{t−1}: multiply by √ᾱ_{t−1} to come back to x.": xbar_prev,
        "The step goes the wrong way: use (σ_{t−1} − σ_t), which is negative when denoising.": math.sqrt(
            ap
        )
        * (xt / math.sqrt(at) + (s_t - s_p) * eps),
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


# --- notebook 05: quality against S and eta -------------------------------------------------------------


def _sqrtm(c: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(c)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def _random_spd(gen: torch.Generator, d: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def _check_frechet(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    d = 6
    mu1, mu2 = (
        torch.randn(d, generator=gen, dtype=torch.float64),
        torch.randn(d, generator=gen, dtype=torch.float64),
    )
    c1, c2 = _random_spd(gen, d), _random_spd(gen, d)
    got = _tensor(fn, mu1.clone(), c1.clone(), mu2.clone(), c2.clone(), scalar=True)
    s1 = _sqrtm(c1)
    cross = torch.trace(_sqrtm(s1 @ c2 @ s1))
    mean_term = ((mu1 - mu2) ** 2).sum()
    expected = mean_term + torch.trace(c1) + torch.trace(c2) - 2 * cross
    mistakes = {
        "The factor 2 in front of the cross term is missing.": mean_term
        + torch.trace(c1)
        + torch.trace(c2)
        - cross,
        "The mean term |μ₁ − μ₂|² is missing.": torch.trace(c1) + torch.trace(c2) - 2 * cross,
        "The square root of C₁C₂ was taken element by element; it must be a matrix square root.": mean_term
        + torch.trace(c1)
        + torch.trace(c2)
        - 2 * torch.trace((c1 @ c2).abs().sqrt()),
        "|μ₁ − μ₂| is not squared.": (mu1 - mu2).norm()
        + torch.trace(c1)
        + torch.trace(c2)
        - 2 * cross,
    }
    return _compare(
        got.reshape(()),
        expected,
        "the distance",
        mistakes,
        "|μ₁ − μ₂|² + tr(C₁ + C₂ − 2 (C₁^½ C₂ C₁^½)^½); eigh gives matrix square roots.",
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


def _check_speedup(value, seed: int) -> tuple[bool, str]:
    import json

    from .nb import repository_file

    stored = json.loads(repository_file("benchmarks/results/digits_quality.json").read_text())
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


# --- notebook 06: inversion and interpolation ---------------------------------------------------------


def _check_slerp(fn, seed: int) -> tuple[bool, str]:
    from .latent import lerp, slerp

    gen = _rng(seed)
    z0 = torch.randn(64, generator=gen, dtype=torch.float64)
    z1 = torch.randn(64, generator=gen, dtype=torch.float64)
    alphas = [0.0, 0.25, 0.5, 0.9]
    got, expected, lin, swapped = [], [], [], []
    for a in alphas:
        out = _call(fn, z0.clone(), z1.clone(), a)
        v = _as_tensor(out)
        if v is None or v.shape != z0.shape:
            return False, f"Expected a tensor of shape {tuple(z0.shape)}, got {out!r:.60}."
        got.append(v)
        expected.append(slerp(z0[None], z1[None], a)[0])
        lin.append(lerp(z0, z1, a))
        swapped.append(slerp(z0[None], z1[None], 1 - a)[0])
    got_t, exp_t = torch.stack(got), torch.stack(expected)
    theta = torch.arccos((z0 @ z1) / (z0.norm() * z1.norm()))
    no_division = torch.stack(
        [torch.sin((1 - a) * theta) * z0 + torch.sin(a * theta) * z1 for a in alphas]
    )
    mistakes = {
        "That is linear interpolation: its midpoint has a smaller norm than either end.": torch.stack(
            lin
        ),
        "α runs the wrong way: α = 0 must give z0 and α = 1 give z1.": torch.stack(swapped),
        "The weights are not divided by sin θ: the path leaves the circle between the ends.": no_division,
    }
    return _compare(
        got_t, exp_t, "slerp", mistakes,
        f"θ = arccos(z0·z1 / (|z0| |z1|)) (here {float(theta):.3f} rad), weights sin((1 − α)θ)/sin θ and sin(αθ)/sin θ.",
    )  # fmt: skip


def _check_invert_step(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    a_to, a_from = (float(v) for v in _random_levels(gen, n=1))  # a_to < a_from: noisier
    x = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    got = _tensor(fn, x.clone(), eps.clone(), a_from, a_to)
    x0 = (x - math.sqrt(1 - a_from) * eps) / math.sqrt(a_from)
    expected = math.sqrt(a_to) * x0 + math.sqrt(1 - a_to) * eps
    x0_wrong = (x - math.sqrt(1 - a_to) * eps) / math.sqrt(a_to)
    mistakes = {
        "The levels are swapped: x_0 comes from the level you start at (ᾱ_from), the step lands on ᾱ_to.": math.sqrt(
            a_from
        )
        * x0_wrong
        + math.sqrt(1 - a_from) * eps,
        "The predicted x_0 lacks its square roots.": math.sqrt(a_to)
        * ((x - (1 - a_from) * eps) / a_from)
        + math.sqrt(1 - a_to) * eps,
        "The noise direction is missing: add √(1 − ᾱ_to) ε.": math.sqrt(a_to) * x0,
    }
    return _compare(
        got,
        expected,
        "x at the noisier level",
        mistakes,
        "run the η = 0 step upwards: predict x_0 at ᾱ_from, then √ᾱ_to x_0 + √(1 − ᾱ_to) ε.",
    )


# --- notebook 07: the explorer -------------------------------------------------------------------------


def _check_total_noise(fn, seed: int) -> tuple[bool, str]:
    from .sampling import ddim_coefficients
    from .schedule import timesteps

    gen = _rng(seed)
    cases = [
        (int(torch.randint(2, 60, (1,), generator=gen)), float(torch.rand(1, generator=gen)))
        for _ in range(4)
    ]
    cases[0] = (10, 1.0)
    schedule = linear_schedule()
    got, expected, sum_sigma, with_last = [], [], [], []
    for S, eta in cases:
        got.append(float(_tensor(fn, S, eta, scalar=True)))
        coeffs = ddim_coefficients(schedule, timesteps(S), eta)
        expected.append(sum(c[4] ** 2 for c in coeffs))
        sum_sigma.append(sum(c[4] for c in coeffs))
        with_last.append(
            sum(c[4] ** 2 for c in ddim_coefficients(schedule, timesteps(S), 1.0)) * eta
        )
    mistakes = {
        "You added the σ's; variances add, so sum σ².": torch.tensor(
            sum_sigma, dtype=torch.float64
        ),
        "σ_t(η)² grows like η², not like η: σ itself is linear in η.": torch.tensor(
            with_last, dtype=torch.float64
        ),
    }
    return _compare(
        torch.tensor(got, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64),
        "the total variance", mistakes,
        "loop over `ddim_coefficients(linear_schedule(), timesteps(S), eta)` and add the last entry squared.",
    )  # fmt: skip


def _check_uniform_timesteps(fn, seed: int) -> tuple[bool, str]:
    from .schedule import timesteps

    gen = _rng(seed)
    for S in [10, 1, 1000, int(torch.randint(2, 999, (1,), generator=gen))]:
        out = _call(fn, S, 1000)
        try:
            got = [int(v) for v in out]
        except (TypeError, ValueError):
            return False, f"Expected a list of ints, got {out!r:.80}."
        expected = timesteps(S, 1000, "uniform")
        if got == expected:
            continue
        if got == expected[::-1]:
            return (
                False,
                "The order is ascending: the sampler visits timesteps from noisy to clean, so list them descending.",
            )
        if got == timesteps(S, 1000, "trailing"):
            return (
                False,
                "That is the 'trailing' spacing (it starts at T − 1); 'uniform' is range(0, T, T // S), as the paper's code.",
            )
        if got == timesteps(S, 1000, "linspace"):
            return False, "That is the 'linspace' spacing; 'uniform' uses the step T // S from 0."
        return (
            False,
            f"For S = {S}: got {got[:5]}..., expected {expected[:5]}... Hint: list(range(0, T, T // S))[:S], reversed.",
        )
    return True, "matches `timesteps(S, T, 'uniform')` for every S tried."


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
        Exercise(
            "03.1",
            "the simple loss",
            'def simple_loss(eps_model, x0, t, eps, alpha_bar):\n    """DDPM\'s simple loss for a batch x0 (B, d), timesteps t (B,), noise eps and the schedule\'s alpha_bar (T,)."""\n    ...',
            _check_simple_loss,
        ),
        Exercise(
            "03.2",
            "the v target",
            'def v_target(x0, eps, alpha_bar_t):\n    """The velocity a v-prediction network learns at level alpha_bar_t."""\n    ...',
            _check_v_target,
        ),
        Exercise(
            "04.1",
            "the ODE's coordinates",
            'def ode_coordinates(x, alpha_bar):\n    """(x_bar, sigma) of eq. 13 for x at level alpha_bar."""\n    ...',
            _check_ode_coordinates,
        ),
        Exercise(
            "04.2",
            "one Euler step of the ODE",
            'def euler_step(xt, eps, alpha_bar_t, alpha_bar_prev):\n    """x at level alpha_bar_prev after one Euler step of eq. 14 in sigma, from xt with noise prediction eps."""\n    ...',
            _check_euler_step,
        ),
        Exercise(
            "05.1",
            "the speed-up at matched quality",
            "speedup = ...  # 1000 / (smallest S at which eta = 0 is at least as good as eta = 1 with S = 1000)",
            _check_speedup,
        ),
        Exercise(
            "05.2",
            "the Fréchet distance",
            'def frechet(mu1, c1, mu2, c2):\n    """The Fréchet distance between N(mu1, c1) and N(mu2, c2)."""\n    ...',
            _check_frechet,
        ),
        Exercise(
            "05.3",
            "class-count noise in the feature mean",
            'def class_count_shift(class_means, p, n):\n    """E‖m̂ − m‖² for a chunk of n i.i.d. samples whose class counts c are Multinomial(n, p):\n    m̂ = Σ_k (c_k / n) μ_k, m = Σ_k p_k μ_k; class_means is (K, d), p is (K,)."""\n    ...',
            _check_class_count_shift,
        ),
        Exercise(
            "06.1",
            "spherical interpolation",
            'def my_slerp(z0, z1, alpha):\n    """The point a fraction alpha of the way from z0 to z1 along the great circle (1-D tensors)."""\n    ...',
            _check_slerp,
        ),
        Exercise(
            "06.2",
            "one step of the encoder",
            'def invert_step(x, eps, alpha_bar_from, alpha_bar_to):\n    """x moved from level alpha_bar_from up to the noisier alpha_bar_to along the DDIM ODE."""\n    ...',
            _check_invert_step,
        ),
        Exercise(
            "07.1",
            "the noise a sampler adds",
            'def total_noise_variance(S, eta):\n    """The sum of sigma_t(eta)^2 over the steps of the linear schedule\'s uniform S-step sampler."""\n    ...',
            _check_total_noise,
        ),
        Exercise(
            "07.2",
            "the uniform timesteps",
            'def uniform_timesteps(S, T):\n    """The S timesteps of the "uniform" spacing, in the order the sampler visits them."""\n    ...',
            _check_uniform_timesteps,
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
    if message := _unanswered(answer):
        return Feedback(exercise, False, message)
    try:
        ok, message = EXERCISES[exercise].checker(answer, seed)
    except _Reject as reason:
        ok, message = False, str(reason)
    return Feedback(exercise, ok, message)
