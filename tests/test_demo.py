import json

import matplotlib.image as mpimg
import numpy as np
import pytest
from helpers import forbid

from ddim_edu.__main__ import build_parser, main


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    rc = main(["demo", "--n", "600", "--steps", "10,100", "--out", str(out), "--no-progress"])
    assert rc == 0
    return out


def test_demo_writes_the_table_with_its_floor_and_provenance(demo_out):
    record = json.loads((demo_out / "demo_quality.json").read_text())
    assert record["steps"] == [10, 100]
    assert record["etas"] == [0.0, 0.2, 0.5, 1.0, "sigma_hat"]
    values = np.array(record["values"])
    assert values.shape == (5, 2) and np.isfinite(values).all() and (values > 0).all()
    assert record["floor"] > 0 and record["floor_std"] >= 0
    # at S = 10, DDPM-like sampling (eta = 1) is further from the data than DDIM (eta = 0)
    assert values[3, 0] > values[0, 0]
    for key in ("device", "date", "command", "n_per_cell", "torch", "wall_s"):
        assert key in record["meta"]
    assert record["meta"]["n_per_cell"] == 600


def _rgb(path):
    img = mpimg.imread(path)
    return img[..., :3]


def test_trajectory_figure_shows_two_panels_with_end_points(demo_out):
    img = _rgb(demo_out / "demo_trajectories.png")
    assert img.shape[0] > 400 and img.shape[1] > 800
    crimson = (img[..., 0] > 0.7) & (img[..., 1] < 0.25) & (img[..., 2] < 0.35)
    half = img.shape[1] // 2
    # the red x_0 markers appear in both the DDPM and the DDIM panel
    assert crimson[:, :half].sum() > 200 and crimson[:, half:].sum() > 200


def test_quality_figure_is_not_blank(demo_out):
    img = _rgb(demo_out / "demo_quality.png")
    assert img.std() > 0.1
    # the heatmap's viridis cells: plenty of saturated, non-grey pixels on the left
    left = img[:, : img.shape[1] // 2]
    chroma = left.max(-1) - left.min(-1)
    assert (chroma > 0.3).mean() > 0.2


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--help"])
    text = capsys.readouterr().out
    for option in ("--out", "--n", "--steps", "--seed", "--spacing", "--no-progress"):
        assert option in text


def test_bad_steps_are_refused(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--steps", "10,x"])
    assert "expected comma-separated integers" in capsys.readouterr().err


def test_step_count_above_T_is_a_clear_error(tmp_path, capsys):
    rc = main(["demo", "--n", "50", "--steps", "10,2000", "--out", str(tmp_path), "--no-progress"])
    assert rc == 2
    assert "S must be an integer in [1, 1000], got 2000" in capsys.readouterr().err


# --- --out is checked before the grid runs ---------------------------------------------------------


@pytest.fixture
def no_grid(monkeypatch):
    """Make the demo's grid an error: a check that passes with this fixture ran before it."""
    from ddim_edu import demo

    forbid(monkeypatch, demo, "quality_grid", "the grid")


def test_out_that_is_a_file_fails_before_any_work(tmp_path, capsys, no_grid):
    victim = tmp_path / "figures"
    victim.write_text("not a folder")
    assert main(["demo", "--n", "50", "--out", str(victim), "--no-progress"]) == 2
    assert capsys.readouterr().err == f"error: --out {str(victim)!r} is a file, not a folder\n"
    assert victim.read_text() == "not a folder" and list(tmp_path.iterdir()) == [victim]


def test_out_in_a_folder_without_write_access_fails_before_any_work(
    tmp_path, capsys, monkeypatch, no_grid
):
    import os

    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as in a read-only folder
    out = tmp_path / "figures"
    assert main(["demo", "--n", "50", "--out", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {str(out)!r}: {str(tmp_path)!r} is a folder this process cannot write in\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_output_name_taken_by_a_folder_fails_before_any_work(tmp_path, capsys, no_grid):
    (tmp_path / "demo_quality.json").mkdir()
    assert main(["demo", "--n", "50", "--out", str(tmp_path), "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {str(tmp_path)!r}: {str(tmp_path / 'demo_quality.json')!r} is a folder, "
        "not a file\n"
    )


def test_bad_steps_leave_no_output_folder(tmp_path, capsys):
    out = tmp_path / "figures"
    rc = main(["demo", "--n", "50", "--steps", "10,2000", "--out", str(out), "--no-progress"])
    assert rc == 2 and "S must be an integer in [1, 1000], got 2000" in capsys.readouterr().err
    assert not out.exists()


def test_a_negative_seed_is_refused_by_its_flag_before_the_folder_is_made(tmp_path, capsys):
    from ddim_edu.demo import run_demo

    out = tmp_path / "figures"
    assert main(["demo", "--n", "50", "--seed", "-1", "--out", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err == "error: --seed must be an integer >= 0, got -1\n"
    with pytest.raises(ValueError, match=r"^seed must be an integer >= 0, got -1$"):
        run_demo(out, n=50, seed=-1, progress=False)
    assert not out.exists()
