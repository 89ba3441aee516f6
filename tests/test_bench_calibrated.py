"""The calibrated-family benchmark (bench.calibrated) on a tiny case: its structure and finite numbers."""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from test_calibrate import trained_family_file


def test_calibrated_family_bench_on_one_picture_and_one_operator(tmp_path, capsys):
    """1 held-out picture × 1 operator of the cone, no noise, a network trained for 2 steps: the operator errors of
    the network and of the centre, and PSNR/SSIM of the blurry input, each method with the estimate and with the
    true PSF (ℓ1 left out: the slowest) — all finite; the command writes the JSON and the markdown table."""
    from napari_deepblur.bench.calibrated import main, run_calibrated_bench

    path, _ = trained_family_file(tmp_path)
    res = run_calibrated_bench(path, n_images=1, n_ops=1, levels=("none",), methods=("deepblur", "tv", "rl"))
    assert res["pictures"] == ["camera"] and res["n_ops"] == 1 and len(res["networks"]) == 1
    net = res["networks"][0]
    assert net["identify_weights"].endswith("family.identify.pt") and net["training"]["steps_done"] == 2
    lv = net["levels"]["none"]
    assert set(lv["error"]) == {"network", "centre"} and lv["error"]["network"]["n"] == 1
    rows = {"blurry input"} | {f"{m}, {w}" for m in ("deepblur", "tv", "rl") for w in ("estimate", "true PSF")}
    assert set(lv["psnr"]) == rows and set(lv["ssim"]) == rows
    values = [s[k] for part in ("error", "psnr", "ssim") for s in lv[part].values() for k in ("mean", "median")]
    assert np.isfinite(values).all()
    assert 0 <= lv["error"]["centre"]["mean"] < 2 and 0 < lv["ssim"]["deepblur, true PSF"]["mean"] <= 1
    case = lv["cases"][0]
    assert case["picture"] == "camera" and len(case["gamma"]) == len(case["gamma_hat"]) == net["K"]

    out = tmp_path / "bench" / "calibrated_family.json"
    main(["--family-file", str(path), "--n-images", "1", "--n-ops", "1", "--noise", "none", "--methods", "rl",
          "--no-truth", "--out", str(out)])  # fmt: skip
    back = json.loads(out.read_text())
    assert set(back["networks"][0]["levels"]["none"]["psnr"]) == {"blurry input", "rl, estimate"}
    table = out.with_suffix(".md").read_text()
    assert "identification network" in table and "centre of the measurements" in table and "Richardson" in table
    capsys.readouterr()
