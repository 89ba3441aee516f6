"""SelfDeblur's generators, its loss pieces and the minimal Adam it runs with."""

import numpy as np
import pytest
import torch

from napari_deepblur.methods._optim import Adam
from napari_deepblur.methods.selfdeblur import _ssim, selfdeblur
from napari_deepblur.networks.selfdeblur import ImageGenerator, KernelGenerator


def test_kernel_generator_is_a_softmax_kernel():
    gk = KernelGenerator(9)
    k = gk(torch.rand(200))
    assert k.shape == (9, 9) and float(k.min()) >= 0 and float(k.sum()) == pytest.approx(1, abs=1e-5)
    assert sum(p.numel() for p in gk.parameters()) == 200 * 1000 + 1000 + 1000 * 81 + 81  # 200 -> 1000 -> k^2


def test_image_generator_shape_and_range():
    gx = ImageGenerator(width=8)
    x = gx(torch.rand(1, 8, 45, 37))  # odd sizes: bilinear upsampling back to each level's size
    assert x.shape == (1, 1, 45, 37) and float(x.min()) > 0 and float(x.max()) < 1  # sigmoid output


def test_ssim_is_one_for_identical_images_and_lower_otherwise():
    a = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert float(_ssim(a, a)) == pytest.approx(1, abs=1e-5)
    assert float(_ssim(a, a.flip(-1))) < 0.5


def test_adam_matches_the_textbook_update():
    # (torch.optim is not used as the reference: importing it pulls in torch._dynamo/triton, which crashes a process
    # that has already loaded Qt — the very reason the package carries its own Adam)
    g = torch.Generator().manual_seed(0)
    target = torch.randn(5, generator=g, dtype=torch.float64)
    p = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    ours = Adam([p], lr=0.05)
    ref = np.zeros(5)
    m = np.zeros(5)
    v = np.zeros(5)
    t_np = target.numpy()
    for t in range(1, 21):
        ((p - target) ** 4).sum().backward()
        ours.step()
        grad = 4 * (ref - t_np) ** 3
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        ref = ref - 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    assert np.allclose(p.detach().numpy(), ref, atol=1e-10)
    assert p.grad is None  # cleared by step()


def test_selfdeblur_decreases_its_loss_and_rejects_bad_arguments():
    y = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    r = selfdeblur(y, kernel_size=7, n_iter=30, width=8)
    assert r.image.shape == (40, 40) and r.kernel.shape == (7, 7)
    switch = 6  # the data term turns from MSE into 1 - SSIM after 20 % of the iterations
    assert min(r.losses[:switch]) < r.losses[0] and np.mean(r.losses[-5:]) < r.losses[switch]
    with pytest.raises(ValueError, match="odd"):
        selfdeblur(y, kernel_size=8, n_iter=1)
    with pytest.raises(ValueError, match="n_iter"):
        selfdeblur(y, kernel_size=7, n_iter=0)
