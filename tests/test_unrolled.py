"""The unrolled Douglas–Rachford network (architecture only; training and weights are issue 5's work)."""

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
