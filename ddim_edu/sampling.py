"""Samplers: the generalized DDIM update (eq. 12), DDPM ancestral sampling, and ODE inversion.

Every sampler sees the network only as ``eps_model(x, t) -> output`` where ``x`` is a batch
(B, ...) and ``t`` an int64 tensor of shape (B,) on x's device. With ``prediction="eps"`` the
output is the noise, with ``"x0"`` the clean data, with ``"v"`` the velocity
v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0. A trained network and the exact Gaussian
mixture denoiser (``ddim_edu.gmm``) are interchangeable.

Equation numbers refer to Song, Meng, Ermon, "Denoising Diffusion Implicit Models" (ICLR 2021).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from ._checks import _check_choice, _check_clip, _check_eta, _check_noise, _check_x
from .forward import (
    ddim_sigma,
    ddpm_posterior,
    direction_coefficient,
    draw_noise,
    make_generator,
    sigma_hat,
)
from .schedule import Schedule, check_timesteps, step_pairs

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
PREDICTIONS = ("eps", "x0", "v")
VARIANCES = ("eta", "sigma_hat")
INVERSION_EVALUATES = ("end", "start")


class Trajectory(NamedTuple):
    """What a sampler visited.

    x: (S + 1, *shape), x at each visited level: x_T first, the final sample last.
    x0_pred: (S, *shape), the model's predicted x_0 at each step (eq. 9).
    timesteps: the S timesteps in the order visited.
    """

    x: torch.Tensor
    x0_pred: torch.Tensor
    timesteps: list[int]


# --- one vocabulary for the choice of variance ------------------------------------------------


def eta_options(eta: float | str) -> dict:
    """Keyword arguments of ``ddim_sample`` / ``FastSampler`` for an eta setting.

    A number gives ``{"eta": float(eta)}``; the string ``"sigma_hat"`` (DDPM's larger variance,
    the paper's sigma-hat rows) gives ``{"variance": "sigma_hat"}``. Grids, the pipeline and the
    explorer all take eta in this form and turn it into sampler options here.
    """
    if eta == "sigma_hat":
        return {"variance": "sigma_hat"}
    if isinstance(eta, str):
        raise ValueError(f"eta must be a number >= 0 or 'sigma_hat', got {eta!r}")
    return {"eta": _check_eta(eta)}


def eta_label(eta: float | str, digits: int | None = None) -> str:
    """How an eta setting is printed: "0", "0.2", ... ("0.20" with ``digits=2``), "σ̂" for sigma_hat."""
    if eta == "sigma_hat":
        return "σ̂"
    return f"{float(eta):g}" if digits is None else f"{float(eta):.{digits}f}"


# --- the pieces of one step -----------------------------------------------------------------


def network_dtype(eps_model: EpsModel) -> torch.dtype | None:
    """The dtype of a network's (first floating-point) parameter, or None for a model without
    parameters, such as a plain function (the exact eps* of ``ddim_edu.gmm`` works in float64)."""
    parameters = getattr(eps_model, "parameters", None)
    if not callable(parameters):
        return None
    return next((p.dtype for p in parameters() if p.is_floating_point()), None)


def check_model_output(out: object, x: torch.Tensor) -> torch.Tensor:
    """``out`` if it is a tensor of x's shape, else ValueError naming both shapes."""
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"eps_model output must have the shape of its input {tuple(x.shape)}, got {got}"
        )
    return out


def model_output(eps_model: EpsModel, x: torch.Tensor, t: int) -> torch.Tensor:
    """Call ``eps_model(x, t)`` with a batch of int64 timesteps and check the output's shape.

    The network sees x in the dtype of its parameters (a float32 network takes a float64 x_T) and
    the output comes back in x's dtype, so the sampler's arithmetic stays in x's dtype.
    """
    t_batch = torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)
    dtype = network_dtype(eps_model)
    out = eps_model(x if dtype in (None, x.dtype) else x.to(dtype), t_batch)
    return check_model_output(out, x).to(x.dtype)


def eps_and_x0(
    out: torch.Tensor, x: torch.Tensor, alpha_bar_t: float, prediction: str = "eps"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a model output into (eps, predicted x_0) at level alpha_bar_t.

    eps:  x0 = (x - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar)               (eq. 9)
    x0:   eps = (x - sqrt(alpha_bar) x0) / sqrt(1 - alpha_bar)
    v:    x0 = sqrt(alpha_bar) x - sqrt(1 - alpha_bar) v,  eps = sqrt(1 - alpha_bar) x + sqrt(alpha_bar) v
    """
    sa, s1a = math.sqrt(alpha_bar_t), math.sqrt(1.0 - alpha_bar_t)
    if prediction == "eps":
        return out, (x - s1a * out) / sa
    if prediction == "x0":
        return (x - sa * out) / s1a, out
    if prediction == "v":
        return s1a * x + sa * out, sa * x - s1a * out
    raise ValueError(
        f"prediction must be one of {', '.join(map(repr, PREDICTIONS))}, got {prediction!r}"
    )


def ddim_step(
    eps: torch.Tensor,
    x0_pred: torch.Tensor,
    alpha_bar_prev: float,
    sigma_direction: float,
    sigma_noise: float = 0.0,
    z: torch.Tensor | None = None,
) -> torch.Tensor:
    """The generalized update of eq. 12.

    x_prev = sqrt(alpha_bar_prev) x0_pred                               "predicted x_0"
             + sqrt(1 - alpha_bar_prev - sigma_direction^2) eps          "direction pointing to x_t"
             + sigma_noise z                                             "random noise"

    For the eta family sigma_noise = sigma_direction = sigma_t(eta); "sigma_hat" keeps the eta = 1
    direction and only swaps the noise scale. The direction coefficient is clamped at 0 (eta > 1
    on large steps would make it imaginary).
    """
    direction = direction_coefficient(alpha_bar_prev, sigma_direction)
    x_prev = math.sqrt(alpha_bar_prev) * x0_pred + direction * eps
    if sigma_noise > 0.0:
        if z is None:
            raise ValueError("z must be given when sigma_noise > 0")
        x_prev = x_prev + sigma_noise * z
    return x_prev


class StepCoefficients(NamedTuple):
    """The numbers of one step of eq. 12, in float64 (python floats).

    t: the timestep the network is evaluated at; alpha_bar_t and alpha_bar_prev: the levels the
    step leaves and lands on (alpha_bar_prev = 1 on the last step); sigma_direction: the sigma in
    the direction coefficient sqrt(1 - alpha_bar_prev - sigma^2); sigma_noise: the scale of the
    fresh noise (equal to sigma_direction for the eta family; "sigma_hat" only swaps this one).
    """

    t: int
    alpha_bar_t: float
    alpha_bar_prev: float
    sigma_direction: float
    sigma_noise: float

    @property
    def direction(self) -> float:
        """sqrt(1 - alpha_bar_prev - sigma_direction^2), the weight of eps in eq. 12."""
        return direction_coefficient(self.alpha_bar_prev, self.sigma_direction)

    @property
    def noise_level(self) -> float:
        """sqrt(1 - alpha_bar_prev): the noise x_prev should carry, by the marginal q(x_prev | x_0)."""
        return math.sqrt(max(1.0 - self.alpha_bar_prev, 0.0))

    @property
    def noise_std(self) -> float:
        """The noise x_prev carries when eps is exact: sqrt(direction^2 + sigma_noise^2).

        The eta family keeps it equal to ``noise_level`` on every step (that is eq. 12's design);
        "sigma_hat" adds more fresh noise than the direction term gives up, and where
        sigma_noise > noise_level the fresh noise alone exceeds what the step should carry."""
        return math.sqrt(self.direction**2 + self.sigma_noise**2)


def ddim_coefficients(
    schedule: Schedule, taus: list[int], eta: float = 0.0, variance: str = "eta"
) -> list[StepCoefficients]:
    """Per step: ``StepCoefficients(t, alpha_bar_t, alpha_bar_prev, sigma_direction, sigma_noise)``.

    The pair (t, t_prev) comes from the sub-sequence itself; the last step lands on alpha_bar = 1
    and adds no noise (as DDPM's final step, z = 0 at t = 1 in Ho et al.'s Algorithm 2).
    """
    coeffs = []
    for t, t_prev in step_pairs(taus):
        a_t, a_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev)
        if variance == "eta":
            s_dir = s_noise = ddim_sigma(a_t, a_prev, eta)
        else:
            s_dir, s_noise = ddim_sigma(a_t, a_prev, 1.0), sigma_hat(a_t, a_prev)
        if t_prev < 0:
            s_noise = 0.0
        coeffs.append(StepCoefficients(t, a_t, a_prev, s_dir, s_noise))
    return coeffs


def _finish(x: torch.Tensor, name: str) -> None:
    if not torch.isfinite(x).all():
        warnings.warn(f"{name} produced NaN or infinite values", RuntimeWarning, stacklevel=3)


# --- samplers ---------------------------------------------------------------------------------


@torch.no_grad()
def ddim_sample(
    eps_model: EpsModel,
    x_T: torch.Tensor,  # noqa: N803
    schedule: Schedule,
    timesteps: Sequence[int],
    eta: float = 0.0,
    *,
    variance: str = "eta",
    clip: float | None = None,
    prediction: str = "eps",
    generator: torch.Generator | int | None = None,
    noise: Sequence[torch.Tensor] | None = None,
    return_trajectory: bool = False,
    progress: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, Trajectory]:
    """Sample with the generalized DDIM update (eq. 12) along a descending list of timesteps.

    Args:
        eps_model: ``eps_model(x, t)``; see the module docstring.
        x_T: (B, ...) starting noise, float32 or float64 (the sampler works in its dtype; a
            network gets x in the dtype of its parameters and its output is cast back).
        schedule: the schedule the model was trained with.
        timesteps: descending distinct ints, e.g. ``ddim_edu.schedule.timesteps(S, T, spacing)``.
        eta: 0 gives DDIM (deterministic), 1 gives DDPM's posterior variance (eq. 16).
        variance: ``"eta"`` or ``"sigma_hat"`` (DDPM's larger variance; ``eta`` is then ignored).
        clip: clamp the predicted x_0 to [-clip, clip] and re-derive eps from the clamped x_0,
            eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t), so that both terms of
            eq. 12 describe one and the same x_t. Clamping x_0 alone while the direction term
            keeps the model's eps moves x_t off the pair; with guidance that wrecks the samples.
        prediction: what the model outputs, ``"eps"``, ``"x0"`` or ``"v"``.
        generator: a CPU ``torch.Generator`` or an int seed; noise is drawn on the CPU and moved
            to x_T's device, so a seed gives the same samples on every device.
        noise: optional list of S tensors shaped like x_T, used instead of drawing.
        return_trajectory: also return a ``Trajectory``.
        progress: show a progress bar.

    Returns:
        x_0 of x_T's shape, or (x_0, Trajectory) when ``return_trajectory``.
    """
    x = _check_x("x_T", x_T)
    taus = check_timesteps(timesteps, schedule.T)
    variance = _check_choice("variance", variance, VARIANCES)
    eta = _check_eta(eta)
    prediction = _check_choice("prediction", prediction, PREDICTIONS)
    clip = _check_clip(clip)
    gen = make_generator(generator)
    zs = _check_noise(noise, len(taus), x)

    xs, x0s = [x], []
    coeffs = ddim_coefficients(schedule, taus, eta, variance)
    for i, (t, a_t, a_prev, s_dir, s_noise) in enumerate(
        tqdm(coeffs, disable=not progress, leave=False)
    ):
        eps, x0_pred = eps_and_x0(model_output(eps_model, x, t), x, a_t, prediction)
        if clip is not None:
            x0_pred = x0_pred.clamp(-clip, clip)
            eps = (x - math.sqrt(a_t) * x0_pred) / math.sqrt(1.0 - a_t)
        z = None
        if s_noise > 0.0:
            z = zs[i] if zs is not None else draw_noise(x.shape, like=x, generator=gen)
        x = ddim_step(eps, x0_pred, a_prev, s_dir, s_noise, z)
        if return_trajectory:
            xs.append(x)
            x0s.append(x0_pred)
    _finish(x, "ddim_sample")
    if return_trajectory:
        return x, Trajectory(torch.stack(xs), torch.stack(x0s), taus)
    return x


@torch.no_grad()
def ddpm_sample(
    eps_model: EpsModel,
    x_T: torch.Tensor,  # noqa: N803
    schedule: Schedule,
    *,
    variance: str = "eta",
    clip: float | None = None,
    prediction: str = "eps",
    generator: torch.Generator | int | None = None,
    noise: Sequence[torch.Tensor] | None = None,
    return_trajectory: bool = False,
    progress: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, Trajectory]:
    """Ancestral DDPM sampling over all T steps (Ho et al. 2020, Algorithm 2).

    Each step draws x_{t-1} ~ N(c0 x0_pred + ct x_t, var) with DDPM's posterior coefficients.
    ``variance`` speaks the words of ``ddim_sample``: ``"eta"`` uses the posterior variance
    beta-tilde, which is sigma_t(eta = 1) (so this equals ``ddim_sample(eta=1)`` with S = T);
    ``"sigma_hat"`` uses beta_t (equal to ``ddim_sample(variance="sigma_hat")`` with S = T).
    The last step adds no noise. Other arguments as in ``ddim_sample``; ``noise`` holds T tensors.

    With ``clip`` the posterior mean c0 x0_pred + ct x_t uses the clipped x_0 together with x_t,
    which is what ``ddim_sample`` does by re-deriving eps from the clipped x_0: the two samplers
    agree to float rounding with and without clipping (tests/test_sampling.py).
    """
    x = _check_x("x_T", x_T)
    variance = _check_choice("variance", variance, VARIANCES)
    prediction = _check_choice("prediction", prediction, PREDICTIONS)
    clip = _check_clip(clip)
    gen = make_generator(generator)
    T = schedule.T  # noqa: N806
    zs = _check_noise(noise, T, x)

    xs, x0s = [x], []
    for i, t in enumerate(tqdm(range(T - 1, -1, -1), total=T, disable=not progress, leave=False)):
        a_t, a_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(t - 1)
        _, x0_pred = eps_and_x0(model_output(eps_model, x, t), x, a_t, prediction)
        if clip is not None:
            x0_pred = x0_pred.clamp(-clip, clip)
        c0, ct, var = ddpm_posterior(a_t, a_prev)
        x = c0 * x0_pred + ct * x
        if t > 0:
            std = math.sqrt(var) if variance == "eta" else math.sqrt(float(schedule.betas[t]))
            z = zs[i] if zs is not None else draw_noise(x.shape, like=x, generator=gen)
            x = x + std * z
        if return_trajectory:
            xs.append(x)
            x0s.append(x0_pred)
    _finish(x, "ddpm_sample")
    if return_trajectory:
        return x, Trajectory(torch.stack(xs), torch.stack(x0s), list(range(T - 1, -1, -1)))
    return x


@torch.no_grad()
def ddim_invert(
    eps_model: EpsModel,
    x_0: torch.Tensor,
    schedule: Schedule,
    timesteps: Sequence[int],
    *,
    evaluate: str = "end",
    prediction: str = "eps",
    return_trajectory: bool = False,
    progress: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, Trajectory]:
    """Encode x_0 into x_T by running the DDIM ODE (eta = 0) forwards in time (section 4.3).

    ``timesteps`` is the same descending list that ``ddim_sample`` takes; it is walked upwards,
    each step going from one level to the next higher one with eq. 12 at eta = 0:

        x_to = sqrt(alpha_bar_to) x0_pred + sqrt(1 - alpha_bar_to) eps,
        x0_pred = (x_from - sqrt(1 - alpha_bar_from) eps) / sqrt(alpha_bar_from).

    Which eps? The ODE needs eps at the point the step *starts* from, which is all one has:
      - ``evaluate="start"``: eps_model(x_from, t_from), explicit Euler of eq. 14 in
        sigma = sqrt((1 - alpha_bar)/alpha_bar) (at the first step x_0 itself is evaluated at the
        smallest timestep, since no timestep has alpha_bar = 1).
      - ``evaluate="end"`` (default): eps_model(x_from, t_to), the current point at the timestep
        the step goes to, as in diffusers' ``DDIMInverseScheduler``. The decoder's step from t_to
        down to t_from used eps_model(x_to, t_to); evaluating at t_to reproduces that call up to
        the difference x_to - x_from, so each encoding step nearly undoes its decoding step.
    Measured (uniform spacing, rms per coordinate; tests/test_sampling.py, notebook 06): encoding
    real data and decoding it back, "end" reconstructs x_0 better, on the exact 2-D mixture
    (``GaussianMixture.example_2d``, 2,000 points: 0.094 against 0.141 at S = 10, 0.031 against
    0.041 at S = 50) and on the shipped 8x8 digits UNet at few steps (256 dequantised digits:
    0.067 against 0.119 at S = 10), and on held-out MNIST digits with the MNIST UNet (notebook
    06: 0.240 against 0.486 at S = 10, 0.074 against 0.195 at S = 50). Decoding x_T and encoding the result, "end" recovers
    x_T better on the mixture (0.30 against 0.48 at S = 10) but not on the digits UNet (0.89
    against 0.80): the learned eps is not the exact one, and neither convention inverts it.
    Decoding the result with ``ddim_sample(..., eta=0)`` on the same timesteps reconstructs x_0 up
    to discretisation error, which falls as S grows.

    Returns x at ``timesteps[0]`` (and a Trajectory whose ``x`` runs from x_0 up to x_T).
    """
    x = _check_x("x_0", x_0)
    taus = check_timesteps(timesteps, schedule.T)
    evaluate = _check_choice("evaluate", evaluate, INVERSION_EVALUATES)
    prediction = _check_choice("prediction", prediction, PREDICTIONS)
    ascending = taus[::-1]
    # (level the step starts from, timestep the model is evaluated at, level it lands on)
    starts = [-1, *ascending[:-1]]
    xs, x0s = [x], []
    for t_from, t_to in tqdm(
        list(zip(starts, ascending, strict=True)), disable=not progress, leave=False
    ):
        t_eval = t_to if evaluate == "end" else max(t_from, ascending[0])
        a_from = schedule.alpha_bar_at(t_from)
        a_eval = schedule.alpha_bar_at(t_eval)
        eps, _ = eps_and_x0(model_output(eps_model, x, t_eval), x, a_eval, prediction)
        x0_pred = (x - math.sqrt(1.0 - a_from) * eps) / math.sqrt(a_from)
        x = ddim_step(eps, x0_pred, schedule.alpha_bar_at(t_to), 0.0)
        if return_trajectory:
            xs.append(x)
            x0s.append(x0_pred)
    _finish(x, "ddim_invert")
    if return_trajectory:
        return x, Trajectory(torch.stack(xs), torch.stack(x0s), ascending)
    return x


def to_ode_coordinates(
    x: torch.Tensor, alpha_bar: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_bar, s) of eq. 13: x_bar = x / sqrt(alpha_bar), s = sqrt((1 - alpha_bar) / alpha_bar).

    s is the ODE time, which the paper calls sigma (the course keeps sigma for the sampler's noise
    sigma_t(eta)). In these coordinates DDIM (eta = 0) is Euler's method on
    d x_bar = eps(x_bar / sqrt(s^2 + 1)) d s.
    ``alpha_bar`` may be a float or a tensor broadcastable against x (e.g. one value per row of a
    trajectory, shape (S + 1, 1, 1)).
    """
    a = torch.as_tensor(alpha_bar, dtype=torch.float64)
    s = torch.sqrt((1.0 - a) / a)
    return x / torch.sqrt(a).to(x.dtype), s


def trajectory_alpha_bars(schedule: Schedule, taus: Sequence[int]) -> torch.Tensor:
    """alpha_bar at each level of a ``ddim_sample`` trajectory: taus, then 1; float64 (S + 1,)."""
    return torch.tensor([schedule.alpha_bar_at(t) for t in [*taus, -1]], dtype=torch.float64)
