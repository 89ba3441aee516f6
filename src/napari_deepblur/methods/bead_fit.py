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

__all__ = ["BEAD_LIGHT_SHARE", "FIT_MIN_SNR", "bead_psf", "fit_bead", "fit_bead_stack", "stack_bead_psfs"]

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


def stack_bead_psfs(stack: np.ndarray, positions: np.ndarray, weights: np.ndarray, psf_size: int) -> np.ndarray:
    """``(Z, psf_size, psf_size)``: the beads of a through-focus ``stack`` ``(Z, H, W)`` at ``positions``, each cut out
    of every plane around one centre (its intensity centroid over the whole stack, so the planes stay registered),
    background-subtracted (the median of the box's rim, plane by plane), averaged with ``weights``, clipped at 0 and
    normalised to sum 1 per plane. Beads too close to the border are left out (an empty result if none is left)."""
    from scipy.ndimage import center_of_mass, fourier_shift

    big = psf_size // 2 + 4
    Z, H, W = stack.shape
    out, used = np.zeros((Z, psf_size, psf_size)), 0.0
    for (r, c), w in zip(positions, weights, strict=True):
        if r - big < 0 or c - big < 0 or r + big + 1 > H or c + big + 1 > W:
            continue
        box = stack[:, r - big : r + big + 1, c - big : c + big + 1].astype(np.float64)
        rims = np.concatenate([box[:, 0], box[:, -1], box[:, :, 0], box[:, :, -1]], axis=1)
        box = box - np.median(rims, axis=1)[:, None, None]
        cy, cx = center_of_mass(np.clip(box.sum(0), 0, None))
        shift = (big - cy, big - cx)
        for k in range(Z):
            plane = np.fft.ifft2(fourier_shift(np.fft.fft2(box[k]), shift)).real[4:-4, 4:-4]
            out[k] += w * plane
        used += w
    if used == 0:
        return np.zeros((0, psf_size, psf_size))
    out = np.clip(out, 0, None)
    total = out.sum(axis=(1, 2), keepdims=True)
    return np.where(total > 0, out / np.where(total > 0, total, 1), 0.0)


def fit_bead_stack(
    fam: Family, psfs: torch.Tensor, z: torch.Tensor, per_unit: torch.Tensor, n_iter: int = 200
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Phase diversity: the aberrations shared by the planes of a through-focus bead stack.

    Parameters
    ----------
    fam : Family
        A Zernike family with the stack's optics.
    psfs : torch.Tensor
        ``(Z, h, w)`` the beads' PSF on each plane (sum 1).
    z : torch.Tensor
        ``(Z,)`` each plane's focus position relative to the reference plane (the unit of the wavelength).
    per_unit : torch.Tensor
        ``(dim,)`` the coefficients one unit of focus shift adds (:func:`~napari_deepblur.physics.zernike.
        focus_shift_coefficients`).

    Returns
    -------
    gamma : torch.Tensor
        ``(dim,)`` float64, the aberrations at the reference plane: plane ``k`` is the member ``gamma + z[k] *
        per_unit``, fitted to all planes at once (least squares in PSF space, relative to each plane's norm; Adam from
        three defocus starts, the best kept). The focus shift between planes, known from the stage, lifts the sign
        ambiguity of the even terms that one plane leaves (up to the convention of ``per_unit``).
    defocus : torch.Tensor
        ``(Z,)`` the defocus (waves) of each plane read on its own with the shared aberrations kept: the focus position
        whose member is closest to that plane's PSF (a grid of 401 positions over ±1.2 waves of defocus).
    details : dict
        ``fit_snr`` per plane (dB, the shared fit), ``plane_snr`` (the per-plane reading).
    """
    import copy

    from ._optim import adam_minimize

    if hasattr(fam, "pupil_size"):  # a coarse pupil grid is plenty for a 31-px PSF
        fam = copy.copy(fam)
        fam.pupil_size = max(64, 2 * fam.psf_size)
    psfs, z, per_unit = psfs.double(), z.double(), per_unit.double()
    norms = psfs.square().sum(dim=(-2, -1))
    names = [p.name for p in fam.parameters]
    i_def = names.index("defocus")

    def members(g: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:  # (S, dim), (Z,) -> (S, Z, h, w)
        planes = g[:, None, :] + shift[None, :, None] * per_unit[None, None, :]
        return fam.psf(planes.reshape(-1, fam.dim)).reshape(g.shape[0], len(shift), *psfs.shape[-2:])

    def loss(g: torch.Tensor) -> torch.Tensor:
        return ((members(g, z) - psfs[None]).square().sum(dim=(-2, -1)) / norms).sum()

    starts = torch.zeros(3, fam.dim, dtype=torch.float64)
    starts[:, i_def] = torch.tensor([-0.2, 0.0, 0.2], dtype=torch.float64)
    found = adam_minimize(loss, starts, lr=0.003, n_iter=n_iter)
    with torch.no_grad():
        fits = members(found, z)
        err = ((fits - psfs[None]).square().sum(dim=(-2, -1)) / norms).sum(1)
        best = int(err.argmin())
        gamma, fit = found[best], fits[best]
        step = float(per_unit[i_def])
        grid = torch.linspace(-1.2, 1.2, 401, dtype=torch.float64)  # defocus (waves) → focus position
        positions = (grid - gamma[i_def]) / step
        defocus, plane_snr = torch.zeros(len(z), dtype=torch.float64), []
        candidates = fam.psf(gamma[None] + positions[:, None] * per_unit[None])
        for k in range(len(z)):
            e = (candidates - psfs[k][None]).square().sum(dim=(-2, -1))
            i = int(e.argmin())
            defocus[k] = grid[i]
            plane_snr.append(round(float(psf_snr(psfs[k][None], candidates[i][None])), 2))
        fit_snr = [round(float(psf_snr(psfs[k][None], fit[k][None])), 2) for k in range(len(z))]
    return gamma, defocus, {"fit_snr": fit_snr, "plane_snr": plane_snr}
