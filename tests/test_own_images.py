"""The own-images recipe: a folder of RGB images, patch-SWD, training and the sweep command."""

import json

import pytest
import torch

from ddim_edu.__main__ import main
from ddim_edu.data import load_image_folder, make_shapes_folder
from ddim_edu.metrics import patch_swd
from ddim_edu.quality import ImageQuality
from ddim_edu.sweep import load_results


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes_folder(tmp_path_factory.mktemp("shapes") / "shapes", n=400, size=32)


def test_shapes_folder_is_deterministic_rgb_and_refuses_to_overwrite(tmp_path, shapes):
    x = load_image_folder(shapes)
    assert x.shape == (400, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    again = load_image_folder(make_shapes_folder(tmp_path / "again", n=400, size=32))
    assert torch.equal(x, again)
    kinds = {p.name.split("_")[0] for p in shapes.iterdir()}
    assert kinds == {"disc", "square", "triangle"}
    # each image: a background colour and a brighter shape, so two distinct colours dominate
    assert float((x[0] - x[0, :, :1, :1]).abs().amax(0).gt(0.3).float().mean()) > 0.05
    with pytest.raises(ValueError, match="is not empty"):
        make_shapes_folder(shapes, n=2)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        make_shapes_folder(tmp_path / "none", n=0)


@pytest.mark.slow
def test_patch_swd_stays_at_the_real_level_for_real_images_and_grows_with_damage(shapes):
    real = load_image_folder(shapes)
    a, b = real[:200], real[200:]
    base = patch_swd(a, b)
    assert base["levels"] == [32, 16]  # 32x32: the band-pass level (edges) and the low-pass one
    # a set against itself is not 0 (patches are drawn at random positions for each set), but
    # below two different real halves, whose colours differ image by image
    assert patch_swd(a, a)["mean"] < base["mean"]
    fine = base["per_level"][0]
    blurred = patch_swd(torch.nn.functional.avg_pool2d(a, 3, 1, 1), b)
    assert blurred["per_level"][0] > 2 * fine  # blur removes the edges the fine level sees
    gen = torch.Generator().manual_seed(0)
    noisy = patch_swd((a + 0.1 * torch.randn(a.shape, generator=gen)).clamp(-1, 1), b)
    assert noisy["per_level"][0] > 2 * fine
    assert patch_swd(a * 0.6, b)["mean"] > 1.5 * base["mean"]  # a global loss of contrast
    shuffled = a.flatten(2)[:, :, torch.randperm(1024, generator=gen)].view_as(a)
    assert patch_swd(shuffled, b)["mean"] > 4 * base["mean"]
    small = torch.nn.functional.avg_pool2d(real, 2)
    assert patch_swd(small[:100], small[100:200])["levels"] == [16]


def test_patch_swd_names_bad_input():
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(N, C, H, W\)"):
        patch_swd(torch.zeros(5, 8, 8), torch.zeros(5, 1, 8, 8))
    with pytest.raises(ValueError, match="same shape"):
        patch_swd(torch.zeros(5, 1, 8, 8), torch.zeros(5, 3, 8, 8))
    with pytest.raises(ValueError, match="y contains NaN"):
        patch_swd(torch.zeros(5, 1, 8, 8), torch.full((5, 1, 8, 8), float("nan")))


def test_image_quality_floor_uses_disjoint_real_halves(shapes):
    real = load_image_folder(shapes)
    q = ImageQuality(real)
    floor, m = q.floor_at(1000)
    assert m == 200  # capped by the second half
    assert 0 < floor < q(real.flip(2) * 0.5)["mean"]
    assert q.floor_at(50)[1] == 50


@pytest.mark.slow
def test_train_and_sweep_on_an_image_folder_from_the_command_line(tmp_path, shapes, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", str(shapes), "--width", "8", "--res-blocks", "1", "--steps", "30"]
    args += ["--batch-size", "16", "--out", str(run), "--device", "cpu", "--no-progress"]
    assert main(args) == 0
    out = tmp_path / "sweep.json"
    args = ["sweep", "--run-dir", str(run), "--samples", "24", "--steps", "5,10"]
    args += ["--etas", "0,sigma_hat", "--out", str(out), "--device", "cpu", "--no-progress"]
    assert main(args) == 0
    record = json.loads(out.read_text())
    assert record["meta"]["command"] == "python -m ddim_edu " + " ".join(args)
    assert json.loads((run / "checkpoint.json").read_text())["command"].startswith(
        f"python -m ddim_edu train --data {shapes} "
    )
    assert record["meta"]["data"] == f"folder:{shapes}"
    assert record["meta"]["model"].startswith(f"run {run} (step 30)")
    assert record["grid"]["metric"] == "patch-SWD"
    assert len(record["grid"]["values"]) == 2 and len(record["grid"]["values"][0]) == 2
    assert record["grid"]["meta"]["floor_n"] == 24
    assert all(v > 0 for row in record["grid"]["values"] for v in row)
    grid, meta = load_results(out)
    assert grid.steps == [5, 10] and meta["n_per_cell"] == 24
    assert out.with_suffix(".png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "noise floor" in printed and "wrote" in printed


def test_sweep_command_names_bad_input(tmp_path, capsys):
    assert (
        main(["sweep", "--model", "mlp_gmm", "--etas", "0,fast", "--out", str(tmp_path / "x.json")])
        == 2
    )
    assert "--etas must be comma-separated numbers >= 0 or sigma_hat" in capsys.readouterr().err
    assert main(["sweep", "--model", "digits_classifier", "--out", str(tmp_path / "x.json")]) == 2
    assert "is not a denoiser" in capsys.readouterr().err
    assert (
        main(["sweep", "--run-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.json")])
        == 2
    )
    assert "holds no checkpoint.safetensors" in capsys.readouterr().err
    args = ["sweep", "--model", "mlp_gmm", "--samples", "1", "--out", str(tmp_path / "x.json")]
    assert main(args) == 2
    assert (
        "n (samples per cell, --samples) must be an integer >= 2, got 1" in capsys.readouterr().err
    )
    args = [
        "sweep",
        "--model",
        "mlp_gmm",
        "--samples",
        "100",
        "--batch",
        "0",
        "--out",
        str(tmp_path / "x.json"),
    ]
    assert main(args) == 2
    assert "batch (--batch) must be an integer >= 1 or None, got 0" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_load_results_reads_the_stored_digits_grid_and_refuses_other_json(tmp_path):
    from ddim_edu import records

    grid, meta = load_results(records.path("digits_quality"))
    assert grid.metric == "digits-FID" and len(grid.values) == 5 and meta["n_per_cell"] == 10000
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match="is not a sweep results file"):
        load_results(tmp_path / "other.json")


def test_flip_mirrors_about_half_the_drawn_images_and_is_refused_for_digits(shapes):
    from ddim_edu.data import get_dataset

    plain = get_dataset(str(shapes))
    flipped = get_dataset(str(shapes), flip=True)
    gen = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    a, b = plain.batch(400, gen()), flipped.batch(400, gen())
    same = (a == b).flatten(1).all(1)
    mirrored = (a.flip(-1) == b).flatten(1).all(1)
    assert bool((same | mirrored).all())  # every image is itself or its mirror
    assert 0.4 < float((mirrored & ~same).float().mean()) < 0.6
    assert torch.equal(flipped.batch(400, gen()), b)  # seeded
    with pytest.raises(ValueError, match="flip applies to image folders only, not to 'digits'"):
        get_dataset("digits", flip=True)
