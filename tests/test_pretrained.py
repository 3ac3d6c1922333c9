import json
import re
import shutil

import pytest
import torch

import ddim_edu.__main__ as cli
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


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 10-step MLP run on the 2-D mixture (its folder); tests copy it before changing it."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    cfg = TrainConfig(
        data="gmm",
        width=32,
        res_blocks=1,
        steps=10,
        batch_size=64,
        out=str(out),
        checkpoint_every=10,
        device="cpu",
    )
    train(cfg, progress=False, command="python -m ddim_edu train --data gmm --steps 10")
    return out


def test_export_then_load_round_trip(tiny_run, tmp_path):
    entry = pretrained.export(tiny_run, "tiny", folder=tmp_path / "w")
    assert (
        entry["steps"] == 10
        and entry["command"] == "python -m ddim_edu train --data gmm --steps 10"
    )
    model = pretrained.load("tiny", folder=tmp_path / "w")
    from safetensors.torch import load_file

    ema = load_file(str(tiny_run / "checkpoint.safetensors"))
    for k, v in model.state_dict().items():
        assert torch.equal(v, ema["ema." + k])


def test_weights_that_do_not_fit_the_recorded_config_are_refused(tmp_path):
    folder = tmp_path / "weights"
    shutil.copytree(pretrained.WEIGHTS, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["mlp_moons"]["model"]["hidden"] = 64  # the file holds a 128-wide MLP
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"mlp_moons.safetensors' do not fit the config"):
        pretrained.load("mlp_moons", folder=folder)


# --- export: a plain name, written only inside its folder, never over another file ----------------


def _files(folder):
    """Every file under ``folder`` with its bytes."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "name",
    ["../../victim/checkpoint", "ABSOLUTE", "", "a/b", "..", "x..y", ".hidden", "-rf", "a b"],
)
def test_export_refuses_a_name_that_is_not_plain_before_writing_anything(
    name, tiny_run, tmp_path, capsys
):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "checkpoint.safetensors").write_bytes(b"another run's checkpoint")
    if name == "ABSOLUTE":
        name = str(tmp_path / "evil")
    before = _files(tmp_path)
    folder = tmp_path / "w" / "sub"
    rc = cli.main(["export", "--run", str(tiny_run), f"--name={name}", "--folder", str(folder)])
    assert rc == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: --name must be a plain name (letters, digits")
        and err.count("\n") == 1
    )
    assert f"got {name!r}" in err
    assert _files(tmp_path) == before and not (tmp_path / "w").exists()
    with pytest.raises(ValueError, match="name must be a plain name"):
        pretrained.export(tiny_run, name, folder=folder)
    assert _files(tmp_path) == before and not (tmp_path / "w").exists()


def test_export_does_not_replace_a_name_or_a_file_without_overwrite(tiny_run, tmp_path, capsys):
    folder = tmp_path / "w"
    pretrained.export(tiny_run, "tiny", folder=folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["tiny"]["notes"] = "kept"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = _files(folder)
    rc = cli.main(["export", "--run", str(tiny_run), "--name", "tiny", "--folder", str(folder)])
    assert rc == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: 'tiny' already exists in manifest {str(folder / 'manifest.json')!r} "
        f"({str(folder / 'tiny.safetensors')!r}); pass overwrite=True (--overwrite) to replace "
        "it, or choose another name\n"
    )
    assert _files(folder) == before
    argv = ["export", "--run", str(tiny_run), "--name", "tiny", "--folder", str(folder)]
    assert cli.main([*argv, "--overwrite"]) == 0
    assert f"exported tiny: {folder / 'tiny.safetensors'}" in capsys.readouterr().out
    assert "notes" not in pretrained.info("tiny", folder)


def test_export_does_not_write_over_a_run_checkpoint_with_a_plain_name(tiny_run, tmp_path, capsys):
    # the victim, reached without a path: --folder another run, --name checkpoint
    victim = tmp_path / "victim"
    shutil.copytree(tiny_run, victim)
    before = _files(victim)
    rc = cli.main(
        ["export", "--run", str(tiny_run), "--name", "checkpoint", "--folder", str(victim)]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert f"'checkpoint' already exists in {victim} " in err and "--overwrite" in err
    assert _files(victim) == before


def test_export_refuses_a_symlink_that_leads_out_of_the_folder(tiny_run, tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"outside")
    (folder / "tiny.safetensors").symlink_to(outside)
    with pytest.raises(ValueError, match="leads outside the weights folder"):
        pretrained.export(tiny_run, "tiny", folder=folder, overwrite=True)
    assert outside.read_bytes() == b"outside" and not (folder / "manifest.json").exists()


def test_export_needs_folder_when_the_package_is_installed(tiny_run, tmp_path, monkeypatch, capsys):
    installed = tmp_path / "site-packages" / "ddim_edu" / "weights"
    installed.mkdir(parents=True)
    monkeypatch.setattr(pretrained, "WEIGHTS", installed)
    assert not pretrained.in_source_checkout()
    assert cli.main(["export", "--run", str(tiny_run), "--name", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --folder is needed: the default, {str(installed)!r}, belongs to")
    assert list(installed.iterdir()) == []


@pytest.mark.parametrize("option", ["--run", "--folder"])
def test_export_names_a_folder_option_that_is_a_file(option, tiny_run, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    paths = {"--run": str(tiny_run), "--folder": str(tmp_path / "w")} | {option: str(afile)}
    argv = ["export", "--name", "tiny", *(x for kv in paths.items() for x in kv)]
    assert cli.main(argv) == 2
    expected = {
        "--run": f"error: run folder {str(afile)!r} has no checkpoint.safetensors\n",
        "--folder": f"error: --folder {str(afile)!r} is a file, not a folder\n",
    }
    assert capsys.readouterr().err == expected[option]
    assert afile.read_text() == "not a folder" and not (tmp_path / "w").exists()


# --- manifest errors name the manifest and the problem ------------------------------------------


def _weights_with(tmp_path, manifest_text):
    folder = tmp_path / "weights"
    shutil.copytree(pretrained.WEIGHTS, folder)
    path = folder / "manifest.json"
    if manifest_text is None:
        path.unlink()
    else:
        path.write_text(manifest_text)
    return folder, path


def test_a_manifest_that_is_not_json_is_named(tmp_path):
    folder, path = _weights_with(tmp_path, '{"digits": {"file": ')
    named = f"^manifest {re.escape(repr(str(path)))}"
    with pytest.raises(ValueError, match=named + " is not valid JSON: Expecting value"):
        pretrained.load("digits", folder=folder)
    with pytest.raises(ValueError, match=named + " is not valid JSON"):
        pretrained.available(folder)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=named + " must be a JSON object that maps each name"):
        pretrained.info("digits", folder)


def test_a_missing_or_empty_manifest_is_named_not_listed_as_no_names(tmp_path):
    folder, path = _weights_with(tmp_path, None)
    with pytest.raises(ValueError) as err:
        pretrained.load("digits", folder=folder)
    assert str(err.value) == (
        f"manifest {str(path)!r} is missing: {str(folder)!r} is not a weights folder "
        "(pretrained.export writes one)"
    )
    path.write_text("{}")
    with pytest.raises(ValueError) as err:
        pretrained.load("digits", folder=folder)
    assert str(err.value) == f"manifest {str(path)!r} lists no models, so not 'digits'"


def test_a_missing_entry_names_the_manifest_and_what_it_lists(tmp_path):
    folder, path = _weights_with(tmp_path, json.dumps({"mlp_gmm": pretrained.info("mlp_gmm")}))
    with pytest.raises(ValueError) as err:
        pretrained.info("digits", folder)
    assert str(err.value) == (
        f"name must be one of 'mlp_gmm', got 'digits' (the models of manifest {str(path)!r})"
    )


@pytest.mark.parametrize("file", ["../evil.safetensors", "/tmp/evil.safetensors", "", ".hidden"])
def test_a_manifest_entry_whose_file_lies_outside_the_folder_is_refused(file, tmp_path):
    entry = pretrained.info("mlp_gmm") | {"file": file}
    folder, path = _weights_with(tmp_path, json.dumps({"mlp_gmm": entry}))
    shutil.copy(folder / "mlp_gmm.safetensors", tmp_path / "evil.safetensors")
    with pytest.raises(ValueError) as err:
        pretrained.load("mlp_gmm", folder=folder)
    assert str(err.value) == (
        f"manifest {str(path)!r}: entry 'mlp_gmm' has file {file!r}; it must be the name of a "
        "file inside the weights folder"
    )


def test_export_into_a_folder_with_a_broken_manifest_writes_nothing(tiny_run, tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "manifest.json").write_text("not json")
    named = re.escape(repr(str(folder / "manifest.json")))
    with pytest.raises(ValueError, match=f"^manifest {named} is not valid JSON"):
        pretrained.export(tiny_run, "tiny", folder=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json"]


def test_load_refuses_a_device_this_torch_cannot_use():
    with pytest.raises(ValueError, match=r"^device 'cuda:99' is not available to this torch"):
        pretrained.load("mlp_gmm", device="cuda:99")
