"""Training and sweeps under torchrun: 2 gloo processes on the CPU, small sizes.

Each multi-process test launches ``python -m torch.distributed.run --standalone`` exactly as a
user would (``torchrun``), with one thread per process.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ddim_edu import distributed
from ddim_edu.train import read_checkpoint_meta

TRAIN = [
    "train",
    "--data",
    "digits",
    "--width",
    "8",
    "--res-blocks",
    "1",
    "--batch-size",
    "32",
    "--lr",
    "3e-3",
    "--warmup",
    "10",
    "--checkpoint-every",
    "30",
    "--device",
    "cpu",
    "--no-progress",
]
SWEEP = ["sweep", "--model", "mlp_gmm", "--samples", "400", "--steps", "10,20", "--etas", "0,1"]
SWEEP += ["--device", "cpu", "--no-progress"]


def env():
    e = dict(os.environ, OMP_NUM_THREADS="1", DDIM_EDU_DIST_TIMEOUT="60")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        e.pop(k, None)
    return e


def torchrun(args, cwd, nproc=2, script=None, timeout=240):
    """Run ``torchrun --standalone --nproc_per_node=nproc -m ddim_edu *args`` (or a script)."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    launch += [f"--nproc_per_node={nproc}"]
    target = [str(script)] if script else ["-m", "ddim_edu"]
    return subprocess.run(
        launch + target + list(args),
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def single(args, cwd, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "ddim_edu", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def weights(out, prefix="model."):
    tensors = load_file(str(Path(out) / "checkpoint.safetensors"))
    return {k: v for k, v in tensors.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same 60-step training with 2 processes and with 1 (global batch 32 in both)."""
    root = tmp_path_factory.mktemp("ddp")
    two = torchrun([*TRAIN, "--steps", "60", "--out", "two"], root)
    assert two.returncode == 0, two.stderr[-3000:]
    one = single([*TRAIN, "--steps", "60", "--out", "one"], root)
    assert one.returncode == 0, one.stderr[-3000:]
    return root, two


def test_two_ranks_hold_identical_weights_and_the_loss_fell(runs):
    root, proc = runs
    meta = json.loads((root / "two" / "checkpoint.json").read_text())
    assert meta["world_size"] == 2 and meta["step"] == 60
    digests = meta["rank_weights_sha256"]
    assert len(digests) == 2 and digests[0] == digests[1]
    first, last = meta["history"][0][1], meta["history"][-1][1]
    assert last < 0.8 * first, meta["history"]
    # rank 0 alone prints: the summary line appears once
    assert proc.stdout.count("parameters on") == 1, proc.stdout


def predictions(out, weights="model"):
    """The network's eps prediction on a fixed batch of (x_t, t)."""
    from ddim_edu.train import load_run

    model = load_run(out, weights)
    gen = torch.Generator().manual_seed(0)
    x, t = torch.randn(256, 1, 8, 8, generator=gen), torch.randint(0, 1000, (256,), generator=gen)
    with torch.no_grad():
        return model(x, t)


def test_two_processes_match_one_process_with_the_same_global_batch(runs):
    """Same function within 1e-4 (measured: 3e-6 after 60 steps), same logged losses.

    Only the order of the gradient sum differs (two half-batch means vs one mean). Individual
    parameters can differ more where the loss does not depend on them (a bias right before a
    GroupNorm has a zero gradient up to rounding, which Adam rescales to a full-size step), so
    the comparison is on what the network computes, not on its parameters.
    """
    root, _ = runs
    for w in ("model", "ema"):
        a, b = predictions(root / "one", w), predictions(root / "two", w)
        assert float((a - b).abs().max()) < 1e-4, (w, float((a - b).abs().max()))
    loss_one = json.loads((root / "one" / "checkpoint.json").read_text())["history"]
    loss_two = json.loads((root / "two" / "checkpoint.json").read_text())["history"]
    assert [s for s, _ in loss_one] == [s for s, _ in loss_two]
    assert all(abs(x - y) < 1e-4 for (_, x), (_, y) in zip(loss_one, loss_two))


def test_a_two_process_checkpoint_resumes_with_one_process(runs, tmp_path):
    root, _ = runs
    import shutil

    shutil.copytree(root / "two", tmp_path / "two")
    shutil.copytree(root / "one", tmp_path / "one")
    resumed = single([*TRAIN, "--steps", "90", "--out", "two"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from step 60" in resumed.stdout
    straight = single([*TRAIN, "--steps", "90", "--out", "one"], tmp_path)
    assert straight.returncode == 0, straight.stderr[-3000:]
    meta = read_checkpoint_meta(tmp_path / "two" / "checkpoint.safetensors")
    assert meta["step"] == 90 and meta["world_size"] == 1
    a, b = predictions(tmp_path / "one"), predictions(tmp_path / "two")
    assert float((a - b).abs().max()) < 1e-4


def test_the_distributed_sweep_equals_the_single_process_sweep(tmp_path):
    two = torchrun([*SWEEP, "--out", "two.json"], tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    one = single([*SWEEP, "--out", "one.json"], tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    a = json.loads((tmp_path / "one.json").read_text())
    b = json.loads((tmp_path / "two.json").read_text())
    assert a["grid"]["values"] == b["grid"]["values"]
    assert a["grid"]["floor"] == b["grid"]["floor"]
    assert b["meta"]["world_size"] == 2 and b["meta"]["command"].startswith("torchrun")
    assert sorted({r for row in b["grid"]["rank"] for r in row}) == [0, 1]  # both ranks worked
    assert (tmp_path / "two.png").stat().st_size > 10_000


def test_more_processes_than_grid_cells_is_refused_on_every_rank(tmp_path):
    proc = torchrun(
        ["sweep", "--model", "mlp_gmm", "--samples", "50", "--steps", "10", "--etas", "0"],
        tmp_path,
    )
    assert proc.returncode != 0
    assert "2 processes for a grid of 1 cells" in proc.stderr
    assert "--nproc_per_node=1 or fewer" in proc.stderr


def test_a_data_folder_that_one_rank_cannot_read_stops_every_rank(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(8):
        Image.new("RGB", (8, 8), (30 * i, 0, 0)).save(folder / f"{i}.png")
    # rank 1 behaves as on a machine where the folder is not mounted
    script = tmp_path / "worker.py"
    script.write_text(
        "import os, sys\n"
        "from ddim_edu import data\n"
        "if os.environ['RANK'] == '1':\n"
        "    def hidden(path, *args, **kwargs):\n"
        "        raise ValueError(f'image folder {str(path)!r} does not exist or is not a folder')\n"
        "    data.load_image_folder = hidden\n"
        "from ddim_edu.__main__ import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    args = ["train", "--data", str(folder), "--width", "8", "--steps", "5"]
    args += ["--batch-size", "4", "--out", "run", "--device", "cpu", "--no-progress"]
    start = time.perf_counter()
    proc = torchrun(args, tmp_path, script=script, timeout=120)
    assert proc.returncode != 0
    assert f"loading data {str(folder)!r} failed on rank(s) 1 of 2" in proc.stderr, proc.stderr
    assert "every rank must see the same files" in proc.stderr
    assert proc.stderr.count("error: loading data") == 1  # said once, by rank 0
    assert time.perf_counter() - start < 60  # nobody waited for a collective timeout
    assert not (tmp_path / "run").exists()


def test_an_interrupted_run_leaves_a_valid_checkpoint_that_resumes(tmp_path):
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    args = [*TRAIN, "--steps", "100000", "--checkpoint-every", "10", "--out", "run"]
    proc = subprocess.Popen(
        launch + ["-m", "ddim_edu", *args],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    meta_file = tmp_path / "run" / "checkpoint.json"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if (
                meta_file.exists()
                and json.loads(meta_file.read_text() or "{}").get("step", 0) >= 30
            ):
                break
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint at step 30 within 2 minutes")
    finally:
        # what a job scheduler or Ctrl-C does: torchrun passes the signal on to its workers
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode != 0
    step = read_checkpoint_meta(tmp_path / "run" / "checkpoint.safetensors")["step"]
    time.sleep(1.0)  # no worker outlived torchrun: the checkpoint no longer moves
    meta = read_checkpoint_meta(tmp_path / "run" / "checkpoint.safetensors")
    assert meta["step"] == step
    assert step >= 30 and step % 10 == 0
    tensors = load_file(str(tmp_path / "run" / "checkpoint.safetensors"))
    assert all(torch.isfinite(v).all() for v in tensors.values() if v.is_floating_point())
    resumed = single([*TRAIN, "--steps", str(step + 10), "--out", "run"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from step {step}" in resumed.stdout
    assert read_checkpoint_meta(tmp_path / "run" / "checkpoint.safetensors")["step"] == step + 10


# --- the pieces, in one process ------------------------------------------------------------------


def test_split_cells_balances_work_and_gives_every_rank_a_cell():
    costs = [10.0, 20, 50, 100, 1000] * 5
    owned = distributed.split_cells(costs, 4)
    assert sorted(c for part in owned for c in part) == list(range(25))
    loads = [sum(costs[c] for c in part) for part in owned]
    assert max(loads) == 2000  # two S = 1000 cells on each of the busiest ranks
    assert min(loads) >= 1000
    assert all(part for part in distributed.split_cells([1.0, 1.0, 1.0], 3))
    with pytest.raises(distributed.DistributedError, match="4 processes for a grid of 3 cells"):
        distributed.split_cells([1.0, 1.0, 1.0], 4)


def test_shard_splits_the_global_batch_and_names_a_bad_batch_size():
    ctx = distributed.Context(rank=1, world=4)
    assert distributed.shard(ctx, 32) == slice(8, 16)
    with pytest.raises(
        distributed.DistributedError,
        match=r"batch_size=30 must be divisible by the number of processes \(4\)",
    ):
        distributed.shard(ctx, 30)


def test_shards_of_the_loss_add_up_to_the_global_loss():
    from ddim_edu.schedule import linear_schedule
    from ddim_edu.train import diffusion_loss, step_generator

    torch.manual_seed(0)
    model = torch.nn.Conv2d(1, 1, 3, padding=1)
    net = lambda x, t: model(x)  # noqa: E731
    x0 = torch.randn(12, 1, 8, 8)
    sched = linear_schedule()
    full = diffusion_loss(net, x0, sched, "eps", step_generator(0, 3))
    parts = [
        diffusion_loss(net, x0[4 * r : 4 * r + 4], sched, "eps", step_generator(0, 3), shard=(r, 3))
        for r in range(3)
    ]
    assert torch.allclose(sum(parts) / 3, full, rtol=1e-6)


def test_inconsistent_torchrun_environment_is_named(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(distributed.DistributedError, match="RANK=5 and WORLD_SIZE=2"):
        distributed.env_world()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(distributed.DistributedError, match="RANK must be an integer"):
        distributed.env_world()


def test_agree_raises_one_rank_errors_in_a_single_process():
    distributed.agree(distributed.SINGLE, None, "loading")
    with pytest.raises(distributed.DistributedError, match="loading failed: boom"):
        distributed.agree(distributed.SINGLE, "boom", "loading")
