import ast
import hashlib
import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file

from ddim_edu import checkpoints, pretrained
from ddim_edu.schedule import (
    Schedule,
    cosine_schedule,
    get_schedule,
    linear_schedule,
    schedule_from_dict,
)
from ddim_edu.train import TrainConfig, load_run, train

NON_DEFAULT = {
    "linear beta_end=0.03": lambda: linear_schedule(1000, beta_end=0.03),
    "cosine s=0.02": lambda: cosine_schedule(1000, s=0.02, max_beta=0.99),
}


def tiny(tmp_path, **overrides):
    """A 2-D MLP run that takes well under a second per step on one CPU thread."""
    cfg = dict(
        data="moons",
        width=16,
        res_blocks=1,
        batch_size=16,
        steps=4,
        warmup=1,
        checkpoint_every=2,
        log_every=2,
        out=str(tmp_path / "run"),
        device="cpu",
    )
    cfg.update(overrides)
    return TrainConfig(**cfg)


# --- schedules round-trip ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NON_DEFAULT)
def test_a_non_default_schedule_round_trips_through_a_checkpoint_and_an_export(tmp_path, kind):
    schedule = NON_DEFAULT[kind]()
    train(tiny(tmp_path), progress=False, command="test", schedule=schedule)
    saved = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["schedule"]
    assert saved == schedule.to_dict() and saved != get_schedule(saved["name"]).to_dict()

    model = load_run(tmp_path / "run")
    assert model.schedule.to_dict() == schedule.to_dict()
    assert torch.equal(model.schedule.betas, schedule.betas)

    entry = pretrained.export(tmp_path / "run", "tiny", folder=tmp_path / "w")
    assert entry["schedule"] == schedule.to_dict()
    shipped = pretrained.load("tiny", folder=tmp_path / "w")
    assert torch.equal(shipped.schedule.alpha_bar, schedule.alpha_bar)


def test_every_parameter_is_in_the_saved_description():
    assert linear_schedule(1000, beta_end=0.03).to_dict() == {
        "name": "linear",
        "T": 1000,
        "beta_start": 1e-4,
        "beta_end": 0.03,
    }
    assert cosine_schedule(50).to_dict() == {
        "name": "cosine",
        "T": 50,
        "s": 0.008,
        "max_beta": 0.999,
    }


def test_resuming_with_another_schedule_is_refused_naming_both_values(tmp_path):
    train(tiny(tmp_path, steps=2), progress=False, schedule=linear_schedule(1000, beta_end=0.03))
    before = (tmp_path / "run" / "checkpoint.safetensors").read_bytes()
    with pytest.raises(
        ValueError,
        match=r"schedule does not match checkpoint .*checkpoint has .*'beta_end': 0\.03.*"
        r"this run asks for .*'beta_end': 0\.02",
    ):
        train(tiny(tmp_path, steps=4), progress=False)  # the default linear schedule
    assert (tmp_path / "run" / "checkpoint.safetensors").read_bytes() == before
    # the same schedule resumes
    meta = train(tiny(tmp_path, steps=4), progress=False, schedule=linear_schedule(beta_end=0.03))
    assert meta["step"] == 4


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_old_name_and_T_dicts_mean_the_defaults(name):
    old = schedule_from_dict({"name": name, "T": 1000})
    assert torch.equal(old.betas, get_schedule(name, 1000).betas)
    assert old.to_dict() == get_schedule(name, 1000).to_dict()


def test_an_old_checkpoint_loads_and_resumes_with_the_default_schedule(tmp_path):
    train(tiny(tmp_path, steps=2), progress=False)
    run = tmp_path / "run"
    meta = checkpoints.read_checkpoint_meta(run / checkpoints.CHECKPOINT)
    meta["schedule"] = {"name": "linear", "T": 1000}  # as checkpoints recorded it before
    checkpoints.write_checkpoint(run, load_file(str(run / checkpoints.CHECKPOINT)), meta)
    assert load_run(run).schedule.to_dict() == linear_schedule().to_dict()
    resumed = train(tiny(tmp_path, steps=4), progress=False)
    assert resumed["step"] == 4 and resumed["schedule"] == linear_schedule().to_dict()


def test_a_manifest_with_old_schedule_dicts_loads_with_the_defaults(tmp_path):
    folder = tmp_path / "weights"
    shutil.copytree(pretrained.WEIGHTS, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["mlp_moons"]["schedule"] = {"name": "linear", "T": 1000}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    model = pretrained.load("mlp_moons", folder=folder)
    assert torch.equal(model.schedule.betas, linear_schedule().betas)


def test_a_custom_schedule_saves_its_betas_exactly():
    betas = torch.linspace(1e-3, 0.3, 40, dtype=torch.float64) ** 1.5
    d = Schedule(betas).to_dict()
    assert d["name"] == "custom" and d["T"] == 40 and len(d["betas"]) == 40
    back = schedule_from_dict(json.loads(json.dumps(d)))
    assert torch.equal(back.betas, Schedule(betas).betas)  # bit for bit, through JSON


def test_a_custom_schedule_round_trips_through_a_checkpoint(tmp_path):
    custom = Schedule(torch.linspace(1e-3, 0.2, 50, dtype=torch.float64))
    train(tiny(tmp_path, steps=2), progress=False, schedule=custom)
    assert torch.equal(load_run(tmp_path / "run").schedule.betas, custom.betas)


@pytest.mark.parametrize(
    ("d", "match"),
    [
        ({"name": "linear"}, "schedule must be a dict with 'name' and 'T'"),
        ({"name": "sigmoid", "T": 10}, "schedule must be one of 'linear', 'cosine', got 'sigmoid'"),
        (
            {"name": "linear", "T": 10, "s": 0.1},
            "'linear' takes the parameters beta_start, beta_end",
        ),
        ({"name": "custom", "T": 3, "betas": [0.1, 0.2]}, "T=3 needs 3 betas, got 2"),
        ({"name": "custom", "T": 3}, "'custom' schedule needs exactly a list 'betas'"),
    ],
)
def test_bad_schedule_dicts_are_named(d, match):
    with pytest.raises(ValueError, match=match):
        schedule_from_dict(d)


# --- the atomic writer ------------------------------------------------------------------------------


def test_a_failed_replace_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "record.json"
    checkpoints.write_json(path, {"old": 1})

    def broken_replace(src, dst):
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk went away"):
        checkpoints.write_json(path, {"new": 2})
    assert json.loads(path.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "weights.bin"
    checkpoints.write_atomic(path, b"old bytes")

    def broken_fsync(fd):  # the new bytes are in the temporary file, not yet on the disk
        raise OSError("fsync failed")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        checkpoints.write_atomic(path, b"new bytes that never arrive")
    assert path.read_bytes() == b"old bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.bin"]


def test_a_serializer_error_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    train(tiny(tmp_path, steps=2), progress=False)
    run = tmp_path / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir()}

    def broken_save(tensors, metadata=None):
        raise RuntimeError("serializer failed")

    monkeypatch.setattr(checkpoints, "safetensors_bytes", broken_save)
    with pytest.raises(RuntimeError, match="serializer failed"):
        train(tiny(tmp_path, steps=4), progress=False)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_the_writer_writes_text_as_utf8_and_creates_folders(tmp_path):
    path = checkpoints.write_atomic(tmp_path / "a" / "b" / "note.txt", "ᾱ_t")
    assert path.read_bytes() == "ᾱ_t".encode()


def test_classifier_outputs_are_written_through_the_atomic_writer(tmp_path, monkeypatch):
    from ddim_edu.classifier import train_classifier

    written = []
    real = checkpoints.write_atomic

    def recording(path, data):
        written.append(path.name)
        return real(path, data)

    monkeypatch.setattr(checkpoints, "write_atomic", recording)
    meta = train_classifier(tmp_path / "clf", steps=2, progress=False, command="test")
    assert written == ["checkpoint.safetensors", "checkpoint.json"]
    on_disk = json.loads((tmp_path / "clf" / "checkpoint.json").read_text())
    assert on_disk["held_out_accuracy"] == meta["held_out_accuracy"]
    assert on_disk["format"] == checkpoints.FORMAT


def test_the_manifest_and_weights_of_an_export_are_written_through_the_atomic_writer(
    tmp_path, monkeypatch
):
    train(tiny(tmp_path, steps=2), progress=False)
    written = []
    real = checkpoints.write_atomic

    def recording(path, data):
        written.append(path.name)
        return real(path, data)

    monkeypatch.setattr(checkpoints, "write_atomic", recording)
    monkeypatch.setattr(pretrained, "write_atomic", recording)
    pretrained.export(tmp_path / "run", "tiny", folder=tmp_path / "w")
    assert written == ["tiny.safetensors", "manifest.json"]


# --- one place for the format and the device --------------------------------------------------------


def test_pretrained_reads_checkpoints_without_importing_train():
    tree = ast.parse(open(pretrained.__file__).read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "checkpoints" in imported and "train" not in imported


def test_train_keeps_exporting_the_checkpoint_names():
    from ddim_edu import train as train_mod

    for name in ("CHECKPOINT", "FORMAT", "load_run", "load_checkpoint", "read_checkpoint_meta"):
        assert getattr(train_mod, name) is getattr(checkpoints, name)
    assert train_mod.save_checkpoint is checkpoints.save_checkpoint


def test_checkpoints_and_results_describe_the_cpu_alike(tmp_path):
    from ddim_edu.sweep import run_metadata

    described = checkpoints.describe_device("cpu")
    assert described.startswith("CPU (") and " cores, " in described and "threads)" in described
    assert run_metadata("test", "cpu")["device"] == described
    assert train(tiny(tmp_path, steps=2), progress=False)["device"] == described


def test_schedule_parameters_come_from_the_command_line_and_round_trip(tmp_path):
    from ddim_edu.__main__ import main

    out = tmp_path / "run"
    argv = ["train", "--data", "moons", "--width", "16", "--res-blocks", "1", "--batch-size", "16"]
    argv += ["--steps", "2", "--warmup", "1", "--beta-end", "0.03", "--out", str(out)]
    assert main([*argv, "--no-progress", "--device", "cpu"]) == 0
    saved = json.loads((out / "checkpoint.json").read_text())["schedule"]
    assert saved == {"name": "linear", "T": 1000, "beta_start": 1e-4, "beta_end": 0.03}
    assert load_run(out).schedule.to_dict() == saved


def test_a_parameter_of_another_schedule_is_refused_by_its_flag():
    with pytest.raises(ValueError, match=r"--beta-end does not apply to the 'cosine' schedule"):
        TrainConfig(schedule="cosine", beta_end=0.03)
    with pytest.raises(ValueError, match=r"--cosine-s does not apply to the 'linear' schedule"):
        TrainConfig(cosine_s=0.01)
    with pytest.raises(ValueError, match=r"schedule must be one of 'linear', 'cosine', got 'sqrt'"):
        TrainConfig(schedule="sqrt")
    assert TrainConfig(schedule="cosine", cosine_s=0.01).schedule_params() == {"s": 0.01}


# --- checksums and the record -----------------------------------------------------------------------


def flip_byte(path, offset):
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def test_a_flipped_byte_in_a_run_checkpoint_is_refused_naming_the_file(tmp_path):
    train(tiny(tmp_path, steps=2), progress=False)
    run = tmp_path / "run"
    path = run / checkpoints.CHECKPOINT
    record = json.loads((run / checkpoints.CHECKPOINT_JSON).read_text())
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    flip_byte(path, -100)  # inside the tensors: the file still parses
    load_file(str(path))
    message = rf"checkpoint '{path}' does not match the sha256 recorded in '.*checkpoint.json'"
    with pytest.raises(ValueError, match=message):
        load_run(run)
    with pytest.raises(ValueError, match=message):
        train(tiny(tmp_path, steps=4), progress=False)  # nor is it resumed
    from ddim_edu import pretrained

    with pytest.raises(ValueError, match=message):  # nor exported with a fresh sha256
        pretrained.export(run, "damaged", folder=tmp_path / "weights")
    assert not (tmp_path / "weights" / "damaged.safetensors").exists()


def test_a_flipped_byte_in_the_header_is_refused_naming_the_file(tmp_path):
    train(tiny(tmp_path, steps=2), progress=False)
    path = tmp_path / "run" / checkpoints.CHECKPOINT
    raw = path.read_bytes()
    flip_byte(path, raw.index(b'"step"') + 8)  # a digit of the step: still valid JSON
    with pytest.raises(ValueError, match=rf"checkpoint '{path}' does not match the sha256"):
        load_run(tmp_path / "run")


def test_a_run_folder_without_or_with_a_bad_checkpoint_json_is_named(tmp_path):
    train(tiny(tmp_path, steps=2), progress=False)
    run = tmp_path / "run"
    record = run / checkpoints.CHECKPOINT_JSON
    text = record.read_text()
    record.unlink()
    with pytest.raises(ValueError, match=rf"'{record}' is missing: a run folder keeps the record"):
        load_run(run)
    with pytest.raises(ValueError, match=rf"'{record}' is missing"):
        train(tiny(tmp_path, steps=4), progress=False)
    record.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=rf"'{record}' is not valid JSON: "):
        load_run(run)
    record.write_text("[1, 2]")
    with pytest.raises(ValueError, match=rf"'{record}' must hold a JSON object, got list"):
        load_run(run)
    (run / checkpoints.CHECKPOINT).unlink()
    with pytest.raises(ValueError, match=r"no checkpoint at '.*', although '.*checkpoint.json'"):
        train(tiny(tmp_path, steps=4), progress=False)


def test_a_save_interrupted_between_the_two_files_still_resumes(tmp_path, capsys):
    """The safetensors file checks itself (content_sha256), so a record one save behind (the run
    was killed between the two renames) is reported, not taken for damage."""
    train(tiny(tmp_path, steps=2), progress=False)
    run = tmp_path / "run"
    old_record = (run / checkpoints.CHECKPOINT_JSON).read_text()
    train(tiny(tmp_path, steps=4), progress=False)
    (run / checkpoints.CHECKPOINT_JSON).write_text(old_record)
    assert load_run(run).step == 4
    assert "checkpoint.json is older than" in capsys.readouterr().err
    assert train(tiny(tmp_path, steps=6), progress=False)["step"] == 6


def test_a_checkpoint_from_before_checksums_still_loads(tmp_path):
    train(tiny(tmp_path, steps=2), progress=False)
    run = tmp_path / "run"
    meta = checkpoints.read_checkpoint_meta(run / checkpoints.CHECKPOINT)
    header = {k: json.dumps(v) for k, v in meta.items()}
    tensors = load_file(str(run / checkpoints.CHECKPOINT))
    checkpoints.write_safetensors(run / checkpoints.CHECKPOINT, tensors, header)
    checkpoints.write_json(run / checkpoints.CHECKPOINT_JSON, meta)  # no sha256
    assert load_run(run).step == 2


# --- resume: the same run or none -------------------------------------------------------------------

CHANGED = [  # (option, value, what the message shows for the checkpoint and for this run)
    ("data", "swissroll", "--data", "'moons'", "'swissroll'"),
    ("seed", 1, "--seed", "0", "1"),
    ("batch_size", 8, "--batch-size", "16", "8"),
    ("lr", 2e-3, "--lr", "0.001", "0.002"),
    ("warmup", 2, "--warmup", "1", "2"),
    ("decay", 2, "--decay", "0", "2"),
    ("weight_decay", 0.1, "--weight-decay", "0.0", "0.1"),
    ("grad_clip", 0.5, "--grad-clip", "1.0", "0.5"),
    ("ema_decay", 0.99, "--ema-decay", "0.999", "0.99"),
    ("dropout", 0.1, "--dropout", "0.0", "0.1"),
    ("label_dropout", 0.2, "--label-dropout", "0.1", "0.2"),
    ("width", 24, "--width", "16", "24"),
    ("res_blocks", 2, "--res-blocks", "1", "2"),
    ("T", 500, "--T", "1000", "500"),
    ("prediction", "v", "--prediction", "'eps'", "'v'"),
    ("schedule", "cosine", "--schedule", "'linear'", "'cosine'"),
    ("attention", False, "--no-attention", "attention=True", "attention=False"),
]


def test_resuming_with_any_changed_option_is_refused_naming_the_flag_and_both_values(tmp_path):
    train(tiny(tmp_path, steps=2), progress=False)
    run = tmp_path / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    for name, value, flag, old, new in CHANGED:
        with pytest.raises(ValueError) as refused:
            train(tiny(tmp_path, steps=4, **{name: value}), progress=False)
        assert str(refused.value).startswith(
            f"{flag} does not match checkpoint '{run / checkpoints.CHECKPOINT}': checkpoint has "
            f"{old}, this run asks for {new}; "
        ), str(refused.value)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_a_resume_may_change_how_often_it_saves_and_logs_and_keeps_the_record(tmp_path):
    train(tiny(tmp_path, steps=2), progress=False, command="first")
    meta = train(
        tiny(tmp_path, steps=6, log_every=1, checkpoint_every=3, device="auto"),
        progress=False,
        command="second",
    )
    assert meta["step"] == 6 and [s for s, _ in meta["history"]] == [2, 3, 4, 5, 6]
    saved = json.loads((tmp_path / "run" / checkpoints.CHECKPOINT_JSON).read_text())
    assert saved["command"] == "first" and saved["train"]["steps"] == 2  # as first started
    assert saved["train"]["log_every"] == 2 and saved["data"].startswith("moons")
    assert [(r["command"], r["from_step"], r["steps"]) for r in saved["resumes"]] == [
        ("second", 2, 6)
    ]


def test_steps_may_change_on_resume_only_where_the_decay_has_not_begun(tmp_path, monkeypatch):
    from ddim_edu import train as train_mod

    # interrupted at step 4 of 20, with the decay over the last 4 steps: 20 may become 30
    real_step = train_mod._train_step

    def stop_at_4(cfg, step, *args):
        if step == 4:
            raise KeyboardInterrupt
        return real_step(cfg, step, *args)

    monkeypatch.setattr(train_mod, "_train_step", stop_at_4)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(tmp_path, steps=20, decay=4), progress=False)
    monkeypatch.setattr(train_mod, "_train_step", real_step)
    assert train(tiny(tmp_path, steps=8, decay=4), progress=False)["step"] == 8
    # the run went on to --steps 8 and decayed over steps 5..7: another --steps would change them
    with pytest.raises(
        ValueError,
        match=r"--steps does not match checkpoint .*: checkpoint has 8, this run asks for 12; "
        r"with --decay 4 .*resume with --steps 8",
    ):
        train(tiny(tmp_path, steps=12, decay=4), progress=False)
    # without decay --steps may grow
    train(tiny(tmp_path / "b", steps=2), progress=False)
    assert train(tiny(tmp_path / "b", steps=4), progress=False)["step"] == 4


def test_an_image_folder_that_changed_is_other_data(tmp_path, monkeypatch):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(8):
        Image.new("L", (8, 8), 30 * i).save(folder / f"{i}.png")
    opts = dict(data=str(folder), width=8, channel_mults=(1,), attention=False)
    train(tiny(tmp_path, steps=2, **opts), progress=False)
    monkeypatch.chdir(tmp_path)  # the same folder, named relatively, is the same data
    assert train(tiny(tmp_path, steps=3, **{**opts, "data": "images"}), False)["step"] == 3
    Image.new("L", (8, 8), 255).save(folder / "8.png")
    with pytest.raises(
        ValueError,
        match=r"--data 'images' is not the data of checkpoint .*: it was trained on "
        r"'folder:.*images: 8 images of shape \(1, 8, 8\)', this run loads 'folder:images: 9 images",
    ):
        train(tiny(tmp_path, steps=4, **{**opts, "data": "images"}), progress=False)
