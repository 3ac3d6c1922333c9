"""The digits classifier whose features define digits-FID and KID.

The usual FID needs Inception weights from the internet and says little about 8x8 digits. Here a
small CNN (``models.DigitClassifier``) is trained on 80 % of the digits (stratified, fixed seed)
with dequantisation noise and one-pixel shifts, and its held-out accuracy on the other 20 % is
recorded with the weights. Its 64-D penultimate layer is the feature space of the metrics.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from tqdm.auto import tqdm

from .data import digit_levels, digits_split, levels_to_unit
from .models import ClassifierConfig, DigitClassifier, config_dict
from .train import device_name

# defaults
STEPS = 3000  # optimizer steps
BATCH_SIZE = 128
LR = 2e-3  # AdamW, cosine decay to 0
SEED = 0


def _shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by -1, 0 or +1 pixel in each direction (zero = background padding)."""
    pad = F.pad(x, (1, 1, 1, 1), value=-1.0 + 1.0 / 17)  # level 0 at its bin centre
    dx, dy = torch.randint(0, 3, (2, x.shape[0]), generator=gen)
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = pad[i, :, dy[i] : dy[i] + 8, dx[i] : dx[i] + 8]
    return out


def train_classifier(
    out: str | Path = "runs/digits_classifier",
    steps: int = STEPS,
    seed: int = SEED,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Train, evaluate on the held-out 20 %, and save ``out/model.safetensors`` with its record."""
    from safetensors.torch import save_file

    start = time.perf_counter()
    torch.manual_seed(seed)
    levels, labels = digit_levels()
    train_idx, test_idx = digits_split(0.2, seed=0)
    model = DigitClassifier(ClassifierConfig())
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in tqdm(range(steps), disable=not progress, desc="classifier"):
        idx = train_idx[torch.randint(0, train_idx.numel(), (BATCH_SIZE,), generator=gen)]
        x = levels_to_unit(levels[idx], torch.rand(levels[idx].shape, generator=gen))
        loss = F.cross_entropy(model(_shift(x, gen)), labels[idx], label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        pred = model(levels_to_unit(levels[test_idx])).argmax(1)
    accuracy = float((pred == labels[test_idx]).float().mean())
    meta = {
        "model": config_dict(model),
        "held_out_accuracy": round(accuracy, 4),
        "held_out_size": int(test_idx.numel()),
        "train_size": int(train_idx.numel()),
        "loss": round(float(loss.detach()), 4),
        "step": steps,
        "wall_s": round(time.perf_counter() - start, 1),
        "device": device_name(torch.device("cpu")),
        "command": command or " ".join(["python -m ddim_edu", *sys.argv[1:]]),
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    tmp = out / "checkpoint.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={k: json.dumps(v) for k, v in meta.items()})
    tmp.replace(out / "checkpoint.safetensors")
    (out / "checkpoint.json").write_text(json.dumps(meta, indent=1))
    print(f"{model.summary()}: held-out accuracy {accuracy:.2%} on {test_idx.numel()} digits")
    return meta
