"""The sweep's results table and the floor it records for the 2-D sets."""

import torch

from ddim_edu.data import get_dataset
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
