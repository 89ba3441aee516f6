"""Training data, the identification network and a tiny end-to-end training run."""

import json

import pytest
import torch

from napari_deepblur.networks.identification import IdentificationNet
from napari_deepblur.networks.weights import load_identification
from napari_deepblur.physics import conv2d_fft, get_family
from napari_deepblur.training.data import SKIMAGE_TEST, SKIMAGE_TRAIN, PatchBank, synthesize
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
