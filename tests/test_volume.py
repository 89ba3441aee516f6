"""A z-stack deconvolved with a 3D PSF: 3D Richardson–Lucy on an extended domain, and ``deblur_volume``."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve

from napari_deepblur import DeblurInputError, deblur_volume, volume_psf
from napari_deepblur.methods.volume import fft_size, richardson_lucy_3d

OPTICS = dict(na=1.4, wavelength=0.52, pixel_size=0.1, z_step=0.25)


def _psnr(a, b):
    return 10 * np.log10(np.ptp(b) ** 2 / ((a - b) ** 2).mean())


@pytest.fixture(scope="module")
def scene():
    """Blobs in a 16 × 64 × 64 volume, some at the borders, blurred by the widefield 3D PSF on a larger object
    (light from outside the field and from above and below), Poisson noise."""
    rng = np.random.default_rng(0)
    truth = np.zeros((16, 64, 64))
    for _ in range(30):
        truth[tuple(rng.integers([0, 0, 0], [16, 64, 64]))] = rng.uniform(0.5, 1)
    truth[8, 32, 0] = 1.0  # a bright object on the border
    truth = gaussian_filter(truth, (0.7, 1.2, 1.2))
    truth /= truth.max()
    psf = volume_psf(16, **OPTICS, psf_size=31)
    pad = 16
    blurred = fftconvolve(np.pad(truth, pad), psf, mode="same")[pad:-pad, pad:-pad, pad:-pad]
    noisy = rng.poisson(np.clip(blurred, 0, None) * 3000) / 3000
    return truth, noisy, psf


def test_rl3d_restores_and_the_acceleration_saves_iterations(scene):
    torch.set_num_threads(1)
    truth, y, psf = scene
    plain = {n: _psnr(richardson_lucy_3d(y, psf, n, accelerate=False), truth) for n in (10, 40)}
    fast = _psnr(richardson_lucy_3d(y, psf, 15), truth)
    assert plain[10] > _psnr(y, truth) + 2
    assert fast > plain[40]  # 15 accelerated iterations do better than 40 plain ones


def test_the_borders_do_not_ring(scene):
    """The extended domain lets light come from outside the field: next to the bright border object the estimate
    does not oscillate as a periodic (or zero-padded) deconvolution does."""
    from skimage.restoration import richardson_lucy

    truth, y, psf = scene
    ours = richardson_lucy_3d(y, psf, 15)
    theirs = richardson_lucy(y, psf, 15, clip=False)
    near = (slice(6, 11), slice(26, 39), slice(0, 4))  # the border object's neighbourhood
    err = [float(np.abs(r[near] - truth[near]).mean()) for r in (ours, theirs)]
    assert err[0] < 0.7 * err[1]


def test_deblur_volume_keeps_units_offset_and_dark_level(scene):
    truth, y, _ = scene
    counts = np.round(100 + 2000 * y).astype(np.uint16)  # a camera: offset 100, 16-bit
    res = deblur_volume(counts, **OPTICS, n_iter=8)
    assert res.image.dtype == np.float32 and res.image.shape == counts.shape
    assert res.image.min() >= np.percentile(counts, 0.01) - 1e-3  # never below the dark level
    assert abs(res.image.mean() / counts.mean() - 1) < 0.05  # intensities in the input's units
    assert res.psf.shape == (31, 63, 63) and res.psf.sum() == pytest.approx(1.0, abs=1e-5)
    assert res.details["psf"]["z_step"] == 0.25 and _psnr(res.image, 100 + 2000 * truth) > _psnr(
        counts, 100 + 2000 * truth
    )


def test_clear_errors_on_bad_stacks_and_steps():
    stack = np.random.rand(8, 32, 32)
    with pytest.raises(DeblurInputError, match="at least 3"):
        deblur_volume(stack[:2], **OPTICS)
    with pytest.raises(DeblurInputError, match="z_step"):
        deblur_volume(stack, na=1.4, wavelength=0.52, pixel_size=0.1)
    with pytest.raises(DeblurInputError, match="nanometres"):
        deblur_volume(stack, **{**OPTICS, "z_step": 250})
    with pytest.raises(DeblurInputError, match="deeper than the stack"):
        deblur_volume(stack, psf=np.ones((21, 5, 5)))
    with pytest.raises(DeblurInputError, match="wavelength"):
        deblur_volume(stack, **{**OPTICS, "wavelength": 520})
    with pytest.raises(DeblurInputError, match="file path"):
        deblur_volume("stack.tif", **OPTICS)
    assert [fft_size(n) for n in (97, 128, 131)] == [98, 128, 135]


def test_auto_iterations_are_fewer_on_a_noisier_stack(scene):
    truth, _, psf = scene
    rng = np.random.default_rng(3)
    pad = 16
    blurred = fftconvolve(np.pad(truth, pad), psf, mode="same")[pad:-pad, pad:-pad, pad:-pad]
    n = {}
    for photons in (2000, 100):
        counts = rng.poisson(np.clip(blurred, 0, None) * photons) + 100
        res = deblur_volume(counts.astype(np.uint16), **OPTICS)
        n[photons] = res.details["n_iter"]
        assert res.details["noise"]["sigma"] > 0
    assert 5 <= n[100] < n[2000] <= 50
    with pytest.raises(DeblurInputError, match="auto"):
        deblur_volume(np.zeros((4, 32, 32)) + 1, **OPTICS, n_iter="many")
