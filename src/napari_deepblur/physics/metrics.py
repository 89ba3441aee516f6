"""Image and PSF quality metrics."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["center_to_size", "psf_snr"]


def center_to_size(psf: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero-pad or crop kernels ``(..., h, w)`` around their centre ``(h // 2, w // 2)`` to ``size``."""
    h, w = psf.shape[-2:]
    H, W = size
    out = psf.new_zeros((*psf.shape[:-2], H, W))
    # source and destination windows aligned on the centres
    cy, cx, CY, CX = h // 2, w // 2, H // 2, W // 2
    top, left = min(cy, CY), min(cx, CX)
    bottom, right = min(h - cy, H - CY), min(w - cx, W - CX)
    out[..., CY - top : CY + bottom, CX - left : CX + right] = psf[..., cy - top : cy + bottom, cx - left : cx + right]
    return out


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift the two last axes by ``(dy, dx)`` with zero fill."""
    h, w = x.shape[-2:]
    p = max(abs(dy), abs(dx))
    if p == 0:
        return x
    xp = F.pad(x.reshape(-1, 1, h, w), (p, p, p, p))
    out = xp[..., p - dy : p - dy + h, p - dx : p - dx + w]
    return out.reshape(x.shape)


def psf_snr(
    h: torch.Tensor,
    h_hat: torch.Tensor,
    *,
    align: bool = False,
    max_shift: int | None = None,
    normalize: bool = False,
) -> torch.Tensor:
    """PSF signal-to-noise ratio ``10 log10(||h||^2 / ||h - h_hat||^2)`` in dB, per batch item.

    Parameters
    ----------
    h : torch.Tensor
        True kernels ``(B, h, w)``, or ``(B, K, h, w)`` for a grid of PSFs (the norms then run over the whole grid).
    h_hat : torch.Tensor
        Estimates; if their spatial size differs they are centre-cropped/padded to ``h``'s size.
    align : bool
        Score the best integer shift of ``h_hat`` (the same shift for the whole grid), as for free-kernel methods
        that do not fix the kernel's position.
    max_shift : int, optional
        Largest shift tried in each direction (default: a quarter of the kernel side).
    normalize : bool
        Rescale each estimate to sum 1 before scoring (for methods whose kernel has an arbitrary scale).

    Returns
    -------
    torch.Tensor
        ``(B,)`` SNR in dB.
    """
    if h.ndim == 2:
        h, h_hat = h[None], h_hat[None] if h_hat.ndim == 2 else h_hat
    h_hat = center_to_size(h_hat.to(h.dtype), tuple(h.shape[-2:]))
    dims = tuple(range(1, h.ndim))
    if normalize:
        h_hat = h_hat / h_hat.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    num = h.square().sum(dim=dims)
    if not align:
        err = (h - h_hat).square().sum(dim=dims)
    else:
        s = max(h.shape[-1], h.shape[-2]) // 4 if max_shift is None else int(max_shift)
        err = torch.stack(
            [(h - _shift(h_hat, dy, dx)).square().sum(dim=dims) for dy in range(-s, s + 1) for dx in range(-s, s + 1)]
        ).amin(dim=0)
    return 10 * torch.log10(num / err.clamp_min(1e-30))
