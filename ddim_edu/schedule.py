"""Noise schedules and timestep sub-sequences.

Notation: the DDIM paper writes ``alpha_t`` for the cumulative product that DDPM writes
``alpha_bar_t``. This package writes ``alpha_bar`` everywhere:

    alpha_bar[t] = prod_{s <= t} (1 - beta[s]),   t = 0 .. T-1,

and the value "before t = 0" is 1 (the clean data x_0). Schedules are stored in float64 so that
``1 - alpha_bar`` near t = 0 and ``alpha_bar`` near t = T-1 keep their digits; samplers read
python floats from them and work in the dtype of the data.

This module is the only place that knows how timesteps are chosen (``timesteps``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

SPACINGS = ("uniform", "quadratic", "trailing", "linspace")


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int, or raise ValueError naming ``name`` and the accepted range."""
    accepted = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, int):
        # numpy / torch integer scalars are fine, floats such as 10.0 are not.
        if hasattr(value, "__index__") and not isinstance(value, bool):
            value = int(value.__index__())
        else:
            raise ValueError(f"{name} must be {accepted}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {accepted}, got {value}")
    return value


@dataclass(frozen=True)
class Schedule:
    """A discrete variance schedule with T steps.

    Attributes:
        betas: float64 tensor of shape (T,), beta_t for t = 0..T-1.
        name: a short description, e.g. ``"linear(1e-4, 0.02)"``.
    Derived (float64, shape (T,)): ``alphas = 1 - betas``, ``alpha_bar = cumprod(alphas)``.
    """

    betas: torch.Tensor
    name: str = "custom"
    alphas: torch.Tensor = field(init=False, repr=False)
    alpha_bar: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        betas = torch.as_tensor(self.betas, dtype=torch.float64).detach().cpu()
        if betas.ndim != 1 or betas.numel() < 1:
            raise ValueError(
                f"betas must be a 1-D tensor with at least one entry, got {betas.shape}"
            )
        if not torch.isfinite(betas).all() or (betas <= 0).any() or (betas >= 1).any():
            raise ValueError("betas must be finite and lie in the open interval (0, 1)")
        alphas = 1.0 - betas
        object.__setattr__(self, "betas", betas)
        object.__setattr__(self, "alphas", alphas)
        object.__setattr__(self, "alpha_bar", torch.cumprod(alphas, dim=0))

    @property
    def T(self) -> int:  # noqa: N802 (the paper's symbol)
        return self.betas.numel()

    def alpha_bar_at(self, t: int) -> float:
        """alpha_bar_t as a python float; ``t = -1`` means "before the first step" and gives 1."""
        t = _check_int("t", t, -1, self.T - 1)
        return 1.0 if t < 0 else float(self.alpha_bar[t])

    def sigma(self) -> torch.Tensor:
        """The ODE time sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) of eq. 13, float64 (T,)."""
        return torch.sqrt((1.0 - self.alpha_bar) / self.alpha_bar)

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t), float64 (T,)."""
        return self.alpha_bar / (1.0 - self.alpha_bar)

    def to_dict(self) -> dict:
        return {"name": self.name, "T": self.T}


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:  # noqa: N803
    """DDPM's linear beta schedule (Ho et al. 2020), used by the DDIM paper's models."""
    T = _check_int("T", T, 1)
    if not (0 < beta_start <= beta_end < 1):
        raise ValueError(
            f"need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}"
        )
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    return Schedule(betas, name=f"linear({beta_start:g}, {beta_end:g})")


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Schedule:  # noqa: N803
    """Nichol & Dhariwal's cosine schedule: alpha_bar(t) = f(t)/f(0), f(t) = cos^2(((t/T)+s)/(1+s) pi/2).

    betas are clipped at ``max_beta`` so that the last step stays finite.
    """
    T = _check_int("T", T, 1)
    if not (s >= 0 and 0 < max_beta < 1):
        raise ValueError(f"need s >= 0 and 0 < max_beta < 1, got s={s}, max_beta={max_beta}")
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(min=1e-12, max=max_beta)
    return Schedule(betas, name=f"cosine(s={s:g})")


def get_schedule(name: str, T: int = 1000) -> Schedule:  # noqa: N803
    """Look a schedule up by name: ``"linear"`` or ``"cosine"``."""
    if name == "linear":
        return linear_schedule(T)
    if name == "cosine":
        return cosine_schedule(T)
    raise ValueError(f"schedule must be one of 'linear', 'cosine', got {name!r}")


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def timesteps(S: int, T: int = 1000, spacing: str = "uniform") -> list[int]:  # noqa: N803
    """The sub-sequence tau of S timesteps, in the order the sampler visits them (descending).

    Spacings (ascending form tau_1 < ... < tau_S):
      - ``"uniform"``: tau_i = i * (T // S), i = 0..S-1, i.e. the first S entries of
        ``range(0, T, T // S)`` as in the paper's code. It starts at t = 0 but never reaches
        t = T - 1 unless S = T (a known pitfall: the sampler starts from a slightly noisy level).
      - ``"quadratic"``: tau_i = floor(c i^2) with c = (T-1)/(S-1)^2 (appendix D.2), raised to i
        where the parabola is flatter than one step, so all S values are distinct.
      - ``"trailing"``: round(T - k T/S) - 1 for k = 0..S-1; always starts at T - 1.
      - ``"linspace"``: round(linspace(0, T-1, S)); contains both 0 and T - 1.

    The sampler pairs each tau_i with the next entry of this list (and the last one with
    alpha_bar = 1), never with t - T // S.
    """
    T = _check_int("T", T, 1)
    S = _check_int("S", S, 1, T)
    if spacing not in SPACINGS:
        raise ValueError(
            f"spacing must be one of {', '.join(map(repr, SPACINGS))}, got {spacing!r}"
        )
    if spacing == "uniform":
        skip = T // S
        asc = [i * skip for i in range(S)]
    elif spacing == "quadratic":
        if S == 1:
            asc = [0]
        else:
            # exact integer arithmetic: floor((T-1) i^2 / (S-1)^2)
            asc = [max(((T - 1) * i * i) // ((S - 1) ** 2), i) for i in range(S)]
    elif spacing == "trailing":
        asc = sorted(_round_half_up(T - k * T / S) - 1 for k in range(S))
    else:  # linspace
        asc = [0] if S == 1 else [_round_half_up(i * (T - 1) / (S - 1)) for i in range(S)]
    return asc[::-1]


def check_timesteps(taus: object, T: int) -> list[int]:  # noqa: N803
    """Validate a sampler's timestep list: distinct ints in [0, T-1], strictly descending."""
    if isinstance(taus, torch.Tensor):
        taus = taus.tolist()
    try:
        taus = list(taus)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(f"timesteps must be a list of ints, got {type(taus).__name__}") from None
    if not taus:
        raise ValueError("timesteps must hold at least one timestep, got an empty list")
    out = [_check_int("timesteps[i]", t, 0, T - 1) for t in taus]
    if any(a <= b for a, b in zip(out, out[1:], strict=False)):
        raise ValueError(
            "timesteps must be strictly descending (as returned by ddim_edu.schedule.timesteps), "
            f"got {out[:6]}{'...' if len(out) > 6 else ''}"
        )
    return out


def step_pairs(taus: list[int]) -> list[tuple[int, int]]:
    """(t, t_prev) for each step of a descending list; the last pair is (tau_1, -1), alpha_bar = 1."""
    return list(zip(taus, [*taus[1:], -1], strict=True))
