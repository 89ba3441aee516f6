"""SelfDeblur (Ren et al., CVPR 2020; seed ``004_…``): zero-shot blind deconvolution, our baseline.

Two untrained generators (:mod:`napari_deepblur.networks.selfdeblur`) are fitted jointly to the one blurry image:

* an image generator ``G_x`` — the Deep Image Prior skip encoder–decoder (5 scales, 128 channels down and up,
  16-channel skips, strided 3 x 3 convolutions down, bilinear upsampling, batch norm, LeakyReLU, reflection padding,
  1 x 1 output convolution and a **sigmoid**), fed a fixed 8-channel uniform noise input of size
  ``(H + k - 1) x (W + k - 1)``;
* a kernel generator ``G_k`` — a fully connected network ``200 → 1000 (ReLU6) → k²`` with a **softmax** output, so
  the kernel is non-negative and sums to one, fed a fixed 200-d uniform noise vector;

minimising ``|| G_k * G_x - y ||² + λ TV(G_x)`` (the paper's eq. 6, ``*`` a 'valid' convolution) with joint Adam
(lr 0.01 for ``G_x``, 1e-4 for ``G_k``, halved at 40/60/80 % of the iterations — 2000/3000/4000 of the paper's 5000),
the network inputs perturbed by N(0, 0.001²) at every iteration, and — as in the authors' code — the data term
switched from the MSE to 1 − SSIM after the first 20 % of iterations (1000 of 5000). ``λ`` follows the noise level
(``tv_weight x sigma²``).

The iteration count and the width of ``G_x`` are parameters: the paper's 5000 iterations at 128 channels take hours
on a laptop CPU for a 512 x 512 image; the benchmark states the reduced settings it uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..networks.selfdeblur import ImageGenerator, KernelGenerator
from ._optim import Adam
from .regularisation import effective_sigma

__all__ = ["SelfDeblurResult", "run_selfdeblur", "selfdeblur"]


def _ssim(a: torch.Tensor, b: torch.Tensor, win: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM of two ``(1, 1, H, W)`` images in [0, 1] with a Gaussian window."""
    t = torch.arange(win, dtype=a.dtype, device=a.device) - win // 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = (g / g.sum())[:, None] * (g / g.sum())[None, :]
    w = g[None, None]

    def f(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, w)

    mu_a, mu_b = f(a), f(b)
    saa, sbb, sab = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return s.mean()


def _tv(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


@dataclass
class SelfDeblurResult:
    """Image (``H x W``, same scale as the input) and kernel (``k x k``, a convolution kernel summing to 1)."""

    image: np.ndarray
    kernel: np.ndarray
    losses: list[float]


def selfdeblur(
    y: np.ndarray,
    kernel_size: int = 31,
    n_iter: int = 5000,
    *,
    sigma: float = 0.0,
    tv_weight: float = 1.0,
    width: int = 128,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
    progress_every: int = 1,
) -> SelfDeblurResult:
    """Blind deconvolution of ``y`` (2D, scaled to [0, 1]) by SelfDeblur.

    Parameters
    ----------
    y : numpy.ndarray
        Blurry image in about [0, 1] (the generator's output is a sigmoid).
    kernel_size : int
        Side ``k`` of the estimated kernel (odd).
    n_iter : int
        Joint Adam iterations (paper: 5000).
    sigma : float
        Noise standard deviation of ``y``; the TV weight is ``tv_weight * sigma**2``.
    width : int
        Channels of the image generator (paper: 128).
    seed : int
        Seed of the network inputs and weights.
    device : str or torch.device
        Where to run.
    progress : callable, optional
        ``progress(done, n_iter)``, called every ``progress_every`` iterations; raising in it stops the run.
    """
    if kernel_size % 2 == 0 or kernel_size < 3:
        raise ValueError(f"kernel_size must be odd and >= 3, got {kernel_size}")
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gx = ImageGenerator(width=width).to(dev)
        gk = KernelGenerator(kernel_size).to(dev)
    H, W = y.shape
    k = kernel_size
    yt = torch.as_tensor(np.asarray(y, dtype=np.float32), device=dev)[None, None]
    zx0 = (0.1 * torch.rand(1, 8, H + k - 1, W + k - 1, generator=gen)).to(dev)
    zk0 = (0.1 * torch.rand(200, generator=gen)).to(dev)
    opt_x = Adam([p for p in gx.parameters()], lr=0.01)
    opt_k = Adam([p for p in gk.parameters()], lr=1e-4)
    milestones = [math.ceil(f * n_iter) for f in (0.4, 0.6, 0.8)]
    switch = math.ceil(0.2 * n_iter)
    lam = tv_weight * sigma**2
    losses: list[float] = []
    noise = torch.Generator(device=dev).manual_seed(seed + 1)
    gx.train()
    for it in range(n_iter):
        if it in milestones:
            opt_x.lr *= 0.5
            opt_k.lr *= 0.5
        zx = zx0 + 0.001 * torch.randn(zx0.shape, generator=noise, device=dev)
        zk = zk0 + 0.001 * torch.randn(zk0.shape, generator=noise, device=dev)
        x = gx(zx)
        kern = gk(zk)
        yb = F.conv2d(x, torch.flip(kern, (0, 1))[None, None])  # 'valid' true convolution -> (1, 1, H, W)
        data = F.mse_loss(yb, yt) if it < switch else 1 - _ssim(yb, yt)
        loss = data + lam * _tv(x)
        loss.backward()
        opt_x.step()
        opt_k.step()
        losses.append(float(loss.detach()))
        if progress is not None and ((it + 1) % progress_every == 0 or it + 1 == n_iter):
            progress(it + 1, n_iter)
    with torch.no_grad():  # the generator stays in training mode (batch statistics), as in DIP and SelfDeblur's code
        x = gx(zx0)
        kern = gk(zk0)
        r = (k - 1) // 2
        img = x[0, 0, r : r + H, r : r + W].cpu().numpy()
    return SelfDeblurResult(image=img.astype(np.float32), kernel=kern.cpu().numpy().astype(np.float32), losses=losses)


def run_selfdeblur(
    x: np.ndarray,
    kernel: None,
    alpha: float,
    beta: float,
    *,
    family=None,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
    nonneg: bool = True,
    **options,
) -> SelfDeblurResult:
    """:func:`selfdeblur` as a registry method: blind, so ``kernel`` is None and the result carries the kernel it
    found; the TV weight follows the image's noise, the kernel side defaults to ``family``'s PSF size. The image
    generator ends in a sigmoid, so the image is in [0, 1] whatever ``nonneg`` says."""
    opts = {"kernel_size": family.psf_size if family is not None else 31, **options}
    return selfdeblur(x, sigma=effective_sigma(x, alpha, beta), device=device, progress=progress, **opts)
