"""Synthetic scenes and sample data (no napari needed)."""

import numpy as np
import torch

from napari_deepblur._sample_data import SAMPLE_NOISE, make_sample, sample_spatially_varying, sample_zernike
from napari_deepblur.api.params import normalize_intensity, normalized_noise
from napari_deepblur.api.provenance import noise_record, recorded_noise
from napari_deepblur.display import psf_montage
from napari_deepblur.physics import get_family
from napari_deepblur.synthetic import fluorescence_scene


def test_scene_is_reproducible_and_normalised():
    a = fluorescence_scene((128, 96), seed=3)
    b = fluorescence_scene((128, 96), seed=3)
    assert a.shape == (128, 96) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert a.min() == 0 and a.max() == 1
    assert not np.array_equal(a, fluorescence_scene((128, 96), seed=4))


def test_sample_is_the_blurred_truth_plus_small_noise():
    s = make_sample("zernike", [0.1, 0, 0, 0, 0, 0, 0, 0], shape=(128, 128), noise=(0.0, 0.01))
    fam = get_family("zernike")
    clean = fam.operator_from_psf(torch.from_numpy(s["psf"])[None], (128, 128)).A(
        torch.from_numpy(s["sharp"])[None, None]
    )
    resid = s["blurred"] - clean[0, 0].numpy()
    assert abs(resid.std() - 0.01) < 1e-3
    assert s["psf"].sum() == np.float32(1) or abs(s["psf"].sum() - 1) < 1e-5


def test_sample_layers():
    for fn, psf_ndim in ((sample_zernike, 2), (sample_spatially_varying, 2)):
        layers = fn()
        assert len(layers) == 3
        (sharp, _), (psf, psf_meta), (blurred, meta) = layers
        assert sharp.shape == blurred.shape == (384, 384)
        assert psf.ndim == psf_ndim
        assert "gamma" in meta["metadata"]["napari_deepblur"]
        assert psf_meta["name"].endswith("true PSF")


def test_a_simulation_records_its_noise_as_deblur_reads_it():
    """The noise is drawn relative to the sharp image; deblur reads a given (α, β) relative to the noisy image's own
    range. The record gives the second (what to pass as ``noise=``), the first under "drawn"."""
    s = make_sample("zernike", [0.0] * 8, shape=(128, 128), noise=(0.0, 0.05))
    fam = get_family("zernike")
    op = fam.operator_from_psf(torch.from_numpy(s["psf"])[None], (128, 128))
    clean = op.A(torch.from_numpy(s["sharp"])[None, None])[0, 0].numpy()
    rec = noise_record(s["blurred"], 0.0, 0.05)
    x, lo, scale = normalize_intensity(s["blurred"])
    measured = float(np.std(x - (clean - lo) / scale))  # the noise of the image deblur sees
    assert rec["drawn"]["beta"] == 0.05 and abs(scale - 1) > 0.2  # blur and noise changed the range: units differ
    assert abs(rec["beta"] - measured) < 0.03 * measured and rec["alpha"] == 0.0
    for fn in (sample_zernike, sample_spatially_varying):
        (_, sharp_meta), _, (blurred, meta) = fn()
        assert recorded_noise(sharp_meta["metadata"]) is None  # the truth has no noise
        assert recorded_noise(meta["metadata"]) == normalized_noise(blurred, *SAMPLE_NOISE)
        assert meta["metadata"]["napari_deepblur"]["noise"]["drawn"]["alpha"] == SAMPLE_NOISE[0]


def test_montage_places_psfs_row_major():
    psfs = np.zeros((6, 5, 5), dtype=np.float32)
    for k in range(6):
        psfs[k, 2, 2] = k + 1
    m = psf_montage(psfs, (2, 3), gap=1, normalize=False)
    assert m.shape == (11, 17)
    assert m[2, 2] == 1 and m[2, 8] == 2 and m[8, 2] == 4 and m[8, 14] == 6
