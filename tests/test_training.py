"""Training data, the identification network and a tiny end-to-end training run."""

import json

import pytest
import torch

from napari_deepblur.datasets import SKIMAGE_TEST, SKIMAGE_TRAIN, PatchBank
from napari_deepblur.networks.identification import IdentificationNet
from napari_deepblur.networks.weights import load_identification
from napari_deepblur.physics import conv2d_fft, get_family
from napari_deepblur.training.data import synthesize
from napari_deepblur.training.identify import IdentifyConfig, psf_loss, train_identify


@pytest.fixture(scope="module")
def bank():
    return PatchBank.build(24, size=80, seed=0, train400=None)


def test_test_images_are_held_out():
    assert not set(SKIMAGE_TRAIN) & set(SKIMAGE_TEST)


def test_bank(bank):
    assert bank.patches.shape == (24, 1, 80, 80)
    assert float(bank.patches.min()) >= 0 and float(bank.patches.max()) <= 1
    assert set(bank.sources) <= {"dead_leaves", "fluorescence", "skimage"}


def test_synthesized_crop_is_a_valid_blur(bank):
    fam = get_family("zernike", fc=0.2, psf_size=15)
    gen = torch.Generator().manual_seed(0)
    b = synthesize(bank, fam, 4, 48, gen, p_noiseless=1.0)
    assert b.y.shape == b.x.shape == (4, 1, 48, 48)
    # blurring the sharp crop alone differs only near the crop border, never in the middle
    inner = conv2d_fft(b.x, b.psf[:, None])[..., 8:-8, 8:-8]
    torch.testing.assert_close(b.y[..., 8:-8, 8:-8], inner, atol=1e-5, rtol=0)
    noisy = synthesize(bank, fam, 4, 48, gen, p_noiseless=0.0)
    assert float((noisy.alpha > 0).float().mean()) > 0


def test_psf_loss_is_zero_at_truth_and_differentiable():
    fam = get_family("zernike", fc=0.2)
    g = fam.sample(3, generator=torch.Generator().manual_seed(1))
    assert float(psf_loss(fam, g, fam.psf(g))) < 1e-10
    g_hat = torch.zeros_like(g, requires_grad=True)
    loss = psf_loss(fam, g_hat, fam.psf(g))
    loss.backward()
    assert loss.item() > 0 and torch.isfinite(g_hat.grad).all() and float(g_hat.grad.abs().sum()) > 0


def test_db_psf_loss_is_minus_the_mean_psf_snr():
    from napari_deepblur.physics import psf_snr

    fam = get_family("zernike", fc=0.2)
    gen = torch.Generator().manual_seed(2)
    g, g_hat = fam.sample(4, generator=gen), fam.sample(4, generator=gen)
    snr = psf_snr(fam.psf(g), fam.psf(g_hat))  # true PSF first
    db = float(psf_loss(fam, g_hat, fam.psf(g), "db"))
    assert abs(db + float(snr.mean())) < 0.05  # the 1e-3 floor moves it a little (SNRs here are about 0-15 dB)
    assert float(psf_loss(fam, g, fam.psf(g), "db")) == pytest.approx(-30.0, abs=1e-3)  # floor: 30 dB counts as perfect
    with pytest.raises(ValueError, match="unknown loss"):
        psf_loss(fam, g, fam.psf(g), "l1")


def test_network_output_stays_in_the_parameter_box():
    fam = get_family("gaussian")
    net = IdentificationNet(fam.dim, fam.bounds(), width=4, blocks=(1, 1)).eval()
    for shape in [(64, 64), (96, 130)]:
        g = net(torch.randn(2, 1, *shape) * 100)
        assert g.shape == (2, 3)
        b = fam.bounds()
        span = b[:, 1] - b[:, 0]
        assert bool(((g >= b[:, 0] - 0.06 * span) & (g <= b[:, 1] + 0.06 * span)).all())


def test_tiny_training_run_writes_loadable_weights_and_resumes(tmp_path):
    cfg = IdentifyConfig(
        family="gaussian",
        steps=2,
        batch_size=4,
        crop=64,
        patch=96,
        bank_size=8,
        width=4,
        blocks=(1, 1),
        val_every=2,
        val_size=4,
    )
    logs = []
    w = train_identify(cfg, tmp_path / "run", tmp_path / "weights", log=logs.append)
    assert w.exists() and (tmp_path / "weights" / "identify_gaussian.md").exists()
    payload = torch.load(w, weights_only=True)
    assert payload["family"] == "gaussian" and json.loads(payload["meta"])["steps_done"] == 2
    net, _opts, _meta = load_identification("gaussian", path=w)
    assert net(torch.rand(1, 1, 64, 64)).shape == (1, 3)
    cfg.steps = 4
    train_identify(cfg, tmp_path / "run", tmp_path / "weights", log=logs.append)
    assert any("resumed from" in line and "step 2" in line for line in logs)
    assert json.loads(torch.load(w, weights_only=True)["meta"])["steps_done"] == 4


def test_train400_split_holds_out_every_nth_file(tmp_path):
    from napari_deepblur.datasets import train400_split

    files = [tmp_path / f"test_{i:03d}.png" for i in range(25)]
    train, held = train400_split(list(reversed(files)), 10)
    assert held == [files[0], files[10], files[20]]
    assert set(train) | set(held) == set(files) and not set(train) & set(held)
    assert train400_split(files, 0) == (files, [])


def test_mixed_noise_law_draws_more_weak_noise(bank):
    fam = get_family("gaussian", psf_size=15)
    betas = {}
    for law in ("uniform", "mixed"):
        gen = torch.Generator().manual_seed(0)
        draws = [synthesize(bank, fam, 64, 48, gen, p_noiseless=0.0, noise_dist=law).beta for _ in range(8)]
        b = torch.cat(draws)
        assert float(b.min()) >= 0 and float(b.max()) <= 0.3
        betas[law] = float((b < 0.05).float().mean())
    assert betas["uniform"] < 0.25 and betas["mixed"] > 0.3  # expected 1/6 and 0.39
    with pytest.raises(ValueError, match="noise distribution"):
        synthesize(bank, fam, 2, 48, torch.Generator(), noise_dist="gamma")


def test_parse_mix():
    from napari_deepblur.cli import _parse_mix

    assert _parse_mix("train400=0.5, dead_leaves=0.25") == {"train400": 0.5, "dead_leaves": 0.25}
    assert _parse_mix(None) == {}
    with pytest.raises(SystemExit, match="unknown source"):
        _parse_mix("bsd68=1")
    with pytest.raises(SystemExit, match="SOURCE=SHARE"):
        _parse_mix("train400")


def test_fine_tuning_with_a_natural_hold_out(tmp_path, monkeypatch):
    """--init starts from given weights; held-out train400 files are kept out of the bank and validate."""
    import numpy as np
    from skimage.io import imsave

    folder = tmp_path / "train400"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        imsave(folder / f"test_{i:03d}.png", (rng.random((120, 110)) * 255).astype(np.uint8), check_contrast=False)
    monkeypatch.setenv("DEEPBLUR_TRAIN400", str(folder))
    small = dict(family="zernike", batch_size=2, crop=64, patch=96, bank_size=6, width=4, blocks=(1, 1), val_size=2)
    base = train_identify(IdentifyConfig(steps=1, val_every=1, **small), tmp_path / "r0", tmp_path / "w0", log=print)
    cfg = IdentifyConfig(
        steps=1, val_every=1, init=str(base), holdout_every=3, mix={"train400": 1.0}, noise_dist="mixed", lr=0.0,
        **small,
    )  # fmt: skip
    w = train_identify(cfg, tmp_path / "r1", tmp_path / "w1", log=print)
    meta = json.loads(torch.load(w, weights_only=True)["meta"])
    assert meta["init"]["path"] == str(base) and meta["bank_sources"] == "train400: 6"
    # lr 0: the fine-tuned weights are the initial ones (BatchNorm statistics aside)
    a, b = torch.load(base, weights_only=True)["state_dict"], torch.load(w, weights_only=True)["state_dict"]
    for k in a:
        if "running" not in k and "num_batches" not in k:
            torch.testing.assert_close(a[k], b[k])
    last = meta["validation"][-1]
    assert {"natural_none", "natural_medium", "natural_high"} <= set(last)
    card = w.with_suffix(".md").read_text()
    assert "Fine-tuned from" in card and "natural high" in card and "every 3-th file" in card


def test_training_against_one_member_of_each_reflection_pair(tmp_path):
    """--canonical-orientation / --odd-share run, are recorded in the card, and tell identify() that the network's
    comas and trefoils have a size but no orientation."""
    from napari_deepblur.methods.identify_convolution import reads_up_to_reflection

    small = dict(family="zernike", batch_size=2, crop=64, patch=96, bank_size=6, width=4, blocks=(1, 1), val_size=2)
    cfg = IdentifyConfig(steps=1, val_every=1, canonical_orientation=True, odd_share=1.0, prior="microscope", **small)
    w = train_identify(cfg, tmp_path / "run", tmp_path / "weights", log=lambda _: None)
    meta = json.loads(torch.load(w, weights_only=True)["meta"])
    assert meta["config"]["canonical_orientation"] and meta["config"]["odd_share"] == 1.0
    assert reads_up_to_reflection(meta) and not reads_up_to_reflection({"config": {}})
    card = w.with_suffix(".md").read_text()
    assert "point-reflection pair" in card and "coma or trefoil" in card


def test_predict_tiled_averages_the_features_of_training_sized_views():
    fam = get_family("zernike", fc=0.2)
    torch.manual_seed(0)
    net = IdentificationNet(fam.dim, fam.bounds(), width=4, blocks=(1, 1), spectral=True).eval()
    y = torch.rand(2, 1, 140, 266)  # a 1 x 2 grid of 128-px views, centred (6-px and 5-px margins)
    with torch.no_grad():
        g = net.predict_tiled(y, 128)
        a, b = y[..., 6:134, 5:133], y[..., 6:134, 133:261]
        expected = net.head_to_gamma((net.features(a) + net.features(b)) / 2)
        torch.testing.assert_close(g, expected)
        torch.testing.assert_close(net.predict_tiled(y[..., :128, :128], 128), net(y[..., :128, :128]))
        small = y[..., :96, :200]  # smaller than one view: read whole
        torch.testing.assert_close(net.predict_tiled(small, 128), net(small))


def test_training_through_the_resampling_identify_applies(tmp_path, monkeypatch):
    """--fc-range: batches blurred at other cutoffs (pixel-integrated above 0.25) and resampled to the network's cutoff
    as identify() reads images; the loss compares PSFs at the network's own cutoff; the model card says so."""
    from napari_deepblur.methods import identify_convolution

    zooms = []
    real = identify_convolution.resample_view
    monkeypatch.setattr(
        "napari_deepblur.training.identify.resample_view", lambda t, z: (zooms.append(z), real(t, z))[1]
    )
    small = dict(steps=6, batch_size=2, crop=64, patch=96, bank_size=8, width=4, blocks=(1, 1), val_every=6, val_size=2)
    cfg = IdentifyConfig(family="zernike", fc_range=(0.12, 0.36), canonical_share=0.0, **small)
    w = train_identify(cfg, tmp_path / "run", tmp_path / "weights", log=lambda m: None)
    assert len(zooms) == 6 and all(0.12 / 0.2 - 1e-6 <= z <= 0.36 / 0.2 + 1e-6 for z in zooms)
    card = (tmp_path / "weights" / "identify_zernike.md").read_text()
    assert "resampled to the network's cutoff" in card and w.exists()
