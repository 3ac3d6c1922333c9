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
        "S10_eta0_best",
        "S10_sigma_hat_worst",
    }
    assert record["grid"]["values"] == saved["grid"]["values"]
    assert (tmp_path / "digits_samples.png").exists() and (tmp_path / "digits_quality.png").exists()


def test_stored_results_carry_their_provenance():
    saved = json.loads((ROOT / "benchmarks" / "results" / "digits_quality.json").read_text())
    for key in ("device", "date", "command", "n_per_cell", "wall_s"):
        assert key in saved["meta"]
    assert saved["grid"]["steps"] == [10, 20, 50, 100, 1000]
    assert saved["checks"]["S10_eta0_best"] and saved["checks"]["S10_sigma_hat_worst"]
