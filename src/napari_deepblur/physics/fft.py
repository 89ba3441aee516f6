"""FFT convolution with circular boundary, its adjoint and the Fourier solve — in 2D or 3D.

Conventions (the same as ``deepinv.physics.Blur(padding="circular", use_fft=True)``):

* images are ``(B, C, *shape)`` real tensors with a spatial ``shape`` of two axes ``(H, W)`` or three ``(D, H, W)``;
  kernels ``(B, C, *k)`` with as many spatial axes (``B`` and ``C`` may be 1 and broadcast);
* the kernel's centre is the pixel ``k // 2`` on every axis;
* :func:`conv_fft` is a *true* convolution, ``y[n] = sum_m h[m] x[n - m]`` (not a correlation), with periodic
  (circular) boundary on the grid of ``shape``.

The number of spatial axes is always explicit: the length of ``shape`` (:func:`psf2otf`) or ``ndim`` (2 by
default, so the 2D names keep their meaning). Real images are not periodic: callers that deblur data pad the image
first (reflect) and crop afterwards, see :func:`pad_reflect` / :func:`crop`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "conv2d_fft",
    "conv_fft",
    "conv_transpose2d_fft",
    "conv_transpose_fft",
    "crop",
    "pad_reflect",
    "psf2otf",
    "solve_normal_fft",
    "spatial_dims",
]


def spatial_dims(ndim: int) -> tuple[int, ...]:
    """The last ``ndim`` axes, ``(-ndim, ..., -1)``: the spatial axes of images and kernels (2 or 3)."""
    if ndim not in (2, 3):
        raise ValueError(f"2 or 3 spatial axes are supported, got {ndim}")
    return tuple(range(-ndim, 0))


def psf2otf(psf: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Real-FFT transfer function of a centred kernel on a periodic grid of ``shape`` (2 or 3 axes).

    Parameters
    ----------
    psf : torch.Tensor
        Kernel(s) of shape ``(..., *k)`` with ``len(k) == len(shape)`` and ``k <= shape`` on every axis, centre at
        ``k // 2``.
    shape : tuple of int
        Image shape ``(H, W)`` or ``(D, H, W)``.

    Returns
    -------
    torch.Tensor
        Complex tensor ``(..., *shape[:-1], shape[-1] // 2 + 1)``: ``torch.fft.rfftn`` over the spatial axes of the
        zero-padded kernel rolled so that its centre sits at index 0.
    """
    shape = tuple(int(n) for n in shape)
    dims = spatial_dims(len(shape))
    k = tuple(psf.shape[-len(shape) :])
    if any(a > b for a, b in zip(k, shape, strict=True)):
        raise ValueError(f"kernel {'x'.join(map(str, k))} is larger than the image {'x'.join(map(str, shape))}")
    padded = psf.new_zeros((*psf.shape[: -len(shape)], *shape))
    padded[(..., *(slice(0, a) for a in k))] = psf
    padded = torch.roll(padded, shifts=tuple(-(a // 2) for a in k), dims=dims)
    return torch.fft.rfftn(padded, dim=dims)


def _apply_otf(x: torch.Tensor, otf: torch.Tensor, ndim: int) -> torch.Tensor:
    dims = spatial_dims(ndim)
    return torch.fft.irfftn(torch.fft.rfftn(x, dim=dims) * otf, s=x.shape[-ndim:], dim=dims)


def conv_fft(x: torch.Tensor, psf: torch.Tensor, ndim: int = 2) -> torch.Tensor:
    """Circular convolution ``psf * x`` over the last ``ndim`` axes, computed with ``torch.fft``.

    Parameters
    ----------
    x : torch.Tensor
        Images ``(B, C, *shape)``.
    psf : torch.Tensor
        Kernels ``(b, c, *k)`` broadcastable to ``x``'s batch and channel dimensions.
    ndim : int
        Spatial axes: 2 (images) or 3 (volumes).

    Returns
    -------
    torch.Tensor
        Blurred images, same shape as ``x``.
    """
    return _apply_otf(x, psf2otf(psf.to(x.dtype), x.shape[-ndim:]), ndim)


def conv_transpose_fft(y: torch.Tensor, psf: torch.Tensor, ndim: int = 2) -> torch.Tensor:
    """Adjoint of :func:`conv_fft` (circular correlation with ``psf``), same arguments."""
    return _apply_otf(y, psf2otf(psf.to(y.dtype), y.shape[-ndim:]).conj(), ndim)


def conv2d_fft(x: torch.Tensor, psf: torch.Tensor) -> torch.Tensor:
    """:func:`conv_fft` of images ``(B, C, H, W)``."""
    return conv_fft(x, psf, 2)


def conv_transpose2d_fft(y: torch.Tensor, psf: torch.Tensor) -> torch.Tensor:
    """:func:`conv_transpose_fft` of images ``(B, C, H, W)``: ``A* y``."""
    return conv_transpose_fft(y, psf, 2)


def solve_normal_fft(b: torch.Tensor, otf: torch.Tensor, lam: float | torch.Tensor, ndim: int = 2) -> torch.Tensor:
    """Exact solution of ``(A* A + lam I) u = b`` for a circular convolution ``A``.

    Parameters
    ----------
    b : torch.Tensor
        Right-hand side ``(B, C, *shape)``.
    otf : torch.Tensor
        Transfer function from :func:`psf2otf` for ``shape``.
    lam : float or torch.Tensor
        Tikhonov weight ``> 0``; a tensor of shape ``(B,)`` gives one weight per batch item.
    ndim : int
        Spatial axes of ``b``: 2 or 3.

    Returns
    -------
    torch.Tensor
        ``u``, same shape as ``b``.
    """
    lam = _as_batch_weight(lam, b)
    dims = spatial_dims(ndim)
    denom = otf.real.square() + otf.imag.square() + lam
    return torch.fft.irfftn(torch.fft.rfftn(b, dim=dims) / denom, s=b.shape[-ndim:], dim=dims)


def _as_batch_weight(lam: float | torch.Tensor, ref: torch.Tensor) -> torch.Tensor | float:
    if isinstance(lam, torch.Tensor):
        lam = lam.to(device=ref.device, dtype=ref.dtype)
        if lam.ndim == 1:
            lam = lam.view(-1, *([1] * (ref.ndim - 1)))
    return lam


def pad_reflect(x: torch.Tensor, pad: int, ndim: int = 2) -> torch.Tensor:
    """Pad the last ``ndim`` axes (2 or 3) by ``pad`` pixels with mirror (reflect) boundary.

    Falls back to replicate padding where the image is too small for a reflection of that width.
    """
    if pad <= 0:
        return x
    spatial_dims(ndim)
    sizes = tuple(x.shape[-ndim:])
    mode = "reflect" if pad < min(sizes) else "replicate"
    shape = x.shape
    out = F.pad(x.reshape(-1, 1, *sizes), (pad, pad) * ndim, mode=mode)
    return out.reshape(shape[:-ndim] + out.shape[-ndim:])


def crop(x: torch.Tensor, pad: int, ndim: int = 2) -> torch.Tensor:
    """Inverse of :func:`pad_reflect`: remove ``pad`` pixels on each side of the last ``ndim`` axes."""
    if pad <= 0:
        return x
    spatial_dims(ndim)
    return x[(..., *([slice(pad, -pad)] * ndim))]
