import json

import pytest
import torch
from safetensors.torch import load_file

import ddim_edu.train as train_mod
from ddim_edu.__main__ import build_parser
from ddim_edu.train import NonFiniteLossError, TrainConfig, load_run, train


def tiny(tmp_path, **overrides):
    cfg = dict(
        data="digits",
        width=16,
        res_blocks=1,
        batch_size=32,
        steps=40,
        lr=2e-3,
        warmup=5,
        checkpoint_every=20,
        log_every=10,
        out=str(tmp_path / "run"),
        device="cpu",
    )
    cfg.update(overrides)
    return TrainConfig(**cfg)


@pytest.mark.slow
def test_a_few_hundred_steps_lower_the_loss_on_digits(tmp_path):
    meta = train(tiny(tmp_path, steps=200, log_every=20, checkpoint_every=200), progress=False)
    first, last = meta["history"][0][1], meta["history"][-1][1]
    assert last < 0.6 * first, meta["history"]
    model = load_run(tmp_path / "run")
    assert not model.training and model.schedule.T == 1000
    assert model(torch.zeros(2, 1, 8, 8), torch.tensor([0, 999])).shape == (2, 1, 8, 8)


def test_a_few_hundred_steps_lower_the_loss_on_2d_points(tmp_path):
    meta = train(
        tiny(tmp_path, data="moons", width=64, steps=300, batch_size=256, log_every=30),
        progress=False,
    )
    first, last = meta["history"][0][1], meta["history"][-1][1]
    assert last < 0.8 * first, meta["history"]


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    straight = train(tiny(tmp_path / "a", steps=40), progress=False)
    train(tiny(tmp_path / "b", steps=20), progress=False)
    resumed = train(tiny(tmp_path / "b", steps=40), progress=False)
    assert resumed["step"] == straight["step"] == 40
    a = load_file(str(tmp_path / "a" / "run" / "checkpoint.safetensors"))
    b = load_file(str(tmp_path / "b" / "run" / "checkpoint.safetensors"))
    assert a.keys() == b.keys()
    assert any(k.startswith("optim.") for k in a) and any(k.startswith("ema.") for k in a)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert resumed["history"] == straight["history"]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = tiny(tmp_path, steps=20)
    train(cfg, progress=False)
    path = tmp_path / "run" / "checkpoint.safetensors"
    before = path.read_bytes()
    real_loss = train_mod.diffusion_loss
    calls = {"n": 0}

    def exploding(*args, **kwargs):
        calls["n"] += 1
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] > 5 else loss

    monkeypatch.setattr(train_mod, "diffusion_loss", exploding)
    with pytest.raises(
        NonFiniteLossError,
        match=r"loss became nan at step 25; stopped without saving.*step 20\) is unchanged",
    ):
        train(tiny(tmp_path, steps=40), progress=False)
    assert path.read_bytes() == before
    assert not (tmp_path / "run" / "checkpoint.safetensors.tmp").exists()


def test_resuming_with_another_model_config_is_refused(tmp_path):
    train(tiny(tmp_path, steps=20), progress=False)
    with pytest.raises(
        ValueError,
        match=r"--width does not match checkpoint .*: checkpoint has 16, this run asks for 24",
    ):
        train(tiny(tmp_path, steps=40, width=24), progress=False)


def test_resuming_with_another_objective_or_schedule_is_refused(tmp_path):
    train(tiny(tmp_path, steps=20), progress=False)
    with pytest.raises(ValueError, match="prediction does not match checkpoint .*'eps'.*'v'"):
        train(tiny(tmp_path, steps=40, prediction="v"), progress=False)
    with pytest.raises(ValueError, match="schedule does not match checkpoint .*'cosine'"):
        train(tiny(tmp_path, steps=40, schedule="cosine"), progress=False)
    assert (
        json.loads((tmp_path / "run" / "checkpoint.json").read_text())["step"] == 20
    )  # left as it was


def test_checkpoint_json_records_config_step_and_seed(tmp_path):
    train(tiny(tmp_path, steps=20, seed=7), progress=False)
    meta = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert meta["step"] == 20 and meta["train"]["seed"] == 7
    assert meta["model"]["kind"] == "unet" and meta["model"]["base_channels"] == 16
    assert meta["schedule"] == {"name": "linear", "T": 1000, "beta_start": 1e-4, "beta_end": 0.02}


def test_bad_training_options():
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="prediction must be one of 'eps', 'x0', 'v'"):
        TrainConfig(prediction="score")
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got 'a'"):
        TrainConfig(lr="a")
    for bad in (-1.0, 0.0, float("nan")):  # a negative clip would reverse the gradient, 0 zero it
        with pytest.raises(ValueError, match="grad_clip must be a finite number > 0"):
            TrainConfig(grad_clip=bad)
    with pytest.raises(ValueError, match="warmup must be an integer >= 0 \\(steps\\), got -5"):
        TrainConfig(warmup=-5)
    with pytest.raises(ValueError, match="decay must be an integer >= 0"):
        TrainConfig(decay=-3)
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0, got -0.5"):
        TrainConfig(weight_decay=-0.5)


def test_train_help_explains_every_option(capsys):
    import dataclasses
    import re

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    fields = [f for f in dataclasses.fields(TrainConfig) if f.name != "extra"]  # extra: free notes
    assert len(fields) >= 28 and {"dropout", "flip", "log_every"} <= {f.name for f in fields}
    for f in fields:
        assert f.metadata.get("help"), f"TrainConfig.{f.name} has no help text"
        flag = ("--no-" if f.default is True else "--") + f.name.replace("_", "-")
        assert re.search(re.escape(flag) + r"\s", text), flag
    assert "folder of PNG/JPEG images" in " ".join(text.split())


def test_v_target_is_the_velocity_that_eps_and_x0_inverts():
    from ddim_edu.forward import v_target
    from ddim_edu.sampling import eps_and_x0

    x0 = torch.randn(4, 3, dtype=torch.float64)
    eps = torch.randn(4, 3, dtype=torch.float64)
    a = torch.tensor([0.9, 0.5, 0.2, 0.01], dtype=torch.float64)[:, None]  # one level per row
    v = v_target(x0, eps, a)
    assert v.shape == (4, 3)
    for i in range(4):
        ai = float(a[i])
        torch.testing.assert_close(v[i], v_target(x0[i], eps[i], ai), rtol=0, atol=1e-15)
        x_t = ai**0.5 * x0[i] + (1 - ai) ** 0.5 * eps[i]
        e, z = eps_and_x0(v[i], x_t, ai, "v")
        torch.testing.assert_close(e, eps[i])
        torch.testing.assert_close(z, x0[i])
    # at alpha_bar = 1 (clean data) v is the noise, at alpha_bar = 0 it is -x_0
    assert torch.equal(v_target(x0, eps, 1.0), eps) and torch.equal(v_target(x0, eps, 0.0), -x0)


def test_learning_rate_warms_up_and_decays_to_zero():
    from ddim_edu.train import learning_rate

    cfg = TrainConfig(lr=1e-3, warmup=100, steps=1000, decay=400)
    assert learning_rate(cfg, 0) == pytest.approx(1e-5)
    assert learning_rate(cfg, 99) == pytest.approx(1e-3)
    assert learning_rate(cfg, 600) == pytest.approx(1e-3)
    assert learning_rate(cfg, 800) == pytest.approx(0.5e-3)
    assert learning_rate(cfg, 999) == pytest.approx(1e-3 / 400)
    assert learning_rate(TrainConfig(lr=1e-3, warmup=1, steps=1000), 999) == pytest.approx(1e-3)


# --- the run folder: checked and locked before any step ---------------------------------------------


def counting_loss(monkeypatch):
    """Count the training losses computed (the steps taken)."""
    calls = {"n": 0}
    real = train_mod.diffusion_loss

    def counted(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "diffusion_loss", counted)
    return calls


def test_an_out_that_is_a_file_is_refused_before_any_step(tmp_path, monkeypatch):
    calls = counting_loss(monkeypatch)
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(ValueError, match=r"--out '.*run' is a file, not a folder"):
        train(tiny(tmp_path), progress=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"--out '.*file/run' cannot be created: Not a directory"):
        train(tiny(tmp_path, out=str(tmp_path / "file" / "run")), progress=False)
    assert calls["n"] == 0
    assert (tmp_path / "run").read_text() == "not a folder"


def test_an_out_that_cannot_be_written_is_refused_before_any_step(tmp_path, monkeypatch):
    import os

    calls = counting_loss(monkeypatch)
    out = tmp_path / "run"
    out.mkdir()
    out.chmod(0o555)
    if os.access(out, os.W_OK):  # root writes anyway: make the folder refuse as a read-only one
        real_open = os.open

        def read_only(path, flags, *args, **kwargs):
            if os.path.dirname(os.fspath(path)) == str(out) and flags & os.O_CREAT:
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", read_only)
    try:
        with pytest.raises(ValueError, match=r"--out '.*run' cannot be written: Permission denied"):
            train(tiny(tmp_path), progress=False)
    finally:
        out.chmod(0o755)
    assert calls["n"] == 0 and list(out.iterdir()) == []


def test_a_second_trainer_on_the_same_folder_is_refused_at_once(tmp_path, monkeypatch):
    """A live process holds the folder: refused naming the folder and its pid; once that process
    is killed, its lock is reported as stale (with its pid) and taken over."""
    import os
    import subprocess
    import sys

    out = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from ddim_edu.checkpoints import lock_run\n"
            "lock = lock_run(sys.argv[1])\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        calls = counting_loss(monkeypatch)
        with pytest.raises(
            ValueError,
            match=rf"run folder '{out}' is in use by another trainer \(pid {holder.pid} on ",
        ):
            train(tiny(tmp_path, steps=2), progress=False)
        assert calls["n"] == 0
        assert json.loads((out / "train.lock").read_text())["pid"] == holder.pid  # still held
    finally:
        holder.kill()  # as SIGKILL or a power cut does: the lock file stays behind
        holder.wait()
    assert json.loads((out / "train.lock").read_text())["pid"] == holder.pid


def test_a_stale_lock_is_reported_with_its_pid_and_taken_over(tmp_path, capsys):
    import socket
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now names no process
    out = tmp_path / "run"
    out.mkdir()
    lock = {"pid": dead.pid, "host": socket.gethostname(), "started": "2024-01-01 00:00:00"}
    (out / "train.lock").write_text(json.dumps(lock))
    meta = train(tiny(tmp_path, steps=2, checkpoint_every=2, log_every=2), progress=False)
    assert meta["step"] == 2
    err = capsys.readouterr().err
    assert f"train.lock is a stale lock: pid {dead.pid} on {socket.gethostname()}" in err
    assert "no longer runs" in err and "taking it over" in err
    assert not (out / "train.lock").exists()  # released at the end


def test_a_lock_taken_on_another_host_is_refused_with_instructions(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    lock = {"pid": 4242, "host": "elsewhere", "started": "2024-01-01 00:00:00"}
    (out / "train.lock").write_text(json.dumps(lock))
    with pytest.raises(
        ValueError,
        match=r"locked by pid 4242 on host 'elsewhere' .*cannot be checked from here; if no "
        r"trainer runs there any more, delete '.*train.lock'",
    ):
        train(tiny(tmp_path, steps=2), progress=False)
    assert json.loads((out / "train.lock").read_text()) == lock


def test_the_lock_is_released_after_a_run_and_after_an_error(tmp_path, monkeypatch):
    train(tiny(tmp_path, steps=2, checkpoint_every=2, log_every=2), progress=False)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "checkpoint.json",
        "checkpoint.safetensors",
    ]

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(train_mod, "diffusion_loss", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        train(tiny(tmp_path, out=str(tmp_path / "new" / "run"), steps=2), progress=False)
    assert not (tmp_path / "new").exists()  # the folders it made, empty, are gone with the lock
    with pytest.raises(RuntimeError, match="out of memory"):
        train(tiny(tmp_path, steps=4, checkpoint_every=2, log_every=2), progress=False)
    assert not (tmp_path / "run" / "train.lock").exists()


# --- exact resume with dropout ----------------------------------------------------------------------


def test_an_interrupted_run_with_dropout_resumes_bit_for_bit(tmp_path):
    opts = dict(steps=4, dropout=0.1, checkpoint_every=2, log_every=2)
    train(tiny(tmp_path / "a", **opts), progress=False)
    train(tiny(tmp_path / "b", **{**opts, "steps": 2}), progress=False)
    resumed = train(tiny(tmp_path / "b", **opts), progress=False)
    assert resumed["step"] == 4
    a = load_file(str(tmp_path / "a" / "run" / "checkpoint.safetensors"))
    b = load_file(str(tmp_path / "b" / "run" / "checkpoint.safetensors"))
    assert a.keys() == b.keys() and "rng.0.cpu" in a
    for k in a:
        assert torch.equal(a[k], b[k]), k


# --- non-finite values: checked after the update, before the checkpoint ------------------------------


def test_diverged_weights_are_never_saved_and_the_message_says_none_was(tmp_path):
    """With --lr 3e37 the first loss is finite but the update makes weights of about 3e37: the
    loss after the update is checked before the first checkpoint, which is never written."""
    cfg = tiny(tmp_path, data="moons", lr=3e37, warmup=1, steps=4, checkpoint_every=1, log_every=1)
    with pytest.raises(NonFiniteLossError) as stop:
        train(cfg, progress=False)
    message = str(stop.value)
    assert message.startswith("after the update of step 0 the loss became ")
    assert "the weights diverged; checked before saving them" in message
    assert f"No checkpoint was written to {tmp_path / 'run'}: the run stopped" in message
    assert "last good checkpoint" not in message
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()


def test_non_finite_weights_after_an_update_keep_the_last_good_checkpoint(tmp_path, monkeypatch):
    train(tiny(tmp_path, data="moons", steps=2, checkpoint_every=2, log_every=2), progress=False)
    path = tmp_path / "run" / "checkpoint.safetensors"
    before = path.read_bytes()
    real_step = train_mod._train_step

    def poisoned(cfg, step, data, rows, net, model, *args):
        loss = real_step(cfg, step, data, rows, net, model, *args)  # a finite loss
        if step == 3:
            with torch.no_grad():
                next(model.parameters()).fill_(float("inf"))
        return loss

    monkeypatch.setattr(train_mod, "_train_step", poisoned)
    with pytest.raises(
        NonFiniteLossError,
        match=r"^the weights became non-finite in the update of step 3; stopped without saving\. "
        r"The last good checkpoint \(.*checkpoint.safetensors, step 2\) is unchanged",
    ):
        train(tiny(tmp_path, data="moons", steps=4, checkpoint_every=2, log_every=2), False)
    assert path.read_bytes() == before


def test_an_update_that_overflows_float32_ends_in_the_package_error(tmp_path, capsys):
    from ddim_edu.__main__ import main

    cfg = tiny(tmp_path, data="moons", lr=1e38, warmup=1, steps=2)
    with pytest.raises(
        NonFiniteLossError,
        match=r"^the update of step 0 overflowed float32 at learning rate 1e\+38 .*; stopped "
        r"without saving\. No checkpoint was written to .*Try a smaller --lr\.$",
    ):
        train(cfg, progress=False)
    argv = ["train", "--data", "moons", "--width", "16", "--res-blocks", "1", "--steps", "2"]
    argv += ["--batch-size", "16", "--warmup", "1", "--lr", "1e38", "--device", "cpu"]
    assert main([*argv, "--out", str(tmp_path / "cli"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the update of step 0 overflowed float32") and err.count("\n") == 1
    assert "Traceback" not in err
