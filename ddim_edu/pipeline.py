"""A one-call sampler in the style of the DDIM model card, and an image-grid writer."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._checks import _check_int, check_device
from .checkpoints import write_atomic
from .fast import FastSampler
from .forward import make_generator
from .guidance import ClassConditioned, check_guidance, check_labels
from .sampling import eta_options
from .schedule import Schedule, timesteps


class DDIMPipeline:
    """``pipe = DDIMPipeline.from_pretrained("digits"); image = pipe(eta=0.0, num_inference_steps=50)``.

    Returns a (batch, channels, height, width) tensor in [-1, 1] on the CPU for an image model;
    for a model of 2-D points (the shipped MLPs) a (batch, dim) tensor, not clamped: those data
    sets reach beyond [-1, 1].

    A class-conditional model ("mnist") also takes ``class_labels`` and ``guidance_scale``:

        pipe = DDIMPipeline.from_pretrained("mnist")
        sevens = pipe(batch_size=16, class_labels=7, guidance_scale=2.0, generator=0)

    Sampling runs through ``fast.FastSampler``: the update of ``sampling.ddim_sample`` with its
    coefficients computed once, the same samples up to float rounding.
    """

    def __init__(
        self, model: nn.Module, schedule: Schedule | None = None, prediction: str | None = None
    ):
        self.model = model.eval()
        self.schedule = schedule or getattr(model, "schedule", None)
        if self.schedule is None:
            raise ValueError("schedule must be given for a model without a .schedule attribute")
        self.prediction = prediction or getattr(model, "prediction", "eps")

    @classmethod
    def from_pretrained(cls, name: str, device: str | torch.device | None = None) -> DDIMPipeline:
        """The shipped model ``name`` on ``device`` (default the CPU); a device this torch cannot
        use is refused with a ValueError naming it and the available ones."""
        from .pretrained import load

        return cls(load(name, device=check_device("cpu" if device is None else device)))

    @property
    def sample_shape(self) -> tuple[int, ...]:
        cfg = self.model.config
        if hasattr(cfg, "image_size"):
            return (cfg.in_channels, cfg.image_size, cfg.image_size)
        return (cfg.dim,)

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int | None = None,
        generator: torch.Generator | int | None = None,
        eta: float = 0.0,
        num_inference_steps: int = 50,
        timestep_spacing: str = "uniform",
        device: str | torch.device | None = None,
        clip: float | None | str = "auto",
        progress: bool = True,
        class_labels: int | list[int] | torch.Tensor | None = None,
        guidance_scale: float = 1.0,
    ) -> torch.Tensor:
        """Sample ``batch_size`` images with DDIM (eta = 0) or any eta; ``eta="sigma_hat"`` also works.

        x_T and all noise come from ``generator`` (an int seed or a CPU generator) on the CPU, so a
        seed gives the same images on every device. ``clip`` clamps the predicted x_0 at each step
        to [-clip, clip]; ``"auto"`` means 1.0 for images (pixels live in [-1, 1]) and no clipping
        for points. ``batch_size`` defaults to 1, or to the number of ``class_labels``.

        Class-conditional models only: ``class_labels`` None samples unconditionally, an int
        gives every image that class, a sequence gives one class per image; ``guidance_scale`` w
        is classifier-free guidance, eps_uncond + w (eps_cond - eps_uncond) (1.0: the plain
        conditional model; other values cost a network call of twice the batch per step).
        """
        num_classes = getattr(self.model.config, "num_classes", 0)
        if class_labels is not None and not num_classes:
            raise ValueError("class_labels given, but this model is not class-conditional")
        labels = check_labels(class_labels, num_classes)
        w = check_guidance(guidance_scale)
        if labels is None and w != 1.0:
            raise ValueError(
                f"guidance_scale={guidance_scale!r} needs class_labels (guidance pulls towards a class)"
            )
        if batch_size is None:
            batch_size = labels.numel() if isinstance(labels, torch.Tensor) else 1
        batch_size = _check_int("batch_size", batch_size, 1)
        if isinstance(labels, torch.Tensor) and labels.numel() != batch_size:
            raise ValueError(
                f"class_labels has {labels.numel()} labels but batch_size is {batch_size}; give "
                "one label per image or a single int"
            )
        T = self.schedule.T  # noqa: N806
        steps = num_inference_steps
        steps = _check_int("num_inference_steps", steps, 1, T, hint=" (at most T)")
        if device is not None:
            self.model.to(check_device(device))
        device = next(self.model.parameters()).device
        gen = make_generator(generator)
        x_T = torch.randn((batch_size, *self.sample_shape), generator=gen).to(device)
        options = eta_options(eta)
        images = len(self.sample_shape) == 3
        if isinstance(clip, str):
            if clip != "auto":
                raise ValueError(f"clip must be a number > 0, None or 'auto', got {clip!r}")
            clip = 1.0 if images else None
        taus = timesteps(num_inference_steps, self.schedule.T, timestep_spacing)
        model = self.model if labels is None else ClassConditioned(self.model, labels, w)
        sampler = FastSampler(
            model, self.schedule, taus, clip=clip, prediction=self.prediction, **options
        )
        x = sampler(x_T, generator=gen, progress=progress)
        return (x.clamp(-1, 1) if images else x).cpu()


def image_grid(
    images: torch.Tensor, nrow: int | None = None, padding: int = 1, scale: int | None = None
) -> np.ndarray:
    """A batch (B, C, H, W) in [-1, 1] as one uint8 array (rows of images, light padding between).

    ``scale`` enlarges each pixel (nearest neighbour); by default small images reach ~32 px.
    Returns (H', W') for grayscale and (H', W', 3) for RGB.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must have shape (B, 1 or 3, H, W), got {got}")
    b, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(b))
    ncol = math.ceil(b / nrow)
    scale = scale or max(1, 32 // max(h, w))
    x = ((images.detach().cpu().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    x = x.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    hs, ws = h * scale, w * scale
    grid = torch.full(
        (c, ncol * (hs + padding) + padding, nrow * (ws + padding) + padding),
        255,
        dtype=torch.uint8,
    )
    for i in range(b):
        r, k = divmod(i, nrow)
        top, left = padding + r * (hs + padding), padding + k * (ws + padding)
        grid[:, top : top + hs, left : left + ws] = x[i]
    arr = grid.permute(1, 2, 0).numpy()
    return arr[..., 0] if c == 1 else arr


def save_image_grid(
    images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int | None = None
) -> Path:
    """Save a batch as one PNG (see ``image_grid``), written atomically; returns the path."""
    from PIL import Image

    path = Path(path)
    buf = io.BytesIO()
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    Image.fromarray(image_grid(images, nrow=nrow, scale=scale)).save(buf, format=fmt)
    return write_atomic(path, buf.getvalue())
