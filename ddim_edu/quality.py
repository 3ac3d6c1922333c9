"""Sample quality in units of its floor: the classifier-based scores of generated digits
(digits-FID and MNIST-FID, KID, confidence, class balance) and patch-SWD for any images.

These classes load shipped classifiers and data; the distances they compute are the pure
functions of ``ddim_edu.metrics``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import _check_int, check_device
from .metrics import (
    frechet_distance,
    kernel_inception_distance,
    patch_swd,
)


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
    kid_std: float  # standard deviation of KID over the random subsets (its spread at that size)
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
            f"{self.fid_ratio:.2f}x), KID ({self.kid * 1e3:+.2f} ± {self.kid_std * 1e3:.2f})e-3 "
            f"(floor {self.kid_floor * 1e3:+.2f}e-3; ± the spread over subsets), "
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

        floor_draws = _check_int("floor_draws", floor_draws, 2)
        if data not in ("digits", "mnist"):
            raise ValueError(f"data must be 'digits' or 'mnist', got {data!r}")
        self.device = check_device(device)
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
        n = _check_int("n", n, 2)
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
