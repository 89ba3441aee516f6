"""3D PSFs: the pupil propagated through focus, against the Gibson–Lanni integral and by its symmetries."""

import warnings

import numpy as np
import pytest
import torch

from napari_deepblur.physics.psf3d import axial_planes, confocal_psf_3d, widefield_psf_3d
from napari_deepblur.physics.zernike import diffraction_psf, focus_shift_coefficients

ZERO = torch.zeros(1, 8, dtype=torch.float64)


def _psf(z, **kw):
    opts = dict(na=1.4, wavelength=0.52, pixel_size=0.065, immersion_index=1.515, psf_size=31, pupil_size=256)
    opts.update(kw)
    return widefield_psf_3d(kw.pop("coeffs", ZERO), z=torch.as_tensor(z, dtype=torch.float64),
                            **{k: v for k, v in opts.items() if k != "coeffs"})[0].numpy()  # fmt: skip


def _snr(ref: np.ndarray, est: np.ndarray) -> float:
    """PSF SNR (dB) after the one scale that fits ``est`` to ``ref`` best (the oracle's units are its own)."""
    est = est * float((ref * est).sum() / (est * est).sum())
    return float(10 * np.log10((ref**2).sum() / ((ref - est) ** 2).sum()))


@pytest.mark.parametrize(
    "na, immersion, sample, depth, pixel",
    [
        (1.4, 1.515, 1.515, 0.0, 0.065),  # oil, at the coverslip
        (1.4, 1.515, 1.45, 10.0, 0.065),  # oil, 10 µm deep in a mounting medium of index 1.45
        (0.8, 1.0, 1.0, 0.0, 0.1),  # air, at the coverslip
        (0.8, 1.0, 1.33, 10.0, 0.1),  # air, 10 µm deep in water
    ],
)
def test_widefield_psf_is_the_gibson_lanni_integral(na, immersion, sample, depth, pixel):
    """Radial profiles of five planes (in focus, ±1 and ±2 depths of field) against microscPSF's direct numerical
    integration of the Gibson–Lanni model (its fast Bessel-series approximation is 10–16 dB off at NA 1.4 out of focus,
    so the slow one is the oracle): ≥ 25 dB over the five planes together."""
    ms = pytest.importorskip("microscPSF.microscPSF")
    mp = dict(ms.m_params, NA=na, ni=immersion, ni0=immersion, ns=sample, ng=1.515, ng0=1.515)
    dof = 0.52 * immersion / na**2
    z = np.array([-2, -1, 0, 1, 2]) * dof
    ours = _psf(z, na=na, pixel_size=pixel, immersion_index=immersion, sample_index=sample, depth=depth, psf_size=63,
                pupil_size=512)  # fmt: skip
    r = np.arange(0, 32, 2)
    profile = ours[:, 31, 31 + r]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = np.array([[ms.slowGL(mp, 1.0, k * pixel, zz - depth * immersion / sample, depth, 0.52, mp["zd0"])
                         for k in r] for zz in z])  # fmt: skip
    assert _snr(ref, profile) >= 25


def test_symmetries_and_the_in_focus_plane():
    z = axial_planes(9, 0.2)
    h = _psf(z)
    assert h.shape == (9, 31, 31) and h.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(h, h[::-1], atol=1e-12)  # matched indices, no aberration: mirror-symmetric in z
    np.testing.assert_allclose(h, np.swapaxes(h, 1, 2), atol=1e-12)  # and about the diagonal
    gamma = torch.tensor([[0.0, 0.05, 0.0, 0.03, 0.0, 0.0, 0.0, -0.04]], dtype=torch.float64)
    plane = _psf([0.0], coeffs=gamma)[0]
    flat = diffraction_psf(gamma, 1.4 * 0.065 / 0.52, 31, 256)[0].numpy()
    np.testing.assert_allclose(plane / plane.sum(), flat, atol=1e-12)  # in focus: the 2D PSF of the same pupil


def test_a_focus_shift_is_the_bead_stacks_defocus():
    """Sign and size: a plane 0.3 µm from focus (NA 0.85 air) with an astigmatism is the 2D PSF with that astigmatism
    plus the defocus and spherical that ``focus_shift_coefficients`` gives for the shift (the rest of the exact phase
    is small); with the opposite shift the astigmatic focal lines swap, so the sign is pinned."""
    astig = torch.tensor([[0.0, 0.06, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    shift = 0.3 * focus_shift_coefficients(0.85, 0.52, 1.0)[None]
    plane = _psf([0.3], coeffs=astig, na=0.85, pixel_size=0.13, immersion_index=1.0)[0]
    fc = 0.85 * 0.13 / 0.52
    right = _snr(diffraction_psf(astig + shift, fc, 31, 256)[0].numpy(), plane)
    wrong = _snr(diffraction_psf(astig - shift, fc, 31, 256)[0].numpy(), plane)
    assert right > 30 and wrong < right - 10


def test_index_mismatch_breaks_the_symmetry_and_grows_with_depth():
    z = axial_planes(21, 0.25)
    kw = dict(na=1.2, immersion_index=1.333, sample_index=1.45)
    shallow, deep = _psf(z, depth=2.0, **kw), _psf(z, depth=20.0, **kw)
    asym = [float(np.abs(h - h[::-1]).sum()) for h in (shallow, deep)]
    assert 0.01 < asym[0] < asym[1]
    assert deep.max() < shallow.max()  # spherical aberration spreads the focus


def test_confocal_is_narrower_than_widefield_and_pixels_integrate():
    z = axial_planes(21, 0.1)
    wide = _psf(z)
    conf = confocal_psf_3d(ZERO, excitation=0.488, emission=0.52, na=1.4, pixel_size=0.065, z=z,
                           immersion_index=1.515)[0].numpy()  # fmt: skip

    def axial_width(h):  # planes above half the peak on the axis
        axis = h[:, 15, 15]
        return int((axis >= axis.max() / 2).sum())

    assert conf.sum() == pytest.approx(1.0) and axial_width(conf) < axial_width(wide)
    coarse = _psf([0.0], pixel_size=0.12, oversample=3)  # fc 0.32: integrated over 3 × 3 sub-pixels
    assert coarse.shape == (1, 31, 31) and coarse.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="odd"):
        axial_planes(4, 0.2)
    with pytest.raises(ValueError, match="NA"):
        _psf([0.0], na=1.4, immersion_index=1.333)
