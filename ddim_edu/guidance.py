"""Class-conditional sampling without a new sampler argument: a wrapper that is an ``eps_model``.

Every sampler of this package calls ``eps_model(x, t)``. A class-conditional UNet
(``UNetConfig(num_classes=K)``) is called as ``unet(x, t, y)``; ``ClassConditioned`` fixes y and
turns it back into ``eps_model(x, t)``:

    cond = ClassConditioned(unet, class_labels=3, guidance_scale=2.0)
    x0 = ddim_sample(cond, x_T, unet.schedule, timesteps(50))

Classifier-free guidance (Ho and Salimans, 2021): one network, trained with labels dropped at
random, predicts both eps(x_t, t, y) and eps(x_t, t, no class); the guided prediction is

    eps_w = eps_uncond + w (eps_cond - eps_uncond)

w = 0 is the unconditional model, w = 1 the plain conditional one, w > 1 pushes each sample
towards what makes it typical of its class (sharper, less varied digits). Both halves come from
one batched call of 2B rows, so guidance costs one network call per step, of twice the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._checks import _as_int
from .models import NULL_CLASS

Labels = int | Sequence[int] | torch.Tensor | None


def check_labels(class_labels: Labels, num_classes: int, batch: int | None = None):
    """``class_labels`` as None, an int, or an int64 tensor of one label per image.

    Accepted labels: 0..num_classes-1, and -1 (``NULL_CLASS``, "no class") inside a sequence.
    """
    if class_labels is None:
        return None
    accepted = f"None, an int in 0..{num_classes - 1}, or a sequence of such ints"
    if isinstance(class_labels, bool):
        raise ValueError(f"class_labels must be {accepted}, got {class_labels!r}")
    if isinstance(class_labels, int):
        if not 0 <= class_labels < num_classes:
            raise ValueError(
                f"class_labels must be {accepted}; {class_labels} is not a class of this model"
            )
        return class_labels
    if isinstance(class_labels, torch.Tensor):
        if class_labels.dtype.is_floating_point or class_labels.dtype == torch.bool:
            raise ValueError(f"class_labels must be {accepted}, got a {class_labels.dtype} tensor")
        y = class_labels.detach().cpu().long().flatten()
        if class_labels.ndim != 1:
            raise ValueError(
                f"class_labels must be one-dimensional, got shape {tuple(class_labels.shape)}"
            )
    else:
        try:
            values = list(class_labels)
        except TypeError:
            raise ValueError(f"class_labels must be {accepted}, got {class_labels!r}") from None
        ints = [_as_int(v) for v in values]
        if not ints or None in ints:
            raise ValueError(f"class_labels must be {accepted}, got {class_labels!r:.80}")
        y = torch.tensor(ints, dtype=torch.long)
    bad = y[(y < NULL_CLASS) | (y >= num_classes)]
    if bad.numel():
        raise ValueError(
            f"class_labels must be {accepted} (or {NULL_CLASS} for no class); "
            f"{int(bad[0])} is not a class of this model"
        )
    if batch is not None and y.numel() != batch:
        raise ValueError(
            f"class_labels has {y.numel()} labels but the batch has {batch} images; give one "
            "label per image or a single int"
        )
    return y


def check_guidance(guidance_scale: object) -> float:
    if (
        isinstance(guidance_scale, bool)
        or not isinstance(guidance_scale, int | float)
        or not math.isfinite(guidance_scale)
    ):
        raise ValueError(f"guidance_scale must be a finite number, got {guidance_scale!r}")
    return float(guidance_scale)


class ClassConditioned(nn.Module):
    """``eps_model(x, t)`` of a class-conditional network with fixed labels and guidance.

    Args:
        model: a network called as ``model(x, t, y)`` with ``y`` an int64 tensor (B,) of labels
            in 0..K-1 or -1 for "no class"; ``model.config.num_classes`` is K.
        class_labels: None (unconditional: every row gets the "no class" label), an int (the
            same class for every image) or a sequence/tensor of one label per image.
        guidance_scale: w of classifier-free guidance; 1.0 is the plain conditional output
            (one call of B rows), any other w costs one call of 2B rows.

    ``.schedule``, ``.prediction`` and ``.config`` are the wrapped model's, so the wrapper goes
    wherever the model went (samplers, ``FastSampler``, the pipeline).
    """

    def __init__(self, model: nn.Module, class_labels: Labels = None, guidance_scale=1.0):
        super().__init__()
        k = getattr(getattr(model, "config", None), "num_classes", 0)
        if not k:
            raise ValueError("model is not class-conditional (its config has num_classes = 0)")
        self.model = model
        self.num_classes = k
        self.class_labels = check_labels(class_labels, k)
        self.guidance_scale = check_guidance(guidance_scale)
        for name in ("schedule", "prediction"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    @property
    def config(self):
        return self.model.config

    def labels_for(self, batch: int, device) -> torch.Tensor | None:
        y = self.class_labels
        if y is None:
            return None
        if isinstance(y, int):
            return torch.full((batch,), y, dtype=torch.long, device=device)
        if y.numel() != batch:
            raise ValueError(
                f"class_labels has {y.numel()} labels but the batch has {batch} images; give one "
                "label per image or a single int"
            )
        return y.to(device)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        y = self.labels_for(x.shape[0], x.device)
        if y is None:
            return self.model(x, t)
        if self.guidance_scale == 1.0:
            return self.model(x, t, y)
        null = torch.full_like(y, NULL_CLASS)
        both = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        cond, uncond = both.chunk(2)
        return uncond + self.guidance_scale * (cond - uncond)
