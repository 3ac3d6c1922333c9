"""Distances between sample sets, each meant to be read beside its noise floor.

A distance between a finite sample and the true distribution is never zero: two independent
samples of the same size from the *same* distribution are already apart. ``noise_floor`` measures
that, so a table can say "3x the floor" instead of a bare number.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def _points(name: str, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] < 2:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor of shape (N, d) with N >= 2, got {got}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x.detach().to("cpu", torch.float64)


def sliced_wasserstein(
    x: torch.Tensor, y: torch.Tensor, n_projections: int = 256, seed: int = 0
) -> float:
    """Sliced 2-Wasserstein distance between two point clouds (N, d) and (M, d).

    SW_2(x, y)^2 = E_theta W_2^2(<theta, x>, <theta, y>) over directions theta uniform on the
    sphere; each 1-D W_2 compares sorted projections (quantiles, when N != M). The directions come
    from ``seed``, so two calls with the same seed use the same slices. Same units as x.
    """
    x, y = _points("x", x), _points("y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[1]} and {y.shape[1]}")
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(x.shape[1], n_projections, dtype=torch.float64, generator=gen)
    theta = theta / theta.norm(dim=0, keepdim=True)
    px, _ = torch.sort(x @ theta, dim=0)
    py, _ = torch.sort(y @ theta, dim=0)
    if px.shape[0] != py.shape[0]:
        n = max(px.shape[0], py.shape[0])
        q = (torch.arange(n, dtype=torch.float64) + 0.5) / n
        px = torch.quantile(px, q, dim=0)
        py = torch.quantile(py, q, dim=0)
    return float(((px - py) ** 2).mean().sqrt())


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, bandwidth: float | None = None) -> float:
    """Unbiased squared maximum mean discrepancy with a Gaussian kernel exp(-|a-b|^2 / (2 h^2)).

    h defaults to the median distance between the pooled points. The unbiased estimate can be
    slightly negative when the two samples come from the same distribution.
    """
    x, y = _points("x", x), _points("y", y)
    if bandwidth is None:
        pooled = torch.cat([x, y])[:2000]
        bandwidth = float(torch.cdist(pooled, pooled).median())
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-(torch.cdist(a, b) ** 2) / (2 * bandwidth**2))

    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    term_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    term_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(term_x + term_y - 2 * kxy.mean())


def noise_floor(
    sample: Callable[[int, torch.Generator], torch.Tensor],
    n: int,
    distance: Callable[[torch.Tensor, torch.Tensor], float] = sliced_wasserstein,
    repeats: int = 3,
    seed: int = 1234,
    reference: torch.Tensor | None = None,
) -> tuple[float, float]:
    """Mean and standard deviation of ``distance`` between two independent true samples of size n.

    ``sample(n, generator)`` draws from the true distribution (e.g. ``GaussianMixture.sample``).
    When ``reference`` is given (the true sample that the samplers' outputs are compared with),
    each repeat compares a fresh true sample of size n with it instead: then the floor and the
    table's cells share the reference's own sampling noise.
    """
    gen = torch.Generator().manual_seed(seed)
    vals = torch.tensor(
        [
            distance(sample(n, gen), sample(n, gen) if reference is None else reference)
            for _ in range(repeats)
        ]
    )
    return float(vals.mean()), float(vals.std()) if repeats > 1 else 0.0


def mixture_moments(x: torch.Tensor, mixture) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-component weights (K,), means (K, d) and covariances (K, d, d) of samples x (N, d).

    Each point is shared among components by the *true* mixture's responsibilities r_k(x); for
    samples from that mixture the estimates are unbiased, since E_p[r_k(x) f(x)] = w_k E_k[f].
    A sampler that gets the weights, locations or shapes wrong shows up component by component.
    """
    x = _points("x", x)
    comp, _ = mixture._log_components(x)
    r = torch.softmax(comp, dim=1)  # (N, K)
    mass = r.sum(0)  # (K,)
    weights = mass / x.shape[0]
    means = (r.T @ x) / mass[:, None]
    diff = x[:, None, :] - means[None]  # (N, K, d)
    covs = torch.einsum("nk,nki,nkj->kij", r, diff, diff) / mass[:, None, None]
    return weights, means, covs
