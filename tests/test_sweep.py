"""The sweep: its results table, the floor it records for the 2-D sets, and where its noise comes from."""

import json

import pytest
import torch
from helpers import forbid

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


# --- the sweep command checks --out, --device and --run-dir before any cell ----------------------

SWEEP = ["sweep", "--model", "mlp_gmm", "--samples", "64", "--steps", "5,10", "--etas", "0,1"]
SWEEP += ["--device", "cpu", "--no-progress"]


@pytest.fixture
def no_grid(monkeypatch):
    """Make running the grid an error: a check that passes only on this fixture ran before it."""
    from ddim_edu import sweep

    forbid(monkeypatch, sweep, "run_sweep", "the grid")


def _tree(folder):
    return {p: p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def test_out_that_is_a_folder_fails_at_once_and_leaves_no_tmp(tmp_path, capsys, no_grid):
    from ddim_edu.__main__ import main

    outdir = tmp_path / "outdir"
    outdir.mkdir()
    assert main([*SWEEP, "--out", str(outdir)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {str(outdir)!r} is a folder; give a file path inside it or elsewhere\n"
    )
    assert _tree(tmp_path) == {outdir: None}


def test_out_ending_in_png_is_refused_so_results_and_figure_never_share_a_path(
    tmp_path, capsys, no_grid
):
    from ddim_edu.__main__ import main

    keep = tmp_path / "keep.png"
    keep.write_bytes(b"a figure of mine")
    for out in (keep, tmp_path / "new.PNG"):
        assert main([*SWEEP, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --out {str(out)!r} ends in .png, the suffix of the heat map")
        assert err.endswith(f"give a results file such as {str(out.with_suffix('.json'))!r}\n")
    assert _tree(tmp_path) == {keep: b"a figure of mine"}


def test_out_under_a_file_or_in_a_folder_without_write_access_is_refused(
    tmp_path, capsys, monkeypatch, no_grid
):
    import os

    from ddim_edu.__main__ import main

    afile = tmp_path / "afile"
    afile.write_text("x")
    out = afile / "sub" / "grid.json"
    assert main([*SWEEP, "--out", str(out)]) == 2
    assert (
        capsys.readouterr().err
        == f"error: --out {str(out)!r}: {str(afile)!r} is a file, not a folder\n"
    )
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as in a read-only folder
    out = tmp_path / "new" / "grid.json"
    assert main([*SWEEP, "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {str(out)!r}: {str(tmp_path)!r} is a folder this process cannot write in\n"
    )
    assert _tree(tmp_path) == {afile: b"x"}


def test_a_file_that_is_not_an_earlier_sweeps_output_is_kept_unless_overwrite(tmp_path, capsys):
    from ddim_edu.__main__ import main
    from ddim_edu.sweep import load_results

    mine = tmp_path / "keep.json"
    mine.write_text('{"mine": 1}')
    assert main([*SWEEP, "--out", str(mine)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {str(mine)!r}: {str(mine)!r} exists and is not an earlier sweep's output; "
        "pass --overwrite to replace it, or choose another --out\n"
    )
    figure = tmp_path / "grid.png"  # a figure of mine where the heat map of grid.json would go
    figure.write_bytes(b"figure")
    assert main([*SWEEP, "--out", str(tmp_path / "grid.json")]) == 2
    assert f"{str(figure)!r} exists and is not an earlier sweep's output" in capsys.readouterr().err
    assert _tree(tmp_path) == {mine: b'{"mine": 1}', figure: b"figure"}
    # --overwrite replaces them; an earlier sweep's output is replaced without it (a rerun)
    assert main([*SWEEP, "--out", str(mine), "--overwrite"]) == 0
    assert main([*SWEEP, "--out", str(mine), "--seed", "1"]) == 0
    assert load_results(mine)[1]["seed"] == 1
    assert (tmp_path / "keep.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "keep.json", "keep.png"]


def test_a_device_this_torch_cannot_use_is_named_by_its_option(tmp_path, capsys, no_grid):
    from ddim_edu.__main__ import main

    argv = [a if a != "cpu" else "cuda:99" for a in SWEEP]
    assert main([*argv, "--out", str(tmp_path / "grid.json")]) == 2
    assert capsys.readouterr().err.startswith(
        "error: --device 'cuda:99' is not available to this torch"
    )
    assert _tree(tmp_path) == {}


def test_a_run_dir_that_is_not_a_denoiser_run_is_named(tmp_path, capsys, no_grid):
    from ddim_edu.__main__ import main
    from ddim_edu.classifier import train_classifier

    argv = ["sweep", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "grid.json")]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*argv, "--run-dir", str(empty)]) == 2
    assert capsys.readouterr().err == (
        f"error: --run-dir {str(empty)!r} holds no checkpoint.safetensors\n"
    )
    train_classifier(tmp_path / "clf", steps=1, progress=False, command="test")
    capsys.readouterr()
    assert main([*argv, "--run-dir", str(tmp_path / "clf")]) == 2
    assert capsys.readouterr().err == (
        f"error: --run-dir {str(tmp_path / 'clf')!r}: checkpoint "
        f"{str(tmp_path / 'clf' / 'checkpoint.safetensors')!r} records no training config "
        "('train'); it is not a denoiser run of python -m ddim_edu train\n"
    )
    assert not (tmp_path / "grid.json").exists()


def _tiny_sweep(cells_dir, **kw):
    from ddim_edu.schedule import linear_schedule
    from ddim_edu.sweep import run_sweep

    schedule = linear_schedule()
    mixture = GaussianMixture.example_2d()
    target = make_target("gmm", n=200, seed=0)
    args = dict(n=200, steps=[2, 5], etas=[0.0, "sigma_hat"], seed=3, progress=False)
    return run_sweep(
        mixture.eps_model(schedule), schedule, target, **(args | kw), cells_dir=cells_dir
    )


def test_a_stopped_sweep_continues_from_its_stored_cells_with_the_same_numbers(
    tmp_path, monkeypatch
):
    import ddim_edu.sweep as sweep

    first = _tiny_sweep(tmp_path / "cells")
    names = sorted(p.name for p in (tmp_path / "cells").iterdir())
    assert names == ["cell_S2_eta0.json", "cell_S2_etasigma_hat.json",
                     "cell_S5_eta0.json", "cell_S5_etasigma_hat.json"]  # fmt: skip
    (tmp_path / "cells" / "cell_S5_etasigma_hat.json").unlink()  # the run stopped before this cell
    for path in (tmp_path / "cells").iterdir():  # the cells read back took 100 s each
        cell = json.loads(path.read_text())
        path.write_text(json.dumps(cell | {"scores": cell["scores"] | {"seconds": 100.0}}))
    sampled = []
    real = sweep.sample_cell
    monkeypatch.setattr(
        sweep, "sample_cell", lambda *a, **k: sampled.append(a[3:5]) or real(*a, **k)
    )
    again = _tiny_sweep(tmp_path / "cells")
    assert sampled == [(5, "sigma_hat")]  # only the missing cell is sampled
    assert again["grid"]["values"] == first["grid"]["values"]
    assert again["meta"]["wall_s"] >= 300  # the time counts the cells read back (100 s each)
    fresh = _tiny_sweep(None)  # and a run without stored cells gives the same numbers
    assert fresh["grid"]["values"] == first["grid"]["values"]


def test_a_stored_cell_from_other_settings_is_refused(tmp_path):
    _tiny_sweep(tmp_path / "cells")
    with pytest.raises(ValueError, match=r"cells_dir: .*cell_S2_eta0.json.* other settings"):
        _tiny_sweep(tmp_path / "cells", seed=4)
