"""Theorem 1, numerically: the variational objective J_sigma against the weighted DDPM loss L_gamma.

For the generative process of eq. 10, p_theta(x_{t-1} | x_t) = q_sigma(x_{t-1} | x_t, f_theta(x_t))
(and N(f_theta(x_1), sigma_1^2 I) at t = 1), the paper's eq. 5 reads

    J_sigma(theta) = E_{q_sigma} [ log q_sigma(x_{1:T} | x_0) - log p_theta(x_{0:T}) ].

Every theta-dependent term is a Gaussian log-density with a mean that is linear in
f_theta(x_t) - x_0 = -sqrt((1 - alpha_bar_t) / alpha_bar_t) (eps_theta - eps), which is why
J_sigma = L_gamma + C with L_gamma = sum_t gamma_t E || eps_theta(x_t, t) - eps ||^2.

``variational_terms`` estimates both by Monte Carlo from the same draws: J from the log-densities
themselves, L_gamma from the noise-prediction errors and the gamma_t derived below. Their
difference is the same for every model (up to Monte Carlo error), so J_sigma and the DDPM loss
have the same minimiser.

Paper timestep t = 1..T is index t - 1 here; alpha_bar "before index 0" is 1.
"""

from __future__ import annotations

import math

import torch

from .forward import ddim_sigma, direction_coefficient, non_markovian_forward
from .sampling import EpsModel
from .schedule import Schedule


def gamma_weights(schedule: Schedule, eta: float) -> torch.Tensor:
    """gamma_t (float64, shape (T,)) such that the t-th KL term of J_sigma is gamma_t ||eps_theta - eps||^2.

    For t >= 2 (index >= 1), with m_t = sqrt((1 - alpha_bar_prev - sigma_t^2) / (1 - alpha_bar_t)):
        gamma_t = (sqrt(alpha_bar_prev) - m_t sqrt(alpha_bar_t))^2 (1 - alpha_bar_t) / (2 sigma_t^2 alpha_bar_t)
    and for t = 1: gamma_1 = (1 - alpha_bar_1) / (2 sigma_1^2 alpha_bar_1).
    Needs eta > 0 (sigma_t > 0), as the theorem does.
    """
    if not eta > 0:
        raise ValueError(
            f"eta must be > 0 for J_sigma to be finite (Theorem 1 assumes sigma > 0), got {eta}"
        )
    gammas = []
    for t in range(schedule.T):
        a_t = schedule.alpha_bar_at(t)
        a_prev = schedule.alpha_bar_at(t - 1)
        if t == 0:
            gammas.append((1 - a_t) / (2 * sigma_one(schedule, eta) ** 2 * a_t))
            continue
        sigma = ddim_sigma(a_t, a_prev, eta)
        m = direction_coefficient(a_prev, sigma) / math.sqrt(1 - a_t)
        gammas.append(
            (math.sqrt(a_prev) - m * math.sqrt(a_t)) ** 2 * (1 - a_t) / (2 * sigma**2 * a_t)
        )
    return torch.tensor(gammas, dtype=torch.float64)


def sigma_one(schedule: Schedule, eta: float) -> float:
    """The standard deviation of p_theta(x_0 | x_1): eq. 16 gives 0 there (alpha_bar_0 = 1), so a
    positive choice is needed; this takes eta sqrt(1 - alpha_bar_1). Any positive value only
    changes the constant C."""
    a_1 = schedule.alpha_bar_at(0)
    return eta * math.sqrt(1 - a_1)


def _log_normal(x: torch.Tensor, mean: torch.Tensor, std: float) -> torch.Tensor:
    d = x.shape[1]
    return (
        -0.5 * ((x - mean) ** 2).sum(1) / std**2
        - d * math.log(std)
        - 0.5 * d * math.log(2 * math.pi)
    )


@torch.no_grad()
def variational_terms(
    eps_model: EpsModel,
    x0: torch.Tensor,
    schedule: Schedule,
    eta: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample Monte Carlo terms (J, L_gamma), each (N,) float64, for points x0 (N, d).

    J    = log q_sigma(x_{1:T} | x_0) - log p_theta(x_{0:T}), one draw of x_{1:T} ~ q_sigma per row;
    L    = sum_t gamma_t || eps_theta(x_t, t) - eps_t ||^2 on the same draw.
    E[J - L] = C does not depend on the model.
    """
    x0 = x0.to(torch.float64)
    T = schedule.T  # noqa: N806
    taus = list(range(T - 1, -1, -1))
    xs = non_markovian_forward(x0, schedule, taus, eta, generator=generator)  # row i: x at taus[i]
    x_at = {t: xs[i] for i, t in enumerate(taus)}
    gam = gamma_weights(schedule, eta)
    n = x0.shape[0]
    J = torch.zeros(n, dtype=torch.float64)  # noqa: N806
    L = torch.zeros(n, dtype=torch.float64)  # noqa: N806
    # log q(x_T | x_0) - log p(x_T)
    a_T = schedule.alpha_bar_at(T - 1)  # noqa: N806
    J += _log_normal(x_at[T - 1], math.sqrt(a_T) * x0, math.sqrt(1 - a_T))
    J -= _log_normal(x_at[T - 1], torch.zeros_like(x0), 1.0)
    for t in range(T):
        a_t = schedule.alpha_bar_at(t)
        x_t = x_at[t]
        eps_true = (x_t - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
        eps = eps_model(x_t, torch.full((n,), t, dtype=torch.int64)).to(torch.float64)
        f = (x_t - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)  # predicted x_0 (eq. 9)
        L += gam[t] * ((eps - eps_true) ** 2).sum(1)
        if t == 0:
            J -= _log_normal(x0, f, sigma_one(schedule, eta))
            continue
        a_prev = schedule.alpha_bar_at(t - 1)
        sigma = ddim_sigma(a_t, a_prev, eta)
        m = direction_coefficient(a_prev, sigma) / math.sqrt(1 - a_t)
        x_prev = x_at[t - 1]
        mean_q = math.sqrt(a_prev) * x0 + m * (x_t - math.sqrt(a_t) * x0)  # eq. 7
        mean_p = math.sqrt(a_prev) * f + m * (
            x_t - math.sqrt(a_t) * f
        )  # eq. 10: x_0 -> f_theta(x_t)
        J += _log_normal(x_prev, mean_q, sigma) - _log_normal(x_prev, mean_p, sigma)
    return J, L
