"""Operator families calibrated from beads (Model 2.1): bead extraction, eigen-PSFs, family file, cone sampler."""

import numpy as np
import pytest
import torch
from scipy.optimize import nnls

from napari_deepblur.api.calibrate import calibrate_family, extract_beads, find_beads
from napari_deepblur.errors import DeblurInputError
from napari_deepblur.physics import ZernikeFamily, psf_snr
from napari_deepblur.physics.calibrated import CalibratedFamily, sample_cone, simplify_cone


def bead_stack(defocus: np.ndarray, noise: float = 0.0, seed: int = 0, n_beads: int = 12, size: int = 256):
    """A through-focus stack of a bead field: every bead is the Zernike PSF of that plane's defocus (plus a fixed
    spherical aberration), at a sub-pixel position; returns the stack and the true PSFs per plane."""
    rng = np.random.default_rng(seed)
    fam = ZernikeFamily(fc=0.2)
    gamma = np.zeros((len(defocus), 8))
    gamma[:, 0], gamma[:, 7] = defocus, -0.05
    psfs = fam.psf(torch.from_numpy(gamma)).numpy()
    stack = np.zeros((len(defocus), size, size))
    pos = []
    while len(pos) < n_beads:
        p = rng.uniform(40, size - 40, 2)
        if all(np.hypot(*(p - q)) > 45 for q in pos):
            pos.append(p)
    from scipy.ndimage import shift

    for z, h in enumerate(psfs):
        for r, c in pos:
            bead = np.zeros((size, size))
            ri, ci = int(r), int(c)
            bead[ri - 15 : ri + 16, ci - 15 : ci + 16] = h
            stack[z] += rng.uniform(0.5, 1.0) * shift(bead, (r - ri, c - ci), order=3)
    stack += 0.01 + noise * rng.standard_normal(stack.shape)
    return stack, psfs


def _snr(h, h_hat) -> float:
    return float(psf_snr(torch.from_numpy(h)[None], torch.from_numpy(h_hat)[None]))


@pytest.mark.parametrize("noise,min_snr", [(0.0, 30.0), (0.002, 15.0)])
def test_calibration_reproduces_held_out_planes(noise, min_snr):
    """Calibrated on every other plane of a through-focus bead stack, the family reproduces the PSFs of the planes in
    between (projection onto the eigen-PSFs): measured 33.7-40.9 dB noiseless; with noise of 0.002 (a single bead's
    PSF about -4 dB, the 12 beads of a plane averaged) 14.5-22.8 dB, mean 19.6."""
    defocus = np.linspace(-0.15, 0.15, 13)
    stack, truth = bead_stack(defocus, noise)
    fam = calibrate_family(stack[::2], psf_size=31)
    assert 1 <= fam.dim <= 7 and fam.provenance["n_psfs"] == 7  # the 12 beads of each plane averaged
    assert fam.explained_energy() >= 0.99
    snrs = [_snr(truth[z], fam.psf(fam.coefficients(truth[z]))[0].numpy()) for z in range(1, 13, 2)]
    assert (min(snrs) if noise == 0 else np.mean(snrs)) >= min_snr, snrs


def test_beads_are_found_isolated_and_centred():
    stack, truth = bead_stack(np.array([0.0]), n_beads=8)
    found = find_beads(stack[0])
    assert len(found) == 8
    psfs = extract_beads(stack[0], found)
    assert psfs.shape == (8, 31, 31) and np.allclose(psfs.sum(axis=(1, 2)), 1) and psfs.min() > -1e-3
    assert min(_snr(truth[0], p) for p in psfs) > 20  # sub-pixel re-centring and background subtraction
    with pytest.raises(DeblurInputError, match="at least 2"):
        calibrate_family(np.zeros((128, 128)))


def test_family_file_round_trip(tmp_path):
    stack, _ = bead_stack(np.linspace(-0.1, 0.1, 5), n_beads=4)
    fam = calibrate_family(stack, optics={"na": 1.4}, n_rays=4, provenance={"source": "synthetic"})
    path = fam.save(tmp_path / "family.npz")
    back = CalibratedFamily.load(path)
    assert torch.equal(back.basis, fam.basis) and np.array_equal(back.rays, fam.rays)
    assert np.array_equal(back.kept, fam.kept) and len(back.kept) == 4
    assert back.optics == {"na": 1.4} and back.provenance["source"] == "synthetic"
    assert calibrate_family(stack, average=False).provenance["n_psfs"] == 5 * 4
    g = fam.sample(3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(back.psf(g), fam.psf(g))
    np.savez(tmp_path / "bad.npz", version=99)
    with pytest.raises(ValueError, match="version 99"):
        CalibratedFamily.load(tmp_path / "bad.npz")


def test_cone_sampler_stays_in_the_cone_and_reaches_its_rays():
    rng = np.random.default_rng(0)
    rays = np.abs(rng.standard_normal((30, 4))) + 0.1
    kept = simplify_cone(rays, 8)
    assert len(set(kept.tolist())) == 8
    gen = torch.Generator().manual_seed(1)
    samples = sample_cone(rays[kept], 200, 4, gen).numpy()
    for s in samples:  # a non-negative combination of the kept rays, exactly
        _, residual = nnls(rays[kept].T, s)
        assert residual < 1e-8 * np.linalg.norm(s)
    unit = rays[kept] / np.linalg.norm(rays[kept], axis=1, keepdims=True)
    cos = (samples / np.linalg.norm(samples, axis=1, keepdims=True)) @ unit.T
    assert (np.isclose(cos.max(axis=1), 1.0)).sum() > 20  # one-ray samples: every extreme ray is visited
    assert len({int(i) for i in np.argmax(cos, axis=1)[np.isclose(cos.max(axis=1), 1.0)]}) == 8


def test_cone_simplification_keeps_the_extreme_rays_first():
    angles = np.linspace(0, np.pi / 2, 11)
    rays = np.stack([np.cos(angles), np.sin(angles)], 1)
    kept = simplify_cone(rays, 2)
    assert set(kept.tolist()) == {0, 10}  # the two edges of the fan, not its middle


def test_a_family_from_the_real_through_focus_bead_reproduces_its_held_out_planes():
    """The pyotf bead (skipped without ../shared/data): calibrated on its even planes 4-20, the family reproduces the
    odd planes 5-19 (the bead cut out of each plane, projected) better than the aberration-free PSF of the optics —
    measured 4.6-15.7 dB against -16.2 to +0.5 dB."""
    from napari_deepblur.datasets import measured_psf, measured_sets

    found = [s for s in measured_sets() if s["id"] == "pyotf"]
    if not found:
        pytest.skip("../shared/data/microscopy is not here")
    s = found[0]
    stack = s["stack"].astype(np.float64)
    fam = calibrate_family(stack[4:21:2], optics=s["optics"])
    zero = ZernikeFamily(**s["optics"]).psf(torch.zeros(1, 8, dtype=torch.float64))[0].numpy()
    where = find_beads(stack.max(0))
    for k in range(5, 20, 2):
        measured = measured_psf(stack, k)
        est = fam.psf(fam.coefficients(extract_beads(stack[k], where)[0]))[0].numpy()
        assert _snr(measured, est) > _snr(measured, zero) + 3, k


def test_calibrate_from_the_command_line(tmp_path, capsys):
    import tifffile

    import napari_deepblur as ndb
    from napari_deepblur.cli import main

    stack, _ = bead_stack(np.linspace(-0.1, 0.1, 5), n_beads=4)
    tifffile.imwrite(tmp_path / "beads.tif", stack.astype(np.float32))
    out = tmp_path / "family.npz"
    assert main(["calibrate", str(tmp_path / "beads.tif"), "-o", str(out), "--na", "1.4", "--n-rays", "3"]) == 0
    assert "eigen-PSFs" in capsys.readouterr().out
    fam = ndb.CalibratedFamily.load(out)
    assert fam.optics == {"na": 1.4} and len(fam.kept) == 3 and fam.provenance["beads"] == [str(tmp_path / "beads.tif")]
    assert ndb.calibrate_family is calibrate_family
    assert main(["calibrate", str(tmp_path / "none.tif"), "-o", str(out)]) == 2
    assert "none.tif: file not found" in capsys.readouterr().err


def test_an_identification_network_trains_for_a_family_file_and_identify_uses_it(tmp_path):
    """`train identify --family-file F` writes its weights and card beside F; identify() with the loaded family reads
    with them (a few steps here; 300 steps, 2.8 min, gave 8.5 % mean relative Frobenius error noiseless on held-out
    pictures — research record)."""
    import napari_deepblur as ndb
    from napari_deepblur.cli import main

    stack, _ = bead_stack(np.linspace(-0.15, 0.15, 7), n_beads=4)
    path = calibrate_family(stack).save(tmp_path / "family.npz")
    argv = ["train", "identify", "--family-file", str(path), "--steps", "3", "--batch-size", "4", "--bank-size", "40",
            "--val-every", "3", "--coef-weight", "0", "--run-dir", str(tmp_path / "run"), "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "family.identify.pt").exists() and (tmp_path / "family.identify.md").exists()
    fam = ndb.CalibratedFamily.load(path)
    assert fam.identify_weights == str(tmp_path / "family.identify.pt")
    res = ndb.identify(stack[3], family=fam)
    assert res.details["network"] == "user" and res.psf.shape == (31, 31) and res.gamma.shape == (fam.dim,)
    out = ndb.deblur(stack[3], family=fam, method="l1")  # blind deblurring with the calibrated family
    assert out.image.shape == stack[3].shape and set(out.named_gamma) == {f"c{k + 1}" for k in range(fam.dim)}
    assert main([*argv[:4], "--fc-range", "0.1", "0.3"]) == 2  # no optics to resample


def trained_family_file(folder, steps: int = 2):
    """A small family file (a 7-plane through-focus bead stack) with an identification network trained for a couple
    of steps beside it (a few seconds: tiny bank and validation set); returns its path and the bead stack."""
    from napari_deepblur.training.config import IdentifyConfig
    from napari_deepblur.training.identify import train_identify

    stack, _ = bead_stack(np.linspace(-0.15, 0.15, 7), n_beads=4)
    path = calibrate_family(stack).save(folder / "family.npz")
    cfg = IdentifyConfig(family_file=str(path), steps=steps, batch_size=4, bank_size=16, val_every=steps, val_size=8,
                         threads=1)  # fmt: skip
    train_identify(cfg, folder / "run", folder, log=lambda _: None)
    return path, stack


def test_deblur_files_with_a_family_file_from_the_command_line(tmp_path, capsys):
    """`deblur --family-file F` runs the batch with the calibrated family (read again by each process) and records
    the file in the sidecar; a missing or damaged file, optics given with it, or --family beside it are usage errors.
    """
    import json

    import tifffile

    from napari_deepblur.cli import main

    path, stack = trained_family_file(tmp_path)
    tifffile.imwrite(tmp_path / "img.tif", stack[3, :128, :128].astype(np.float32))
    out = tmp_path / "out"
    argv = ["deblur", str(tmp_path / "img.tif"), "-o", str(out), "--method", "wiener", "--threads", "1"]
    assert main([*argv, "--family-file", str(path)]) == 0
    image = tifffile.imread(out / "img_deblurred.tif")
    assert image.shape == (128, 128) and np.isfinite(image).all()
    side = json.loads((out / "img.json").read_text())
    assert side["family"] == "calibrated" and side["options"]["family_file"] == str(path.resolve())
    fam = CalibratedFamily.load(path)
    assert side["family_file"]["path"] == str(path.resolve()) and side["family_file"]["K"] == fam.dim
    assert side["family_file"]["version"] == 1 and side["family_file"]["identify_weights"] == fam.identify_weights
    assert set(side["planes"][0]["gamma"]) == {f"c{k + 1}" for k in range(fam.dim)} and side["optics"] == {}
    capsys.readouterr()
    assert main([*argv, "--family-file", str(tmp_path / "none.npz")]) == 2
    assert "none.npz: family file not found" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_text("not a family")
    assert main([*argv, "--family-file", str(tmp_path / "bad.npz")]) == 2
    assert "is not a napari-deepblur family file" in capsys.readouterr().err
    assert main([*argv, "--family-file", str(path), "--na", "1.2"]) == 2
    assert "--na: a family file has no optics" in capsys.readouterr().err
    assert main([*argv, "--family-file", str(path), "--family", "gaussian"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    untrained = calibrate_family(stack).save(tmp_path / "untrained.npz")
    assert main([*argv, "--family-file", str(untrained)]) == 2
    assert "no identification network yet" in capsys.readouterr().err


def test_calibrating_over_a_family_file_removes_the_previous_network(tmp_path, capsys):
    import tifffile

    from napari_deepblur.cli import main

    path, stack = trained_family_file(tmp_path)
    tifffile.imwrite(tmp_path / "beads.tif", stack.astype(np.float32))
    assert main(["calibrate", str(tmp_path / "beads.tif"), "-o", str(path)]) == 0
    assert "removed family.identify.pt" in capsys.readouterr().err
    assert not (tmp_path / "family.identify.pt").exists() and CalibratedFamily.load(path).identify_weights is None
