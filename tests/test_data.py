import numpy as np
import pytest
import torch
from PIL import Image

from ddim_edu.data import (
    digits_split,
    get_dataset,
    levels_to_unit,
    load_digits,
    load_image_folder,
    swiss_roll,
    two_moons,
    unit_to_levels,
)


def test_digits_are_1797_images_in_minus_one_to_one():
    x, y = load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert x.min().item() == pytest.approx(2 * 0.5 / 17 - 1)  # level 0 at its bin centre
    counts = torch.bincount(y)
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_dequantisation_stays_in_the_bin_of_each_level():
    levels = torch.arange(17, dtype=torch.uint8).repeat(100)
    u = torch.rand(levels.shape, generator=torch.Generator().manual_seed(0))
    x = levels_to_unit(levels, u)
    assert torch.equal(unit_to_levels(x), levels)
    assert torch.equal(unit_to_levels(levels_to_unit(levels)), levels)
    assert x.min() >= -1 and x.max() < 1


def test_training_batches_are_dequantised_and_reproducible():
    data = get_dataset("digits")
    a = data.batch(64, torch.Generator().manual_seed(1))
    b = data.batch(64, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (64, 1, 8, 8)
    # continuous values: almost never exactly on a bin centre
    centres = levels_to_unit(unit_to_levels(a))
    assert ((a - centres).abs() > 1e-6).float().mean() > 0.99


def test_split_is_stratified_and_disjoint():
    train, test = digits_split(0.2, seed=0)
    assert len(set(train.tolist()) & set(test.tolist())) == 0
    assert train.numel() + test.numel() == 1797
    _, y = load_digits()
    assert torch.bincount(y[test], minlength=10).min() >= 34


def test_2d_sets_have_unit_scale():
    gen = torch.Generator().manual_seed(0)
    for x in (two_moons(5000, gen), swiss_roll(5000, gen), get_dataset("gmm").batch(5000, gen)):
        assert x.shape == (5000, 2)
        assert 0.3 < x.std().item() < 1.5 and x.abs().max() < 3


def _save(path, array, mode):
    Image.fromarray(array, mode=mode).save(path)


def test_image_folder_loads_gray_and_rgb(tmp_path):
    gray = tmp_path / "gray"
    gray.mkdir()
    for i in range(3):
        _save(gray / f"{i}.png", np.full((10, 10), 255 * (i % 2), np.uint8), "L")
    x = load_image_folder(gray)
    assert x.shape == (3, 1, 10, 10)
    assert x[0].max() == -1 and x[1].min() == 1

    rgb = tmp_path / "rgb"
    rgb.mkdir()
    img = np.zeros((12, 12, 3), np.uint8)
    img[..., 0] = 255
    _save(rgb / "a.png", img, "RGB")
    _save(rgb / "b.jpg", img, "RGB")
    x = load_image_folder(rgb, size=8)
    assert x.shape == (2, 3, 8, 8)
    assert x[0, 0].mean() > 0.95 and x[0, 1].mean() < -0.95


def test_image_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist or is not a folder"):
        load_image_folder(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="holds no images"):
        load_image_folder(tmp_path)
    _save(tmp_path / "a.png", np.zeros((8, 8), np.uint8), "L")
    _save(tmp_path / "b.png", np.zeros((16, 16), np.uint8), "L")
    with pytest.raises(
        ValueError, match=r"have different sizes \(8x8, 16x16\); pass size= to resize"
    ):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, size=8).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="channels must be 1, 3 or None"):
        load_image_folder(tmp_path, size=8, channels=2)


def test_unknown_data_set_is_named():
    with pytest.raises(
        ValueError,
        match=r"data must be one of 'digits', 'mnist', 'gmm', 'moons', 'swissroll' or an existing image folder, got 'cifar'",
    ):
        get_dataset("cifar")
