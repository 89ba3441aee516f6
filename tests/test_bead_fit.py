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


def _bead_stack(gamma_focus, focus=6.3, n_planes=13, step=0.3, noise=0.0, seed=0):
    """Three beads through focus (NA 0.85, 520 nm, 130 nm pixels, air): plane k is the member of ``gamma_focus``
    moved by the focus shift of ``(k - focus) * step`` µm; Poisson-Gaussian-like noise of std ``noise``."""
    from napari_deepblur.physics import focus_shift_coefficients

    fam = ZernikeFamily(0.85, 0.52, 0.13)
    per = focus_shift_coefficients(0.85, 0.52, 1.0, fam.noll)
    g = torch.tensor([gamma_focus], dtype=torch.float64) + ((torch.arange(n_planes) - focus) * step)[:, None] * per
    x = np.zeros((128, 128))
    for (r, c), v in zip([(32, 40), (90, 30), (70, 96)], [1.0, 0.7, 0.85], strict=True):
        x[r, c] = v
    rng = np.random.default_rng(seed)
    planes = []
    for k in range(n_planes):
        y = forward_model(torch.from_numpy(x)[None, None], fam, fam.psf(g[k : k + 1]), 0.0, 0.0)[0, 0].numpy()
        planes.append(100 + 3000 * y / 0.05 + noise * rng.standard_normal(y.shape))  # 16-bit-like, offset 100
    return np.stack(planes), fam


def test_a_through_focus_bead_stack_gives_the_aberrations_and_the_focus():
    """Phase diversity: astigmatism, coma and spherical fitted across the planes, the focus found between planes,
    each plane's defocus read on its own moving one way through focus."""
    from napari_deepblur.api.bead_stack import identify_bead_stack

    truth = [0.0, 0.0, 0.06, 0.03, 0.0, 0.0, 0.0, -0.05]
    stack, fam = _bead_stack(truth, noise=5.0)
    res = identify_bead_stack(stack, 0.3, na=0.85, wavelength=0.52, pixel_size=0.13, refractive_index=1.0)
    assert res.details["beads"] == 3 and not res.details["refractive_index_assumed"]
    assert abs(res.focus_plane - 6.3) < 0.3, res.focus_plane
    assert np.abs(res.gamma - np.array(truth)).max() < 0.015, res.named_gamma
    h = fam.psf(torch.tensor([truth], dtype=torch.float64))
    assert float(psf_snr(h, torch.from_numpy(res.psf)[None])) > 20
    assert (np.diff(res.defocus) > 0).all(), res.defocus
    assert (res.fit_snr > 15).all(), res.fit_snr


def test_a_bead_stack_is_checked():
    from napari_deepblur import DeblurInputError
    from napari_deepblur.api.bead_stack import identify_bead_stack

    optics = dict(na=0.85, wavelength=0.52, pixel_size=0.13)
    with pytest.raises(DeblurInputError, match="at least 3 planes"):
        identify_bead_stack(np.zeros((2, 64, 64)), 0.3, **optics)
    with pytest.raises(DeblurInputError, match="z_step"):
        identify_bead_stack(np.zeros((5, 64, 64)), 0.0, **optics)
    with pytest.raises(DeblurInputError, match="NA"):
        identify_bead_stack(np.zeros((5, 64, 64)), 0.3, na=1.2, wavelength=0.52, pixel_size=0.1, refractive_index=1.0)
    with pytest.raises(DeblurInputError, match="no isolated bead"):
        identify_bead_stack(np.random.default_rng(0).random((5, 64, 64)), 0.3, **optics)


def test_the_real_bead_stack_reads_its_defocus_one_way_through_focus():
    """The pyotf bead (25 planes, 0.3 µm, NA 0.85 in air): fitted as one stack, each plane's own defocus moves one
    way through planes 9-15 (``bench real``; read plane by plane without the stack it does not)."""
    from napari_deepblur.api.bead_stack import identify_bead_stack
    from napari_deepblur.datasets import measured_sets

    found = [s for s in measured_sets() if s["id"] == "pyotf"]
    if not found:
        pytest.skip("../shared/data/microscopy is not here")
    s = found[0]
    res = identify_bead_stack(s["stack"], 0.3, refractive_index=1.0, **s["optics"])
    assert (np.diff(res.defocus[9:16]) > 0).all(), res.defocus
    assert 11 < res.focus_plane < 13.5, res.focus_plane


def test_a_bead_stack_from_the_command_line(tmp_path, capsys):
    """``napari-deepblur bead-stack``: the ImageJ spacing and pixel size of the file are used, the PSF at focus is
    written; missing optics are asked for."""
    import tifffile

    import napari_deepblur as ndb
    from napari_deepblur.cli import main

    stack, _ = _bead_stack([0.0, 0.0, 0.06, 0.0, 0.0, 0.0, 0.0, -0.05], n_planes=9, focus=4.0)
    path = tmp_path / "beads.tif"
    tifffile.imwrite(path, stack.astype(np.uint16), imagej=True, resolution=(1 / 0.13, 1 / 0.13),
                     metadata={"spacing": 0.3, "unit": "um", "axes": "ZYX"})  # fmt: skip
    out = tmp_path / "psf.tif"
    assert main(["bead-stack", str(path), "--na", "0.85", "--wavelength", "0.52", "--refractive-index", "1",
                 "-o", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "3 bead(s), 9 planes, z step 0.3" in text and "spherical (Z11): -0.05" in text, text
    psf = tifffile.imread(out)
    assert psf.shape == (31, 31) and psf.dtype == np.float32 and abs(float(psf.sum()) - 1) < 1e-4
    from napari_deepblur.io import read_image

    assert read_image(out)[1]["pixel_size_um"] == pytest.approx(0.13, rel=1e-3)  # for deblur --psf
    assert main(["bead-stack", str(path)]) == 2
    assert "give --na, --wavelength" in capsys.readouterr().err
    assert ndb.identify_bead_stack is not None
