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

from ._checks import _check_int

SPACINGS = ("uniform", "quadratic", "trailing", "linspace")


@dataclass(frozen=True)
class Schedule:
    """A discrete variance schedule with T steps.

    Attributes:
        betas: float64 tensor of shape (T,), beta_t for t = 0..T-1.
        name: a short description, e.g. ``"linear(1e-4, 0.02)"``.
        params: the family and parameters that rebuild it, e.g. ``{"name": "linear",
            "beta_start": 1e-4, "beta_end": 0.02}`` (set by ``linear_schedule`` and
            ``cosine_schedule``); None for a schedule given only by its betas.
    Derived (float64, shape (T,)): ``alphas = 1 - betas``, ``alpha_bar = cumprod(alphas)``.
    """

    betas: torch.Tensor
    name: str = "custom"
    params: dict | None = field(default=None, repr=False, compare=False)
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
        """The ODE time s_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) of eq. 13, float64 (T,).

        The paper calls it sigma; the course writes s, keeping sigma for the sampler's noise
        sigma_t(eta) of eq. 16 (notebook 04)."""
        return torch.sqrt((1.0 - self.alpha_bar) / self.alpha_bar)

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t), float64 (T,)."""
        return self.alpha_bar / (1.0 - self.alpha_bar)

    def to_dict(self) -> dict:
        """Everything that defines this schedule, as JSON; saved with every model and checkpoint.

        ``{"name": "linear", "T": 1000, "beta_start": 0.0001, "beta_end": 0.02}``,
        ``{"name": "cosine", "T": 1000, "s": 0.008, "max_beta": 0.999}``, or, for a schedule
        given only by its betas, ``{"name": "custom", "T": T, "betas": [...]}`` (python floats
        hold float64 exactly, so the betas come back bit for bit). ``schedule_from_dict``
        rebuilds the schedule from it.
        """
        if self.params is None:
            return {"name": "custom", "T": self.T, "betas": self.betas.tolist()}
        return {"name": self.params["name"], "T": self.T} | {
            k: v for k, v in self.params.items() if k != "name"
        }


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:  # noqa: N803
    """DDPM's linear beta schedule (Ho et al. 2020), used by the DDIM paper's models."""
    T = _check_int("T", T, 1)
    if not (0 < beta_start <= beta_end < 1):
        raise ValueError(
            f"need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}"
        )
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    params = {"name": "linear", "beta_start": float(beta_start), "beta_end": float(beta_end)}
    return Schedule(betas, name=f"linear({beta_start:g}, {beta_end:g})", params=params)


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
    params = {"name": "cosine", "s": float(s), "max_beta": float(max_beta)}
    return Schedule(betas, name=f"cosine(s={s:g})", params=params)


# the parameters of each named family (their defaults are those of the functions above)
SCHEDULE_PARAMS = {"linear": ("beta_start", "beta_end"), "cosine": ("s", "max_beta")}


def get_schedule(name: str, T: int = 1000, **params: float) -> Schedule:  # noqa: N803
    """Look a schedule up by name, ``"linear"`` or ``"cosine"``, with optional parameters
    (``get_schedule("linear", 1000, beta_end=0.03)``); those not given take their defaults."""
    if name not in SCHEDULE_PARAMS:
        raise ValueError(
            f"schedule must be one of {', '.join(map(repr, SCHEDULE_PARAMS))}, got {name!r}"
        )
    unknown = sorted(set(params) - set(SCHEDULE_PARAMS[name]))
    if unknown:
        raise ValueError(
            f"schedule {name!r} takes the parameters {', '.join(SCHEDULE_PARAMS[name])}, "
            f"got {', '.join(unknown)}"
        )
    build = linear_schedule if name == "linear" else cosine_schedule
    return build(T, **params)


def schedule_from_dict(d: dict) -> Schedule:
    """The schedule that ``Schedule.to_dict`` describes (as saved in checkpoints and manifests).

    A dict without parameters, ``{"name": "linear", "T": 1000}`` (how checkpoints recorded
    schedules before their parameters were saved), means that family's defaults.
    """
    if not isinstance(d, dict) or "name" not in d or "T" not in d:
        raise ValueError(
            f"schedule must be a dict with 'name' and 'T' (as Schedule.to_dict writes), got {d!r}"
        )
    params = {k: v for k, v in d.items() if k not in ("name", "T")}
    if d["name"] != "custom":
        return get_schedule(d["name"], d["T"], **params)
    T = _check_int("schedule T", d["T"], 1)  # noqa: N806
    if set(params) != {"betas"} or not isinstance(params["betas"], list):
        raise ValueError(
            f"a 'custom' schedule needs exactly a list 'betas' besides name and T, got {sorted(params)}"
        )
    if len(params["betas"]) != T:
        raise ValueError(
            f"a 'custom' schedule with T={T} needs {T} betas, got {len(params['betas'])}"
        )
    return Schedule(torch.tensor(params["betas"], dtype=torch.float64))


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def timesteps(S: int, T: int = 1000, spacing: str = "uniform") -> list[int]:  # noqa: N803
    """The sub-sequence tau of S timesteps, in the order the sampler visits them (descending).

    Spacings (ascending form tau_1 < ... < tau_S):
      - ``"uniform"``: tau_i = i * (T // S), i = 0..S-1, i.e. the first S entries of
        ``range(0, T, T // S)`` as in the paper's code. It starts at t = 0 but never reaches
        t = T - 1 unless S = T (a known pitfall: the sampler starts from a slightly noisy level).
        When S does not divide T this module keeps exactly S steps, so the walk starts far below
        T - 1 (S = 600: skip 1, from t = 599), whereas the authors' loop runs every entry of
        ``range(0, T, T // S)`` (S = 600 there means 1,000 network calls). Use ``"linspace"`` or
        ``"trailing"`` for such S; every spacing returns exactly S timesteps.
      - ``"quadratic"``: tau_i = floor(c i^2) with c = (T-1)/(S-1)^2 (appendix D.2), raised to i
        where the parabola is flatter than one step, so all S values are distinct. It ends at
        T - 1; the authors' code (their CIFAR10 setting) ends at int(0.8 T) instead, from
        ``linspace(0, sqrt(0.8 T), S) ** 2``.
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
