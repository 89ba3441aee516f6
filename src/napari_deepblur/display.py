"""Display helpers shared by the widgets and the sample data (numpy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["psf_montage"]


def psf_montage(psfs: np.ndarray, grid: tuple[int, int], gap: int = 1, normalize: bool = True) -> np.ndarray:
    """Tile a grid of PSFs ``(gy * gx, h, w)`` into one image at their field positions (row-major).

    Parameters
    ----------
    psfs : numpy.ndarray
        ``(K, h, w)`` kernels, ``K = gy * gx``, in row-major node order.
    grid : tuple of int
        ``(gy, gx)``.
    gap : int
        Separator width in pixels (filled with 0).
    normalize : bool
        Scale each PSF to peak 1 so that every position is visible at the same contrast.

    Returns
    -------
    numpy.ndarray
        ``(gy * h + (gy - 1) * gap, gx * w + (gx - 1) * gap)`` ``float32`` image.
    """
    psfs = np.asarray(psfs, dtype=np.float32)
    gy, gx = grid
    K, h, w = psfs.shape
    if K != gy * gx:
        raise ValueError(f"{K} PSFs do not fill a {gy} x {gx} grid")
    out = np.zeros((gy * h + (gy - 1) * gap, gx * w + (gx - 1) * gap), dtype=np.float32)
    for k in range(K):
        i, j = divmod(k, gx)
        p = psfs[k] / psfs[k].max() if normalize and psfs[k].max() > 0 else psfs[k]
        out[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = p
    return out
