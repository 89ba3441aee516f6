"""The deblurring benchmark and the tuning command, on tiny inputs (protocol and bookkeeping, not numbers)."""

import json

import numpy as np
import pytest
from skimage.io import imsave

from napari_deepblur.bench import tune
from napari_deepblur.bench.deblur import format_rows, normalized_noise, run_deblur_bench
from napari_deepblur.cli import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(2):
        img = np.kron(rng.random((12, 12)), np.ones((8, 8)))  # 96 x 96 blocks: blur visibly lowers PSNR
        imsave(d / f"im{i}.png", (255 * img).astype(np.uint8), check_contrast=False)
    return d


def test_normalized_noise_matches_the_variance_of_the_scaled_image():
    rng = np.random.default_rng(0)
    z = rng.uniform(0.4, 0.8, (256, 256))  # the model is exact while the normalisation offset stays >= 0
    a, b = 0.01, 0.02
    y = z + np.sqrt(a * z + b**2) * rng.standard_normal(z.shape)
    a2, b2 = normalized_noise(y, a, b)
    from napari_deepblur._validate import normalize_intensity

    _, lo, s = normalize_intensity(y)
    xz = (z - lo) / s  # the clean image in normalised units
    assert np.allclose(a2 * xz + b2**2, (a * z + b**2) / s**2)


def test_deblur_bench_rows_and_table(folder):
    r = run_deblur_bench(
        "gaussian", "medium", images=str(folder), methods=("input", "wiener", "rl_true"),
        selfdeblur_images=1, selfdeblur_iters=4, selfdeblur_width=8, selfdeblur_crop=64, progress=False,
    )  # fmt: skip
    assert r["n_images"] == 2 and set(r["rows"]) == {"input", "wiener", "rl_true"}
    assert r["rows"]["input"]["psf_snr"] is None and r["rows"]["wiener"]["psf_snr"]["n"] == 2
    assert r["rows"]["rl_true"]["psnr"]["mean"] > r["rows"]["input"]["psnr"]["mean"]  # knowing the PSF helps
    assert set(r["selfdeblur"]["rows"]) == {"input", "deepblur", "selfdeblur"}
    table = format_rows([r])
    assert "Richardson–Lucy, true PSF" in table and "SelfDeblur (4 it., width 8)" in table
    json.dumps(r)  # serialisable


def test_bench_deblur_cli_writes_json_and_markdown(folder, tmp_path, capsys):
    out = tmp_path / "res.json"
    argv = ["bench", "deblur", "--family", "gaussian", "--images", str(folder), "--methods", "input", "wiener"]
    assert main([*argv, "--out", str(out)]) == 0
    assert json.loads(out.read_text())[0]["family"] == "gaussian"
    assert "Wiener, estimated PSF" in out.with_suffix(".md").read_text() and "SSIM" in capsys.readouterr().out


def test_tune_picks_the_best_grid_point(monkeypatch):
    monkeypatch.setattr(tune, "GRIDS", {"wiener": {"c": [1, 1000], "floor": [1e-3]}})
    res = tune.run_tune(n_images=1, size=96, progress=False)
    grid = res["methods"]["wiener"]["grid"]
    assert len(grid) == 2 and res["methods"]["wiener"]["best"] == max(grid, key=lambda e: e["mean"])


def test_speed_benchmark_reports_medians():
    from napari_deepblur.bench.deblur import time_pipeline

    r = time_pipeline(size=96, repeats=2, families=("gaussian",), selfdeblur_iters=1)
    assert len(r["gaussian"]["all_s"]) == 2 and r["gaussian"]["total_median_s"] >= r["gaussian"]["identify_median_s"]
    assert r["selfdeblur"]["extrapolated_5000_iterations_s"] == pytest.approx(
        5000 * r["selfdeblur"]["seconds_per_iteration"]
    )
