"""Identification from a picture of beads (:mod:`napari_deepblur.methods.bead_fit`): the optics fitted to the beads
under the default prior; specimen images never taken for beads."""

import numpy as np
import pytest
import torch

from napari_deepblur import identify
from napari_deepblur.api.params import normalize_intensity
from napari_deepblur.methods.bead_fit import bead_psf
from napari_deepblur.physics import ZernikeFamily, forward_model, psf_snr
from napari_deepblur.synthetic import fluorescence_scene


def _beads(gamma, n=6, size=256, seed=0):
    """Isolated beads (no two within 40 px) blurred by the Zernike PSF of ``gamma`` at fc 0.2, noiseless."""
    rng = np.random.default_rng(seed)
    x = np.zeros((size, size))
    pts = []
    while len(pts) < n:
        p = rng.integers(40, size - 40, 2)
        if all(np.hypot(*(p - q)) > 40 for q in pts):
            pts.append(p)
            x[p[0], p[1]] = rng.uniform(0.5, 1)
    fam = ZernikeFamily(fc=0.2)
    h = fam.psf(torch.tensor([gamma], dtype=torch.float64))
    y = forward_model(torch.from_numpy(x)[None, None], fam, h, 0.0, 0.0)[0, 0].numpy()
    return y + 0.01, h  # a camera offset


def test_a_picture_of_beads_is_read_by_fitting_the_optics_to_them():
    """Astigmatism and spherical on a bead slide: the default prior fits them (the network alone, reading image
    statistics, is not made for a picture of points)."""
    y, h = _beads([0.0, 0.0, 0.08, 0.0, 0.0, 0.0, 0.0, -0.06])
    res = identify(y, fc=0.2)
    assert res.details["reading"].startswith("beads")
    assert "fitted to the beads" in res.details["verdict"]
    assert float(psf_snr(h, torch.from_numpy(res.psf).double()[None])) > 20
    zero = ZernikeFamily(fc=0.2).psf(torch.zeros(1, 8, dtype=torch.float64))
    assert float(psf_snr(h, zero)) < 10


def test_specimen_images_are_not_taken_for_beads():
    rng = np.random.default_rng(1)
    for _ in range(4):
        x = fluorescence_scene((256, 256), rng)
        fam = ZernikeFamily(fc=0.2)
        y = forward_model(torch.from_numpy(x).double()[None, None], fam, fam.psf(torch.zeros(1, 8).double()),
                          0.0, 0.0)[0, 0].numpy()  # fmt: skip
        assert bead_psf(normalize_intensity(y.astype(np.float32))[0], 31)[0] is None
    res = identify(y, fc=0.2)
    assert "reading" not in res.details


def test_the_real_bead_is_read_under_the_default_prior():
    """The pyotf bead in focus (NA 0.85, 520 nm, 130 nm): the fitted PSF is closer to the measured one than the
    aberration-free PSF by more than 3 dB (``bench real``: 5.0 against 1.1 dB)."""
    from napari_deepblur.datasets import measured_sets

    found = [s for s in measured_sets() if s["id"] == "pyotf"]
    if not found:
        pytest.skip("../shared/data/microscopy is not here")
    s = found[0]
    res = identify(s["image"], **s["optics"])
    measured = torch.from_numpy(s["psf"])[None]
    est = float(psf_snr(measured, torch.from_numpy(res.psf).double()[None]))
    zero = float(psf_snr(measured, res.family.psf(torch.zeros(1, 8, dtype=torch.float64))))
    assert res.details["reading"].startswith("beads") and est > zero + 3, (est, zero)
