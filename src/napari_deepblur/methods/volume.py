"""Deconvolution of a z-stack with a 3D PSF: Richardson–Lucy on an extended domain, accelerated (torch, CPU or GPU).

**Boundary rule.** The stack sees light from a larger object than itself: from outside the field of view and from
above and below the planes recorded. The object is estimated on a domain extended on every side by the PSF's half
size (``A x = crop(h * x)``, the circular convolution on the extended grid, whose size has small prime factors, then
cropped to the stack), and Richardson–Lucy's normalisation is ``A* 1`` instead of 1 (Bertero & Boccacci 2005; what
deconwolf does): the borders then do not ring, and what lies outside the stack is estimated only as far as the stack
supports it.

**Acceleration.** Biggs & Andrews (1997) vector extrapolation: each step is taken from the point ``x_k + a (x_k −
x_{k−1})`` predicted from the last two steps, with ``a = <g_{k−1}, g_{k−2}> / <g_{k−2}, g_{k−2}>`` in [0, 1] (``g``
the last RL corrections); it reaches a given likelihood in fewer iterations than plain RL (measured in the research
record).

The intensity contract of the 2D methods holds: the result is float32 in the stack's units, never below its dark
level (by construction: multiplicative updates from a positive start, on the stack minus its dark level).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..physics.fft import psf2otf, spatial_dims

__all__ = ["fft_size", "richardson_lucy_3d"]


def fft_size(n: int) -> int:
    """The smallest size ``>= n`` whose prime factors are 2, 3, 5 and 7 (fast FFTs)."""
    m = max(int(n), 1)
    while True:
        k = m
        for p in (2, 3, 5, 7):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


class _ExtendedConvolution:
    """``A x = crop(h * x)`` from an extended grid to the stack, and its adjoint ``A* r = h ⋆ pad₀(r)`` (one padded
    buffer reused: its margin stays 0)."""

    def __init__(self, psf: torch.Tensor, shape: tuple[int, int, int]):
        self.shape = tuple(shape)
        self.margin = tuple(k // 2 for k in psf.shape)
        self.grid = tuple(fft_size(n + 2 * m) for n, m in zip(self.shape, self.margin, strict=True))
        self.otf = psf2otf(psf, self.grid)
        self.otf_conj = self.otf.conj().resolve_conj()
        self.inner = tuple(slice(m, m + n) for m, n in zip(self.margin, self.shape, strict=True))
        self.dims = spatial_dims(3)
        self._padded = psf.new_zeros(self.grid)

    def conv(self, x: torch.Tensor, adjoint: bool = False) -> torch.Tensor:
        spec = torch.fft.rfftn(x, dim=self.dims)
        spec.mul_(self.otf_conj if adjoint else self.otf)
        return torch.fft.irfftn(spec, s=self.grid, dim=self.dims)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)[self.inner]

    def A_adjoint(self, r: torch.Tensor) -> torch.Tensor:
        self._padded[self.inner] = r
        return self.conv(self._padded, adjoint=True)


def richardson_lucy_3d(
    stack: np.ndarray,
    psf: np.ndarray,
    n_iter: int = 50,
    *,
    accelerate: bool = True,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Richardson–Lucy deconvolution of a ``(Z, Y, X)`` stack by a 3D PSF, on the extended domain (module docstring).

    Parameters
    ----------
    stack : numpy.ndarray
        The z-stack, non-negative after its dark level is removed (the caller's job: see
        :func:`napari_deepblur.deblur_volume`), any real dtype.
    psf : numpy.ndarray
        ``(d, h, w)`` PSF on the stack's voxels, odd sides, centre ``k // 2``; normalised here to sum 1.
    n_iter : int
        Iterations.
    accelerate : bool
        Biggs–Andrews extrapolation (default) or plain RL.
    device : str or torch.device
        Where the FFTs run (``"cuda"`` on a GPU).
    progress : callable, optional
        ``progress(done, total)`` after each iteration.
    cancelled : callable, optional
        Polled after each iteration; True stops the run (:class:`~napari_deepblur.api.stack.Cancelled` is raised by
        the caller, not here: the current estimate is returned).

    Returns
    -------
    numpy.ndarray
        ``float32`` estimate of the stack's shape.
    """
    dev = torch.device(device)
    y = torch.as_tensor(np.asarray(stack, dtype=np.float32), device=dev).clamp_min(0.0)
    h = torch.as_tensor(np.asarray(psf, dtype=np.float32), device=dev)
    if y.ndim != 3 or h.ndim != 3:
        raise ValueError(
            f"a (Z, Y, X) stack and a (d, h, w) PSF are expected, got {tuple(y.shape)} and {tuple(h.shape)}"
        )
    h = h / h.sum()
    op = _ExtendedConvolution(h, tuple(y.shape))
    eps = 1e-6 * float(y.max()) + 1e-12
    norm = op.A_adjoint(torch.ones_like(y)).clamp_min(1e-3)  # A* 1: < 1 near the borders of the extended domain
    x = torch.full(op.grid, float(y.mean()), device=dev)
    x_prev, g_prev, g_prev2 = None, None, None
    for k in range(n_iter):
        point = x
        if accelerate and g_prev is not None and g_prev2 is not None:
            a = float((g_prev * g_prev2).sum() / (g_prev2 * g_prev2).sum().clamp_min(1e-30))
            a = min(max(a, 0.0), 1.0)
            point = torch.add(x, x - x_prev, alpha=a).clamp_min_(0.0)
        ratio = op.A(point).clamp_min_(eps)
        ratio = torch.div(y, ratio, out=ratio)
        update = op.A_adjoint(ratio).mul_(point).div_(norm)
        x_prev, x = x, update
        g_prev2, g_prev = g_prev, update - point
        if progress is not None:
            progress(k + 1, n_iter)
        if cancelled is not None and cancelled():
            break
    return x[op.inner].float().cpu().numpy()
