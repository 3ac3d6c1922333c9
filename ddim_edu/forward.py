"""The forward processes: DDPM's Markov chain and DDIM's non-Markovian family q_sigma.

Equation numbers refer to Song, Meng, Ermon, "Denoising Diffusion Implicit Models" (ICLR 2021).
All coefficient helpers take alpha_bar values as python floats (or float64 tensors) and return
the same kind; ``alpha_bar_prev = 1`` stands for the clean data x_0.
"""

from __future__ import annotations

import math

import torch

from ._checks import _check_int
from .schedule import Schedule, check_timesteps, step_pairs


def draw_noise(
    shape: torch.Size | tuple[int, ...],
    *,
    like: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Standard normal noise drawn on the CPU (seeded by ``generator``) and moved to ``like``'s device.

    Drawing on the CPU makes a seed give the same numbers on CPU, CUDA and MPS.
    """
    z = torch.randn(tuple(shape), generator=generator, dtype=like.dtype, device="cpu")
    return z.to(like.device)


def make_generator(seed: int | torch.Generator | None) -> torch.Generator | None:
    """Accept a seed or a CPU generator; return a CPU generator (or None for torch's global RNG)."""
    if seed is None or isinstance(seed, torch.Generator):
        if isinstance(seed, torch.Generator) and seed.device.type != "cpu":
            raise ValueError(f"generator must be a CPU torch.Generator, got one on {seed.device}")
        return seed
    seed = _check_int("generator", seed, None, hint=" seed or a CPU torch.Generator")
    return torch.Generator().manual_seed(seed)


# --- DDPM ---------------------------------------------------------------------------------


def q_sample(
    x0: torch.Tensor,
    t: int,
    schedule: Schedule,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw x_t ~ q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)  (eq. 4)."""
    a = schedule.alpha_bar_at(t)
    if noise is None:
        noise = draw_noise(x0.shape, like=x0, generator=generator)
    return math.sqrt(a) * x0 + math.sqrt(1.0 - a) * noise


def v_target(x0: torch.Tensor, eps: torch.Tensor, alpha_bar: float | torch.Tensor) -> torch.Tensor:
    """The v-prediction target: v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0.

    The velocity of Salimans & Ho, "Progressive Distillation" (2022). With
    x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps (eq. 4), ``sampling.eps_and_x0`` recovers
    eps and x_0 from x_t and v. x0, eps: (B, ...); alpha_bar: a python float, or a tensor
    broadcastable against x0 (one level per row as shape (B, 1, ...)). Returns x0's shape.
    """
    if isinstance(alpha_bar, torch.Tensor):
        return alpha_bar.sqrt() * eps - (1 - alpha_bar).sqrt() * x0
    return math.sqrt(alpha_bar) * eps - math.sqrt(1.0 - alpha_bar) * x0


def ddpm_forward_chain(
    x0: torch.Tensor, schedule: Schedule, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Iterate DDPM's Markov chain x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z.

    Returns a tensor of shape (T + 1, *x0.shape): x_0 followed by x_t for t = 0..T-1
    (row t + 1 holds x_t). Its marginals equal ``q_sample`` in distribution.
    """
    xs = [x0]
    x = x0
    for t in range(schedule.T):
        beta = float(schedule.betas[t])
        x = math.sqrt(1.0 - beta) * x + math.sqrt(beta) * draw_noise(
            x.shape, like=x, generator=generator
        )
        xs.append(x)
    return torch.stack(xs)


def ddpm_posterior(alpha_bar_t: float, alpha_bar_prev: float) -> tuple[float, float, float]:
    """DDPM's posterior q(x_prev | x_t, x_0) = N(c0 x_0 + ct x_t, var).

    Returns (c0, ct, var) with beta = 1 - alpha_bar_t / alpha_bar_prev (the step's effective beta):
      c0  = sqrt(alpha_bar_prev) beta / (1 - alpha_bar_t)
      ct  = sqrt(alpha_bar_t / alpha_bar_prev) (1 - alpha_bar_prev) / (1 - alpha_bar_t)
      var = (1 - alpha_bar_prev) / (1 - alpha_bar_t) beta   (beta-tilde)
    """
    beta = 1.0 - alpha_bar_t / alpha_bar_prev
    c0 = math.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar_t)
    ct = math.sqrt(alpha_bar_t / alpha_bar_prev) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)
    var = (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t) * beta
    return c0, ct, var


# --- DDIM's family q_sigma ----------------------------------------------------------------


def direction_coefficient(alpha_bar_prev: float, sigma: float) -> float:
    """sqrt(1 - alpha_bar_prev - sigma^2): the weight of eps in eq. 7 and eq. 12.

    The one place this coefficient is computed ("direction pointing to x_t"). It is clamped at 0:
    eta > 1 on a large step would make it imaginary.
    """
    return math.sqrt(max(1.0 - alpha_bar_prev - sigma**2, 0.0))


def ddim_sigma(alpha_bar_t: float, alpha_bar_prev: float, eta: float) -> float:
    """sigma_t(eta) of eq. 16.

    sigma = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_prev)

    eta = 1 gives DDPM's posterior standard deviation sqrt(beta-tilde); eta = 0 gives 0 (DDIM).
    """
    if not (eta >= 0 and math.isfinite(eta)):
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    ratio = (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)
    return (
        eta * math.sqrt(max(ratio, 0.0)) * math.sqrt(max(1.0 - alpha_bar_t / alpha_bar_prev, 0.0))
    )


def sigma_hat(alpha_bar_t: float, alpha_bar_prev: float) -> float:
    """DDPM's larger variance choice sqrt(1 - alpha_bar_t / alpha_bar_prev) (appendix D.3)."""
    return math.sqrt(max(1.0 - alpha_bar_t / alpha_bar_prev, 0.0))


def q_sigma_posterior(
    x_t: torch.Tensor, x0: torch.Tensor, alpha_bar_t: float, alpha_bar_prev: float, sigma: float
) -> tuple[torch.Tensor, float]:
    """Mean and standard deviation of q_sigma(x_prev | x_t, x_0)  (eq. 7).

    mean = sqrt(alpha_bar_prev) x_0
           + sqrt(1 - alpha_bar_prev - sigma^2) (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t)

    The second term re-uses the noise that is already in x_t; sigma only decides how much of the
    remaining variance 1 - alpha_bar_prev is fresh noise. Any sigma^2 <= 1 - alpha_bar_prev works.
    """
    if sigma < 0 or sigma**2 > 1.0 - alpha_bar_prev + 1e-12:
        raise ValueError(
            f"sigma must lie in [0, sqrt(1 - alpha_bar_prev)] = [0, {math.sqrt(1 - alpha_bar_prev):.4g}], "
            f"got {sigma}"
        )
    eps = (x_t - math.sqrt(alpha_bar_t) * x0) / math.sqrt(1.0 - alpha_bar_t)
    return math.sqrt(alpha_bar_prev) * x0 + direction_coefficient(
        alpha_bar_prev, sigma
    ) * eps, sigma


def non_markovian_forward(
    x0: torch.Tensor,
    schedule: Schedule,
    taus: list[int],
    eta: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sample the non-Markovian forward process q_sigma(x_{tau_1:tau_S} | x_0) (eq. 6).

    It runs "backwards in t": x_{tau_S} ~ q(x_{tau_S} | x_0), then x_prev ~ q_sigma(x_prev | x_t, x_0)
    along ``taus`` (descending, as from ``timesteps``). Lemma 1: every x_tau then has the DDPM
    marginal N(sqrt(alpha_bar_tau) x_0, (1 - alpha_bar_tau) I), whatever eta.

    Returns a tensor of shape (S, *x0.shape), row i holding x at ``taus[i]``.
    """
    taus = check_timesteps(taus, schedule.T)
    x = q_sample(x0, taus[0], schedule, generator=generator)
    xs = [x]
    for t, t_prev in step_pairs(taus)[:-1]:
        a_t, a_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev)
        mean, std = q_sigma_posterior(x, x0, a_t, a_prev, ddim_sigma(a_t, a_prev, eta))
        x = mean + std * draw_noise(x.shape, like=x, generator=generator)
        xs.append(x)
    return torch.stack(xs)


def q_sigma_forward_step(
    x_prev: torch.Tensor, x0: torch.Tensor, alpha_bar_t: float, alpha_bar_prev: float, sigma: float
) -> tuple[torch.Tensor, float]:
    """Mean and standard deviation of the implied forward step q_sigma(x_t | x_prev, x_0) (eq. 8).

    By Bayes' rule from q_sigma(x_prev | x_t, x_0) = N(k x_0 + m x_t, sigma^2) and
    q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, 1 - alpha_bar_t), elementwise:
        precision = 1 / (1 - alpha_bar_t) + m^2 / sigma^2
        mean = (sqrt(alpha_bar_t) x_0 / (1 - alpha_bar_t) + m (x_prev - k x_0) / sigma^2) / precision
    For eta = 1 the x_0 terms cancel (DDPM's Markov step N(sqrt(alpha_t) x_prev, beta_t)); for any
    other sigma the mean depends on x_0: the process is not Markovian. Needs sigma > 0.
    """
    if not sigma > 0:
        raise ValueError(
            f"sigma must be > 0 (at sigma = 0 x_t is a deterministic function), got {sigma}"
        )
    m = direction_coefficient(alpha_bar_prev, sigma) / math.sqrt(1.0 - alpha_bar_t)
    k = math.sqrt(alpha_bar_prev) - m * math.sqrt(alpha_bar_t)
    precision = 1.0 / (1.0 - alpha_bar_t) + m**2 / sigma**2
    mean = (
        math.sqrt(alpha_bar_t) * x0 / (1.0 - alpha_bar_t) + m * (x_prev - k * x0) / sigma**2
    ) / precision
    return mean, 1.0 / math.sqrt(precision)
