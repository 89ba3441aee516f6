"""Beads on an image: finding the isolated ones and cutting out their PSFs (calibration and the bead reading)."""

from __future__ import annotations

import numpy as np

__all__ = ["cut_bead", "extract_beads", "find_beads"]


def find_beads(
    image: np.ndarray, psf_size: int = 31, threshold: float = 0.2, min_snr: float | None = None
) -> np.ndarray:
    """``(n, 2)`` integer positions of isolated beads: local maxima of the lightly smoothed image above ``threshold``
    of its range (and, with ``min_snr``, that many noise deviations — the MAD of the smoothed image — above its
    median: noise peaks then neither count as beads nor spoil a bead's isolation), no other peak closer than
    ``psf_size`` and at least half a PSF from the border."""
    from scipy.ndimage import gaussian_filter
    from skimage.feature import peak_local_max

    a = gaussian_filter(np.asarray(image, dtype=np.float64), 1.0)
    a = a - np.median(a)
    half = psf_size // 2
    floor = None if min_snr is None else min_snr * 1.4826 * float(np.median(np.abs(a)))
    peaks = peak_local_max(a, min_distance=max(2, half // 2), threshold_rel=threshold, threshold_abs=floor,
                           exclude_border=half + 1)  # fmt: skip
    keep = []
    for p in peaks:
        d = np.hypot(*(peaks - p).T)
        if np.all((d == 0) | (d > psf_size)):  # isolated: no other bead inside its PSF box
            keep.append(p)
    return np.asarray(keep, dtype=int).reshape(-1, 2)


def cut_bead(img: np.ndarray, r: int, c: int, psf_size: int, nudge: tuple[float, float] = (0.0, 0.0)):
    """One bead's PSF (or None near the border / without light): background-subtracted, its intensity centroid moved
    to the centre and then by ``nudge`` pixels (one Fourier shift), normalised to sum 1, not clipped."""
    from scipy.ndimage import center_of_mass, fourier_shift

    half = psf_size // 2
    big = half + 4
    if r - big < 0 or c - big < 0 or r + big + 1 > img.shape[0] or c + big + 1 > img.shape[1]:
        return None
    patch = img[r - big : r + big + 1, c - big : c + big + 1].copy()
    rim = np.concatenate([patch[0], patch[-1], patch[:, 0], patch[:, -1]])
    patch -= np.median(rim)
    cy, cx = center_of_mass(np.clip(patch, 0, None))
    shift = (big - cy + nudge[0], big - cx + nudge[1])
    shifted = np.fft.ifft2(fourier_shift(np.fft.fft2(patch), shift)).real
    psf = shifted[4:-4, 4:-4]  # not clipped: the background noise stays zero-mean and the SVD leaves it out
    return psf / psf.sum() if psf.sum() > 0 else None


def extract_beads(image: np.ndarray, positions: np.ndarray, psf_size: int = 31) -> np.ndarray:
    """``(n, psf_size, psf_size)`` PSFs cut out of ``image`` at ``positions``: re-centred on the bead's intensity
    centroid (a Fourier shift), background subtracted (the median of the rim), normalised to sum 1 — not clipped at
    0, so that the noise of the background stays zero-mean (the family's PSFs are clipped). Beads too close to the
    border are left out."""
    img = np.asarray(image, dtype=np.float64)
    out = [cut_bead(img, int(r), int(c), psf_size) for r, c in positions]
    return np.asarray([p for p in out if p is not None]).reshape(-1, psf_size, psf_size)
