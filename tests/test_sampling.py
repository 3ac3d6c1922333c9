import math

import numpy as np
import pytest
import torch
from helpers import gaussian_noise

from ddim_edu import pretrained
from ddim_edu.forward import ddim_sigma, ddpm_posterior, non_markovian_forward, sigma_hat
from ddim_edu.metrics import mixture_moments
from ddim_edu.sampling import (
    ddim_coefficients,
    ddim_invert,
    ddim_sample,
    ddpm_sample,
    eps_and_x0,
    network_dtype,
    to_ode_coordinates,
    trajectory_alpha_bars,
)
from ddim_edu.schedule import linear_schedule, timesteps


def oracle_for_point(x0, schedule):
    """The exact eps-model for data that is the single point x0."""

    def eps_model(x, t):
        a = schedule.alpha_bar[t.cpu()].to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        return (x - a.sqrt() * x0) / (1 - a).sqrt()

    return eps_model


# --- the forward family (Lemma 1) --------------------------------------------------------------


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_lemma1_non_markovian_marginals_match_ddpm(schedule, eta):
    n = 40_000
    x0 = torch.tensor([1.5, -0.5], dtype=torch.float64).expand(n, 2)
    taus = timesteps(20, schedule.T, "linspace")
    xs = non_markovian_forward(x0, schedule, taus, eta, generator=torch.Generator().manual_seed(0))
    assert xs.shape == (20, n, 2)
    for i, t in enumerate(taus):
        a = schedule.alpha_bar_at(t)
        mean_se = math.sqrt((1 - a) / n)
        var_se = (1 - a) * math.sqrt(2 / n)
        assert torch.allclose(xs[i].mean(0), math.sqrt(a) * x0[0], atol=5 * mean_se), (t, eta)
        assert torch.allclose(
            xs[i].var(0), torch.full((2,), 1 - a, dtype=torch.float64), atol=5 * var_se
        )


def test_sigma_eta_one_is_ddpm_posterior_and_eta_zero_is_zero(schedule):
    for t in (1, 10, 500, 999):
        a_t, a_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(t - 1)
        _, _, var = ddpm_posterior(a_t, a_prev)
        assert ddim_sigma(a_t, a_prev, 1.0) ** 2 == pytest.approx(var, rel=1e-12)
        assert ddim_sigma(a_t, a_prev, 0.0) == 0.0
        assert sigma_hat(a_t, a_prev) ** 2 == pytest.approx(schedule.betas[t].item(), rel=1e-9)


# --- the sampler against exact ground truth -------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["ddim_eta0_S1000", "ddpm_ancestral"])
def test_samplers_with_eps_star_reproduce_the_mixture(mixture, schedule, eps_star, sampler):
    x_T = gaussian_noise(8000, seed=1)
    if sampler == "ddim_eta0_S1000":
        x = ddim_sample(eps_star, x_T, schedule, timesteps(1000), eta=0.0, progress=False)
    else:
        x = ddpm_sample(eps_star, x_T, schedule, generator=2, progress=False)
    w, m, c = mixture_moments(x, mixture)
    # statistical errors at n = 8000: weights ~0.005, means ~0.012, cov entries ~0.006
    assert torch.allclose(w, mixture.weights, atol=0.02)
    assert torch.allclose(m, mixture.means, atol=0.05)
    assert torch.allclose(c, mixture.covs, atol=0.02)


def test_ddim_is_first_order_in_the_step_count(schedule, eps_star):
    x_T = gaussian_noise(400, seed=3)
    fine = ddim_sample(eps_star, x_T, schedule, timesteps(1000, spacing="linspace"), progress=False)
    steps = [10, 20, 40, 80]
    errors = []
    for S in steps:
        x = ddim_sample(eps_star, x_T, schedule, timesteps(S, spacing="linspace"), progress=False)
        errors.append((x - fine).norm(dim=1).mean().item())
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert -1.3 <= slope <= -0.7, (errors, slope)


def test_inversion_round_trip_error_falls_with_S(mixture, schedule, eps_star):
    x0 = mixture.sample(500, torch.Generator().manual_seed(4))
    errors = []
    for S in (10, 50, 200, 1000):
        taus = timesteps(S)
        x_T = ddim_invert(eps_star, x0, schedule, taus, progress=False)
        errors.append(
            ((ddim_sample(eps_star, x_T, schedule, taus, progress=False) - x0) ** 2).mean().item()
        )
    assert all(b < a / 3 for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-4
    # the encoding is (close to) a standard normal, as x_T should be
    x_T = ddim_invert(eps_star, x0, schedule, timesteps(200), progress=False)
    assert abs(x_T.std().item() - 1) < 0.1 and abs(x_T.mean().item()) < 0.1


def test_inversion_trajectory_walks_up_the_same_timesteps(schedule, eps_star, mixture):
    x0 = mixture.sample(5, torch.Generator().manual_seed(5))
    taus = timesteps(7, spacing="linspace")
    x_T, traj = ddim_invert(eps_star, x0, schedule, taus, return_trajectory=True, progress=False)
    assert traj.timesteps == taus[::-1]
    assert traj.x.shape == (8, 5, 2)
    assert torch.equal(traj.x[0], x0) and torch.equal(traj.x[-1], x_T)


# --- determinism and seeds --------------------------------------------------------------------


def test_eta_zero_is_deterministic(schedule, eps_star):
    x_T = gaussian_noise(50, seed=6)
    taus = timesteps(20)
    a = ddim_sample(eps_star, x_T, schedule, taus, eta=0.0, generator=1, progress=False)
    b = ddim_sample(eps_star, x_T, schedule, taus, eta=0.0, generator=2, progress=False)
    assert torch.equal(a, b)


def test_one_seed_gives_the_same_samples_and_another_seed_does_not(schedule, eps_star):
    x_T = gaussian_noise(50, seed=7)
    taus = timesteps(20)
    a = ddim_sample(eps_star, x_T, schedule, taus, eta=1.0, generator=11, progress=False)
    b = ddim_sample(
        eps_star,
        x_T,
        schedule,
        taus,
        eta=1.0,
        generator=torch.Generator().manual_seed(11),
        progress=False,
    )
    c = ddim_sample(eps_star, x_T, schedule, taus, eta=1.0, generator=12, progress=False)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 0.01


def test_noise_list_replaces_drawing(schedule, eps_star):
    x_T = gaussian_noise(30, seed=8)
    taus = timesteps(10)
    gen = torch.Generator().manual_seed(13)
    # noise is drawn for every step but the last (which lands on alpha_bar = 1 and adds none)
    noise = [torch.randn(x_T.shape, dtype=x_T.dtype, generator=gen) for _ in range(9)] + [
        torch.zeros_like(x_T)
    ]
    a = ddim_sample(eps_star, x_T, schedule, taus, eta=0.7, generator=13, progress=False)
    b = ddim_sample(eps_star, x_T, schedule, taus, eta=0.7, noise=noise, progress=False)
    assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sampler_works_in_the_dtype_it_is_given(schedule, eps_star, dtype):
    x_T = gaussian_noise(10, seed=9, dtype=dtype)
    x, traj = ddim_sample(
        eps_star,
        x_T,
        schedule,
        timesteps(5),
        eta=0.5,
        generator=0,
        return_trajectory=True,
        progress=False,
    )
    assert x.dtype == dtype and traj.x.dtype == dtype
    assert traj.x.shape == (6, 10, 2) and traj.x0_pred.shape == (5, 10, 2)


def test_a_float32_network_takes_float64_input_in_every_sampler(eps_star):
    net = pretrained.load("mlp_moons")  # float32 weights
    schedule = net.schedule
    seen = []
    net.register_forward_pre_hook(lambda module, args: seen.append(args[0].dtype))
    x_T = gaussian_noise(8, seed=3, dtype=torch.float64)
    noise = [gaussian_noise(8, seed=100 + i, dtype=torch.float64) for i in range(schedule.T)]
    runs = {
        "ddim_sample": lambda x: ddim_sample(net, x, schedule, timesteps(10), progress=False),
        "ddpm_sample": lambda x: ddpm_sample(net, x, schedule, noise=noise, progress=False),
        "ddim_invert": lambda x: ddim_invert(net, x, schedule, timesteps(10), progress=False),
    }
    for name, run in runs.items():
        ref, got = run(x_T.float()), run(x_T)
        assert ref.dtype == torch.float32 and got.dtype == torch.float64, name
        assert torch.allclose(got, ref.double(), rtol=1e-5, atol=1e-5), name
    assert set(seen) == {torch.float32}  # the network always ran in its own dtype
    assert network_dtype(net) == torch.float32 and network_dtype(net.double()) == torch.float64
    assert network_dtype(eps_star) is None  # a plain function is called in the data's dtype


# --- equivalences with DDPM and with the ODE -----------------------------------------------------


def test_eta_one_with_all_steps_equals_ddpm_ancestral(schedule, eps_star):
    x_T = gaussian_noise(200, seed=10)
    ddim = ddim_sample(
        eps_star, x_T, schedule, timesteps(schedule.T), eta=1.0, generator=5, progress=False
    )
    ddpm = ddpm_sample(eps_star, x_T, schedule, variance="eta", generator=5, progress=False)
    assert torch.allclose(ddim, ddpm, atol=1e-9)


def test_ddpm_and_ddim_eta_one_agree_with_and_without_clipping(schedule):
    # a point mass at 3.0: predicted x_0 is 3.0 at every step, far outside clip = 1
    x0_true = torch.full((1, 2), 3.0, dtype=torch.float64)
    model = oracle_for_point(x0_true, schedule)
    x_T = gaussian_noise(100, seed=13)
    S = schedule.T

    def both(clip):
        kw = {"clip": clip, "generator": 7, "progress": False, "return_trajectory": True}
        _, a = ddim_sample(model, x_T, schedule, timesteps(S), eta=1.0, **kw)
        _, b = ddpm_sample(model, x_T, schedule, variance="eta", **kw)
        return a.x, b.x

    a, b = both(100.0)  # the bound is never reached
    assert torch.allclose(a, b, atol=1e-9)
    a, b = both(1.0)  # clipped at every step: eps re-derived from the clamped x_0, the same path
    assert torch.allclose(a, b, atol=1e-9)
    assert torch.allclose(b[-1], torch.ones_like(b[-1]))
    # and the path is not the unclipped one
    c, _ = both(100.0)
    assert (a[S // 2] - c[S // 2]).abs().max().item() > 0.1


def test_ddpm_refuses_its_old_variance_words(schedule, eps_star):
    with pytest.raises(ValueError, match=r"variance must be one of 'eta', 'sigma_hat', got 'beta'"):
        ddpm_sample(eps_star, gaussian_noise(2, seed=1), schedule, variance="beta", progress=False)


def test_sigma_hat_with_all_steps_equals_ddpm_with_beta_variance(schedule, eps_star):
    x_T = gaussian_noise(200, seed=11)
    ddim = ddim_sample(
        eps_star,
        x_T,
        schedule,
        timesteps(schedule.T),
        variance="sigma_hat",
        generator=6,
        progress=False,
    )
    ddpm = ddpm_sample(eps_star, x_T, schedule, variance="sigma_hat", generator=6, progress=False)
    assert torch.allclose(ddim, ddpm, atol=1e-9)


def test_eta_zero_step_is_an_euler_step_of_eq_13(schedule):
    def eps_model(x, t):  # any smooth function of (x, t) will do
        return torch.tanh(x.flip(-1) + t[:, None].to(x.dtype) / 500)

    x = gaussian_noise(16, seed=12)
    taus = [700, 420, 37]
    _, traj = ddim_sample(
        eps_model, x, schedule, taus, eta=0.0, return_trajectory=True, progress=False
    )
    a = trajectory_alpha_bars(schedule, taus)
    for i, t in enumerate(taus):
        xbar, sig = to_ode_coordinates(traj.x[i], a[i].item())
        xbar_next, sig_next = to_ode_coordinates(traj.x[i + 1], a[i + 1].item())
        eps = eps_model(traj.x[i], torch.full((16,), t))
        euler = xbar + eps * (sig_next - sig)
        assert torch.allclose(xbar_next, euler, atol=1e-10)


def test_each_step_pairs_t_with_the_next_entry_of_the_sub_sequence(schedule):
    calls = []

    def eps_model(x, t):
        calls.append(t[0].item())
        return torch.cos(3 * x)

    taus = timesteps(7, schedule.T, "linspace")  # 999, 832, 666, ... not t - T // S
    x_T = gaussian_noise(4, seed=13)
    _, traj = ddim_sample(eps_model, x_T, schedule, taus, return_trajectory=True, progress=False)
    assert calls == taus
    for i, (t, t_prev) in enumerate(zip(taus, [*taus[1:], None])):
        a_t = schedule.alpha_bar_at(t)
        a_prev = 1.0 if t_prev is None else schedule.alpha_bar_at(t_prev)
        eps = torch.cos(3 * traj.x[i])
        x0 = (traj.x[i] - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        assert torch.allclose(
            traj.x[i + 1], math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps, atol=1e-12
        )


@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("spacing", ["uniform", "trailing"])
def test_last_step_lands_on_alpha_bar_one(schedule, eta, spacing):
    x0 = torch.tensor([[0.25, -0.75]], dtype=torch.float64).expand(64, 2)
    x_T = gaussian_noise(64, seed=14)
    x = ddim_sample(
        oracle_for_point(x0, schedule),
        x_T,
        schedule,
        timesteps(10, spacing=spacing),
        eta=eta,
        generator=0,
        progress=False,
    )
    # with a perfect model nothing but x_0 may remain: no residual noise sqrt(1 - alpha_bar_0) eps
    assert (x - x0).abs().max() < 1e-10


def test_clip_clamps_x0_and_rederives_eps_from_it(schedule):
    x0 = torch.full((8, 2), 3.0, dtype=torch.float64)
    model = oracle_for_point(x0, schedule)
    x_T = gaussian_noise(8, seed=15)
    out = ddim_sample(model, x_T, schedule, timesteps(10), clip=1.0, progress=False)
    assert torch.allclose(out, torch.ones_like(out), atol=1e-12)
    # one step by hand: x_0 is clamped and eps is the one that, with the clamped x_0, gives x_T
    taus = [600, 300]
    _, traj = ddim_sample(
        model, x_T, schedule, taus, clip=1.0, return_trajectory=True, progress=False
    )
    a_t, a_prev = schedule.alpha_bar_at(600), schedule.alpha_bar_at(300)
    eps = (x_T - math.sqrt(a_t) * torch.ones_like(x_T)) / math.sqrt(1 - a_t)
    expected = math.sqrt(a_prev) * torch.ones_like(x_T) + math.sqrt(1 - a_prev) * eps
    assert torch.allclose(traj.x[1], expected, atol=1e-12)
    assert torch.equal(traj.x0_pred[0], torch.ones_like(x_T))
    # the model's own eps would give another point
    eps_model = model(x_T, torch.full((8,), 600))
    other = math.sqrt(a_prev) * torch.ones_like(x_T) + math.sqrt(1 - a_prev) * eps_model
    assert (traj.x[1] - other).abs().max().item() > 0.1


def test_prediction_types_give_the_same_samples(schedule, eps_star):
    def as_x0(x, t):
        a = schedule.alpha_bar[t].view(-1, 1)
        return (x - (1 - a).sqrt() * eps_star(x, t)) / a.sqrt()

    def as_v(x, t):
        a = schedule.alpha_bar[t].view(-1, 1)
        eps = eps_star(x, t)
        return a.sqrt() * eps - (1 - a).sqrt() * as_x0(x, t)

    x_T = gaussian_noise(100, seed=16)
    taus = timesteps(25)
    ref = ddim_sample(eps_star, x_T, schedule, taus, eta=0.5, generator=3, progress=False)
    for pred, model in (("x0", as_x0), ("v", as_v)):
        out = ddim_sample(
            model, x_T, schedule, taus, eta=0.5, generator=3, prediction=pred, progress=False
        )
        assert torch.allclose(out, ref, atol=1e-8), pred


def test_eps_and_x0_conversions_are_consistent():
    x0 = torch.randn(5, 3, dtype=torch.float64)
    eps = torch.randn(5, 3, dtype=torch.float64)
    a = 0.37
    x = math.sqrt(a) * x0 + math.sqrt(1 - a) * eps
    v = math.sqrt(a) * eps - math.sqrt(1 - a) * x0
    for pred, out in (("eps", eps), ("x0", x0), ("v", v)):
        e, z = eps_and_x0(out, x, a, pred)
        assert torch.allclose(e, eps) and torch.allclose(z, x0)


def test_sigma_hat_adds_more_noise_than_eta_one_at_small_S(schedule, eps_star, mixture):
    # the excess variance of sigma_hat is not removed by later steps: samples come out blurred
    x_T = gaussian_noise(4000, seed=17)
    taus = timesteps(10)
    eta1 = ddim_sample(eps_star, x_T, schedule, taus, eta=1.0, generator=4, progress=False)
    hat = ddim_sample(
        eps_star, x_T, schedule, taus, variance="sigma_hat", generator=4, progress=False
    )
    true_cov = torch.stack([c.trace() for c in mixture.covs])
    _, _, c1 = mixture_moments(eta1, mixture)
    _, _, ch = mixture_moments(hat, mixture)
    spread = lambda c: torch.stack([ci.trace() for ci in c])  # noqa: E731
    assert (spread(ch) > spread(c1)).all()
    assert (spread(ch) > 1.5 * true_cov).all()


# --- bad input ----------------------------------------------------------------------------------


def test_bad_sampler_input_raises_value_errors(schedule, eps_star):
    x_T = gaussian_noise(4, seed=18)
    taus = timesteps(10)
    cases = [
        (dict(eta=-0.1), r"eta must be a finite number >= 0"),
        (dict(eta=float("nan")), r"eta must be a finite number >= 0"),
        (dict(variance="large"), r"variance must be one of 'eta', 'sigma_hat'"),
        (dict(prediction="score"), r"prediction must be one of 'eps', 'x0', 'v'"),
        (dict(clip=0), r"clip must be None or a number > 0"),
        (dict(noise=[x_T] * 3), r"noise must hold one tensor per step \(10\), got 3"),
        (dict(timesteps=[10, 20]), r"strictly descending"),
        (dict(timesteps=[1000, 5]), r"timesteps\[i\] must be an integer in \[0, 999\]"),
    ]
    for kwargs, match in cases:
        args = dict(timesteps=taus, progress=False)
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            ddim_sample(eps_star, x_T, schedule, **args)


def test_eta_given_as_a_numpy_or_0d_tensor_scalar_is_a_number(schedule, eps_star):
    x_T = gaussian_noise(4, seed=20)
    taus = timesteps(10)
    ref = ddim_sample(eps_star, x_T, schedule, taus, eta=0.5, generator=3, progress=False)
    for eta in (np.float32(0.5), np.float64(0.5), torch.tensor(0.5)):
        got = ddim_sample(eps_star, x_T, schedule, taus, eta=eta, generator=3, progress=False)
        assert torch.equal(got, ref)
    with pytest.raises(ValueError, match="eta must be a finite number >= 0"):
        ddim_sample(eps_star, x_T, schedule, taus, eta=np.float32(-0.5), progress=False)


def test_nan_input_and_wrong_model_shape_raise(schedule, eps_star):
    x_T = gaussian_noise(4, seed=19)
    bad = x_T.clone()
    bad[1, 0] = float("nan")
    with pytest.raises(ValueError, match="x_T contains NaN"):
        ddim_sample(eps_star, bad, schedule, timesteps(5), progress=False)
    with pytest.raises(
        ValueError,
        match=r"eps_model output must have the shape of its input \(4, 2\), got \(4, 3\)",
    ):
        ddim_sample(lambda x, t: torch.zeros(4, 3), x_T, schedule, timesteps(5), progress=False)
    with pytest.raises(ValueError, match="x_0 contains NaN"):
        ddim_invert(eps_star, bad, schedule, timesteps(5), progress=False)


def test_model_receives_int64_timesteps_on_the_batch(schedule):
    seen = {}

    def eps_model(x, t):
        seen["t"] = t
        return torch.zeros_like(x)

    ddim_sample(eps_model, torch.zeros(3, 1, 8, 8), linear_schedule(), [5], progress=False)
    assert (
        seen["t"].dtype == torch.int64
        and seen["t"].shape == (3,)
        and seen["t"].tolist() == [5, 5, 5]
    )


def test_implied_forward_step_is_markov_only_at_eta_one(schedule):
    from ddim_edu.forward import q_sigma_forward_step

    a_t, a_prev = schedule.alpha_bar_at(500), schedule.alpha_bar_at(100)
    x_prev = torch.tensor([0.4], dtype=torch.float64)
    x0s = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    mean1, std1 = q_sigma_forward_step(x_prev, x0s, a_t, a_prev, ddim_sigma(a_t, a_prev, 1.0))
    # DDPM's forward step N(sqrt(alpha_t) x_prev, beta_t), whatever x_0
    assert torch.allclose(
        mean1, torch.full((3,), math.sqrt(a_t / a_prev) * 0.4, dtype=torch.float64), atol=1e-9
    )
    assert std1**2 == pytest.approx(1 - a_t / a_prev, rel=1e-7)
    mean_half, _ = q_sigma_forward_step(x_prev, x0s, a_t, a_prev, ddim_sigma(a_t, a_prev, 0.5))
    assert (mean_half[2] - mean_half[0]).abs() > 0.05  # depends on x_0


def test_inversion_evaluated_at_the_level_it_goes_to_reconstructs_better(
    mixture, schedule, eps_star
):
    # encode real points and decode them back: evaluate="end" (the default) beats "start" at
    # every S, and both fall with S (docstring of ddim_invert: 0.094 vs 0.141 at S = 10)
    x0 = mixture.sample(2000, torch.Generator().manual_seed(1)).double()
    errors = {"start": [], "end": []}
    for S in (10, 20, 50):
        taus = timesteps(S)
        for evaluate in errors:
            z = ddim_invert(eps_star, x0, schedule, taus, evaluate=evaluate, progress=False)
            x0_back = ddim_sample(eps_star, z, schedule, taus, progress=False)
            errors[evaluate].append(((x0_back - x0) ** 2).mean().sqrt().item())
    assert all(e < 0.8 * s for e, s in zip(errors["end"], errors["start"])), errors
    for row in errors.values():
        assert row[0] > row[1] > row[2], errors
    assert errors["end"][0] == pytest.approx(0.094, abs=0.01)
    assert errors["start"][0] == pytest.approx(0.141, abs=0.01)


def test_inversion_default_is_end_and_start_differs_only_after_the_first_step(
    mixture, schedule, eps_star
):
    x0 = mixture.sample(50, torch.Generator().manual_seed(2)).double()
    taus = timesteps(5)
    default = ddim_invert(eps_star, x0, schedule, taus, progress=False)
    end = ddim_invert(eps_star, x0, schedule, taus, evaluate="end", progress=False)
    assert torch.equal(default, end)
    # one step: both evaluate x_0 at the only timestep, so they agree exactly
    one = [taus[-1]]
    assert torch.equal(
        ddim_invert(eps_star, x0, schedule, one, evaluate="start", progress=False),
        ddim_invert(eps_star, x0, schedule, one, evaluate="end", progress=False),
    )
    with pytest.raises(ValueError, match=r"evaluate must be one of 'end', 'start', got 'middle'"):
        ddim_invert(eps_star, x0, schedule, taus, evaluate="middle", progress=False)


def test_sigma_hat_leaves_more_noise_than_the_marginal_on_the_last_steps(schedule):
    # S = 10, uniform: the last three stochastic steps of sigma_hat add fresh noise above the
    # level the step lands on; the last one leaves 0.32 standard deviations where 0.01 belong
    steps = ddim_coefficients(schedule, timesteps(10, schedule.T), variance="sigma_hat")
    last = [(s.t, round(s.sigma_noise, 3), round(s.noise_level, 3)) for s in steps[-4:-1]]
    assert last == [(300, 0.632, 0.586), (200, 0.516, 0.324), (100, 0.324, 0.01)]
    assert all(s.sigma_noise <= s.noise_level for s in steps[:-4])
    assert abs(steps[-2].noise_std - 0.324) < 1e-3
    # the eta family carries exactly the marginal's noise on every step, for every eta
    for eta in (0.0, 0.5, 1.0):
        for s in ddim_coefficients(schedule, timesteps(10, schedule.T), eta):
            assert abs(s.noise_std - s.noise_level) < 1e-12
