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
from ..methods.beads import cut_bead, extract_beads, find_beads
from ..physics.calibrated import DEFAULT_ENERGY, CalibratedFamily, eigen_psfs, simplify_cone
from ..physics.calibrated_field import (
    MAX_COMPONENTS,
    CalibratedField,
    choose_model,
    monomials,
    normalised_positions,
)

__all__ = ["calibrate_family", "calibrate_field", "extract_beads", "find_beads"]

#: Rounds of registering every bead on the fitted field's PSF at its position (:func:`calibrate_field`).
REGISTRATION_ROUNDS = 2


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


def calibrate_field(
    image: np.ndarray,
    psf_size: int = 31,
    positions: np.ndarray | None = None,
    components: int | None = None,
    degree: int | None = None,
    fc: float | None = None,
    provenance: dict | None = None,
) -> CalibratedField:
    """The space-varying PSF over the field (Model 2.2) from one image of beads spread across it.

    Parameters
    ----------
    image : array
        2D image of isolated sub-resolution beads (the in-focus plane).
    psf_size : int
        Side of the PSFs (odd).
    positions : array, optional
        ``(n, 2)`` bead positions to use instead of those found (e.g. after dropping bad ones in napari).
    components, degree : int, optional
        Number of eigen-PSFs and polynomial degree of their coefficient maps (default: both chosen by leave-one-out
        cross-validation over the beads, :func:`~napari_deepblur.physics.calibrated_field.choose_model`).
    fc : float, optional
        The optics' cutoff ``NA * pixel / wavelength``: the beads' PSFs carry no frequency above ``2 fc`` (the
        incoherent OTF's support), so what is there is noise and is removed. Default: the band is estimated from the
        beads (:func:`band_limit`).
    provenance : dict, optional
        Recorded in the field file.

    Returns
    -------
    CalibratedField
    """
    if psf_size < 5 or psf_size % 2 == 0:
        raise DeblurInputError(f"psf_size must be an odd integer >= 5, got {psf_size}")
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or not np.isfinite(img).all():
        raise DeblurInputError(f"a field calibration takes one finite 2D bead image, got shape {img.shape}")
    where = find_beads(img, psf_size) if positions is None else np.asarray(positions, dtype=int).reshape(-1, 2)
    cut = [cut_bead(img, int(r), int(c), psf_size) for r, c in where]  # a bead on the border is dropped
    where = np.asarray([p for p, c in zip(where, cut, strict=True) if c is not None]).reshape(-1, 2)
    if len(where) < 6:
        raise DeblurInputError(
            f"found {len(where)} isolated beads away from the border; a field calibration needs at least 6 spread "
            "over the field (more beads, or a lower detection threshold)"
        )
    psfs = np.asarray([c for c in cut if c is not None])
    band = band_limit(psfs) if fc is None else min(2 * fc * 1.05, 0.75)
    psfs = low_pass(psfs, band)
    uv = normalised_positions(where, img.shape)
    for rnd in range(REGISTRATION_ROUNDS + 1):
        basis, coef, _ = eigen_psfs(psfs, k=len(psfs))  # every component: the cross-validation chooses how many
        errors: dict[str, float] = {}
        k, d = components, degree
        if k is None or d is None:
            k_cv, d_cv, errors = choose_model(uv, coef, max_components=components or MAX_COMPONENTS)
            k, d = components or k_cv, d_cv if degree is None else degree
        polynomial = np.linalg.lstsq(monomials(uv, d), coef[:, :k], rcond=None)[0]
        field = CalibratedField(basis[:k], polynomial, d, img.shape, where, coef[:, :k])
        if rnd == REGISTRATION_ROUNDS:
            break
        # register every bead on the field's PSF at its position (its centroid is pulled by the noise)
        model = field.psf_at(where).numpy()
        psfs = low_pass(np.asarray([_registered(img, p, m, psf_size) for p, m in zip(where, model, strict=True)]),
                        band)  # fmt: skip
    field.provenance = {"n_beads": len(where), "K": int(k), "degree": int(d), "band_limit": band,
                        "fc_given": fc, "registration_rounds":
                        REGISTRATION_ROUNDS, "loo_error": errors, **(provenance or {})}  # fmt: skip
    return field


def _radius(shape: tuple[int, int]) -> np.ndarray:
    fy, fx = np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.fftfreq(shape[1]), indexing="ij")
    return np.hypot(fy, fx)


def band_limit(psfs: np.ndarray, margin: float = 1.1) -> float:
    """The radius (cycles/px) beyond which the beads' mean PSF ``(P, h, w)`` holds only noise: the largest frequency
    whose ring power stands 4× above the noise floor (the median power of the outermost frequencies), times
    ``margin``."""
    power = np.abs(np.fft.fft2(psfs.mean(0))) ** 2
    r = _radius(power.shape)
    floor = float(np.median(power[r > 0.45]))
    rings = np.round(r * power.shape[0]).astype(int)
    mean = np.bincount(rings.ravel(), power.ravel()) / np.maximum(np.bincount(rings.ravel()), 1)
    above = np.nonzero(mean > 4 * floor)[0]
    edge = (above.max() if len(above) else rings.max()) / power.shape[0]
    return float(min(margin * edge + 1.0 / power.shape[0], 0.75))


def low_pass(psfs: np.ndarray, band: float) -> np.ndarray:
    """PSFs ``(P, h, w)`` without their frequencies above ``band`` cycles/px (renormalised to sum 1)."""
    keep = _radius(psfs.shape[-2:]) <= band
    out = np.fft.ifft2(np.fft.fft2(psfs) * keep).real
    return out / out.sum(axis=(-2, -1), keepdims=True)


def _registered(img: np.ndarray, pos: np.ndarray, model: np.ndarray, psf_size: int) -> np.ndarray:
    """The bead at ``pos`` cut out again, moved so that it best matches ``model`` (upsampled cross-correlation)."""
    from skimage.registration import phase_cross_correlation

    first = cut_bead(img, int(pos[0]), int(pos[1]), psf_size)
    shift, _, _ = phase_cross_correlation(model, first, upsample_factor=20, normalization=None)
    moved = cut_bead(img, int(pos[0]), int(pos[1]), psf_size, nudge=(shift[0], shift[1]))
    return first if moved is None else moved
