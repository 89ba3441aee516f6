"""Zernike polynomials and the diffraction PSF."""

import math

import numpy as np
import pytest
import torch
from scipy.special import j1

from napari_deepblur.physics import (
    ZernikeFamily,
    cutoff_frequency,
    diffraction_psf,
    get_family,
    noll_to_nm,
    zernike_polynomial,
)

NOLL_TABLE = {
    1: (0, 0),
    2: (1, 1),
    3: (1, -1),
    4: (2, 0),
    5: (2, -2),
    6: (2, 2),
    7: (3, -1),
    8: (3, 1),
    9: (3, -3),
    10: (3, 3),
    11: (4, 0),
    12: (4, 2),
    13: (4, -2),
    14: (4, 4),
    15: (4, -4),
}


def test_noll_indices_follow_noll_1976():
    for j, nm in NOLL_TABLE.items():
        assert noll_to_nm(j) == nm


def test_zernikes_are_rms_orthonormal_on_the_disk():
    t = torch.linspace(-1, 1, 801, dtype=torch.float64)
    y, x = torch.meshgrid(t, t, indexing="ij")
    inside = (x**2 + y**2) <= 1
    Z = torch.stack([zernike_polynomial(j, x, y)[inside] for j in range(2, 12)])
    gram = Z @ Z.T / inside.sum()
    torch.testing.assert_close(gram, torch.eye(10, dtype=torch.float64), atol=2e-2, rtol=0)


def test_psfs_nonnegative_and_sum_to_one(gen):
    fam = get_family("zernike")
    psf = fam.psf(fam.sample(16, generator=gen))
    assert psf.shape == (16, 31, 31)
    assert float(psf.min()) >= 0
    torch.testing.assert_close(psf.sum(dim=(-2, -1)), torch.ones(16))


def test_zero_aberration_gives_the_airy_pattern():
    fc, size = 0.2, 31
    psf = diffraction_psf(torch.zeros(1, 8, dtype=torch.float64), fc=fc, psf_size=size, pupil_size=1024)[0]
    r = torch.arange(size, dtype=torch.float64) - size // 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    rad = (2 * math.pi * fc * torch.sqrt(xx**2 + yy**2)).numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        airy = np.where(rad > 0, (2 * j1(rad) / rad) ** 2, 1.0)
    airy = torch.from_numpy(airy / airy.sum())
    rel = torch.linalg.norm(psf - airy) / torch.linalg.norm(airy)
    assert rel < 0.02  # measured 0.5 %: the discrete disk vs the continuous one
    assert int(psf.argmax()) == (size // 2) * size + size // 2  # peak at the centre


@pytest.mark.parametrize("j", [4, 5, 6, 11])
def test_even_aberrations_are_sign_ambiguous(j):
    fam = ZernikeFamily(fc=0.2)
    g = torch.zeros(1, 8, dtype=torch.float64)
    g[0, j - 4] = 0.1
    torch.testing.assert_close(fam.psf(g), fam.psf(-g), atol=1e-10, rtol=0)


@pytest.mark.parametrize("j", [7, 8, 9, 10])
def test_odd_aberrations_flip_the_psf(j):
    fam = ZernikeFamily(fc=0.2)
    g = torch.zeros(1, 8, dtype=torch.float64)
    g[0, j - 4] = 0.1
    plus, minus = fam.psf(g), fam.psf(-g)
    torch.testing.assert_close(minus, torch.flip(plus, dims=(-2, -1)), atol=1e-10, rtol=0)
    assert torch.linalg.norm(plus - minus) > 0.1 * torch.linalg.norm(plus)


def test_coma_x_moves_energy_along_columns():
    """Orientation convention: Z8 (m = +1, cos theta) is along x = columns, as in deepinv."""
    fam = ZernikeFamily(fc=0.2)
    g = torch.zeros(1, 8, dtype=torch.float64)
    g[0, 8 - 4] = 0.15
    psf = fam.psf(g)[0]
    c = torch.arange(31, dtype=torch.float64) - 15
    col_centroid = float((psf.sum(0) * c).sum())
    row_centroid = float((psf.sum(1) * c).sum())
    assert abs(col_centroid) > 5 * abs(row_centroid)


def test_cutoff_from_optics():
    assert cutoff_frequency(na=1.4, wavelength=0.52, pixel_size=0.065) == pytest.approx(0.175)
    assert ZernikeFamily(na=1.0, wavelength=0.5, pixel_size=0.1).fc == pytest.approx(0.2)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(na=0, wavelength=0.5, pixel_size=0.1),
        dict(na=1.4, wavelength=-1, pixel_size=0.1),
        dict(na=1.4, wavelength=0.5, pixel_size=0.2),
        dict(na=1.4),
        dict(fc=float("nan")),
        dict(na=3.0, wavelength=50, pixel_size=1),
    ],
)
def test_bad_optics_raise_clear_errors(kwargs):
    with pytest.raises(ValueError, match=r"na|wavelength|pixel|cutoff|undersampled|numerical"):
        cutoff_frequency(**kwargs)


def test_wrong_gamma_shape_is_explained():
    with pytest.raises(ValueError, match="gamma must have shape"):
        get_family("zernike").psf(torch.zeros(2, 5))


def test_forward_model_boundary_rules():
    """One forward model, three named boundary rules: reflect (default, same shape), circular, valid (centre crop)."""
    import torch

    from napari_deepblur.physics import blur, forward_model, get_family

    fam = get_family("zernike", fc=0.2)
    x = torch.rand(2, 1, 96, 96, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    psf = fam.psf(fam.sample(2, generator=torch.Generator().manual_seed(1)).double())
    reflect, circular = blur(x, fam, psf), blur(x, fam, psf, boundary="circular")
    valid = blur(x, fam, psf, boundary="valid", crop_to=48)
    assert reflect.shape == circular.shape == x.shape and valid.shape == (2, 1, 48, 48)
    # away from the borders the three agree; at the borders reflect and circular differ
    torch.testing.assert_close(valid, circular[..., 24:72, 24:72])
    torch.testing.assert_close(reflect[..., 24:72, 24:72], valid)
    assert (reflect[..., :3, :] - circular[..., :3, :]).abs().max() > 1e-4
    with pytest.raises(ValueError, match="crop_to"):
        blur(x, fam, psf, boundary="valid")
    with pytest.raises(ValueError, match="no valid"):
        blur(x, fam, psf, boundary="valid", crop_to=90)
    with pytest.raises(ValueError, match="boundary"):
        blur(x, fam, psf, boundary="zero")
    y = forward_model(x, fam, psf, 0.0, 0.0)
    torch.testing.assert_close(y, reflect)


def test_undersampled_optics_get_pixel_integrated_psfs():
    """0.25 < fc <= 0.5 (camera pixels up to twice the Nyquist size) is accepted: the PSF is computed on a 3x finer
    grid and summed over each pixel; at Nyquist or finer nothing changes; beyond 0.5 a message says why not."""
    from napari_deepblur.physics import oversampling
    from napari_deepblur.physics.zernike import diffraction_psf

    assert [oversampling(fc) for fc in (0.1, 0.25, 0.26, 0.5)] == [1, 1, 3, 3]
    assert ZernikeFamily(fc=0.25).oversample == 1
    fam = ZernikeFamily(na=1.4, wavelength=0.52, pixel_size=0.108)  # a 6.5 µm camera behind 60x: fc = 0.29
    assert fam.oversample == 3 and fam.fc == pytest.approx(0.2908, abs=1e-4)
    gamma = torch.tensor([[0.08, 0.05, -0.03, 0.04, 0.0, 0.02, 0.0, 0.03]], dtype=torch.float64)
    psf = fam.psf(gamma)
    assert psf.shape == (1, 31, 31) and float(psf.sum()) == pytest.approx(1.0) and float(psf.min()) >= 0
    # integrating over the pixel: a finer sub-grid (5 x 5) gives nearly the same pixels as the 3 x 3 one
    finer = diffraction_psf(gamma, fam.fc, 31, 256, fam.noll, oversample=5)
    assert float((finer - psf).norm() / psf.norm()) < 0.05
    # the aberration-free PSF stays centred
    h0 = fam.psf(torch.zeros(1, 8))[0]
    r = torch.arange(31.0) - 15
    assert abs(float((h0.sum(0) * r).sum())) < 1e-4 and abs(float((h0.sum(1) * r).sum())) < 1e-4
    with pytest.raises(ValueError, match="undersampled beyond what can be deblurred"):
        ZernikeFamily(na=1.4, wavelength=0.52, pixel_size=0.2)


def test_a_focus_shift_is_defocus_and_a_little_spherical():
    """The exact defocus wavefront projected on the Zernike terms: the paraxial NA²Δz/(4√3λ) at low NA, more at high
    NA (0.077 waves per 0.3 µm at NA 0.85 in air, with 0.006 of spherical), nothing on the other terms."""
    import math

    import pytest

    from napari_deepblur.physics import focus_shift_coefficients

    low = focus_shift_coefficients(0.1, 0.5, 1.0)
    assert abs(float(low[0]) - 0.1**2 / (4 * math.sqrt(3) * 0.5)) < 1e-4 * float(low[0]) * 1e2
    high = 0.3 * focus_shift_coefficients(0.85, 0.52, 1.0)
    assert abs(float(high[0]) - 0.0773) < 5e-4 and abs(float(high[-1]) - 0.0060) < 3e-4
    assert float(high[1:-1].abs().max()) == 0.0
    with pytest.raises(ValueError, match="refractive index"):
        focus_shift_coefficients(1.2, 0.52, 1.0)
