"""Identification from an image of beads: the image *is* the PSF, so the optics model is fitted to it.

A bead slide, a sparse field of puncta or a single bead shows the PSF itself; an identification network that reads
image statistics is the wrong tool there (the microscope network answers γ ≈ 0 on the real pyotf bead, see the
research record). :func:`bead_psf` decides whether an image is such a picture — nearly all its light (above the
background) inside the boxes of isolated spots — and returns their average, centred, background-subtracted PSF;
:func:`fit_bead` fits the family to it (least squares in PSF space from several starts, :func:`fit_gamma_to_psf`)
and keeps the answer only if the fit explains the spot (:data:`FIT_MIN_SNR`): a nucleus or a blob is not a PSF.

A PSF does not tell the common sign of its even aberrations (the same PSF for ``γ_even`` and ``-γ_even`` when the
pupil is a pure phase), so of the two branches the one nearer the network's estimate is kept — the same gauge along a
through-focus series.
"""

from __future__ import annotations

import numpy as np
import torch

from ..physics import Family, psf_snr
from ..physics.priors import odd_terms

__all__ = ["BEAD_LIGHT_SHARE", "FIT_MIN_SNR", "bead_psf", "fit_bead"]

#: Share of the image's light (above its background) that must lie inside the isolated spots' boxes.
BEAD_LIGHT_SHARE = 0.8
#: Light counts where it stands this many noise deviations (MAD) above the background (the median).
SIGNIFICANT = 5.0
#: PSF SNR (dB) the fitted family member must reach against the spots' PSF to be kept.
FIT_MIN_SNR = 6.0
#: Largest side of the (centre) crop read.
MAX_SIDE = 1024
#: Spots read at most (the brightest).
MAX_BEADS = 20


def bead_psf(x: np.ndarray, psf_size: int) -> tuple[np.ndarray | None, dict]:
    """``(psf, details)``: the mean PSF of the isolated spots of ``x`` (2D, in [0, 1]) weighted by their brightness,
    or ``None`` when the image is not a picture of beads: no isolated spot, or less than :data:`BEAD_LIGHT_SHARE` of
    the light in their boxes — counting the pixels :data:`SIGNIFICANT` noise deviations above the background, and
    counting every pixel's excess over it."""
    from .beads import extract_beads, find_beads

    H, W = x.shape
    top, left = max(0, (H - MAX_SIDE) // 2), max(0, (W - MAX_SIDE) // 2)
    x = x[top : top + MAX_SIDE, left : left + MAX_SIDE]  # a centre crop of big images, as the network reads
    background = float(np.median(x))
    noise = 1.4826 * float(np.median(np.abs(x - background)))
    light = np.where(x - background > SIGNIFICANT * noise, x - background, 0.0)  # light that is not noise
    total = float(light.sum())
    where = find_beads(x, psf_size, threshold=0.2, min_snr=SIGNIFICANT)
    if total <= 0 or len(where) == 0:
        return None, {}
    brightness = np.array([max(float(x[r, c]) - background, 0.0) for r, c in where])
    where = where[np.argsort(-brightness)][:MAX_BEADS]
    half = psf_size // 2
    mask = np.zeros(x.shape, dtype=bool)
    for r, c in where:
        mask[max(r - half, 0) : r + half + 1, max(c - half, 0) : c + half + 1] = True
    share = float(light[mask].sum() / total)
    # the same without the threshold: under strong noise only the brightest spots stand 5 deviations out, while the
    # dim content elsewhere still adds up (the noise itself averages out around the background)
    above = x - background
    all_light = float(above.sum())
    share_all = float(above[mask].sum() / all_light) if all_light > 0 else 0.0
    details = {"bead_spots": len(where), "bead_light_share": round(min(share, share_all), 3)}
    if min(share, share_all) < BEAD_LIGHT_SHARE:
        return None, details
    psfs = extract_beads(x, where, psf_size)
    if not len(psfs):
        return None, details
    weights = np.sort(brightness)[::-1][: len(psfs)]
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(psfs), 1 / len(psfs))
    psf = np.tensordot(weights, psfs, axes=1)
    return (psf, details) if np.isfinite(psf).all() else (None, details)


def fit_bead(fam: Family, psf: np.ndarray, network_gamma: torch.Tensor) -> tuple[torch.Tensor | None, dict]:
    """γ ``(1, dim)`` of the family member closest to the beads' ``psf``, or ``None`` when even the best fit does not
    explain it (:data:`FIT_MIN_SNR`); details. Starts: the network's estimate, γ = 0 and ± defocus."""
    from .psf_fit import fit_gamma_to_psf

    target = torch.from_numpy(np.clip(psf, 0, None))
    target = target / target.sum()
    starts = [network_gamma[0].double(), torch.zeros(fam.dim, dtype=torch.float64)]
    names = [p.name for p in fam.parameters]
    if "defocus" in names:
        for s in (-0.1, 0.1):
            g = torch.zeros(fam.dim, dtype=torch.float64)
            g[names.index("defocus")] = s
            starts.append(g)
    gamma = fit_gamma_to_psf(fam, target, torch.stack(starts), n_iter=150).double()
    with torch.no_grad():
        snr = float(psf_snr(target[None], fam.psf(gamma)))
        even = [k for k in range(fam.dim) if k not in odd_terms(getattr(fam, "noll", ()))]
        twin = gamma.clone()
        twin[:, even] = -twin[:, even]
        twin_snr = float(psf_snr(target[None], fam.psf(twin)))
        if twin_snr > snr - 0.05 and (twin - network_gamma).norm() < (gamma - network_gamma).norm():
            gamma, snr = twin, twin_snr  # the branch of the even terms' sign nearer the network's estimate
    details = {"bead_fit_snr": round(snr, 2)}
    if not (snr >= FIT_MIN_SNR and torch.isfinite(gamma).all()):
        return None, details
    return gamma.float(), details
