"""Poisson–Gaussian noise: statistics, levels, and the (alpha, beta) estimator."""

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data

from napari_deepblur.physics import NOISE_LEVELS, add_poisson_gaussian, estimate_noise, noise_level


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.05), (0.025, 0.05), (0.12, 0.24), (0.1, 0.0)])
@pytest.mark.parametrize("level", [0.2, 0.8])
def test_mean_and_variance(alpha, beta, level):
    gen = torch.Generator().manual_seed(0)
    z = torch.full((1, 1, 400, 500), level, dtype=torch.float64)
    y = add_poisson_gaussian(z, alpha, beta, generator=gen)
    n = y.numel()
    var = alpha * level + beta**2
    assert float(y.mean()) == pytest.approx(level, abs=5 * np.sqrt(var / n))
    # the variance of a sample variance is ~ 2 var^2 / n (plus a kurtosis term for Poisson): 5 % is > 10 sigma
    assert float(y.var()) == pytest.approx(var, rel=0.05)


def test_noiseless_is_identity():
    z = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(add_poisson_gaussian(z, 0.0, 0.0), z)


def test_per_item_levels():
    gen = torch.Generator().manual_seed(0)
    z = torch.full((2, 1, 300, 300), 0.5)
    y = add_poisson_gaussian(z, torch.tensor([0.0, 0.1]), torch.tensor([0.01, 0.0]), generator=gen)
    assert float(y[0].var()) == pytest.approx(1e-4, rel=0.05)
    assert float(y[1].var()) == pytest.approx(0.05, rel=0.05)


def test_levels_and_parsing():
    assert NOISE_LEVELS["medium"] == (0.025, 0.05) and NOISE_LEVELS["high"] == (0.12, 0.24)
    assert noise_level("HIGH") == (0.12, 0.24)
    assert noise_level((0.01, 0.02)) == (0.01, 0.02)
    for bad in ["loud", (-0.1, 0.1), (0.1, float("inf")), (1,), "0.1"]:
        with pytest.raises(ValueError, match="noise"):
            noise_level(bad)


def blurred_photo(name):
    x = getattr(data, name)().astype(np.float64) / 255
    return ndimage.gaussian_filter(x, 2.0) * 0.9 + 0.05


@pytest.mark.parametrize("level", ["medium", "high"])
def test_estimator_recovers_benchmark_levels(level):
    alpha, beta = NOISE_LEVELS[level]
    errs_a, errs_b = [], []
    for seed, name in enumerate(["camera", "coins", "brick"]):
        z = torch.from_numpy(blurred_photo(name))[None, None]
        y = add_poisson_gaussian(z, alpha, beta, generator=torch.Generator().manual_seed(seed))[0, 0].numpy()
        a, b = estimate_noise(y)
        errs_a.append(abs(a - alpha) / alpha)
        errs_b.append(abs(b - beta) / beta)
        # the total noise std at mid-grey (what a denoiser needs) within 10 %
        assert np.sqrt(a * 0.5 + b**2) == pytest.approx(np.sqrt(alpha * 0.5 + beta**2), rel=0.1)
    # each part separately within 25 % (median over images; measured <= 12 % on camera and coins)
    assert np.median(errs_a) < 0.25 and np.median(errs_b) < 0.25


def test_estimator_on_clean_image_reports_little_noise():
    a, b = estimate_noise(blurred_photo("camera"))
    assert a < 5e-3 and b < 5e-3


def test_estimator_input_checks():
    with pytest.raises(ValueError, match="2D"):
        estimate_noise(np.zeros((4, 16, 16)))
    with pytest.raises(ValueError, match="too small"):
        estimate_noise(np.zeros((5, 5)))


def band_limited_scene(fc=0.2, seed=0, shape=(384, 384)):
    """A sharp fluorescence scene blurred by the aberration-free PSF of cutoff ``fc`` (no power beyond 2 fc)."""
    from napari_deepblur.physics import get_family
    from napari_deepblur.synthetic import fluorescence_scene

    fam = get_family("zernike", fc=fc)
    psf = fam.psf(torch.zeros(1, fam.dim, dtype=torch.float64))[0].numpy()
    x = fluorescence_scene(shape, seed)
    from scipy.signal import fftconvolve

    pad = psf.shape[0]
    return fftconvolve(np.pad(x, pad, mode="reflect"), psf, mode="same")[pad:-pad, pad:-pad] * 0.9 + 0.05


def test_out_of_band_variance_reads_the_noise_beyond_the_cutoff():
    from napari_deepblur.physics.spectrum import out_of_band_variance

    z = band_limited_scene()
    rng = np.random.default_rng(1)
    assert out_of_band_variance(z, 0.2)[0] < 1e-8  # a band-limited image holds nothing there
    var, _ = out_of_band_variance(z + 0.02 * rng.standard_normal(z.shape), 0.2)
    assert var == pytest.approx(0.02**2, rel=0.05)
    assert out_of_band_variance(z, 0.45) is None  # no frequency beyond the cutoff inside the Nyquist square


def test_the_cutoff_corrects_an_estimate_the_noise_law_fools():
    """Gaussian read noise plus hot pixels (1 % of the pixels, ±0.2): the robust (MAD) Haar estimate sees only the
    first; the power beyond the optics' cutoff reads the whole variance, whatever the law."""
    z = band_limited_scene()
    rng = np.random.default_rng(2)
    hot = (rng.random(z.shape) < 0.01) * rng.choice([-0.2, 0.2], z.shape)
    y = z + 0.01 * rng.standard_normal(z.shape) + hot
    total = np.sqrt(0.01**2 + hot.var())
    a, b = estimate_noise(y)
    assert np.sqrt(a * z.mean() + b**2) < 0.6 * total
    a, b = estimate_noise(y, fc=0.2)
    assert np.sqrt(a * z.mean() + b**2) == pytest.approx(total, rel=0.1)


def test_a_quantised_image_is_never_read_as_noise_free():
    """A smooth 12-bit image with a camera offset and no other noise: its rounding error (step² / 12) is a floor."""
    from napari_deepblur.api.params import normalize_intensity, resolve_noise
    from napari_deepblur.physics.noise import quantisation_step

    raw = np.round(100 + 3000 * band_limited_scene()).astype(np.uint16)
    x, _, scale = normalize_intensity(raw.astype(np.float64))
    assert estimate_noise(x) == (0.0, 0.0) or min(estimate_noise(x)) >= 0  # the Haar estimate alone may say 0
    assert quantisation_step(raw) == 1.0 and quantisation_step(raw.astype(np.float32)) == 1.0
    assert quantisation_step(raw / 7.0) == 0.0
    _, beta, estimated = resolve_noise(x, "auto", quantum=1 / scale)
    assert estimated and beta >= (1 / scale) / np.sqrt(12) > 0
