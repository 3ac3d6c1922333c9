"""The sweep: its results table, the floor it records for the 2-D sets, and where its noise comes from."""

import pytest
import torch

from ddim_edu.data import get_dataset
from ddim_edu.gmm import GaussianMixture
from ddim_edu.metrics import noise_floor, sliced_wasserstein
from ddim_edu.sweep import GridResult, make_target


def _grid(floor_std):
    return GridResult(
        [10, 20], [0.0, 1.0], [[0.1, 0.05], [0.2, 0.1]], [[1, 1], [1, 1]], "m", 0.03, floor_std
    )


def test_table_prints_the_floor_spread_or_says_it_was_one_draw():
    assert _grid(0.0021).table(digits=4).splitlines()[-1] == "noise floor 0.0300 ± 0.0021"
    assert (
        _grid(0.0).table(digits=4).splitlines()[-1]
        == "noise floor 0.0300 (one draw, spread not measured)"
    )
    assert _grid(None).table().endswith("(one draw, spread not measured)")


def test_two_d_target_records_the_spread_of_its_floor():
    target = make_target("moons", n=500, seed=3)
    assert target.floor_sd is not None
    floor, n = target.floor(500)
    sd = target.floor_sd(500)
    reference = get_dataset("moons").batch(500, torch.Generator().manual_seed(4))
    expected = noise_floor(get_dataset("moons").batch, 500, sliced_wasserstein, reference=reference)
    assert n == 500
    assert (floor, sd) == expected
    assert 0 < sd < floor


def test_grid_noise_comes_from_its_own_stream_not_from_x_T():
    from ddim_edu.sampling import ddim_sample
    from ddim_edu.schedule import linear_schedule, timesteps
    from ddim_edu.sweep import noise_seed, sample_cell

    for seed in range(4):
        x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(seed))
        for k in range(3):
            z = torch.randn(64, 2, generator=torch.Generator().manual_seed(noise_seed(seed, k)))
            assert not torch.equal(z, x_T)
    # the cell samples with that stream ...
    schedule = linear_schedule()
    eps_star = GaussianMixture.example_2d().eps_model(schedule)
    x_T = torch.randn(4000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    out = sample_cell(eps_star, x_T, schedule, 10, 1.0, seed=5)
    taus = timesteps(10)
    same = ddim_sample(
        eps_star, x_T, schedule, taus, eta=1.0, generator=noise_seed(5), progress=False
    )
    assert torch.equal(out, same)

    # ... so the first step (t = 900 -> 800) lands on q_800's variance (about 1 per coordinate);
    # noise seeded like x_T would add sigma * x_T to x_T and inflate it to about 1.77
    def first_step_variance(generator):
        traj = ddim_sample(
            eps_star,
            x_T,
            schedule,
            taus,
            eta=1.0,
            generator=generator,
            return_trajectory=True,
            progress=False,
        )[1]
        return traj.x[1].var(0)

    assert torch.allclose(
        first_step_variance(noise_seed(5)), torch.ones(2, dtype=torch.float64), atol=0.08
    )
    assert (first_step_variance(5) > 1.6).all()


def test_noise_seed_names_bad_seeds():
    from ddim_edu.sweep import noise_seed

    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(ValueError, match="seed must be an integer >= 0"):
            noise_seed(bad)


def test_grid_checks_read_integer_and_float_etas_alike():
    from ddim_edu.sweep import grid_checks

    values = [[0.3, 0.2], [0.4, 0.2], [0.9, 0.25], [4.0, 0.3]]
    for etas in ([0, 0.5, 1, "sigma_hat"], [0.0, 0.5, 1.0, "sigma_hat"]):
        checks = grid_checks(values, etas, [10, 20])
        assert checks == {
            "S10_eta0_beats_eta1": True,
            "S10_eta1_beats_sigma_hat": True,
            "S10_eta0_best": True,
            "spread_shrinks_with_S": True,
        }
