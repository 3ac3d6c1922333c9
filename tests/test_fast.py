"""The fast sampler gives ddim_sample's samples, for every option, and refuses bad input."""

import warnings

import pytest
import torch

from ddim_edu import gmm, pretrained
from ddim_edu.fast import FastSampler, fast_ddim_sample
from ddim_edu.sampling import ddim_sample
from ddim_edu.schedule import linear_schedule, timesteps
from ddim_edu.sweep import quality_grid

SCHEDULE = linear_schedule()


def toy_model(x, t):
    """A smooth stand-in network whose output depends on x and t."""
    return torch.tanh(x) * 0.3 + 0.1 * x + 1e-4 * t.view(-1, *([1] * (x.ndim - 1)))


@pytest.mark.parametrize(
    "options",
    [
        {"eta": 0.0},
        {"eta": 0.5},
        {"eta": 1.0},
        {"variance": "sigma_hat"},
        {"eta": 1.0, "clip": 1.0},
        {"eta": 0.7, "prediction": "x0"},
        {"eta": 0.7, "prediction": "v", "clip": 0.5},
    ],
)
def test_fast_path_matches_the_plain_sampler(options):
    x_T = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    taus = timesteps(20)
    plain = ddim_sample(toy_model, x_T, SCHEDULE, taus, generator=5, progress=False, **options)
    fast = FastSampler(toy_model, SCHEDULE, taus, **options)(x_T, generator=5)
    assert fast.shape == plain.shape
    assert torch.allclose(fast, plain, atol=1e-5, rtol=1e-5), (fast - plain).abs().max()


def test_fast_path_matches_on_2d_points_with_the_exact_denoiser():
    mix = gmm.GaussianMixture.example_2d()
    x_T = torch.randn(257, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    taus = timesteps(50)
    plain = ddim_sample(
        mix.eps_model(SCHEDULE), x_T, SCHEDULE, taus, 0.5, generator=2, progress=False
    )
    fast = fast_ddim_sample(mix.eps_model(SCHEDULE), x_T, SCHEDULE, taus, 0.5, generator=2)
    assert fast.dtype == torch.float64
    assert torch.allclose(fast, plain, atol=1e-10, rtol=0)


def test_same_seed_same_samples_new_seed_new_samples():
    x_T = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    sampler = FastSampler(toy_model, SCHEDULE, timesteps(10), eta=1.0)
    a, b, c = sampler(x_T, generator=3), sampler(x_T, generator=3), sampler(x_T, generator=4)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 0.01
    assert len(sampler) == 10 and len(sampler.noisy) == 9  # the last step adds no noise


def test_deterministic_sampler_draws_no_noise():
    sampler = FastSampler(toy_model, SCHEDULE, timesteps(10), eta=0.0)
    assert sampler.noisy == []
    assert sampler.draw_noise(torch.zeros(2, 3), generator=0) is None


def test_bf16_autocast_and_channels_last_stay_close_to_float32():
    model = pretrained.load("digits")
    x_T = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    taus = timesteps(10)
    ref = FastSampler(model, model.schedule, taus)(x_T)
    last = FastSampler(model, model.schedule, taus, channels_last=True)(x_T)
    low = FastSampler(model, model.schedule, taus, autocast="bf16")(x_T)
    assert torch.allclose(last, ref, atol=1e-4)
    assert low.dtype == torch.float32
    # bf16 keeps 8 bits of mantissa: samples move by ~1e-2 on average, never by a whole level
    assert 1e-5 < (low - ref).abs().mean() < 2e-2
    assert (low - ref).abs().max() < 0.5


def test_quality_grid_fast_equals_plain():
    mix = gmm.GaussianMixture.example_2d()
    x_T = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def distance(x):
        return float(x.square().mean())

    kw = {"steps": [5, 10], "etas": [0.0, 1.0, "sigma_hat"], "seed": 3, "progress": False}
    plain = quality_grid(mix.eps_model(SCHEDULE), x_T, SCHEDULE, distance, **kw)
    fast = quality_grid(mix.eps_model(SCHEDULE), x_T, SCHEDULE, distance, fast=True, **kw)
    assert torch.allclose(torch.tensor(fast.values), torch.tensor(plain.values), atol=1e-9)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"eta": -0.1}, "eta must be a finite number >= 0"),
        ({"variance": "beta"}, "variance must be one of 'eta', 'sigma_hat'"),
        ({"prediction": "score"}, "prediction must be one of"),
        ({"autocast": "fp8"}, "autocast must be None, 'bf16' or 'fp16'"),
        ({"clip": 0}, "clip must be None or a number > 0"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        FastSampler(toy_model, SCHEDULE, timesteps(10), **options)


def test_bad_input_is_refused():
    sampler = FastSampler(toy_model, SCHEDULE, timesteps(10))
    with pytest.raises(ValueError, match="x_T contains NaN"):
        sampler(torch.full((2, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="timesteps"):
        FastSampler(toy_model, SCHEDULE, [5, 10])


@pytest.mark.parametrize("shape", [(16, 1, 8, 8), (3, 2), (5, 16), (7, 3)])
def test_pre_drawn_noise_is_the_noise_drawn_step_by_step(shape):
    sampler = FastSampler(toy_model, SCHEDULE, timesteps(12), eta=1.0)
    x_T = torch.zeros(shape)
    gen = torch.Generator().manual_seed(9)
    expected = torch.stack([torch.randn(shape, generator=gen) for _ in sampler.noisy])
    assert torch.equal(sampler.draw_noise(x_T, generator=9), expected)


def test_a_network_that_returns_its_input_or_a_view_of_it_is_handled():
    x_T = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    for model in (lambda x, t: x, lambda x, t: x.view(x.shape)):
        plain = ddim_sample(model, x_T, SCHEDULE, timesteps(10), progress=False)
        fast = FastSampler(model, SCHEDULE, timesteps(10))(x_T)
        assert torch.allclose(fast, plain, atol=1e-6)
    assert torch.equal(x_T, torch.randn(4, 2, generator=torch.Generator().manual_seed(0)))


def test_compiled_network_gives_the_same_samples_and_is_compiled_once():
    from ddim_edu import pretrained
    from ddim_edu.fast import FastSampler
    from ddim_edu.sampling import ddim_sample
    from ddim_edu.schedule import timesteps

    model = pretrained.load("mlp_moons")
    x_T = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))  # noqa: N806
    ref = ddim_sample(
        model, x_T, model.schedule, timesteps(10), eta=0.5, generator=3, progress=False
    )
    a = FastSampler(model, model.schedule, timesteps(10), eta=0.5, compile=True)
    b = FastSampler(model, model.schedule, timesteps(20), compile=True)
    assert a.model is b.model and a.model is not model  # one compiled network per model
    assert float((a(x_T, generator=3) - ref).abs().max()) < 1e-4
    assert "_ddim_edu_compiled" not in dict(model.named_modules())
    assert set(model.state_dict()) == set(pretrained.load("mlp_moons").state_dict())


def test_wrong_output_shape_is_refused_with_the_plain_samplers_message():
    x_T = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))

    def one_column(x, t):  # would broadcast against x without a check
        return x[:, :1]

    message = r"eps_model output must have the shape of its input \(4, 2\), got \(4, 1\)"
    with pytest.raises(ValueError, match=message):
        ddim_sample(one_column, x_T, SCHEDULE, timesteps(5), progress=False)
    for options in ({}, {"clip": 1.0}, {"eta": 1.0}):
        with pytest.raises(ValueError, match=message):
            FastSampler(one_column, SCHEDULE, timesteps(5), **options)(x_T, generator=0)
    with pytest.raises(ValueError, match=r"input \(4, 2\), got tuple"):
        FastSampler(lambda x, t: (x,), SCHEDULE, timesteps(5))(x_T)


def test_non_finite_samples_warn_as_in_the_plain_sampler():
    x_T = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))

    def overflowing(x, t):
        return torch.where(t.view(-1, 1) < 100, torch.full_like(x, float("inf")), x)

    with pytest.warns(RuntimeWarning, match="ddim_sample produced NaN or infinite values"):
        ddim_sample(overflowing, x_T, SCHEDULE, timesteps(5), progress=False)
    with pytest.warns(RuntimeWarning, match="FastSampler produced NaN or infinite values"):
        out = FastSampler(overflowing, SCHEDULE, timesteps(5))(x_T)
    assert not torch.isfinite(out).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a finite result warns of nothing
        assert torch.isfinite(FastSampler(toy_model, SCHEDULE, timesteps(5))(x_T)).all()


def test_float64_x_T_through_the_float32_digits_unet_equals_the_float32_run():  # noqa: N802
    model = pretrained.load("digits")
    x_T = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    taus = timesteps(10)
    for sample in (
        lambda x: ddim_sample(model, x, model.schedule, taus, progress=False),
        lambda x: FastSampler(model, model.schedule, taus)(x),
        lambda x: FastSampler(model, model.schedule, taus, clip=1.0, channels_last=True)(x),
    ):
        ref, got = sample(x_T), sample(x_T.double())
        assert ref.dtype == torch.float32 and got.dtype == torch.float64
        assert float((got - ref.double()).abs().max()) < 1e-5


def test_a_model_without_parameters_keeps_its_float64_input():
    seen = []

    def eps_model(x, t):
        seen.append(x.dtype)
        return 1e-3 * x

    x_T = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    FastSampler(eps_model, SCHEDULE, timesteps(4))(x_T)
    ddim_sample(eps_model, x_T, SCHEDULE, timesteps(4), progress=False)
    assert seen == [torch.float64] * 8
