"""``calibrate_family``: an operator family from images of sub-resolution beads taken on the user's microscope.

Beads are found on each image (or on the maximum projection of a stack), the isolated ones kept, and each is cut out
around its sub-pixel centre, its background (the median of the cut-out's rim) subtracted, and normalised to sum 1; the
beads of one plane are averaged — one measured PSF per plane (a through-focus stack gives the microscope's own defocus
series, useful even with one bead). The PSFs then give the eigen-PSF family of
:class:`~napari_deepblur.physics.calibrated.CalibratedFamily`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import DeblurInputError
from ..physics.calibrated import DEFAULT_ENERGY, CalibratedFamily, eigen_psfs, simplify_cone

__all__ = ["calibrate_family", "extract_beads", "find_beads"]


def find_beads(image: np.ndarray, psf_size: int = 31, threshold: float = 0.2) -> np.ndarray:
    """``(n, 2)`` integer positions of isolated beads: local maxima of the lightly smoothed image above ``threshold``
    of its range, no brighter neighbour closer than ``psf_size`` and at least half a PSF from the border."""
    from scipy.ndimage import gaussian_filter
    from skimage.feature import peak_local_max

    a = gaussian_filter(np.asarray(image, dtype=np.float64), 1.0)
    a = a - np.median(a)
    half = psf_size // 2
    peaks = peak_local_max(a, min_distance=max(2, half // 2), threshold_rel=threshold, exclude_border=half + 1)
    keep = []
    for p in peaks:
        d = np.hypot(*(peaks - p).T)
        if np.all((d == 0) | (d > psf_size)):  # isolated: no other bead inside its PSF box
            keep.append(p)
    return np.asarray(keep, dtype=int).reshape(-1, 2)


def extract_beads(image: np.ndarray, positions: np.ndarray, psf_size: int = 31) -> np.ndarray:
    """``(n, psf_size, psf_size)`` PSFs cut out of ``image`` at ``positions``: re-centred on the bead's intensity
    centroid (a Fourier shift), background subtracted (the median of the rim), normalised to sum 1 — not clipped at
    0, so that the noise of the background stays zero-mean (the family's PSFs are clipped)."""
    from scipy.ndimage import center_of_mass, fourier_shift

    img = np.asarray(image, dtype=np.float64)
    half = psf_size // 2
    big = half + 4
    out = []
    for r, c in positions:
        if r - big < 0 or c - big < 0 or r + big + 1 > img.shape[0] or c + big + 1 > img.shape[1]:
            continue
        patch = img[r - big : r + big + 1, c - big : c + big + 1].copy()
        rim = np.concatenate([patch[0], patch[-1], patch[:, 0], patch[:, -1]])
        patch -= np.median(rim)
        cy, cx = center_of_mass(np.clip(patch, 0, None))
        shifted = np.fft.ifft2(fourier_shift(np.fft.fft2(patch), (big - cy, big - cx))).real
        psf = shifted[4:-4, 4:-4]  # not clipped: the background noise stays zero-mean and the SVD leaves it out
        if psf.sum() > 0:
            out.append(psf / psf.sum())
    return np.asarray(out).reshape(-1, psf_size, psf_size)


def calibrate_family(
    beads: np.ndarray | Iterable[np.ndarray],
    psf_size: int = 31,
    energy: float = DEFAULT_ENERGY,
    n_rays: int | None = None,
    optics: dict | None = None,
    positions: np.ndarray | None = None,
    provenance: dict | None = None,
    average: bool = True,
) -> CalibratedFamily:
    """An eigen-PSF family (Model 2.1) from bead images.

    Parameters
    ----------
    beads : array or list of arrays
        2D bead images, or ``(Z, H, W)`` through-focus stacks (beads found on the maximum projection, cut out of
        every plane), or a list of either.
    psf_size : int
        Side of the PSFs (odd).
    energy : float
        Share of the measured PSFs' energy the eigen-PSFs must explain (chooses ``K``).
    n_rays : int, optional
        Rays kept by the cone simplification (Algorithm 1; default: all measured PSFs).
    optics : dict, optional
        The microscope's numbers, recorded in the family.
    positions : array, optional
        ``(n, 2)`` bead positions to use instead of those found (e.g. after dropping bad ones in napari).
    provenance : dict, optional
        Recorded in the family file.
    average : bool
        Average the beads of each plane into one PSF (the convolution model: one PSF for the whole field; averaging
        ``n`` beads divides their noise by ``√n``). ``False`` keeps every bead as its own PSF.

    Returns
    -------
    CalibratedFamily
    """
    if psf_size < 5 or psf_size % 2 == 0:
        raise DeblurInputError(f"psf_size must be an odd integer >= 5, got {psf_size}")
    images = [beads] if isinstance(beads, np.ndarray) else list(beads)
    psfs = []
    for img in images:
        img = np.asarray(img, dtype=np.float64)
        if img.ndim not in (2, 3) or not np.isfinite(img).all():
            raise DeblurInputError(f"bead images must be finite 2D images or (Z, H, W) stacks, got shape {img.shape}")
        stack = img if img.ndim == 3 else img[None]
        where = find_beads(stack.max(0), psf_size) if positions is None else np.asarray(positions, dtype=int)
        for plane in stack:
            cut = extract_beads(plane, where, psf_size)
            if len(cut):  # Model 2.1: one PSF for the whole field, so the beads of a plane are averaged
                psfs.append(cut.mean(0, keepdims=True) if average else cut)
    psfs = np.concatenate(psfs) if psfs else np.zeros((0, psf_size, psf_size))
    if len(psfs) < 2:
        raise DeblurInputError(
            f"found {len(psfs)} isolated bead PSF(s); a family needs at least 2 (more beads, a through-focus stack, "
            "or a lower detection threshold)"
        )
    basis, coef, s = eigen_psfs(psfs, energy)
    kept = simplify_cone(coef, n_rays) if n_rays else None
    prov = {"n_psfs": len(psfs), "n_images": len(images), "energy": energy, "beads_averaged": average,
            **(provenance or {})}  # fmt: skip
    return CalibratedFamily(basis, coef, kept, s, optics, prov)
