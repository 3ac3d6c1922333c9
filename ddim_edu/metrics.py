"""Distances between sample sets, each meant to be read beside its noise floor.

A distance between a finite sample and the true distribution is never zero: two independent
samples of the same size from the *same* distribution are already apart. ``noise_floor`` measures
that, so a table can say "3x the floor" instead of a bare number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

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


# --- sample quality of generated digits ----------------------------------------------------------


@dataclass
class DigitsScore:
    """Quality of a set of generated digits; each distance comes with its real-vs-real floor.

    (Field comments speak of the 8x8 digits; for MNIST read MNIST-FID, A = the training split.)
    """

    n: int  # generated samples scored
    fid: float  # digits-FID against reference half A, averaged over chunks of the floor's size
    fid_floor: float  # expected digits-FID of n i.i.d. real digits against A (same chunks)
    fid_floor_sd: float  # standard deviation of that floor value for n samples
    fid_floor_stratified: (
        float  # digits-FID of the stratified half B against A (no class-count noise)
    )
    kid: float  # unbiased KID against half A (mean over subsets)
    kid_std: float
    kid_floor: float  # KID between the two real halves
    confident: float  # fraction the classifier assigns to a class with probability >= 0.9
    class_fractions: list[float]  # fraction of samples per predicted class 0..9
    class_tv: float  # total variation distance of that histogram from uniform (0 = uniform)
    class_tv_floor: float  # expected class_tv of n i.i.d. real digits (sampling noise alone)
    metric: str = "digits-FID"  # or "MNIST-FID"

    @property
    def fid_ratio(self) -> float:
        """digits-FID in units of the floor: ~1 means indistinguishable from real digits at this n."""
        return self.fid / self.fid_floor

    def summary(self) -> str:
        return (
            f"{self.metric} {self.fid:.3f} (floor {self.fid_floor:.3f} ± {self.fid_floor_sd:.3f}, "
            f"{self.fid_ratio:.2f}x), KID {self.kid * 1e3:.2f}e-3 (floor {self.kid_floor * 1e3:.2f}e-3), "
            f"{self.confident:.0%} confident, class TV {self.class_tv:.3f} "
            f"(i.i.d. real: {self.class_tv_floor:.3f}), n = {self.n}"
        )


class DigitsQuality:
    """digits-FID (or MNIST-FID), KID and classifier statistics in a shipped classifier's features.

    ``data="digits"``: the 1797 real 8x8 digits are split into two fixed stratified halves, A (the
    reference) and B, in the feature space of ``digits_classifier``.
    ``data="mnist"``: A is the 8,000 training digits of ``data.mnist_split()``, B its 2,000
    held-out digits, in the feature space of ``mnist_classifier``; both classifiers were trained
    on their training split only.
    A generated set is cut into chunks of |B| samples; its FID is the mean of FID(chunk, A).

    The floor is what the same statistic gives for *real* digits drawn the way a sampler draws:
    independently, so the number of 3s, 7s, ... in a chunk varies from chunk to chunk. In this
    feature space the ten classes are well-separated clusters, and that class-count noise is the
    largest part of the FID of an honest sample: B itself against A (``fid_floor_stratified``,
    with B's class counts matched to A's by construction) is about 5x lower than a chunk of
    i.i.d. real digits. ``fid_floor`` is therefore the mean over ``floor_draws`` chunks drawn from
    B with multinomial class counts (images drawn without replacement within a class, with
    replacement only beyond the class's size in B), and ``fid_floor_sd`` their spread.
    """

    def __init__(
        self,
        classifier=None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        floor_draws: int = 200,
        data: str = "digits",
    ) -> None:
        from .data import digits_split, load_digits, load_mnist, mnist_split
        from .pretrained import load

        if isinstance(floor_draws, bool) or not isinstance(floor_draws, int) or floor_draws < 2:
            raise ValueError(f"floor_draws must be an integer >= 2, got {floor_draws!r}")
        if data not in ("digits", "mnist"):
            raise ValueError(f"data must be 'digits' or 'mnist', got {data!r}")
        self.device = torch.device(device)
        self.floor_draws = floor_draws
        self.seed = seed
        self.data = data
        self.metric = "digits-FID" if data == "digits" else "MNIST-FID"
        self.classifier = (classifier or load(f"{data}_classifier")).to(self.device).eval()
        if data == "digits":
            real, labels = load_digits()
            a_idx, b_idx = digits_split(0.5, seed=seed)
        else:
            real, labels = load_mnist("all")
            a_idx, b_idx = mnist_split()
        self.shape = tuple(real.shape[1:])
        self.scale = 1.0
        feats = self.features(real)
        # one scalar so that the real features have unit mean variance: readable numbers, same ratios
        self.scale = float(feats.var(0).mean().sqrt())
        self.ref = feats[a_idx] / self.scale
        self.other = feats[b_idx] / self.scale
        self.other_labels = labels[b_idx]
        counts = torch.bincount(self.other_labels, minlength=10).double()
        self.class_frequencies = counts / counts.sum()  # B's (and A's) class frequencies
        self._floors: dict[int, tuple[float, float, list[float]]] = {}
        self.fid_floor_stratified = frechet_distance(self.other, self.ref)
        self.fid_floor, self.fid_floor_sd = self.floor_at(self.chunk), self.floor_sd_at(self.chunk)
        self.kid_floor, _ = kernel_inception_distance(self.other, self.ref)

    @property
    def chunk(self) -> int:
        """Samples per FID chunk: the size of half B."""
        return self.other.shape[0]

    @torch.no_grad()
    def _run(self, x: torch.Tensor, fn, batch: int = 2048) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != self.shape:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            want = ", ".join(map(str, self.shape))
            raise ValueError(f"samples must have shape (N, {want}), got {got}")
        if not torch.isfinite(x).all():
            raise ValueError("samples contain NaN or infinite values")
        x = x.float().clamp(-1, 1)
        return torch.cat(
            [fn(x[i : i + batch].to(self.device)).cpu() for i in range(0, x.shape[0], batch)]
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) in [-1, 1] -> (N, 64) float64 features."""
        return self._run(x, self.classifier.features).double()

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, lambda z: torch.softmax(self.classifier(z), 1))

    def iid_real_indices(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Indices into half B for n real digits drawn like i.i.d. samples.

        Class counts are multinomial with B's class frequencies; within a class the images are
        drawn without replacement, and with replacement only for the draws beyond its size.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n must be an integer >= 2, got {n!r}")
        lb = self.other_labels
        counts = torch.bincount(
            torch.multinomial(self.class_frequencies, n, replacement=True, generator=gen),
            minlength=10,
        )
        rows = []
        for k in range(10):
            pool = torch.nonzero(lb == k).flatten()
            c = int(counts[k])
            take = pool[torch.randperm(len(pool), generator=gen)[:c]]
            if c > len(pool):
                extra = torch.randint(0, len(pool), (c - len(pool),), generator=gen)
                take = torch.cat([take, pool[extra]])
            rows.append(take)
        return torch.cat(rows)

    def _floor(self, n: int) -> tuple[float, float, list[float]]:
        n = min(n, self.chunk)
        if n not in self._floors:
            gen = torch.Generator().manual_seed(self.seed * 7919 + n)
            vals = torch.tensor(
                [
                    frechet_distance(self.other[self.iid_real_indices(n, gen)], self.ref)
                    for _ in range(self.floor_draws)
                ]
            )
            self._floors[n] = (float(vals.mean()), float(vals.std()), vals.tolist())
        return self._floors[n]

    def floor_values(self, n: int) -> list[float]:
        """The ``floor_draws`` digits-FID values behind ``floor_at(n)`` (one per i.i.d. chunk)."""
        return list(self._floor(n)[2])

    def floor_at(self, n: int) -> float:
        """Expected digits-FID of n i.i.d. real digits against A: the floor for n samples.

        From n = |B| on, a set is scored in chunks of |B|, so the floor is the one at |B|."""
        return self._floor(n)[0]

    def floor_sd_at(self, n: int) -> float:
        """Standard deviation of the floor for a set of n samples (averaged over n // |B| chunks)."""
        _, sd, _ = self._floor(n)
        return sd / math.sqrt(max(1, n // self.chunk))

    def class_tv_floor(self, n: int, draws: int = 200) -> float:
        """Expected total variation of the class histogram of n i.i.d. real digits from uniform."""
        gen = torch.Generator().manual_seed(self.seed * 104729 + n)
        p = self.class_frequencies
        tvs = [
            0.5
            * (torch.bincount(torch.multinomial(p, n, True, generator=gen), minlength=10) / n - 0.1)
            .abs()
            .sum()
            for _ in range(draws)
        ]
        return float(torch.stack(tvs).mean())

    def __call__(self, samples: torch.Tensor) -> DigitsScore:
        f = self.features(samples) / self.scale
        n = f.shape[0]
        m = self.chunk
        if n >= m:
            fids = [frechet_distance(f[i : i + m], self.ref) for i in range(0, n - m + 1, m)]
        else:
            fids = [frechet_distance(f, self.ref)]
        kid, kid_std = kernel_inception_distance(f, self.ref)
        p = self.probabilities(samples)
        hist = torch.bincount(p.argmax(1), minlength=10).double() / n
        return DigitsScore(
            n=n,
            fid=sum(fids) / len(fids),
            fid_floor=self.floor_at(n),
            fid_floor_sd=self.floor_sd_at(n),
            fid_floor_stratified=self.fid_floor_stratified,
            kid=kid,
            kid_std=kid_std,
            kid_floor=self.kid_floor,
            confident=float((p.max(1).values >= 0.9).double().mean()),
            class_fractions=[round(float(v), 4) for v in hist],
            class_tv=float(0.5 * (hist - 0.1).abs().sum()),
            class_tv_floor=self.class_tv_floor(n),
            metric=self.metric,
        )

    def class_accuracy(self, samples: torch.Tensor, labels: torch.Tensor) -> float:
        """Fraction of samples the classifier assigns to the class they were asked for."""
        p = self.probabilities(samples)
        labels = torch.as_tensor(labels).long().flatten()
        if labels.shape != (p.shape[0],):
            raise ValueError(
                f"labels must hold one label per sample ({p.shape[0]}), got {tuple(labels.shape)}"
            )
        return float((p.argmax(1) == labels).double().mean())


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


class ImageQuality:
    """Patch sliced Wasserstein distance of samples to a folder's images, with its noise floor.

    The real images are shuffled once (by ``seed``) and split into two disjoint halves: A is the
    reference every sample set is compared with, B gives the floor, the same distance between
    real images and A at the same sample size (capped by the size of B, recorded as ``floor_n``).
    """

    metric = "patch-SWD"

    def __init__(self, real: torch.Tensor, seed: int = 0, **swd_options) -> None:
        if not isinstance(real, torch.Tensor) or real.ndim != 4 or real.shape[0] < 4:
            raise ValueError("real must be a tensor (N, C, H, W) of at least 4 images")
        perm = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(seed))
        half = real.shape[0] // 2
        self.ref, self.other = real[perm[:half]], real[perm[half:]]
        self.options = {"seed": seed, **swd_options}

    def __call__(self, samples: torch.Tensor) -> dict:
        return patch_swd(samples, self.ref, **self.options)

    def floor_at(self, n: int) -> tuple[float, int]:
        """(patch-SWD of min(n, |B|) real images of B against A, that sample size)."""
        m = min(n, self.other.shape[0])
        return patch_swd(self.other[:m], self.ref, **self.options)["mean"], m
