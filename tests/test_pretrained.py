import shutil

import pytest
import torch

from ddim_edu import pretrained
from ddim_edu.data import digits_split, load_digits
from ddim_edu.train import TrainConfig, train

SHIPPED = [
    "digits",
    "digits_classifier",
    "mnist",
    "mnist_classifier",
    "mlp_gmm",
    "mlp_moons",
    "mlp_swissroll",
]


def test_every_shipped_model_is_listed_and_the_set_is_small():
    assert set(SHIPPED) <= set(pretrained.available())
    total = sum(
        (pretrained.WEIGHTS / pretrained.info(n)["file"]).stat().st_size
        for n in pretrained.available()
    )
    assert total < 20e6


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_load_offline_and_match_the_manifest(name):
    entry = pretrained.info(name)
    data = (pretrained.WEIGHTS / entry["file"]).read_bytes()
    assert pretrained.sha256(data) == entry["sha256"]
    for key in ("command", "device", "wall_s", "final_loss", "steps"):
        assert entry[key] is not None, key
    assert entry["command"].startswith("python -m ddim_edu ")
    model = pretrained.load(name)
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    if not name.endswith("_classifier"):
        assert model.schedule.T == 1000 and model.prediction == "eps"
        shape = {"digits": (4, 1, 8, 8), "mnist": (4, 1, 28, 28)}.get(name, (4, 2))
        out = model(torch.zeros(shape), torch.full((4,), 500))
        assert out.shape == shape and torch.isfinite(out).all()


def test_shipped_classifier_reaches_97_percent_on_held_out_digits():
    clf = pretrained.load("digits_classifier")
    x, y = load_digits()
    _, test = digits_split(0.2, seed=0)
    with torch.no_grad():
        acc = (clf(x[test]).argmax(1) == y[test]).float().mean().item()
    assert acc >= 0.97
    assert pretrained.info("digits_classifier")["held_out_accuracy"] == pytest.approx(acc, abs=1e-4)


def test_shipped_mnist_classifier_reaches_98_5_percent_on_the_held_out_split():
    from ddim_edu.data import load_mnist

    clf = pretrained.load("mnist_classifier")
    x, y = load_mnist("test")
    with torch.no_grad():
        acc = (clf(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.985
    entry = pretrained.info("mnist_classifier")
    assert entry["held_out_accuracy"] == pytest.approx(acc, abs=1e-4)
    assert entry["held_out_size"] == 2000 and entry["data"] == "mnist"


def test_shipped_mnist_unet_is_class_conditional_and_small():
    entry = pretrained.info("mnist")
    assert entry["model"]["num_classes"] == 10 and entry["model"]["image_size"] == 28
    assert "--data mnist" in entry["command"] and "--conditional" in entry["command"]
    assert entry["size_bytes"] < 8e6


def test_a_file_with_one_byte_changed_is_refused(tmp_path):
    folder = tmp_path / "weights"
    shutil.copytree(pretrained.WEIGHTS, folder)
    path = folder / pretrained.info("mlp_moons")["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(
        ValueError, match=r"mlp_moons.safetensors' do not match the manifest: sha256"
    ):
        pretrained.load("mlp_moons", folder=folder)
    assert pretrained.load("mlp_gmm", folder=folder) is not None


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="name must be one of 'digits'"):
        pretrained.load("cifar10")


def test_export_then_load_round_trip(tmp_path):
    cfg = TrainConfig(
        data="gmm",
        width=32,
        res_blocks=1,
        steps=10,
        batch_size=64,
        out=str(tmp_path / "run"),
        checkpoint_every=10,
        device="cpu",
    )
    train(cfg, progress=False, command="python -m ddim_edu train --data gmm --steps 10")
    entry = pretrained.export(tmp_path / "run", "tiny", folder=tmp_path / "w")
    assert (
        entry["steps"] == 10
        and entry["command"] == "python -m ddim_edu train --data gmm --steps 10"
    )
    model = pretrained.load("tiny", folder=tmp_path / "w")
    from safetensors.torch import load_file

    ema = load_file(str(tmp_path / "run" / "checkpoint.safetensors"))
    for k, v in model.state_dict().items():
        assert torch.equal(v, ema["ema." + k])


def test_weights_that_do_not_fit_the_recorded_config_are_refused(tmp_path):
    import json

    folder = tmp_path / "weights"
    shutil.copytree(pretrained.WEIGHTS, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["mlp_moons"]["model"]["hidden"] = 64  # the file holds a 128-wide MLP
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"mlp_moons.safetensors' do not fit the config"):
        pretrained.load("mlp_moons", folder=folder)
