import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    saved = json.loads((ROOT / "benchmarks" / "results" / "digits_quality.json").read_text())
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
    path = ROOT / "benchmarks" / "results" / "sampler_speed.json"
    saved = json.loads(path.read_text())
    assert {"device", "date", "command", "diffusers"} <= saved["meta"].keys()
    b64 = saved["step_cost"]["64"]
    assert b64["fast_over_unet"] < 0.005  # under 0.5 % of the UNet call at batch 64
    assert b64["fast_over_diffusers"] <= 0.25  # at most a quarter of diffusers' step
    assert saved["agreement"]["eta_0.5"]["fast_vs_diffusers_max_abs"] < 1e-3
    assert saved["wall_ratio_1000_over_50"] >= 19
