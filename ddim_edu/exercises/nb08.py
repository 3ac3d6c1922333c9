"""Exercises of notebook 08, guidance and editing: the one-call guidance combine, an edit by
inversion, and clipping the predicted x_0 with the noise re-derived from it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
from torch import nn

from ..guidance import ClassConditioned
from ..models import NULL_CLASS
from ..sampling import ddim_invert, ddim_sample, eps_and_x0
from ..schedule import linear_schedule, timesteps
from ._core import _as_tensor, _call, _compare, _random_levels, _Reject, _rng, _tensor, exercise

SHAPE = (1, 6, 6)  # the checkers' small "images"


class _ToyConditional(nn.Module):
    """A cheap class-conditional network for the checkers, called as ``model(x, t, y)``.

    eps = tanh(a_y x + b_y sqrt(1 - alpha_bar_t)), float64, with one scale a_y and one pattern
    b_y per label (row 0 is "no class"), so every label, and the "no class" entry, changes the
    output. ``.config.num_classes`` and ``.schedule`` make it usable wherever the UNet is.
    """

    def __init__(self, gen: torch.Generator, num_classes: int = 10) -> None:
        super().__init__()
        k = num_classes + 1
        self.config = SimpleNamespace(num_classes=num_classes)
        self.schedule = linear_schedule()
        self.a = nn.Parameter(
            0.5 + torch.rand(k, generator=gen, dtype=torch.float64), requires_grad=False
        )
        self.b = nn.Parameter(
            torch.randn(k, *SHAPE, generator=gen, dtype=torch.float64), requires_grad=False
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        if y is None:
            y = torch.full((x.shape[0],), NULL_CLASS, dtype=torch.long)
        row = y.long() + 1  # NULL_CLASS = -1 -> row 0
        s = (1.0 - self.schedule.alpha_bar[t.long()]).sqrt().to(x.dtype).view(-1, 1, 1, 1)
        return torch.tanh(self.a[row].view(-1, 1, 1, 1) * x + self.b[row] * s)


# --- 08.1 -----------------------------------------------------------------------------------------


@exercise(
    "08.1",
    "guidance from one network call",
    '''
    def guided_eps(net, x, t, y, w):
        """Classifier-free guidance, eps_uncond + w (eps_cond - eps_uncond), from ONE call of net.

        net(x, t, y): a class-conditional network; y holds labels 0..9, or -1 for "no class".
        x: (B, C, H, W) noisy images; t: (B,) int64 timesteps; y: (B,) int64 classes; w: a float.
        Returns the guided noise prediction, shaped like x.
        """
        ...
    ''',
)
def _check_guided_eps(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    toy = _ToyConditional(gen)
    calls: list[int] = []  # the batch of every call of the network

    def net(x, t, y):
        calls.append(int(x.shape[0]))
        return toy(x, t, y)

    b = int(torch.randint(3, 7, (1,), generator=gen))
    scales = [3.0, 0.0, 1.5 + 3.0 * float(torch.rand(1, generator=gen))]
    got, expected, per_case_calls = [], [], []
    plus_one, swapped, zero_null, no_difference = [], [], [], []
    for w in scales:
        x = torch.randn(b, *SHAPE, generator=gen, dtype=torch.float64)
        t = torch.randint(0, 1000, (b,), generator=gen)
        y = torch.randint(0, 10, (b,), generator=gen)
        calls.clear()
        out = _tensor(fn, net, x, t, y, w)
        per_case_calls.append(list(calls))
        if out.shape == (2 * b, *SHAPE):
            return False, (
                f"You returned all {2 * b} rows of the network's output for {b} images: split it "
                "into the conditional and the unconditional halves and combine them, so the "
                "result is shaped like x."
            )
        got.append(out)
        with torch.no_grad():
            expected.append(ClassConditioned(toy, y, guidance_scale=w)(x, t))
            e_c, e_u = toy(x, t, y), toy(x, t, torch.full_like(y, NULL_CLASS))
            e_0 = toy(x, t, torch.zeros_like(y))
        plus_one.append(e_c + w * (e_c - e_u))
        swapped.append(e_c + w * (e_u - e_c))
        zero_null.append(e_0 + w * (e_c - e_0))
        no_difference.append(e_u + w * e_c)
    mistakes = {
        "That is the (1 + w) convention, (1 + w) ε_cond − w ε_uncond, in which w = 0 is the "
        "plain conditional model; in this course w = 1 is the conditional model and w = 0 the "
        "unconditional one.": torch.stack(plus_one),
        "The halves are swapped: you started from ε_cond and moved towards ε_uncond. Check which "
        'half of the output holds the class labels and which the "no class" label.': torch.stack(
            swapped
        ),
        'Label 0 is the digit zero, not "no class": the unconditional half needs the label −1 '
        "(ddim_edu.models.NULL_CLASS).": torch.stack(zero_null),
        "The guidance term is w times a difference, w (ε_cond − ε_uncond); you added w ε_cond.": (
            torch.stack(no_difference)
        ),
    }
    ok, message = _compare(
        torch.stack(got), torch.stack(expected), "the guided ε", mistakes,
        "stack x on top of itself (and t with it), give the first half the classes y and the "
        "second half the label −1, call net once, split its output in two and combine the halves.",
    )  # fmt: skip
    if not ok:
        return ok, message
    for batches in per_case_calls:
        if len(batches) > 1:
            return False, (
                f"The numbers are right, but the network ran {len(batches)} times for one guided "
                f"prediction (batches {batches}). Guidance costs one call of 2B rows: put both "
                "halves into one batch, so the network's fixed cost per call is paid once."
            )
    return True, (
        "the guided ε matches `ClassConditioned` on fresh inputs, from one network call of 2B "
        "rows: guidance doubles the batch, not the number of calls."
    )


# --- 08.2 -----------------------------------------------------------------------------------------


@exercise(
    "08.2",
    "an edit by inversion",
    '''
    def edit(model, x0, source, target, taus, w):
        """Section 3's edit: encode x0 under its own class, decode the code under another class.

        model: a class-conditional network with .schedule (like pretrained.load("mnist"));
        x0: (B, 1, H, W) images in [-1, 1]; source, target: (B,) int64 classes;
        taus: descending timesteps (both ways); w: the guidance scale of the decoding.
        Returns the edited images, shaped like x0.
        """
        ...
    ''',
)
def _check_edit(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    model = _ToyConditional(gen)
    schedule = model.schedule
    b = int(torch.randint(3, 6, (1,), generator=gen))
    x0 = torch.rand(b, *SHAPE, generator=gen, dtype=torch.float64) * 2 - 1
    source = torch.randint(0, 10, (b,), generator=gen)
    target = (source + torch.randint(1, 10, (b,), generator=gen)) % 10  # another class
    taus = timesteps(int(torch.randint(3, 9, (1,), generator=gen)), schedule.T)
    w = 1.5 + 1.5 * float(torch.rand(1, generator=gen))
    got = _tensor(fn, model, x0, source, target, list(taus), w)

    def encode(labels, scale):
        cond = ClassConditioned(model, labels, guidance_scale=scale)
        return ddim_invert(cond, x0, schedule, taus, progress=False)

    def decode(code, labels, clip=1.0):
        cond = ClassConditioned(model, labels, guidance_scale=w)
        return ddim_sample(cond, code, schedule, taus, clip=clip, progress=False)

    with torch.no_grad():
        code = encode(source, 1.0)
        expected = decode(code, target)
        mistakes = {
            "You decoded under the source classes: that reconstructs x0. Decode the code under "
            "the target classes.": decode(code, source),
            "You encoded under the target classes. The code should hold the digit as it is: "
            "encode it under its own (source) class.": decode(encode(target, 1.0), target),
            "You encoded with guidance w. Guided inversion drifts (section 2): encode with the "
            "plain conditional model, w = 1, and use w only to decode.": decode(
                encode(source, w), target
            ),
            "You encoded with no class; this edit encodes under the source class (w = 1).": decode(
                encode(None, 1.0), target
            ),
            "The decoding does not clip: with guidance, pass clip=1.0 so that the predicted x_0 "
            "stays in [-1, 1] and ε is re-derived from it.": decode(code, target, clip=None),
        }
    return _compare(
        got, expected, "your edit", mistakes,
        "encode with the plain conditional model under the source classes, then decode the "
        "code under the target classes with guidance w, on the same timesteps and the model's "
        "schedule, clipping as section 1 does.",
    )  # fmt: skip


# --- 08.3 -----------------------------------------------------------------------------------------


@exercise(
    "08.3",
    "clip the predicted x_0, then re-derive ε",
    '''
    def clip_x0(x_t, eps, alpha_bar_t, c):
        """The pair (eps, x0) that one clipped sampling step uses.

        x_t, eps: tensors of one shape; alpha_bar_t: a float in (0, 1); c: the clip value.
        x0 is the predicted x_0 of eq. 9 clamped to [-c, c]; eps is the noise that, with that x0,
        gives back the same x_t. Returns (eps, x0).
        """
        ...
    ''',
)
def _check_clip_x0(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    got, expected = [], []
    kept, clamped_eps, no_roots, unclamped, reordered = [], [], [], [], []
    levels, _ = _random_levels(gen, n=3)
    for a in [float(v) for v in levels]:
        c = 0.8 + 0.7 * float(torch.rand(1, generator=gen))
        x = torch.randn(64, generator=gen, dtype=torch.float64) * 1.5
        eps = torch.randn(64, generator=gen, dtype=torch.float64)
        out = _call(fn, x, eps, a, c)
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise _Reject(f"Expected a pair (eps, x0), got {type(out).__name__}: {str(out)[:60]}")
        pair = [_as_tensor(v) for v in out]
        if any(v is None or v.shape != x.shape for v in pair):
            return False, f"Expected two tensors of shape {tuple(x.shape)}, got {str(out)[:80]}."
        got.append(torch.stack(pair))
        # the package's reference: ddim_sample with clip (sampling.py) does exactly this
        _, x0 = eps_and_x0(eps, x, a)
        x0c = x0.clamp(-c, c)
        eps_c = (x - math.sqrt(a) * x0c) / math.sqrt(1.0 - a)
        expected.append(torch.stack([eps_c, x0c]))
        kept.append(torch.stack([eps, x0c]))
        e_clamped = eps.clamp(-c, c)
        clamped_eps.append(torch.stack([e_clamped, eps_and_x0(e_clamped, x, a)[1]]))
        no_roots.append(torch.stack([(x - a * x0c) / (1.0 - a), x0c]))
        unclamped.append(torch.stack([eps, x0]))
        reordered.append(torch.stack([x0c, eps_c]))
    mistakes = {
        "The pair is in the order (x0, eps); return (eps, x0).": torch.stack(reordered),
        "Nothing was clamped: x̂0 must be clamped to [-c, c] before ε is re-derived.": torch.stack(
            unclamped
        ),
        "You kept the model's ε beside the clamped x̂0: the two terms of eq. 12 then describe "
        "two different x_t, and with guidance that wrecks the samples. Re-derive ε from the "
        "clamped x̂0 and x_t.": torch.stack(kept),
        "You clamped ε; the range [-c, c] is the range of the images, so clamp the predicted "
        "x̂0.": torch.stack(clamped_eps),
        "The re-derived ε lacks its square roots: x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε.": torch.stack(
            no_roots
        ),
    }
    return _compare(
        torch.stack(got), torch.stack(expected), "(ε, x̂0)", mistakes,
        "predict x̂0 with eq. 9, clamp it, then solve x_t = √ᾱ_t x̂0 + √(1 − ᾱ_t) ε for ε.",
    )  # fmt: skip
