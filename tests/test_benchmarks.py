import importlib.util
import json
from pathlib import Path

import pytest

from ddim_edu import records

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_digits_quality_script_writes_its_record_at_tiny_size(tmp_path):
    script = load_script("digits_quality")
    out = tmp_path / "q.json"
    record = script.main(
        [
            "--n",
            "100",
            "--n-headline",
            "100",
            "--steps",
            "10",
            "--out",
            str(out),
            "--figures",
            str(tmp_path),
        ]
    )
    saved = json.loads(out.read_text())
    assert saved["grid"]["steps"] == [10] and len(saved["grid"]["values"]) == 5
    assert saved["headline"]["n"] == 100 and saved["meta"]["n_per_cell"] == 100
    assert set(saved["checks"]) == {
        "fid_below_3x_floor",
        "confident_at_least_90pct",
        "class_tv_below_0.05",
        "S10_eta0_beats_eta1",
        "S10_eta1_beats_sigma_hat",
        "S10_eta0_best",
    }  # one column of S: no claim about the spread shrinking with S
    assert saved["meta"]["command"].endswith(
        "--steps 10 --out " + str(out) + " --figures " + str(tmp_path)
    )
    assert record["grid"]["values"] == saved["grid"]["values"]
    assert (tmp_path / "digits_samples.png").exists() and (tmp_path / "digits_quality.png").exists()


def test_stored_results_carry_their_provenance():
    saved = records.load("digits_quality")
    for key in ("device", "date", "command", "n_per_cell", "wall_s"):
        assert key in saved["meta"]
    assert saved["grid"]["steps"] == [10, 20, 50, 100, 1000]
    checks = saved["checks"]
    assert checks["S10_eta0_beats_eta1"] and checks["S10_eta1_beats_sigma_hat"]
    assert checks["spread_shrinks_with_S"]
    script = load_script("digits_quality")
    grid = saved["grid"]
    assert script.grid_checks(grid["values"], grid["etas"], grid["steps"]).items() <= checks.items()
    assert saved["meta"]["n_per_cell"] == 10000 and saved["meta"]["device"].startswith("NVIDIA")


@pytest.mark.slow
def test_sampler_speed_script_at_tiny_size(tmp_path):
    script = load_script("sampler_speed")
    out, figure = tmp_path / "speed.json", tmp_path / "time.png"
    record = script.main(["--quick", "--no-diffusers", "--out", str(out), "--figure", str(figure)])
    saved = json.loads(out.read_text())
    assert set(saved["step_cost"]) == {"1", "64", "1024"}
    for row in saved["step_cost"].values():
        assert row["unet_call_ms"] > 0 and 0 < row["fast_over_unet"] < 1
    assert saved["agreement"]["eta_0"]["fast_vs_plain_max_abs"] < 1e-4
    assert record["training"]["images_per_s"] > 0
    assert figure.exists() and figure.stat().st_size > 10_000


def test_stored_speed_results_meet_the_targets_they_claim():
    saved = records.load("sampler_speed")
    assert {"device", "date", "command", "diffusers"} <= saved["meta"].keys()
    b64 = saved["step_cost"]["64"]
    assert b64["fast_over_unet"] < 0.005  # under 0.5 % of the UNet call at batch 64
    assert b64["fast_over_diffusers"] <= 0.25  # at most a quarter of diffusers' step
    assert saved["agreement"]["eta_0.5"]["fast_vs_diffusers_max_abs"] < 1e-3
    assert saved["wall_ratio_1000_over_50"] >= 19


@pytest.mark.slow
def test_headline_only_over_several_seeds(tmp_path):
    script = load_script("digits_quality")
    out = tmp_path / "h.json"
    args = ["--headline-only", "--headline-seeds", "0,5", "--n-headline", "100"]
    record = script.main([*args, "--out", str(out), "--figures", str(tmp_path)])
    saved = json.loads(out.read_text())
    assert "grid" not in saved and [r["seed"] for r in saved["headline"]["seeds"]] == [0, 5]
    ratios = [r["fid_ratio"] for r in saved["headline"]["seeds"]]
    assert saved["checks"]["fid_below_3x_floor"] == (max(ratios) < 3)
    assert record["headline"]["fid"] == saved["headline"]["seeds"][0]["fid"]


def test_refloor_changes_floors_and_keeps_values(tmp_path):
    from ddim_edu.quality import DigitsQuality

    script = load_script("digits_quality")
    stored = records.path("digits_quality")
    copy = tmp_path / "copy.json"
    copy.write_text(stored.read_text())
    before = json.loads(stored.read_text())
    before["grid"]["floor"] = 0.05  # as if written with another floor
    copy.write_text(json.dumps(before))
    script.main(["--refloor", str(copy), "--figures", str(tmp_path)])
    after = json.loads(copy.read_text())
    q = DigitsQuality()
    assert after["grid"]["values"] == before["grid"]["values"]
    assert after["grid"]["floor"] == q.floor_at(10000)
    assert after["grid"]["floor_std"] == q.floor_sd_at(10000)
    assert after["meta"]["floor_recomputed"]["floor_before"] == 0.05
    assert not (tmp_path / "digits_quality.png").exists()  # only the stored record redraws it


def test_s10_replicates_script_at_tiny_size(tmp_path):
    script = load_script("digits_s10_replicates")
    out = tmp_path / "r.json"
    script.main(
        ["--seeds", "0,1", "--etas", "0,1", "--n", "200", "--steps", "5", "--out", str(out)]
    )
    saved = json.loads(out.read_text())
    assert set(saved["fid"]) == {"0", "1"} and all(len(v) == 2 for v in saved["fid"].values())
    paired = saved["paired_against_eta_0"]["1"]
    assert paired["of"] == 2 and 0 <= paired["worse_in"] <= 2
    d = [a - b for a, b in zip(saved["fid"]["1"], saved["fid"]["0"])]
    assert abs(paired["mean_difference"] - sum(d) / 2) < 1e-12
    assert saved["meta"]["x_T_seeds"] == [1000, 1001] and saved["meta"]["S"] == 5


def test_stored_s10_replicates():
    saved = records.load("digits_s10_replicates")
    assert saved["meta"]["n_per_cell"] == 10000 and saved["meta"]["S"] == 10
    assert len(saved["fid"]["0"]) >= 5
    # the claims README makes from it: eta = 1 is worse than eta = 0 on every seed, eta = 0.5 on
    # most, and eta = 0.2 is not separable from eta = 0 (|mean difference| < 2 sd over seeds)
    p = saved["paired_against_eta_0"]
    assert p["1"]["worse_in"] == p["1"]["of"]
    assert p["0.5"]["worse_in"] >= p["0.5"]["of"] - 1
    assert abs(p["0.2"]["mean_difference"]) < 2 * p["0.2"]["sd_difference"]


def test_cpu_record_resamples_the_few_step_columns_with_independent_noise():
    cpu = records.load("digits_quality_cpu")
    gpu = records.load("digits_quality")
    assert (
        "noise_seed(seed, k)" in cpu["meta"]["noise"] and "seeded like x_T" in gpu["meta"]["noise"]
    )
    assert cpu["meta"]["n_per_cell"] == gpu["meta"]["n_per_cell"] == 10000
    assert cpu["meta"]["seed"] == gpu["meta"]["seed"]  # the same x_T
    steps = cpu["grid"]["steps"]
    assert steps == [10, 20, 50, 100]

    def rows(record):
        g = record["grid"]
        return {str(e): dict(zip(g["steps"], v)) for e, v in zip(g["etas"], g["values"])}

    new, old = rows(cpu), rows(gpu)
    for (
        S
    ) in steps:  # eta = 0 draws no noise: the same samples on both devices, up to float rounding
        assert abs(new["0.0"][S] / old["0.0"][S] - 1) < 0.02
    s10 = {e: v[10] for e, v in new.items()}
    assert s10["0.0"] < s10["0.5"] < s10["1.0"] < s10["sigma_hat"]
    assert all(cpu["checks"].values())


def test_mnist_grid_summary_pairs_cells_by_seed(tmp_path):
    # two seeds, two S: values chosen so that the paired differences are known exactly
    script = load_script("mnist_grid")
    etas = [0.0, 1.0, "sigma_hat"]
    base = {0: 2.0, 1: 3.0}  # seed 1's x_T is "unlucky": every cell 1.0 higher
    offset = {"0.0": 0.0, "1.0": 0.5, "sigma_hat": 4.0}
    for S, extra in ((10, 1.0), (20, 0.0)):
        for seed in (0, 1):
            values = [[base[seed] + offset[script.eta_key(e)] + extra + 0.1 * seed] for e in etas]
            record = {
                "meta": {"device": "cpu", "date": "d", "n_per_cell": 7, "wall_s": 1.0,
                         "noise": "n", "model": "m"},
                "grid": {"etas": etas, "steps": [S], "values": values, "floor": 0.1,
                         "confident": [[0.5]] * 3},
            }  # fmt: skip
            (tmp_path / f"S{S}_seed{seed}.json").write_text(json.dumps(record))
    (tmp_path / "S50_seed0.json").write_text("{}")  # S = 50 lacks seed 1: left out
    summary = script.summarize(tmp_path, [10, 20, 50], [0, 1])
    assert summary["steps"] == [10, 20]
    assert summary["mean"][0] == [3.55, 2.55]  # eta 0: (3 + 4.1) / 2, (2 + 3.1) / 2
    pair = next(c for c in summary["paired"] if c["a"] == "eta=sigma_hat, S=10")
    # x_T's luck (1.1 between the seeds) cancels: the difference is 4.0 in both seeds
    assert pair["b"] == "eta=0.0, S=10" and pair["mean"] == 4.0 and pair["se"] == 0.0
    pair = next(
        c for c in summary["paired"] if c["a"] == "eta=1.0, S=10" and c["b"].endswith("S=20")
    )
    assert pair["mean"] == 1.0 and pair["per_seed"] == [1.0, 1.0]
    assert (
        summary["checks"]["S10_eta0_beats_eta1"] and summary["checks"]["S10_eta1_beats_sigma_hat"]
    )
    figure = script.draw(summary, tmp_path / "grid.png")
    assert figure.stat().st_size > 10_000
    # the README's picture: samples of the shipped MNIST model beside the summary's curves
    front = script.draw_front(summary, tmp_path / "front.png", steps=(2, 3), per_row=2)
    assert front.stat().st_size > 10_000


def test_stored_mnist_grid_parts_load_as_sweeps_with_provenance_and_independent_noise():
    from ddim_edu import records
    from ddim_edu.sweep import load_results

    summary = records.load("mnist_grid")
    parts = records.parts("mnist_grid")
    plain = [p for p in parts if "_w" not in p.stem]  # the guided rows are parts of their own
    assert len(plain) >= 9 and len(summary["meta"]["seeds"]) >= 3
    for path in plain:
        grid, meta = load_results(path)
        S, seed = (int(v) for v in path.stem[1:].split("_seed"))  # noqa: N806
        assert grid.steps == [S] and meta["seed"] == seed and meta["n_per_cell"] >= 1000
        assert grid.etas == [0.0, 0.2, 0.5, 1.0, "sigma_hat"]
        for field in ("device", "date", "command", "torch", "python", "model"):
            assert meta[field], (path.name, field)
        assert f"--steps {S} --seeds {seed}" in meta["command"]
        assert "noise_seed(seed, k)" in meta["noise"]  # each cell's noise: not x_T's stream
    # the summary's mean of every cell is the mean over the seeds of its parts
    for k, S in enumerate(summary["steps"]):  # noqa: N806
        for i, eta in enumerate(summary["etas"]):
            key = eta if eta == "sigma_hat" else str(float(eta))
            values = [
                load_results(records.FOLDER / "mnist_grid" / f"S{S}_seed{seed}.json")[0].values[i][
                    0
                ]
                for seed in summary["meta"]["seeds"]
            ]
            assert summary["per_seed"][key][str(S)] == [round(v, 4) for v in values]
            assert abs(summary["mean"][i][k] - sum(values) / len(values)) < 1e-3


@pytest.mark.slow
def test_an_mnist_grid_part_stopped_part_way_continues_from_its_finished_cells(
    tmp_path, monkeypatch
):
    import ddim_edu.sweep as sweep

    script = load_script("mnist_grid")
    path = tmp_path / "S2_seed0.json"
    real, sampled = sweep.sample_cell, []

    def stops_at_the_second_cell(*args, **kwargs):
        sampled.append(args[4])
        if len(sampled) == 2:
            raise KeyboardInterrupt  # the session ends
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep, "sample_cell", stops_at_the_second_cell)
    with pytest.raises(KeyboardInterrupt):
        script.run_part(2, 0, [0.0, 1.0], 20, path)
    assert not path.exists()
    assert [p.name for p in script.cells_path(path).iterdir()] == ["cell_S2_eta0.json"]
    sampled.clear()
    record = script.run_part(2, 0, [0.0, 1.0], 20, path)
    assert sampled == [1.0]  # only the cell that was cut off is sampled again
    assert json.loads(path.read_text())["grid"]["values"] == record["grid"]["values"]
    assert list(tmp_path.iterdir()) == [path]  # and the cells in progress are gone
