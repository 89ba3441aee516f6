"""The identification and deblurring benchmarks and the tuning command, on tiny inputs (protocol and bookkeeping)."""

import json

import numpy as np
import pytest
import torch
from skimage.io import imsave

from napari_deepblur.bench import tune
from napari_deepblur.bench.deblur import format_rows, normalized_noise, run_deblur_bench
from napari_deepblur.bench.identify import best_constant_gamma, run_identify_bench
from napari_deepblur.bench.identify import format_rows as identify_rows
from napari_deepblur.cli import main
from napari_deepblur.physics import NOISE_LEVELS


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
    from napari_deepblur.api.params import normalize_intensity

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


def test_identify_bench_rows_and_table(folder):
    r = run_identify_bench("zernike", "medium", images=str(folder), n_psfs=2, progress=False)
    assert r["deepblur"]["n"] == 4 and len(r["cases"]) == 4
    for key in ("deepblur", "baseline", "best_constant", "mean_psf"):
        assert np.isfinite(r[key]["mean"])
    table = identify_rows([r])
    assert "best constant family member" in table and table.count("| zernike |") == 4


def test_best_constant_member_beats_the_aberration_free_guess_on_fresh_draws():
    from napari_deepblur.physics import get_family, psf_snr

    fam = get_family("zernike", fc=0.2, max_zernike_amplitude=0.15)
    draws = fam.sample(200, generator=torch.Generator().manual_seed(0))
    g = best_constant_gamma(fam, draws, n_fit=100, n_iter=60)
    assert g.shape == (1, 8) and bool(((g >= -0.075 - 1e-9) & (g <= 0.075 + 1e-9)).all())
    fresh = fam.psf(fam.sample(200, generator=torch.Generator().manual_seed(1)).double())
    const = float(psf_snr(fresh, fam.psf(g).expand_as(fresh)).mean())
    zero = float(psf_snr(fresh, fam.psf(torch.zeros(1, 8, dtype=torch.float64)).expand_as(fresh)).mean())
    # measured: 9.9 dB against 4.0 dB on the paper's range (the family-mean PSF, not a member: 10.5 dB)
    assert const > zero + 4.0, (const, zero)


def test_deepblur_floor_tuning_picks_the_best_scale(monkeypatch):
    from napari_deepblur import datasets as data

    monkeypatch.setattr(data, "SKIMAGE_TRAIN", ("brick", "cell"))
    res = tune.run_tune_deepblur(n_psfs=1, size=96, scales=(1.0, 0.1), families=("gaussian",), progress=False)
    assert [e["floor_scale"] for e in res["grid"]] == [1.0, 0.1] and res["pictures"] == ["brick", "cell"]
    assert set(res["grid"][0]["gaussian"]) == {"none", "medium", "high", "mean"}
    assert res["best"] == {"gaussian": max(res["grid"], key=lambda e: e["gaussian"]["mean"])["floor_scale"]}
    assert res["grid"][0]["gaussian"]["none"]["psnr"] != res["grid"][1]["gaussian"]["none"]["psnr"]


def test_realism_benchmark_scores_estimates_against_the_truth(monkeypatch):
    """bench real: phantom rows (aberration-free truth) and sparse rows (with the γ = 0 baseline), small run."""
    from napari_deepblur.bench import real

    monkeypatch.setattr(real, "FCS", (0.2, 0.35))
    res = real.run_real_bench(parts=("phantom", "sparse"), noise="none", n_per_class=1)
    rows = res["rows"]
    assert {r["part"] for r in rows} == {"phantom", "sparse"} and {r["fc"] for r in rows} == {0.2, 0.35}
    assert all(r["n"] == 1 and np.isfinite(r["estimate"]["mean"]) for r in rows)
    assert all(r["estimate"]["mean"] <= real.SNR_CAP and 0 <= r["kept"] <= 1 for r in rows)
    assert all(r["gamma0"]["mean"] == real.SNR_CAP for r in rows if r["part"] == "phantom")  # γ = 0 is the truth
    assert all(r["gamma0"]["mean"] < real.SNR_CAP for r in rows if r["part"] == "sparse")
    # one image per row: the mean of its true PSFs is its PSF
    assert all(r["mean_psf"]["mean"] == real.SNR_CAP for r in rows)
    table = real.format_real(res)
    assert "exact (the truth)" in table and "| sparse |" in table


def test_restoration_benchmark_scores_every_method_with_the_same_estimate(monkeypatch):
    """bench restore: every row on the same images, overshoot and edge error measured (small run)."""
    import napari_deepblur.api.deblur as api_deblur
    import napari_deepblur.api.identify as api_identify
    from napari_deepblur.bench import restore

    seen = []  # every method is told the noise in the units deblur scales the image to, not the drawn (alpha, beta)

    def spy(fn):
        return lambda y, *a, noise, **k: (
            seen.append(noise == normalized_noise(y, *NOISE_LEVELS["medium"])) or fn(y, *a, noise=noise, **k)
        )

    monkeypatch.setattr(api_deblur, "deblur", spy(api_deblur.deblur))
    monkeypatch.setattr(api_identify, "identify", spy(api_identify.identify))
    monkeypatch.setattr(restore, "FCS", (0.2,))
    res = restore.run_restore_bench(noise="medium", n_per_class=1, validation=True, parts=("sparse",))
    assert len(seen) > 4 and all(seen)
    rows = res["rows"]
    assert {r["row"] for r in rows} == {"blurry input", *restore.METHOD_ROWS}
    assert all(r["psnr"]["n"] == 1 and 0 <= r["overshoot"]["mean"] <= 1 and r["edge_error"]["mean"] > 0 for r in rows)
    best = {r["content"]: r["psnr"]["mean"] for r in rows if r["row"] == "deep-blur, true PSF"}
    blurry = {r["content"]: r["psnr"]["mean"] for r in rows if r["row"] == "blurry input"}
    assert all(best[c] > blurry[c] + 2 for c in best)  # restoring helps
    assert "| sparse | medium | TV |" in restore.format_restore(res)


def test_overshoot_and_edge_error_see_a_halo():
    from napari_deepblur.bench.restore import edge_error, overshoot

    x = np.zeros((96, 96))
    x[32:64, 32:64] = 1.0
    halo = x.copy()
    halo[28:32, 32:64] = -0.2  # a dark ring outside the edge
    assert overshoot(x, x) == 0 and edge_error(x, x) == 0
    assert overshoot(halo, x) > 0 and edge_error(halo, x) > 1


def test_measured_psf_is_centred_on_the_bead_and_normalised():
    from napari_deepblur.datasets import measured_psf

    img = np.full((64, 64), 100.0)
    img[40, 22] += 1000
    img[39:42, 21:24] += 200
    psf = measured_psf(img, size=11)
    assert (
        psf.shape == (11, 11) and psf.sum() == pytest.approx(1) and np.unravel_index(psf.argmax(), psf.shape) == (5, 5)
    )
    assert psf.min() >= 0


def test_real_restore_agrees_with_the_measured_psf(tmp_path):
    """bench real-restore on the real sets (skipped without ../shared/data/microscopy): blind deep-blur agrees with
    deep-blur using the measured PSF (SSIM >= 0.9 on each slice), nothing goes below the dark level, a montage."""
    from napari_deepblur.bench.real_restore import format_real_restore, run_real_restore
    from napari_deepblur.datasets import measured_sets

    if not measured_sets():
        pytest.skip("no ../shared/data/microscopy")
    res = run_real_restore(tmp_path / "m.png")
    blind = [r for r in res["rows"] if "ssim_blind_vs_measured" in r]
    assert blind and all(r["ssim_blind_vs_measured"] >= 0.9 for r in blind)
    assert all(o["below_dark_fraction"] == 0 for r in res["rows"] for k, o in r["outputs"].items() if k != "input")
    assert (tmp_path / "m.png").stat().st_size > 1000 and "SSIM" in format_real_restore(res)
