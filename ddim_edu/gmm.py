"""Gaussian mixtures: a data distribution whose every noisy marginal is known in closed form.

If x_0 ~ sum_k w_k N(mu_k, C_k) and x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps, then

    q_t(x_t) = sum_k w_k N(x_t; sqrt(alpha_bar) mu_k, alpha_bar C_k + (1 - alpha_bar) I),

so its score is exact, and so is the optimal noise prediction (Tweedie's formula)

    eps*(x_t, t) = E[eps | x_t] = -sqrt(1 - alpha_bar_t) grad log q_t(x_t).

A sampler driven by ``eps*`` has no model error: whatever separates its samples from the mixture
is the sampler's own (discretisation and the start from N(0, I) instead of q_T).
"""

from __future__ import annotations

import math

import torch

from ._checks import _check_int
from .schedule import Schedule


class GaussianMixture:
    """A mixture of K Gaussians in d dimensions, stored in float64.

    Args:
        weights: (K,) positive, summing to 1 (within 1e-6; they are then renormalised).
        means: (K, d).
        covs: (K, d, d) symmetric positive definite.
    """

    def __init__(self, weights, means, covs) -> None:
        w = torch.as_tensor(weights, dtype=torch.float64)
        mu = torch.as_tensor(means, dtype=torch.float64)
        cov = torch.as_tensor(covs, dtype=torch.float64)
        if w.ndim != 1 or w.numel() < 1:
            raise ValueError(f"weights must have shape (K,), got {tuple(w.shape)}")
        K = w.numel()  # noqa: N806
        if mu.ndim != 2 or mu.shape[0] != K:
            raise ValueError(f"means must have shape (K, d) = ({K}, d), got {tuple(mu.shape)}")
        d = mu.shape[1]
        if cov.shape != (K, d, d):
            raise ValueError(
                f"covs must have shape (K, d, d) = ({K}, {d}, {d}), got {tuple(cov.shape)}"
            )
        if not (torch.isfinite(w).all() and torch.isfinite(mu).all() and torch.isfinite(cov).all()):
            raise ValueError("weights, means and covs must be finite")
        if (w <= 0).any() or abs(float(w.sum()) - 1.0) > 1e-6:
            raise ValueError(f"weights must be positive and sum to 1, got sum {float(w.sum()):.6g}")
        if not torch.allclose(cov, cov.transpose(-1, -2), atol=1e-10):
            raise ValueError("covs must be symmetric")
        _, info = torch.linalg.cholesky_ex(cov)
        if (info != 0).any():
            raise ValueError("covs must be positive definite")
        self.weights = w / w.sum()
        self.means = mu
        self.covs = cov

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        return self.weights.numel()

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.n_components}, d={self.dim})"

    # --- the clean distribution -----------------------------------------------------------

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n samples, float64 (n, d), drawn on the CPU with ``generator``."""
        n = _check_int("n", n, 1)
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, dtype=torch.float64, generator=generator)
        chol = torch.linalg.cholesky(self.covs)
        return self.means[k] + torch.einsum("nij,nj->ni", chol[k], z)

    def mean(self) -> torch.Tensor:
        """The mixture's mean, (d,)."""
        return self.weights @ self.means

    def covariance(self) -> torch.Tensor:
        """The mixture's covariance, (d, d)."""
        m = self.mean()
        second = torch.einsum(
            "k,kij->ij",
            self.weights,
            self.covs + torch.einsum("ki,kj->kij", self.means, self.means),
        )
        return second - torch.outer(m, m)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log density at x (N, d) -> (N,), float64."""
        return self.noisy(1.0).log_prob_at(x)

    # --- noisy marginals ------------------------------------------------------------------

    def noisy(self, alpha_bar: float) -> GaussianMixture:
        """The mixture q_t for one level alpha_bar (a new GaussianMixture)."""
        a = float(alpha_bar)
        if not 0.0 < a <= 1.0:
            raise ValueError(f"alpha_bar must lie in (0, 1], got {alpha_bar}")
        eye = torch.eye(self.dim, dtype=torch.float64)
        mix = GaussianMixture.__new__(GaussianMixture)
        mix.weights = self.weights
        mix.means = math.sqrt(a) * self.means
        mix.covs = a * self.covs + (1.0 - a) * eye
        return mix

    def _log_components(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log w_k + log N(x; mu_k, C_k) (N, K) and the precision-weighted residuals (N, K, d)."""
        x = _as_points(x, self.dim)
        chol = torch.linalg.cholesky(self.covs)  # (K, d, d)
        diff = x[:, None, :] - self.means[None]  # (N, K, d)
        # solve L y = diff for every component: y = L^{-1} diff
        y = torch.linalg.solve_triangular(chol[None], diff[..., None], upper=False)[..., 0]
        maha = (y**2).sum(-1)  # (N, K)
        logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # (K,)
        log_norm = -0.5 * (self.dim * math.log(2 * math.pi) + logdet)
        comp = torch.log(self.weights)[None] + log_norm[None] - 0.5 * maha
        # C^{-1} diff = L^{-T} y
        prec_diff = torch.linalg.solve_triangular(
            chol.transpose(-1, -2)[None], y[..., None], upper=True
        )[..., 0]
        return comp, prec_diff

    def log_prob_at(self, x: torch.Tensor) -> torch.Tensor:
        comp, _ = self._log_components(x)
        return torch.logsumexp(comp, dim=1)

    def score_at(self, x: torch.Tensor) -> torch.Tensor:
        """grad_x log p(x) = -sum_k r_k(x) C_k^{-1} (x - mu_k), (N, d) float64."""
        comp, prec_diff = self._log_components(x)
        resp = torch.softmax(comp, dim=1)
        return -(resp[..., None] * prec_diff).sum(1)

    def responsibilities(
        self, x: torch.Tensor, t: int | torch.Tensor, schedule: Schedule
    ) -> torch.Tensor:
        """Posterior component probabilities p(k | x_t), (N, K)."""
        return self._per_level(
            x, t, schedule, lambda m, xs: torch.softmax(m._log_components(xs)[0], 1)
        )

    def log_prob_t(
        self, x: torch.Tensor, t: int | torch.Tensor, schedule: Schedule
    ) -> torch.Tensor:
        """log q_t(x) for x (N, d) at timestep t (int or (N,) int64), (N,) float64."""
        return self._per_level(x, t, schedule, lambda m, xs: m.log_prob_at(xs))

    def score(self, x: torch.Tensor, t: int | torch.Tensor, schedule: Schedule) -> torch.Tensor:
        """grad log q_t(x), (N, d) float64."""
        return self._per_level(x, t, schedule, lambda m, xs: m.score_at(xs))

    def eps(self, x: torch.Tensor, t: int | torch.Tensor, schedule: Schedule) -> torch.Tensor:
        """The optimal noise prediction eps*(x_t, t) = -sqrt(1 - alpha_bar_t) score_t(x_t).

        x: (N, d) in any float dtype and device; t: an int or an int64 tensor with one timestep
        per row (as every ``eps_model`` receives). Returns x's shape, dtype and device.
        """
        out = self._per_level(
            x, t, schedule, lambda m, xs, a: -math.sqrt(1.0 - a) * m.score_at(xs), pass_alpha=True
        )
        return out.to(dtype=x.dtype, device=x.device)

    def eps_model(self, schedule: Schedule):
        """``eps_model(x, t)`` for the samplers, backed by the exact eps*."""

        def eps_star(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.eps(x, t, schedule)

        return eps_star

    def x0_mean(self, x: torch.Tensor, t: int | torch.Tensor, schedule: Schedule) -> torch.Tensor:
        """E[x_0 | x_t] (Tweedie), (N, d) in x's dtype: the ideal predicted x_0 of eq. 9."""
        a = _alpha_bars(t, x.shape[0], schedule).to(x.device)[:, None]
        eps = self.eps(x, t, schedule).to(torch.float64)
        x64 = x.to(torch.float64)
        return ((x64 - torch.sqrt(1 - a) * eps) / torch.sqrt(a)).to(x.dtype)

    def _per_level(self, x, t, schedule, fn, pass_alpha=False) -> torch.Tensor:
        x64 = _as_points(x, self.dim)
        alpha = _alpha_bars(t, x64.shape[0], schedule)
        out = None
        for a in torch.unique(alpha):
            rows = alpha == a
            m = self.noisy(float(a))
            val = fn(m, x64[rows], float(a)) if pass_alpha else fn(m, x64[rows])
            if out is None:
                out = torch.empty((x64.shape[0], *val.shape[1:]), dtype=val.dtype)
            out[rows] = val
        return out

    # --- ready-made examples ----------------------------------------------------------------

    @classmethod
    def example_2d(cls) -> GaussianMixture:
        """The project's 2-D teaching mixture: five unequal, anisotropic components of scale ~1.

        Unequal weights and tilted covariances make mistakes in either visible.
        """
        weights = [0.30, 0.25, 0.20, 0.15, 0.10]
        angles = [0.0, 72.0, 144.0, 216.0, 288.0]
        means = [[1.2 * math.cos(math.radians(a)), 1.2 * math.sin(math.radians(a))] for a in angles]
        covs = []
        for a in angles:
            r = math.radians(a + 90.0)
            rot = torch.tensor(
                [[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]], dtype=torch.float64
            )
            covs.append(rot @ torch.diag(torch.tensor([0.12, 0.02], dtype=torch.float64)) @ rot.T)
        return cls(weights, means, torch.stack(covs))


def _as_points(x: torch.Tensor, d: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != d:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must have shape (N, {d}), got {got}")
    return x.to(device="cpu", dtype=torch.float64)


def _alpha_bars(t: int | torch.Tensor, n: int, schedule: Schedule) -> torch.Tensor:
    """alpha_bar for each of n rows from an int or an (n,) int64 tensor; float64 (n,) on the CPU."""
    if isinstance(t, torch.Tensor):
        if t.ndim == 0:
            t = int(t)
        else:
            if t.shape != (n,) or t.dtype not in (torch.int64, torch.int32):
                raise ValueError(
                    f"t must be an int or an int64 tensor of shape ({n},), got {t.dtype} {tuple(t.shape)}"
                )
            t = t.cpu()
            if (t < 0).any() or (t >= schedule.T).any():
                raise ValueError(f"t must lie in [0, {schedule.T - 1}]")
            return schedule.alpha_bar[t]
    a = schedule.alpha_bar_at(t)
    if t < 0:
        raise ValueError(f"t must lie in [0, {schedule.T - 1}], got {t}")
    return torch.full((n,), a, dtype=torch.float64)
