"""The digit classifiers whose features define digits-FID, MNIST-FID and KID.

The usual FID needs Inception weights from the internet and says little about small grayscale
digits. Here a small CNN (``models.DigitClassifier``) is trained on the training split of each
data set and its accuracy on the held-out split is recorded with the weights:

* ``digits`` (8x8): 80 % of the 1797 digits (stratified, fixed seed), with dequantisation noise
  and one-pixel shifts; held out: the other 20 %.
* ``mnist`` (28x28): the 8,000 training digits of ``data.mnist_split()``, with shifts of up to
  two pixels; held out: its 2,000 digits, which no denoiser of this project trains on either.

Its 64-D penultimate layer is the feature space of the metrics (``quality.DigitsQuality``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from tqdm.auto import tqdm

from . import checkpoints
from ._checks import _check_int
from .data import digit_levels, digits_split, levels_to_unit, load_mnist
from .models import ClassifierConfig, DigitClassifier, config_dict

# defaults
STEPS = 3000  # optimizer steps
BATCH_SIZE = 128
LR = 2e-3  # AdamW, cosine decay to 0
SEED = 0
DATA = ("digits", "mnist")
MAX_SHIFT = {"digits": 1, "mnist": 2}  # pixels, in each direction


def _shift(x: torch.Tensor, gen: torch.Generator, k: int = 1, fill: float = -1.0 + 1.0 / 17):
    """Shift each image by -k..k pixels in each direction, filling with the background ``fill``
    (by default the digits' level 0 at its bin centre)."""
    size = x.shape[-1]
    pad = F.pad(x, (k, k, k, k), value=fill)
    dx, dy = torch.randint(0, 2 * k + 1, (2, x.shape[0]), generator=gen)
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = pad[i, :, dy[i] : dy[i] + size, dx[i] : dx[i] + size]
    return out


def _splits(data: str):
    """(draw(idx, gen) -> training images, labels, train idx, held-out images, labels, size)."""
    if data == "digits":
        levels, labels = digit_levels()
        train_idx, test_idx = digits_split(0.2, seed=0)

        def draw(idx, gen):
            x = levels_to_unit(
                levels[train_idx[idx]], torch.rand((len(idx), 1, 8, 8), generator=gen)
            )
            return _shift(x, gen, MAX_SHIFT["digits"]), labels[train_idx[idx]]

        return draw, train_idx.numel(), levels_to_unit(levels[test_idx]), labels[test_idx], 8
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")

    def draw(idx, gen):
        return _shift(x_train[idx], gen, MAX_SHIFT["mnist"], fill=-1.0), y_train[idx]

    return draw, len(x_train), x_test, y_test, 28


def train_classifier(
    out: str | Path = "runs/digits_classifier",
    steps: int = STEPS,
    seed: int = SEED,
    progress: bool = True,
    command: str | None = None,
    data: str = "digits",
    overwrite: bool = False,
) -> dict:
    """Train on ``data``'s training split, evaluate on its held-out split, save ``out``'s checkpoint
    (``checkpoint.safetensors`` with tensors ``model.*``, and ``checkpoint.json``, both atomically).

    A folder that already holds a checkpoint (a classifier's or a denoiser run's) is refused
    before any training unless ``overwrite``."""
    if data not in DATA:
        raise ValueError(f"data must be one of {', '.join(map(repr, DATA))}, got {data!r}")
    steps = _check_int("steps", steps, 1)
    held = [
        n for n in (checkpoints.CHECKPOINT, checkpoints.CHECKPOINT_JSON) if (Path(out) / n).exists()
    ]
    if held and not overwrite:
        raise ValueError(
            f"{str(out)!r} already holds a checkpoint ({', '.join(held)}); pass overwrite=True "
            "(--overwrite) to replace it, or choose another folder (--out)"
        )
    start = time.perf_counter()
    torch.manual_seed(seed)
    draw, n_train, x_test, y_test, size = _splits(data)
    model = DigitClassifier(ClassifierConfig(image_size=size))
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in tqdm(range(steps), disable=not progress, desc=f"{data} classifier"):
        x, y = draw(torch.randint(0, n_train, (BATCH_SIZE,), generator=gen), gen)
        loss = F.cross_entropy(model(x), y, label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x_test[i : i + 500]).argmax(1) for i in range(0, len(x_test), 500)])
    accuracy = float((pred == y_test).float().mean())
    meta = {
        "model": config_dict(model),
        "held_out_accuracy": round(accuracy, 4),
        "held_out_size": int(len(y_test)),
        "train_size": int(n_train),
        "data": data,
        "loss": round(float(loss.detach()), 4),
        "step": steps,
        "wall_s": round(time.perf_counter() - start, 1),
        "device": checkpoints.describe_device("cpu"),
        "command": command or " ".join(["python -m ddim_edu", *sys.argv[1:]]),
    }
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    checkpoints.write_checkpoint(out, tensors, meta)
    print(f"{model.summary()}: held-out accuracy {accuracy:.2%} on {len(y_test)} {data} digits")
    return meta
