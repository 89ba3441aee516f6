"""``identify_bead_stack``: the microscope's aberrations from a through-focus stack of beads (phase diversity).

A bead stack is the standard way to measure a PSF. One plane does not tell the common sign of the even aberrations
(defocus, astigmatism, spherical), and a wide bead's in-focus plane is fitted just as well by some defocus of either
sign; the planes of a stack do tell, because the stage moved the focus by a known step between them. The planes are
fitted together as members of the Zernike family that differ only by that focus shift
(:func:`~napari_deepblur.methods.bead_fit.fit_bead_stack`), then each plane's own defocus is read with the shared
aberrations kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DeblurInputError
from ..physics import ZernikeFamily, focus_shift_coefficients
from ..physics.optics import default_refractive_index

__all__ = ["BeadStackResult", "default_refractive_index", "identify_bead_stack"]

#: Fewest planes a stack must have.
MIN_PLANES = 3


@dataclass
class BeadStackResult:
    """Outcome of :func:`identify_bead_stack`.

    Attributes
    ----------
    gamma : numpy.ndarray
        ``(dim,)`` the aberrations at best focus (waves; defocus 0 there).
    psf : numpy.ndarray
        ``(h, w)`` the fitted PSF at best focus (sums to 1).
    focus_plane : float
        Where the focus lies, in plane indices (fractional).
    defocus : numpy.ndarray
        ``(Z,)`` each plane's defocus (waves), read plane by plane with the shared aberrations kept.
    plane_psfs : numpy.ndarray
        ``(Z, h, w)`` the fitted model of every plane.
    measured : numpy.ndarray
        ``(Z, h, w)`` the beads' PSF on every plane (the average of the isolated beads, background subtracted).
    fit_snr : numpy.ndarray
        ``(Z,)`` PSF SNR (dB) of the fitted model against each plane's beads.
    family : ZernikeFamily
        The family with the stack's optics.
    """

    gamma: np.ndarray
    psf: np.ndarray
    focus_plane: float
    defocus: np.ndarray
    plane_psfs: np.ndarray
    measured: np.ndarray
    fit_snr: np.ndarray
    family: ZernikeFamily
    seconds: float
    details: dict = field(default_factory=dict)

    @property
    def named_gamma(self) -> dict[str, float]:
        """``{parameter name: value}`` at best focus."""
        return self.family.named(self.gamma)


def identify_bead_stack(
    stack,
    z_step: float,
    *,
    na: float,
    wavelength: float,
    pixel_size: float,
    refractive_index: float | None = None,
    psf_size: int = 31,
) -> BeadStackResult:
    """The aberrations of a microscope from a through-focus stack of beads.

    Parameters
    ----------
    stack : array_like
        ``(Z, Y, X)`` planes of sub-resolution beads, the focus moved by ``z_step`` between planes (numpy or dask).
        Isolated beads are found on the maximum projection; up to 20 of the brightest are averaged.
    z_step : float
        Focus step between planes, in µm (the unit of ``wavelength`` and ``pixel_size``).
    na, wavelength, pixel_size : float
        The optics, wavelength and pixel size in µm (required: the focus step is turned into defocus with them).
    refractive_index : float, optional
        Of the medium the focus moves in (default: :func:`default_refractive_index` of the NA, said in
        ``details``).
    psf_size : int
        Side of the PSFs (odd).

    Returns
    -------
    BeadStackResult
        Signs: the defocus grows with the plane index (a stack taken the other way round reads the opposite signs of
        all even terms — defocus, astigmatisms, spherical; comas and trefoils are unaffected).

    Raises
    ------
    DeblurInputError
        Not a 3D stack, too few planes, bad optics or step, or no isolated bead.
    """
    from ..methods.bead_fit import MAX_BEADS, SIGNIFICANT, fit_bead_stack, stack_bead_psfs
    from ..methods.beads import find_beads

    t0 = time.perf_counter()
    if hasattr(stack, "compute") and not isinstance(stack, np.ndarray):
        stack = stack.compute()
    a = np.asarray(stack)
    if a.dtype.kind not in "biuf" or a.ndim != 3:
        raise DeblurInputError(f"a bead stack must be a real-valued (Z, Y, X) array; got {a.dtype} {a.shape}")
    if a.shape[0] < MIN_PLANES:
        raise DeblurInputError(f"a bead stack needs at least {MIN_PLANES} planes through focus; got {a.shape[0]}")
    if not np.isfinite(a).all():
        raise DeblurInputError("the bead stack contains NaN or infinite values")
    if not (np.isfinite(z_step) and z_step > 0):
        raise DeblurInputError(f"z_step must be a positive distance (the unit of the wavelength); got {z_step}")
    n_assumed = refractive_index is None
    n = default_refractive_index(na) if n_assumed else float(refractive_index)
    try:
        fam = ZernikeFamily(na, wavelength, pixel_size, psf_size=psf_size)
        per_unit = focus_shift_coefficients(na, wavelength, n, fam.noll)
    except ValueError as exc:
        raise DeblurInputError(str(exc)) from exc
    a = a.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    a = (a - lo) / (hi - lo) if hi > lo else a - lo
    projection = a.max(0)
    where = find_beads(projection, psf_size, threshold=0.2, min_snr=SIGNIFICANT)
    brightness = np.array([float(projection[r, c]) for r, c in where]) - float(np.median(projection))
    order = np.argsort(-brightness)[:MAX_BEADS]
    measured = stack_bead_psfs(a, where[order], np.clip(brightness[order], 1e-12, None), psf_size)
    if len(measured) == 0:
        raise DeblurInputError(
            "no isolated bead was found in the stack (beads at least one PSF box apart and from the border)"
        )
    ref = int(np.argmax(measured.max(axis=(1, 2))))  # the sharpest plane
    z = torch.arange(len(measured), dtype=torch.float64) - ref
    psfs = torch.from_numpy(measured)
    gamma, defocus, fit = fit_bead_stack(fam, psfs, z * z_step, per_unit)
    i_def = [p.name for p in fam.parameters].index("defocus")
    best_focus = -float(gamma[i_def]) / float(per_unit[i_def])  # distance from the reference plane
    at_focus = gamma + best_focus * per_unit
    with torch.no_grad():
        psf = fam.psf(at_focus[None])[0].numpy()
        planes = fam.psf(gamma[None] + (z * z_step)[:, None] * per_unit[None]).numpy()
    details = {
        "beads": int(min(len(where), MAX_BEADS)),
        "refractive_index": n,
        "refractive_index_assumed": n_assumed,
        "defocus_per_plane": round(float(per_unit[i_def]) * z_step, 4),
        "reference_plane": ref,
        "plane_snr": fit["plane_snr"],
    }
    return BeadStackResult(
        gamma=at_focus.numpy(),
        psf=psf,
        focus_plane=ref + best_focus / z_step,
        defocus=defocus.numpy(),
        plane_psfs=planes,
        measured=measured,
        fit_snr=np.asarray(fit["fit_snr"]),
        family=fam,
        seconds=time.perf_counter() - t0,
        details=details,
    )
