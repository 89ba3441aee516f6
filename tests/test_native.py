"""Trust on a real-like image at its own sampling, with no ground truth (issue 33): the figures of ``bench native``,
and blind deep-blur on a smooth, noise-free-looking 12-bit image with a camera offset."""

import numpy as np
import pytest
import torch

from napari_deepblur import deblur
from napari_deepblur.bench.native import flat_region, flat_texture, format_native, native_images, run_native
from napari_deepblur.physics.spectrum import band_gain, limit_out_of_band, out_of_band_share

FC = 0.2


@pytest.fixture(scope="module")
def smooth_cell():
    """A smooth synthetic cell seen at its own sampling: a fluorescence scene blurred by the aberration-free PSF at
    fc 0.2, on a camera offset of 100, 12-bit, with nothing but the rounding as noise."""
    from scipy.signal import fftconvolve

    from napari_deepblur.physics import get_family
    from napari_deepblur.synthetic import fluorescence_scene

    fam = get_family("zernike", fc=FC)
    psf = fam.psf(torch.zeros(1, fam.dim, dtype=torch.float64))[0].numpy()
    x = fluorescence_scene((256, 256), 3, n_points=0)
    pad = psf.shape[0]
    z = fftconvolve(np.pad(x, pad, mode="reflect"), psf, mode="same")[pad:-pad, pad:-pad]
    return np.round(100 + 2500 * np.clip(z, 0, None)).astype(np.uint16)


def test_the_figures_read_what_they_say():
    rng = np.random.default_rng(0)
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(rng.random((256, 256)), 4)
    noisy = smooth + 0.01 * rng.standard_normal(smooth.shape)
    assert out_of_band_share(noisy, FC) > 10 * out_of_band_share(smooth, FC)
    assert band_gain(noisy, noisy, FC) == pytest.approx(1.0)
    assert band_gain(2 * noisy, noisy, FC) == pytest.approx(4.0)
    assert np.isnan(out_of_band_share(noisy, 0.45))  # nothing beyond the cutoff inside the Nyquist square
    img = np.full((128, 128), 0.1)
    img[32:96, 32:96] = 1.0  # a flat bright square on a dark background
    mask = flat_region(img + 1e-3 * rng.standard_normal(img.shape))
    assert mask[40:88, 40:88].mean() > 0.5 and not mask[:20].any()
    textured = img + 0.05 * (np.indices(img.shape).sum(0) % 2)  # a checkerboard inside
    assert flat_texture(textured, img + 1e-2 * rng.standard_normal(img.shape), mask) > 1


def test_the_band_limit_takes_out_only_what_the_optics_could_not_pass():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(1)
    image = gaussian_filter(rng.random((256, 256)), 3) + 1e-3 * rng.standard_normal((256, 256))
    invented = image + 0.02 * rng.standard_normal(image.shape)  # a "result" with texture beyond the cutoff
    limited, s = limit_out_of_band(invented, image, FC)
    assert s < 0.2
    assert out_of_band_share(limited, FC) <= out_of_band_share(image, FC)
    assert band_gain(limited, invented, FC, band=(0.0, 0.9)) == pytest.approx(1.0, abs=1e-3)  # the band: untouched
    same, s1 = limit_out_of_band(image, image + 0.01 * rng.standard_normal(image.shape), FC)
    assert s1 == 1.0 and same is image  # nothing to take out: the result itself


def test_a_noise_free_looking_camera_image_gets_noise_and_no_invented_detail(smooth_cell):
    res = deblur(smooth_cell, fc=FC)
    _, beta = res.noise
    assert res.noise_estimated and beta > 0  # the rounding is noise: never exactly noise-free
    assert out_of_band_share(res.image, FC) <= out_of_band_share(smooth_cell, FC)
    assert band_gain(res.image, smooth_cell, FC) > 1  # it still sharpens
    assert res.image.min() >= np.percentile(smooth_cell, 0.01) - 1e-3  # never below the dark level, band limit or not


def test_deepblur_draws_no_more_texture_in_flat_regions_than_richardson_lucy(smooth_cell):
    blind = deblur(smooth_cell, fc=FC)
    rl = deblur(smooth_cell, psf=blind.psf, method="rl")
    mask = flat_region(smooth_cell)
    assert mask.mean() > 0.02
    assert flat_texture(blind.image, smooth_cell, mask) <= flat_texture(rl.image, smooth_cell, mask)


def test_bench_native_on_the_real_images():
    if not native_images():
        pytest.skip("../shared/data absent")
    result = run_native(names=["membranes_2d.tif"])
    (row,) = result["rows"]
    assert set(row["methods"]) == {"deep-blur", "deep-blur, no aberration", "RL", "TV"}
    assert all(np.isfinite(m["band_gain"]) and m["seconds"] > 0 for m in row["methods"].values())
    assert "membranes_2d.tif" in format_native(result)
