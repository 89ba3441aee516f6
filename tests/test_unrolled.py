"""The unrolled Douglas–Rachford network: architecture, start-up behaviour, a tiny training run."""

import numpy as np
import pytest
import torch

from napari_deepblur.networks.unrolled import SmallUNet, UnrolledDR, noise_map
from napari_deepblur.physics import get_family


def test_unet_keeps_odd_shapes():
    net = SmallUNet(widths=(4, 8, 16))
    x = torch.rand(2, 1, 37, 50)
    assert net(x, torch.full_like(x, 0.1)).shape == x.shape


def test_noise_map():
    y = torch.tensor([[[[0.0, 1.0]]]])
    torch.testing.assert_close(noise_map(y, 0.1, 0.2), torch.sqrt(torch.tensor([[[[0.04, 0.14]]]])))


def test_unrolled_runs_on_both_operator_kinds_and_backpropagates():
    gen = torch.Generator().manual_seed(0)
    net = UnrolledDR(iterations=2, widths=(4, 8), cg_iter=3)
    for name in ("zernike", "spatially-varying"):
        fam = get_family(name, fc=0.2, psf_size=9, **({"grid": (2, 2)} if name != "zernike" else {}))
        op = fam.operator(fam.sample(2, generator=gen), (32, 32))
        y = torch.rand(2, 1, 32, 32, generator=gen)
        steps = []
        alpha, beta = torch.tensor([0.0, 0.1]), torch.tensor([0.01, 0.1])
        out = net(y, op, alpha, beta, progress=lambda k, t, s=steps: s.append(k))
        assert out.shape == y.shape and torch.isfinite(out).all() and steps == [1, 2]
        out.mean().backward()
        assert net.log_scale.grad is not None and torch.isfinite(net.log_scale.grad).all()
        net.zero_grad()


def test_tiny_deblur_training_run_writes_loadable_weights_and_resumes(tmp_path):
    import json

    from napari_deepblur.networks.weights import load_deblur
    from napari_deepblur.training.deblur import DeblurConfig, train_deblur

    cfg = DeblurConfig(steps=2, batch_size=2, crop=48, patch=96, bank_size=6, widths=(4, 8), val_every=2, val_size=8)
    logs = []
    w = train_deblur(cfg, tmp_path / "run", tmp_path / "weights", log=logs.append)
    assert w.exists() and (tmp_path / "weights" / "deblur.md").exists()
    assert "val PSNR" in logs[-2]
    net, meta = load_deblur(path=w)
    assert meta["steps_done"] == 2 and not any(p.requires_grad for p in net.parameters())
    cfg.steps = 3
    train_deblur(cfg, tmp_path / "run", tmp_path / "weights", log=logs.append)
    assert any("resumed from" in line and "step 2" in line for line in logs)
    assert json.loads(torch.load(w, weights_only=True)["meta"])["steps_done"] == 3
    # fine-tuning: starts from those weights with a fresh schedule; the card says where they came from
    before = torch.load(w, weights_only=True)["state_dict"]
    ft = DeblurConfig(**{**cfg.__dict__, "steps": 1, "init": str(w), "lr": 0.0})
    w2 = train_deblur(ft, tmp_path / "ft_run", tmp_path / "ft", log=logs.append)
    after = torch.load(w2, weights_only=True)["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in before)  # lr 0: unchanged weights, so they were loaded
    assert "Fine-tuned from" in (tmp_path / "ft" / "deblur.md").read_text()
    # a fine-tuning of a fine-tuning: the card names the whole chain, newest first
    ft2 = DeblurConfig(**{**ft.__dict__, "init": str(w2)})
    train_deblur(ft2, tmp_path / "ft2_run", tmp_path / "ft2", log=logs.append)
    card = (tmp_path / "ft2" / "deblur.md").read_text()
    assert card.count("written by") == 2 and card.index(str(w2)) < card.index(str(w)) and "run the oldest" in card
    # fine-tuning into a larger network: U-Nets with one more scale start from the smaller network's function
    grow = DeblurConfig(**{**ft.__dict__, "widths": (4, 8, 16)})
    w3 = train_deblur(grow, tmp_path / "grow_run", tmp_path / "grow", log=logs.append)
    assert any("grown from U-Net widths [4, 8] to [4, 8, 16]" in line for line in logs)
    assert load_deblur(path=w3)[0].config["widths"] == [4, 8, 16]
    # an SSIM term in the loss (scikit-image's SSIM): trains, and the card says the loss
    # ... and with the mixed noise law (more weak-noise items): the card says that too
    with_ssim = DeblurConfig(**{**ft.__dict__, "ssim_weight": 0.1, "lr": 1e-3, "noise_dist": "mixed"})
    train_deblur(with_ssim, tmp_path / "ssim_run", tmp_path / "ssim", log=logs.append)
    card = (tmp_path / "ssim" / "deblur.md").read_text()
    assert "L1 loss + 0.1 × (1 − SSIM)" in card and "log-uniform over the top two decades" in card
    # ... and with the RMSE as the pixel loss
    with_rmse = DeblurConfig(**{**with_ssim.__dict__, "loss": "rmse"})
    train_deblur(with_rmse, tmp_path / "rmse_run", tmp_path / "rmse", log=logs.append)
    assert "RMSE loss (root mean squared error) + 0.1 × (1 − SSIM)" in (tmp_path / "rmse" / "deblur.md").read_text()


def test_the_pixel_losses_estimate_the_median_and_the_mean():
    """L1 is minimised by the median of what the image could be, RMSE by its mean (what PSNR rewards): on a skewed
    set of outcomes (a faint pixel that is sometimes bright) the two answers differ, as they do for bright sparse
    structures under heavy noise."""
    from napari_deepblur.training.deblur import pixel_loss

    outcomes = torch.tensor([0.1] * 7 + [1.0] * 3)  # median 0.1, mean 0.37
    best = {}
    for kind in ("l1", "rmse"):
        c = torch.linspace(0, 1, 1001)
        losses = torch.stack([pixel_loss(ci.expand(10), outcomes, kind) for ci in c])
        best[kind] = float(c[losses.argmin()])
    assert best["l1"] == pytest.approx(0.1, abs=1e-3) and best["rmse"] == pytest.approx(0.37, abs=1e-3)
    x = torch.rand(2, 1, 8, 8)
    assert float(pixel_loss(x, torch.zeros_like(x), "rmse")) == pytest.approx(float(x.square().mean().sqrt()))
    with pytest.raises(ValueError, match="unknown loss"):
        pixel_loss(x, x, "l2")


def test_the_ssim_term_is_scikit_images_ssim():
    from skimage.metrics import structural_similarity

    from napari_deepblur.training.deblur import ssim

    rng = np.random.default_rng(0)
    a = rng.random((64, 80))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    expected = structural_similarity(a, b, data_range=1.0)
    assert float(ssim(torch.tensor(b)[None, None], torch.tensor(a)[None, None])) == pytest.approx(expected, abs=1e-9)


def test_untrained_network_starts_as_plain_douglas_rachford():
    # zero-initialised output convolutions: each proximal step is the identity at the start of training
    net = SmallUNet((4, 8))
    x = torch.rand(1, 1, 20, 20)
    assert torch.equal(net(x, torch.zeros_like(x)), x)


def test_grown_network_computes_the_smaller_ones_function_then_learns():
    # fine-tuning into U-Nets with more scales: same output at the start, and the new scales get gradients
    gen = torch.Generator().manual_seed(0)
    small = UnrolledDR(iterations=2, widths=(4, 8), cg_iter=3)
    for p in small.parameters():  # non-zero everywhere (the untrained tails are zero)
        p.data.copy_(0.1 * torch.randn(p.shape, generator=gen))
    fam = get_family("zernike", fc=0.2, psf_size=9)
    op = fam.operator(fam.sample(2, generator=gen), (40, 40))
    y = torch.rand(2, 1, 40, 40, generator=gen)
    for widths in [(4, 8, 16), (4, 8, 16, 16)]:
        big = UnrolledDR(iterations=2, widths=widths, cg_iter=3)
        big.grow_from(small.state_dict(), small.config)
        torch.testing.assert_close(big(y, op, 0.01, 0.02), small(y, op, 0.01, 0.02), rtol=0, atol=1e-6)
        big(y, op, 0.01, 0.02).square().mean().backward()
        n = len(widths) - 2
        assert big.denoisers[0].up[n - 1][0].weight.grad.abs().sum() > 0  # the zero-started upsampling moves
    for bad in [UnrolledDR(iterations=2, widths=(8, 16, 32)), UnrolledDR(iterations=3, widths=(4, 8, 16))]:
        with pytest.raises(ValueError, match="cannot grow"):
            bad.grow_from(small.state_dict(), small.config)


def test_train_commands_build_their_configs(monkeypatch, tmp_path):
    # the CLI layer of both trainers: every option reaches the config (a wrong attribute here once broke
    # `napari-deepblur train deblur` while the trainer's own tests passed)
    import napari_deepblur.training.deblur as tdeblur
    import napari_deepblur.training.identify as tidentify
    from napari_deepblur.cli import main

    seen = {}
    monkeypatch.setattr(tdeblur, "train_deblur", lambda cfg, run, weights: seen.setdefault("deblur", (cfg, run)))
    monkeypatch.setattr(tidentify, "train_identify", lambda cfg, run, weights: seen.setdefault("identify", cfg))
    argv = ["train", "deblur", "--steps", "7", "--p-identified", "0.5", "--p-perturb", "0.25", "--init", "w.pt"]
    argv += ["--fcs", "0.2", "0.35"]
    assert main([*argv, "--mix", "train400=3,skimage=1", "--run-dir", str(tmp_path), "--identify-weights", "i"]) == 0
    cfg, run = seen["deblur"]
    assert (cfg.steps, cfg.p_identified, cfg.p_perturb, cfg.init, run) == (7, 0.5, 0.25, "w.pt", tmp_path)
    assert tuple(cfg.fcs) == (0.2, 0.35)  # undersampled cutoffs (pixel-integrated PSFs) can be trained on
    assert cfg.identify_weights == "i"
    assert cfg.mix == {"train400": 3.0, "skimage": 1.0}
    argv = ["train", "identify", "--family", "gaussian", "--steps", "3", "--mix", "dead_leaves=1", "--loss", "db"]
    assert main([*argv, "--canonical-orientation", "--odd-share", "0.25"]) == 0
    icfg = seen["identify"]
    assert (icfg.family, icfg.steps, icfg.mix, icfg.loss) == ("gaussian", 3, {"dead_leaves": 1.0}, "db")
    assert (icfg.canonical_orientation, icfg.odd_share, icfg.reflection_invariant) == (True, 0.25, False)


def test_deblur_training_with_identified_operators_reports_blind_validation(tmp_path):
    # p_identified: the shipped identification network estimates the operator of the items (and of the
    # validation patches, whose PSNR with that estimate is logged beside the true-operator one)
    import json
    import shutil

    from napari_deepblur.datasets import PatchBank
    from napari_deepblur.networks.weights import weights_path
    from napari_deepblur.training.deblur import (
        DeblurConfig,
        _batch,
        _families,
        _identified,
        identification_file,
        train_deblur,
    )

    cfg = DeblurConfig(
        steps=1,
        batch_size=2,
        crop=48,
        patch=128,
        bank_size=4,
        widths=(4, 8),
        val_every=1,
        val_size=8,
        p_identified=1.0,
        p_gaussian=0.0,
    )
    bank = PatchBank.build(4, 128, seed=0, mix={"dead_leaves": 1.0})
    gen = torch.Generator().manual_seed(0)
    fam, gamma, x, y, _, _, y_full = _batch(cfg, bank, _families(cfg), gen, noise=(0.0, 0.0))
    assert y_full.shape[-1] == 128 and torch.equal(y, y_full[..., 40:88, 40:88]) and x.shape == y.shape
    g = _identified(fam, y_full)
    assert g.shape == gamma.shape and torch.isfinite(g).all()
    lo, hi = fam.bounds().unbind(1)
    centre, half = (lo + hi) / 2, 1.1 * (hi - lo) / 2 + 1e-6  # the network's box is enlarged by 10 %
    assert ((g - centre).abs() <= half).all()
    logs = []
    train_deblur(cfg, tmp_path / "run", tmp_path / "weights", log=logs.append)
    meta = torch.load(tmp_path / "weights" / "deblur.pt", weights_only=True)["meta"]
    assert "identified PSF" in logs[-2] and '"none_blind"' in meta and '"p_identified": 1.0' in meta
    card = (tmp_path / "weights" / "deblur.md").read_text()
    assert "identified PSF: none" in card and "for 100 % of items the data steps use the γ̂" in card
    # which identification weights were used is recorded (a later identification network changes these items)
    used = json.loads(meta)["identification_weights"]
    assert used["zernike"]["file"] == str(weights_path("identify", "zernike")) and len(used["zernike"]["sha256"]) == 16
    assert f"sha256 {used['zernike']['sha256']}" in card
    own = tmp_path / "identify_old"
    own.mkdir()
    shutil.copy(weights_path("identify", "zernike"), own / "identify_zernike.pt")
    assert identification_file("zernike", str(own)) == own / "identify_zernike.pt"
    assert identification_file("gaussian", str(own)) == weights_path("identify", "gaussian")  # not in the folder


def test_shipped_networks_load_channels_last_with_unchanged_outputs():
    # the layout only changes speed (oneDNN convolutions), never the numbers
    import copy

    from napari_deepblur.networks.weights import load_deblur, load_identification

    net, _ = load_deblur()
    conv = net.denoisers[0].head.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    plain = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
    x, s = torch.rand(1, 1, 40, 56), torch.full((1, 1, 40, 56), 0.05)
    torch.testing.assert_close(net.denoisers[0](x, s), plain.denoisers[0](x, s), rtol=1e-5, atol=1e-5)
    ident, _, _ = load_identification("zernike")
    plain_id = copy.deepcopy(ident).to(memory_format=torch.contiguous_format)
    v = torch.rand(2, 1, 96, 96)
    torch.testing.assert_close(ident(v), plain_id(v), rtol=1e-4, atol=1e-5)


def test_floor_scale_acts_on_noise_free_data_only():
    net = UnrolledDR(iterations=2, widths=(4, 8))
    floor = torch.exp(net.log_floor)
    sigma2 = torch.tensor([0.0, 1e-6, 1.0])
    torch.testing.assert_close(net.lam(1, sigma2), torch.exp(net.log_scale[1]) * (sigma2 + floor))  # as trained
    lam = (net.lam(1, sigma2, floor_scale=0.1) / net.lam(1, sigma2)).detach()
    assert lam[0] == pytest.approx(0.1, rel=1e-5)  # noise-free: the floor alone, scaled
    assert 0.1 < lam[1] < 1.0 and lam[2] == pytest.approx(1.0, abs=1e-3)  # strong noise: the floor is 1e-3 of λ


def test_train_identify_refuses_a_family_without_a_network_of_its_own():
    from napari_deepblur.cli import main

    with pytest.raises(SystemExit, match="no identification network of its own"):
        main(["train", "identify", "--family", "spatially-varying", "--steps", "1"])
