"""Noise-prediction networks: a small UNet for images and an MLP for 2-D points.

Both are ``eps_model(x, t)`` callables: x is (B, C, H, W) or (B, d), t an int64 tensor (B,).
Each carries its ``config`` (a dataclass) so that a checkpoint can rebuild it, and ``summary()``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F  # noqa: N812
from einops import rearrange
from torch import nn

from ._checks import _check_int


def timestep_embedding(
    t: torch.Tensor, dim: int, max_period: float = 10_000.0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Transformer / DDPM style): (B,) -> (B, dim).

    Computed in float32 (as in training) and returned in ``dtype``, the dtype of the network's
    weights (so that a network converted with ``.double()`` runs too).
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half
    )
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2)).to(dtype)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- UNet ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UNetConfig:
    image_size: int = 8  # height = width of the images
    in_channels: int = 1  # 1 for grayscale, 3 for RGB
    base_channels: int = 64  # channels at full resolution
    channel_mults: tuple[int, ...] = (
        1,
        2,
    )  # one entry per resolution; each after the first halves H, W
    num_res_blocks: int = 2  # residual blocks per resolution
    attention: bool = True  # self-attention at the lowest resolution
    heads: int = 4  # attention heads
    dropout: float = 0.0
    groups: int = 8  # GroupNorm groups
    num_classes: int = 0  # > 0: class-conditional, with one more learned "no class" entry

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mults", tuple(self.channel_mults))
        object.__setattr__(self, "num_classes", _check_int("num_classes", self.num_classes, 0))
        down = 2 ** (len(self.channel_mults) - 1)
        if self.image_size < 1 or self.image_size % down:
            raise ValueError(
                f"image_size must be a positive multiple of 2^(len(channel_mults) - 1) = {down}, "
                f"got {self.image_size}"
            )
        if self.in_channels < 1 or self.base_channels < 1 or self.num_res_blocks < 1:
            raise ValueError("in_channels, base_channels and num_res_blocks must be >= 1")
        for m in self.channel_mults:
            if (self.base_channels * m) % self.groups:
                raise ValueError(
                    f"base_channels * each channel_mult must be divisible by groups={self.groups}, "
                    f"got {self.base_channels} * {m}"
                )


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, plus the time embedding, twice; a 1x1 skip when widths differ."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, dropout: float, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + rearrange(self.time(temb), "b c -> b c 1 1")
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, with a residual connection."""

    def __init__(self, channels: int, heads: int, groups: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, height, width = x.shape
        q, k, v = rearrange(
            self.qkv(self.norm(x)), "b (three h d) x y -> three b h (x y) d", three=3, h=self.heads
        )
        out = F.scaled_dot_product_attention(q, k, v)
        out = rearrange(out, "b h (x y) d -> b (h d) x y", x=height, y=width)
        return x + self.proj(out)


NULL_CLASS = -1  # the label that asks a class-conditional UNet for its unconditional output


class UNet(nn.Module):
    """A small DDPM-style UNet predicting eps (or x_0, or v) from (x_t, t) or (x_t, t, y).

    Down path: per resolution ``num_res_blocks`` ResBlocks, then a stride-2 conv; middle:
    ResBlock, attention, ResBlock; up path mirrors the down path with skip connections. The
    output conv starts at zero, so an untrained model predicts eps = 0.

    With ``num_classes = K > 0`` the network is class-conditional: an embedding of the label
    y in 0..K-1, or of a learned "no class" entry for y = ``NULL_CLASS`` (-1), is added to the
    time embedding. ``model(x, t)`` (y omitted) is the unconditional output. Labels are dropped
    at random in training, so one network learns both (classifier-free guidance,
    ``ddim_edu.guidance``).
    """

    def __init__(self, config: UNetConfig | None = None, **overrides) -> None:
        super().__init__()
        config = config or UNetConfig(**overrides)
        self.config = config
        ch = config.base_channels
        tdim = 4 * ch
        g = config.groups
        self.time_mlp = nn.Sequential(nn.Linear(ch, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        # row K is the "no class" entry
        self.class_emb = (
            nn.Embedding(config.num_classes + 1, tdim) if config.num_classes > 0 else None
        )
        self.conv_in = nn.Conv2d(config.in_channels, ch, 3, padding=1)
        widths = [ch * m for m in config.channel_mults]
        lowest = len(widths) - 1

        self.down = nn.ModuleList()
        skips = [ch]
        c = ch
        for level, w in enumerate(widths):
            for _ in range(config.num_res_blocks):
                blocks = [ResBlock(c, w, tdim, config.dropout, g)]
                if config.attention and level == lowest:
                    blocks.append(SelfAttention(w, config.heads, g))
                self.down.append(nn.ModuleList(blocks))
                c = w
                skips.append(c)
            if level != lowest:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                skips.append(c)

        self.mid1 = ResBlock(c, c, tdim, config.dropout, g)
        self.mid_attn = SelfAttention(c, config.heads, g) if config.attention else nn.Identity()
        self.mid2 = ResBlock(c, c, tdim, config.dropout, g)

        self.up = nn.ModuleList()
        for level, w in reversed(list(enumerate(widths))):
            for _ in range(config.num_res_blocks + 1):
                blocks = [ResBlock(c + skips.pop(), w, tdim, config.dropout, g)]
                if config.attention and level == lowest:
                    blocks.append(SelfAttention(w, config.heads, g))
                self.up.append(nn.ModuleList(blocks))
                c = w
            if level != 0:
                self.up.append(
                    nn.ModuleList(
                        [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)]
                    )
                )

        self.norm_out = nn.GroupNorm(g, c)
        self.conv_out = nn.Conv2d(c, config.in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        cfg = self.config
        expected = (cfg.in_channels, cfg.image_size, cfg.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"x must have shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}"
            )
        temb = self.time_mlp(
            timestep_embedding(t, cfg.base_channels, dtype=self.conv_in.weight.dtype)
        )
        if self.class_emb is not None:
            temb = temb + self.class_emb(self._class_index(y, x.shape[0], x.device))
        elif y is not None:
            raise ValueError("y (class labels) given to an unconditional UNet (num_classes = 0)")
        h = self.conv_in(x)
        hs = [h]
        for blocks in self.down:
            for layer in blocks:
                h = layer(h, temb) if isinstance(layer, ResBlock) else layer(h)
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb)), temb)
        for blocks in self.up:
            if isinstance(blocks[0], ResBlock):
                h = torch.cat([h, hs.pop()], dim=1)
            for layer in blocks:
                h = layer(h, temb) if isinstance(layer, ResBlock) else layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))

    def _class_index(self, y: torch.Tensor | None, batch: int, device) -> torch.Tensor:
        """Labels (B,) in -1..K-1 as rows of ``class_emb`` (-1, the null label, is row K)."""
        k = self.config.num_classes
        if y is None:
            return torch.full((batch,), k, dtype=torch.long, device=device)
        if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"y must be an int64 tensor of class labels, got {y!r:.60}")
        if y.shape != (batch,):
            raise ValueError(
                f"y must have shape ({batch},), one label per image, got {tuple(y.shape)}"
            )
        return torch.where(y == NULL_CLASS, k, y).long()

    def summary(self) -> str:
        c = self.config
        size = f"{c.in_channels}x{c.image_size}x{c.image_size}"
        attn = "attention at the lowest resolution" if c.attention else "no attention"
        cond = f", {c.num_classes} classes + null" if c.num_classes else ""
        return (
            f"UNet({size}, width {c.base_channels}, mults {c.channel_mults}, {c.num_res_blocks} res blocks, "
            f"{attn}{cond}): {_count(self) / 1e6:.2f} M parameters"
        )


# --- MLP for 2-D points --------------------------------------------------------------------------


@dataclass(frozen=True)
class MLPConfig:
    dim: int = 2  # data dimension
    hidden: int = 128  # width of the hidden layers
    depth: int = 3  # residual blocks
    time_dim: int = 32  # sinusoidal embedding size

    def __post_init__(self) -> None:
        if min(self.dim, self.hidden, self.depth, self.time_dim) < 1:
            raise ValueError("dim, hidden, depth and time_dim must all be >= 1")


class MLPDenoiser(nn.Module):
    """eps(x, t) for points: the time embedding is added to every residual block."""

    def __init__(self, config: MLPConfig | None = None, **overrides) -> None:
        super().__init__()
        config = config or MLPConfig(**overrides)
        self.config = config
        h = config.hidden
        self.inp = nn.Linear(config.dim, h)
        self.time = nn.Sequential(nn.Linear(config.time_dim, h), nn.SiLU(), nn.Linear(h, h))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, h))
            for _ in range(config.depth)
        )
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(h, config.dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.config.dim:
            raise ValueError(f"x must have shape (B, {self.config.dim}), got {tuple(x.shape)}")
        temb = self.time(timestep_embedding(t, self.config.time_dim, dtype=self.inp.weight.dtype))
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h + temb)
        return self.out(h)

    def summary(self) -> str:
        c = self.config
        return f"MLPDenoiser(dim {c.dim}, hidden {c.hidden}, depth {c.depth}): {_count(self) / 1e3:.1f} k parameters"


# --- digit classifier (feature space for the quality metrics) -----------------------------------


@dataclass(frozen=True)
class ClassifierConfig:
    image_size: int = 8
    in_channels: int = 1
    width: int = 32  # channels of the first conv; doubled after each pooling
    feature_dim: int = 64  # size of the feature vector used by digits-FID and KID
    num_classes: int = 10


class DigitClassifier(nn.Module):
    """A small CNN: (B, 1, H, W) -> logits (B, 10); ``features`` gives the penultimate layer.

    For 8x8 digits: two conv pairs with one 2x2 pooling between them, then global average pooling.
    For larger images (MNIST's 28x28) a stem of one more conv pair and pooling comes first
    (28 -> 14), so the same body sees 14 -> 7 before the average.
    """

    def __init__(self, config: ClassifierConfig | None = None, **overrides) -> None:
        super().__init__()
        config = config or ClassifierConfig(**overrides)
        self.config = config
        w = config.width
        c_in = config.in_channels
        self.stem = None
        if config.image_size >= 16:
            self.stem = nn.Sequential(
                nn.Conv2d(c_in, w, 3, padding=1),
                nn.GroupNorm(8, w),
                nn.SiLU(),
                nn.Conv2d(w, w, 3, padding=1),
                nn.GroupNorm(8, w),
                nn.SiLU(),
                nn.MaxPool2d(2),
            )
            c_in = w
        self.body = nn.Sequential(
            nn.Conv2d(c_in, w, 3, padding=1),
            nn.GroupNorm(8, w),
            nn.SiLU(),
            nn.Conv2d(w, w, 3, padding=1),
            nn.GroupNorm(8, w),
            nn.SiLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.GroupNorm(8, 2 * w),
            nn.SiLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1),
            nn.GroupNorm(8, 2 * w),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * w, config.feature_dim),
            nn.SiLU(),
        )
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) in [-1, 1] -> (B, feature_dim)."""
        return self.body(x if self.stem is None else self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))

    def summary(self) -> str:
        return f"DigitClassifier({self.config.feature_dim}-D features): {_count(self) / 1e3:.1f} k parameters"


# --- building from a config dict (checkpoints) ---------------------------------------------------

MODELS: dict[str, tuple[type[nn.Module], type]] = {
    "unet": (UNet, UNetConfig),
    "mlp": (MLPDenoiser, MLPConfig),
    "classifier": (DigitClassifier, ClassifierConfig),
}


def model_kind(model: nn.Module) -> str:
    for kind, (cls, _) in MODELS.items():
        if isinstance(model, cls):
            return kind
    raise ValueError(f"unknown model class {type(model).__name__}")


def config_dict(model: nn.Module) -> dict:
    """{"kind": ..., **config} for a checkpoint's JSON (tuples as lists, as JSON returns them)."""
    return json.loads(json.dumps({"kind": model_kind(model), **asdict(model.config)}))


def build_model(config: dict) -> nn.Module:
    """Rebuild a model from ``config_dict(model)``; unknown kinds or keys raise ValueError."""
    config = dict(config)
    kind = config.pop("kind", None)
    if kind not in MODELS:
        raise ValueError(f"model kind must be one of {', '.join(map(repr, MODELS))}, got {kind!r}")
    cls, cfg_cls = MODELS[kind]
    known = {f.name for f in fields(cfg_cls)}
    unknown = set(config) - known
    if unknown:
        raise ValueError(
            f"unknown {kind} config keys: {sorted(unknown)}; accepted: {sorted(known)}"
        )
    return cls(cfg_cls(**config))
