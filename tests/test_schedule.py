import math

import numpy as np
import pytest
import torch

from ddim_edu.schedule import SPACINGS, check_timesteps, cosine_schedule, linear_schedule, timesteps


def test_linear_schedule_alpha_bar_is_float64_cumprod():
    sch = linear_schedule(T=1000, beta_start=1e-4, beta_end=0.02)
    assert sch.alpha_bar.dtype == torch.float64
    assert sch.alpha_bar.shape == (1000,)
    assert sch.alpha_bar[0].item() == pytest.approx(1 - 1e-4, abs=1e-15)
    assert sch.alpha_bar[1].item() == pytest.approx(
        (1 - 1e-4) * (1 - (1e-4 + 0.0199 / 999)), rel=1e-12
    )
    assert (sch.alpha_bar[1:] < sch.alpha_bar[:-1]).all()
    # the DDPM linear schedule ends close to pure noise
    assert 3e-5 < sch.alpha_bar[-1].item() < 5e-5
    assert sch.alpha_bar_at(-1) == 1.0


def test_cosine_schedule_matches_closed_form():
    sch = cosine_schedule(T=1000)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 250, 500, 900):
        assert sch.alpha_bar[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert sch.alpha_bar[-1].item() < 1e-4


def test_sigma_and_snr_of_schedule():
    sch = linear_schedule()
    a = sch.alpha_bar
    assert torch.allclose(sch.sigma() ** 2, (1 - a) / a)
    assert torch.allclose(sch.snr(), 1 / sch.sigma() ** 2)


@pytest.mark.parametrize("S", [1, 10, 20, 50, 100, 333, 1000])
def test_uniform_spacing_is_the_papers_range(S):
    assert timesteps(S, 1000, "uniform") == list(range(0, 1000, 1000 // S))[:S][::-1]


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("S", [1, 2, 3, 7, 10, 20, 50, 99, 100, 500, 999, 1000])
def test_each_spacing_gives_S_distinct_descending_steps(spacing, S):
    taus = timesteps(S, 1000, spacing)
    assert len(taus) == S
    assert all(isinstance(t, int) for t in taus)
    assert all(a > b for a, b in zip(taus, taus[1:]))
    assert 0 <= taus[-1] and taus[0] <= 999


@pytest.mark.parametrize("T", [10, 37, 1000])
def test_trailing_starts_at_T_minus_1_and_uniform_does_not(T):
    for S in range(2, T, max(1, T // 7)):
        assert timesteps(S, T, "trailing")[0] == T - 1
    # the known pitfall: uniform ends its first step at (S - 1) * (T // S) < T - 1
    assert timesteps(10, 1000, "uniform")[0] == 900


def test_linspace_contains_both_ends_and_quadratic_is_denser_near_zero():
    taus = timesteps(10, 1000, "linspace")
    assert taus[0] == 999 and taus[-1] == 0
    q = timesteps(10, 1000, "quadratic")[::-1]
    assert q[0] == 0 and q[-1] == 999
    gaps = [b - a for a, b in zip(q, q[1:])]
    assert all(g2 > g1 for g1, g2 in zip(gaps, gaps[1:]))
    assert q[1] == 999 // 81  # floor(c * 1^2), c = 999 / 9^2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"S": 0}, r"S must be an integer in \[1, 1000\], got 0"),
        ({"S": 1001}, r"S must be an integer in \[1, 1000\], got 1001"),
        ({"S": 2.5}, r"S must be an integer in \[1, 1000\], got 2.5"),
        ({"S": "10"}, r"S must be an integer"),
        ({"S": True}, r"S must be an integer"),
        (
            {"S": 10, "spacing": "cosine"},
            r"spacing must be one of 'uniform', 'quadratic', 'trailing', 'linspace'",
        ),
        ({"S": 10, "T": 0}, r"T must be an integer >= 1"),
    ],
)
def test_bad_timestep_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        timesteps(**kwargs)


def test_check_timesteps_rejects_ascending_and_out_of_range():
    with pytest.raises(ValueError, match="strictly descending"):
        check_timesteps([0, 10, 20], 1000)
    with pytest.raises(ValueError, match=r"timesteps\[i\] must be an integer in \[0, 999\]"):
        check_timesteps([1000, 10], 1000)
    with pytest.raises(ValueError, match="at least one timestep"):
        check_timesteps([], 1000)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="beta_start"):
        linear_schedule(beta_start=0.03, beta_end=0.02)
    with pytest.raises(ValueError, match="T must be an integer >= 1"):
        linear_schedule(T=-5)


def test_integer_check_accepts_numpy_and_torch_integers_and_refuses_bools_and_floats():
    from ddim_edu._checks import _check_int

    assert _check_int("n", np.int64(3), 2) == 3 and type(_check_int("n", np.int64(3), 2)) is int
    assert _check_int("t", torch.tensor(5), 0, 9) == 5
    assert _check_int("seed", -7, None) == -7
    for bad in (True, 3.0, torch.tensor(3.0), torch.tensor(True), "3"):
        with pytest.raises(ValueError, match=r"n must be an integer >= 2, got "):
            _check_int("n", bad, 2)
    with pytest.raises(ValueError, match=r"^size must be an integer >= 1 or None, got 0$"):
        _check_int("size", 0, 1, hint=" or None")
    with pytest.raises(ValueError, match=r"^S must be an integer in \[1, 10\] \(steps\), got 11$"):
        _check_int("S", 11, 1, 10, hint=" (steps)")


@pytest.mark.parametrize(("S", "first"), [(600, 599), (300, 897), (7, 852)])
def test_uniform_keeps_exactly_S_steps_when_S_does_not_divide_T(S, first):  # noqa: N803
    # the authors' loop would run every entry of range(0, T, T // S): 1000, 334 and 8 of them
    taus = timesteps(S, 1000, "uniform")
    assert len(taus) == S and len(set(taus)) == S
    assert taus[0] == first == (S - 1) * (1000 // S)
    assert len(range(0, 1000, 1000 // S)) > S


def test_quadratic_ends_at_T_minus_1_not_at_the_authors_0_8_T():
    q = timesteps(50, 1000, "quadratic")
    assert q[0] == 999 and q[-1] == 0 and len(set(q)) == 50
    authors_last = int(np.linspace(0, np.sqrt(1000 * 0.8), 50)[-1] ** 2)
    assert authors_last in (799, 800)
