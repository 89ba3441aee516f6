"""FFT convolution with circular boundary, its adjoint and the Fourier solve.

Conventions (the same as ``deepinv.physics.Blur(padding="circular", use_fft=True)``):

* images are ``(B, C, H, W)`` real tensors, kernels ``(B, C, h, w)`` (``B`` and ``C`` may be 1 and broadcast);
* the kernel's centre is the pixel ``(h // 2, w // 2)``;
* ``conv2d_fft`` is a *true* convolution, ``y[n] = sum_m h[m] x[n - m]`` (not a correlation), with periodic
  (circular) boundary on the ``H x W`` grid.

Real images are not periodic: callers that deblur data pad the image first (reflect) and crop afterwards, see
:func:`pad_reflect` / :func:`crop`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "conv2d_fft",
    "conv_transpose2d_fft",
    "crop",
    "pad_reflect",
    "psf2otf",
    "solve_normal_fft",
]


def psf2otf(psf: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Real-FFT transfer function of a centred kernel on an ``H x W`` periodic grid.

    Parameters
    ----------
    psf : torch.Tensor
        Kernel(s) of shape ``(..., h, w)`` with ``h <= H`` and ``w <= W``, centre at ``(h // 2, w // 2)``.
    shape : tuple of int
        Image shape ``(H, W)``.

    Returns
    -------
    torch.Tensor
        Complex tensor ``(..., H, W // 2 + 1)``: ``torch.fft.rfft2`` of the zero-padded kernel rolled so that its
        centre sits at index ``(0, 0)``.
    """
    H, W = shape
    h, w = psf.shape[-2:]
    if h > H or w > W:
        raise ValueError(f"kernel {h}x{w} is larger than the image {H}x{W}")
    padded = psf.new_zeros((*psf.shape[:-2], H, W))
    padded[..., :h, :w] = psf
    padded = torch.roll(padded, shifts=(-(h // 2), -(w // 2)), dims=(-2, -1))
    return torch.fft.rfft2(padded)


def _apply_otf(x: torch.Tensor, otf: torch.Tensor) -> torch.Tensor:
    H, W = x.shape[-2:]
    return torch.fft.irfft2(torch.fft.rfft2(x) * otf, s=(H, W))


def conv2d_fft(x: torch.Tensor, psf: torch.Tensor) -> torch.Tensor:
    """Circular convolution ``psf * x`` computed with ``torch.fft``.

    Parameters
    ----------
    x : torch.Tensor
        Images ``(B, C, H, W)``.
    psf : torch.Tensor
        Kernels ``(b, c, h, w)`` broadcastable to ``x``'s batch and channel dimensions.

    Returns
    -------
    torch.Tensor
        Blurred images, same shape as ``x``.
    """
    return _apply_otf(x, psf2otf(psf.to(x.dtype), x.shape[-2:]))


def conv_transpose2d_fft(y: torch.Tensor, psf: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`conv2d_fft` (circular correlation with ``psf``).

    Parameters
    ----------
    y : torch.Tensor
        Images ``(B, C, H, W)``.
    psf : torch.Tensor
        Kernels ``(b, c, h, w)``.

    Returns
    -------
    torch.Tensor
        ``A* y``, same shape as ``y``.
    """
    return _apply_otf(y, psf2otf(psf.to(y.dtype), y.shape[-2:]).conj())


def solve_normal_fft(b: torch.Tensor, otf: torch.Tensor, lam: float | torch.Tensor) -> torch.Tensor:
    """Exact solution of ``(A* A + lam I) u = b`` for a circular convolution ``A``.

    Parameters
    ----------
    b : torch.Tensor
        Right-hand side ``(B, C, H, W)``.
    otf : torch.Tensor
        Transfer function from :func:`psf2otf` for shape ``(H, W)``.
    lam : float or torch.Tensor
        Tikhonov weight ``> 0``; a tensor of shape ``(B,)`` gives one weight per batch item.

    Returns
    -------
    torch.Tensor
        ``u``, same shape as ``b``.
    """
    lam = _as_batch_weight(lam, b)
    H, W = b.shape[-2:]
    denom = otf.real.square() + otf.imag.square() + lam
    return torch.fft.irfft2(torch.fft.rfft2(b) / denom, s=(H, W))


def _as_batch_weight(lam: float | torch.Tensor, ref: torch.Tensor) -> torch.Tensor | float:
    if isinstance(lam, torch.Tensor):
        lam = lam.to(device=ref.device, dtype=ref.dtype)
        if lam.ndim == 1:
            lam = lam.view(-1, *([1] * (ref.ndim - 1)))
    return lam


def pad_reflect(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the two last axes by ``pad`` pixels with mirror (reflect) boundary.

    Falls back to replicate padding where the image is too small for a reflection of that width.
    """
    if pad <= 0:
        return x
    H, W = x.shape[-2:]
    mode = "reflect" if pad < min(H, W) else "replicate"
    shape = x.shape
    x4 = x.reshape(-1, 1, H, W)
    out = F.pad(x4, (pad, pad, pad, pad), mode=mode)
    return out.reshape(shape[:-2] + out.shape[-2:])


def crop(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Inverse of :func:`pad_reflect`: remove ``pad`` pixels on each side of the two last axes."""
    if pad <= 0:
        return x
    return x[..., pad:-pad, pad:-pad]
