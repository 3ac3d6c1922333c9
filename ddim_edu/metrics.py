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
    return _sliced_w2(x, y, _directions(x.shape[1], n_projections, gen, torch.float64))


def _directions(d: int, n: int, gen: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """n directions uniform on the unit sphere of R^d, as the columns of a (d, n) matrix."""
    theta = torch.randn(d, n, dtype=dtype, generator=gen)
    return theta / theta.norm(dim=0, keepdim=True)


def _quantiles(sorted_cols: torch.Tensor, m: int) -> torch.Tensor:
    """The (k + 0.5) / m quantiles, k < m, of each sorted column (linear interpolation)."""
    n = sorted_cols.shape[0]
    pos = ((torch.arange(m, dtype=torch.float64) + 0.5) / m * (n - 1)).to(sorted_cols.dtype)
    lo = pos.floor().long().clamp(max=n - 1)
    hi = (lo + 1).clamp(max=n - 1)
    w = (pos - lo.to(pos.dtype)).unsqueeze(1)
    return sorted_cols[lo] * (1 - w) + sorted_cols[hi] * w


def _sliced_w2(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> float:
    """sqrt of the mean over the columns of theta of W_2^2 between the projected point clouds."""
    px, _ = torch.sort(x @ theta, dim=0)
    py, _ = torch.sort(y @ theta, dim=0)
    if px.shape[0] != py.shape[0]:
        m = max(px.shape[0], py.shape[0])
        px, py = _quantiles(px, m), _quantiles(py, m)
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


# --- feature-space metrics (digits-FID and KID) ----------------------------------------------------


def _sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, d) and (M, d).

    |mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2), computed in float64. Like FID it is
    biased upwards at finite sample size, so compare values at equal sizes, beside the floor.
    """
    f1, f2 = _points("f1", f1), _points("f2", f2)
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(
            f"f1 and f2 must have the same dimension, got {f1.shape[1]} and {f2.shape[1]}"
        )
    mu1, mu2 = f1.mean(0), f2.mean(0)
    c1, c2 = torch.cov(f1.T).reshape(f1.shape[1], -1), torch.cov(f2.T).reshape(f2.shape[1], -1)
    s1 = _sqrtm_psd(c1)
    cross = _sqrtm_psd(s1 @ c2 @ s1)
    return float(
        ((mu1 - mu2) ** 2).sum() + torch.trace(c1) + torch.trace(c2) - 2 * torch.trace(cross)
    )


def kernel_inception_distance(
    f1: torch.Tensor, f2: torch.Tensor, subsets: int = 20, subset_size: int = 500, seed: int = 0
) -> tuple[float, float]:
    """Unbiased KID: MMD^2 with the kernel (a.b / d + 1)^3, mean and std over random subsets.

    Unbiased, so two samples of the same distribution average ~0 (single values may be < 0).
    """
    f1, f2 = _points("f1", f1), _points("f2", f2)
    d = f1.shape[1]
    m = min(subset_size, f1.shape[0], f2.shape[0])
    gen = torch.Generator().manual_seed(seed)
    vals = []
    for _ in range(subsets):
        a = f1[torch.randperm(f1.shape[0], generator=gen)[:m]]
        b = f2[torch.randperm(f2.shape[0], generator=gen)[:m]]
        kaa, kbb, kab = (a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3
        off = m * (m - 1)
        vals.append(
            (kaa.sum() - kaa.diagonal().sum()) / off
            + (kbb.sum() - kbb.diagonal().sum()) / off
            - 2 * kab.mean()
        )
    v = torch.stack(vals)
    return float(v.mean()), float(v.std()) if subsets > 1 else 0.0


def copy_fraction(
    samples: torch.Tensor, train: torch.Tensor, quantile: float = 0.05
) -> tuple[float, float]:
    """How many samples are near-copies of training images.

    A sample counts as a near-copy when its nearest training image (pixel L2) is closer than the
    ``quantile`` of the nearest-neighbour distances among the training images themselves.
    Returns (fraction of samples that are near-copies, the distance threshold).
    """
    s = _points("samples", samples.flatten(1))
    tr = _points("train", train.flatten(1))
    d_train = torch.cdist(tr, tr)
    d_train.fill_diagonal_(float("inf"))
    threshold = float(torch.quantile(d_train.min(1).values, quantile))
    nearest = torch.cdist(s, tr).min(1).values
    return float((nearest < threshold).double().mean()), threshold


# --- images of any size: multi-scale patch sliced Wasserstein (no network needed) -------------------


def _laplacian_levels(x: torch.Tensor, min_size: int = 16) -> list[torch.Tensor]:
    """Laplacian pyramid of (N, C, H, W): band-pass levels from H down to min_size, then the rest."""
    import torch.nn.functional as F  # noqa: N812

    k1 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype) / 16
    kernel = (k1[:, None] * k1[None, :]).expand(x.shape[1], 1, 5, 5).contiguous()

    def blur(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(z, (2, 2, 2, 2), mode="reflect"), kernel, groups=z.shape[1])

    levels = []
    while x.shape[-1] > min_size and x.shape[-1] % 2 == 0:
        small = blur(x)[..., ::2, ::2]
        up = F.interpolate(small, scale_factor=2, mode="nearest")
        levels.append(x - blur(up))
        x = small
    levels.append(x)
    return levels


def _patches(level: torch.Tensor, per_image: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``per_image`` random size x size patches of every image, flattened: (N * per_image, C*size*size)."""
    n, c, h, w = level.shape
    size = min(size, h, w)
    ys = torch.randint(0, h - size + 1, (n, per_image), generator=gen)
    xs = torch.randint(0, w - size + 1, (n, per_image), generator=gen)
    off = torch.arange(size)
    rows = (ys[..., None] + off)[..., :, None].expand(n, per_image, size, size)
    cols = (xs[..., None] + off)[..., None, :].expand(n, per_image, size, size)
    img = torch.arange(n)[:, None, None, None].expand_as(rows)
    p = level.permute(0, 2, 3, 1)[img, rows, cols]  # (n, per_image, size, size, C)
    return p.reshape(n * per_image, -1)


def patch_swd(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    patches_per_image: int = 64,
    max_patches: int = 65536,
    patch_size: int = 7,
    n_projections: int = 256,
    min_size: int = 16,
    seed: int = 0,
) -> dict:
    """Multi-scale sliced Wasserstein distance between two image sets (N, C, H, W), in [-1, 1].

    The recipe of Karras et al. (2018, progressive GANs, appendix D), which needs no pretrained
    network: build a Laplacian pyramid of every image (full size down to ``min_size``), take
    random 7x7 patches at each level, standardise each patch coordinate with the statistics of
    ``y`` (the reference; unlike the original, which standardises each set by itself, this keeps
    a global shift of colour or contrast visible), and compare the two patch clouds with the
    sliced Wasserstein distance. Low levels see fine texture, the last level coarse layout.

    At most ``max_patches`` patches per set and level (fewer per image for large sets): the
    cost stays about 3 s per call on two CPU cores for any sample size.

    Returns ``{"levels": [size, ...], "per_level": [SW, ...], "mean": SW averaged over levels}``.
    The same ``seed`` gives the same patches positions and directions, so two calls are paired.
    """
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor) or t.ndim != 4 or t.shape[0] < 2:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(
                f"{name} must be a tensor of shape (N, C, H, W) with N >= 2, got {got}"
            )
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(
            f"x and y must hold images of the same shape, got {tuple(x.shape[1:])} and {tuple(y.shape[1:])}"
        )
    gen = torch.Generator().manual_seed(seed)
    lx = _laplacian_levels(x.detach().cpu().float().clamp(-1, 1), min_size)
    ly = _laplacian_levels(y.detach().cpu().float().clamp(-1, 1), min_size)
    sizes, values = [], []
    for a, b in zip(lx, ly):
        pa = _patches(a, max(1, min(patches_per_image, max_patches // a.shape[0])), patch_size, gen)
        pb = _patches(b, max(1, min(patches_per_image, max_patches // b.shape[0])), patch_size, gen)
        mu, sd = pb.mean(0), pb.std(0).clamp_min(1e-6)
        pa, pb = (pa - mu) / sd, (pb - mu) / sd
        values.append(_sliced_w2(pa, pb, _directions(pa.shape[1], n_projections, gen)))
        sizes.append(int(a.shape[-1]))
    return {"levels": sizes, "per_level": values, "mean": sum(values) / len(values)}


# The quality classes moved to ddim_edu.quality (they load classifiers and data); their old
# import path keeps working.
_MOVED = ("DigitsScore", "DigitsQuality", "ImageQuality")


def __getattr__(name: str):
    if name in _MOVED:
        from . import quality

        return getattr(quality, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
