"""``deblur_volume``: a z-stack deconvolved with a 3D PSF — the PSF of the optics (or a measured one) and 3D
Richardson–Lucy on an extended domain (:mod:`napari_deepblur.methods.volume`).

Non-blind for now: the aberrations are given (none by default) or the PSF is measured; the blind 3D estimate read
from the stack itself is the next step. ``deblur(stack)`` still deblurs plane by plane with 2D PSFs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import DeblurInputError
from .params import check_optics_input, resolve_device

__all__ = ["MIN_PLANES", "VolumeResult", "deblur_volume", "volume_psf"]

#: Fewest planes a stack needs for a 3D deconvolution (fewer: deblur plane by plane).
MIN_PLANES = 3
#: Lateral side of the 3D PSF computed from the optics (px): the defocused planes of a widefield PSF are wide.
VOLUME_PSF_SIZE = 63
#: Axial steps (µm) a light microscope's z-stack takes: outside, the unit is wrong (nm) or it is no z-stack.
Z_STEP_RANGE = (0.01, 20.0)


@dataclass
class VolumeResult:
    """Outcome of :func:`deblur_volume`.

    Attributes
    ----------
    image : numpy.ndarray
        The deconvolved stack, the input's shape, ``float32``, in its intensity units and offset.
    psf : numpy.ndarray
        The 3D PSF used, ``(d, h, w)`` on the stack's voxels, summing to 1.
    details : dict
        The optics, the PSF model, the method and its iterations, the dark level.
    timings : dict
        Seconds per stage (``psf``, ``deconvolution``, ``total``).
    """

    image: np.ndarray
    psf: np.ndarray
    details: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def _check_z_step(z_step) -> float:
    lo, hi = Z_STEP_RANGE
    if z_step is None:
        raise DeblurInputError("z_step (the focus step between planes, in µm) is needed for a 3D PSF")
    z = float(z_step)
    if not math.isfinite(z) or not lo <= z <= hi:
        hint = f"; in nanometres that is {z / 1000:g} µm" if lo <= z / 1000 <= hi else ""
        raise DeblurInputError(f"z_step={z:g} is not a focus step in µm (expected {lo:g} to {hi:g}){hint}")
    return z


def volume_psf(
    n_planes: int,
    *,
    na: float,
    wavelength: float,
    pixel_size: float,
    z_step: float,
    immersion_index: float | None = None,
    sample_index: float | None = None,
    depth: float = 0.0,
    aberrations: np.ndarray | None = None,
    psf_size: int = VOLUME_PSF_SIZE,
) -> np.ndarray:
    """The widefield 3D PSF of the optics for a stack of ``n_planes``: ``2 n − 1`` planes ``z_step`` apart (every
    plane sees every other), ``psf_size`` pixels wide, pixel-integrated when undersampled
    (:func:`~napari_deepblur.physics.psf3d.widefield_psf_3d`); ``aberrations``: Noll 4–11 in waves (none by default);
    the immersion index defaults to the objective's likely medium (:func:`~napari_deepblur.physics.optics.
    default_refractive_index`)."""
    import torch

    from ..physics.optics import default_refractive_index, oversampling
    from ..physics.psf3d import axial_planes, widefield_psf_3d

    check_optics_input(na, wavelength, pixel_size)
    n = default_refractive_index(na) if immersion_index is None else float(immersion_index)
    g = np.zeros(8) if aberrations is None else np.asarray(aberrations, dtype=np.float64).reshape(8)
    try:
        psf = widefield_psf_3d(
            torch.as_tensor(g[None]), na=na, wavelength=wavelength, pixel_size=pixel_size,
            z=axial_planes(2 * int(n_planes) - 1, _check_z_step(z_step)), immersion_index=n,
            sample_index=sample_index, depth=depth, psf_size=psf_size,
            oversample=oversampling(na * pixel_size / wavelength),
        )  # fmt: skip
    except ValueError as exc:
        raise DeblurInputError(str(exc)) from None
    return psf[0].float().numpy()


def _auto_iterations(y, raw, dark, na, wavelength, pixel_size, optics_known: bool) -> tuple[int, dict]:
    """The iteration count of ``n_iter="auto"`` and the noise it was read from (the middle plane, scaled to [0, 1])."""
    from ..methods.regularisation import RL3D_ITER, effective_sigma, rl_iterations
    from ..physics.noise import estimate_noise, quantisation_step

    scale = max(float(np.percentile(y, 99.99)) - dark, 1e-12)
    mid = (y[y.shape[0] // 2] - dark) / scale
    fc = na * pixel_size / wavelength if optics_known else None
    alpha, beta = estimate_noise(mid, fc=fc, quantum=quantisation_step(np.asarray(raw)) / scale)
    sigma = effective_sigma(mid, alpha, beta)
    return rl_iterations(sigma, *RL3D_ITER), {"alpha": alpha, "beta": beta, "sigma": sigma, "plane": y.shape[0] // 2}


def deblur_volume(
    stack,
    *,
    z_step: float | None = None,
    na: float | None = None,
    wavelength: float | None = None,
    pixel_size: float | None = None,
    immersion_index: float | None = None,
    sample_index: float | None = None,
    depth: float = 0.0,
    psf=None,
    n_iter: int | str = "auto",
    accelerate: bool = True,
    device: str = "auto",
    progress: Callable[[int, int, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> VolumeResult:
    """Deconvolve a ``(Z, Y, X)`` z-stack with a 3D PSF (3D Richardson–Lucy, Biggs–Andrews accelerated).

    Parameters
    ----------
    stack : array_like
        ``(Z, Y, X)``, at least :data:`MIN_PLANES` planes and 16 × 16 pixels, any real dtype (numpy or dask).
    z_step, na, wavelength, pixel_size : float
        The focus step between planes and the optics, lengths in µm: the 3D PSF of the optics (:func:`volume_psf`).
        Not needed with ``psf``.
    immersion_index, sample_index, depth : float, optional
        The immersion medium (default: from the NA), the sample's index and the depth below the coverslip (µm) for
        refractive-index mismatch.
    psf : array_like, optional
        A measured ``(d, h, w)`` PSF on the stack's voxels, centred at ``k // 2`` (an even side gets one zero slice at
        its end), no deeper than ``2 Z − 1``.
    n_iter : int or "auto"
        Iterations (accelerated: 20 reach about what 50 plain ones do). ``"auto"`` (default): ``clip(round(0.7 /
        σ), 5, 50)`` (:data:`~napari_deepblur.methods.regularisation.RL3D_ITER`) for the mean noise σ of the middle
        plane scaled to [0, 1] — fewer on noisy stacks, where Richardson–Lucy soon amplifies the noise.
    accelerate : bool
        Biggs–Andrews extrapolation.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
    progress : callable, optional
        ``progress(done, total, stage)``.
    cancelled : callable, optional
        Polled between iterations; True stops the run and raises
        :class:`~napari_deepblur.api.stack.Cancelled`.

    Returns
    -------
    VolumeResult
        The stack deconvolved, in its units and offset (never below its dark level: its 0.01th percentile), and the
        3D PSF used.
    """
    from ..methods.volume import richardson_lucy_3d
    from .stack import Cancelled

    t0 = time.perf_counter()
    if isinstance(stack, (str, bytes)):
        raise DeblurInputError("stack is a file path: pass an array; read the file with tifffile.imread")
    if hasattr(stack, "compute") and not isinstance(stack, np.ndarray):
        stack = stack.compute()
    y = np.asarray(stack)
    if y.dtype.kind not in "iuf":
        raise DeblurInputError(f"stack has dtype {y.dtype}; expected a real-valued (integer or float) z-stack")
    if y.ndim != 3:
        raise DeblurInputError(f"a (Z, Y, X) z-stack is expected, got shape {y.shape}")
    if y.shape[0] < MIN_PLANES:
        raise DeblurInputError(
            f"{y.shape[0]} plane(s): a 3D deconvolution needs at least {MIN_PLANES}; deblur the planes one by one"
        )
    if min(y.shape[1:]) < 16:
        raise DeblurInputError(f"planes of {y.shape[1]}x{y.shape[2]} pixels are too small (at least 16 x 16)")
    y = y.astype(np.float32)
    if not np.isfinite(y).all():
        raise DeblurInputError("the stack contains NaN or infinite values")
    details: dict = {"method": "Richardson-Lucy 3D", "accelerated": bool(accelerate)}
    if psf is None:
        missing = [k for k, v in (("na", na), ("wavelength", wavelength), ("pixel_size", pixel_size)) if v is None]
        if missing:
            raise DeblurInputError(f"give {', '.join(missing)} (µm) and z_step for the 3D PSF of the optics, or a psf")
        kernel = volume_psf(y.shape[0], na=na, wavelength=wavelength, pixel_size=pixel_size, z_step=z_step,
                            immersion_index=immersion_index, sample_index=sample_index, depth=depth)  # fmt: skip
        details["psf"] = {"model": "widefield, scalar pupil through focus (Gibson-Lanni OPD)", "na": na,
                          "wavelength": wavelength, "pixel_size": pixel_size, "z_step": float(z_step),
                          "immersion_index": immersion_index, "sample_index": sample_index, "depth": depth}  # fmt: skip
    else:
        kernel = np.asarray(psf, dtype=np.float32)
        if kernel.ndim != 3:
            raise DeblurInputError(f"psf must be a (d, h, w) volume, got shape {kernel.shape}")
        if any(k % 2 == 0 for k in kernel.shape):  # centre k // 2 kept: one zero plane / row / column at the end
            kernel = np.pad(kernel, [(0, 1 - k % 2) for k in kernel.shape])
        if kernel.shape[0] > 2 * y.shape[0] - 1:
            raise DeblurInputError(
                f"the PSF ({kernel.shape[0]} planes) is deeper than the stack can use ({2 * y.shape[0] - 1} for "
                f"{y.shape[0]} planes): crop it around its focus"
            )
        if not (np.isfinite(kernel).all() and kernel.min() >= 0 and kernel.sum() > 0):
            raise DeblurInputError("psf must be finite, non-negative and not all zero")
        details["psf"] = {"model": "given"}
        kernel = kernel / kernel.sum()
    t_psf = time.perf_counter() - t0
    dark = float(np.percentile(y, 0.01))
    details["dark_level"] = dark
    if isinstance(n_iter, str):
        if n_iter != "auto":
            raise DeblurInputError(f"n_iter must be a number of iterations or 'auto', got {n_iter!r}")
        n_iter, details["noise"] = _auto_iterations(y, stack, dark, na, wavelength, pixel_size, psf is None)
    details["n_iter"] = int(n_iter)

    def prog(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total, "Richardson-Lucy 3D")

    dev = resolve_device(device)
    out = richardson_lucy_3d(y - dark, kernel, int(n_iter), accelerate=accelerate, device=dev, progress=prog,
                             cancelled=cancelled)  # fmt: skip
    if cancelled is not None and cancelled():
        raise Cancelled()
    total = time.perf_counter() - t0
    return VolumeResult(
        image=(out + dark).astype(np.float32),
        psf=kernel.astype(np.float32),
        details=details,
        timings={"psf": t_psf, "deconvolution": total - t_psf, "total": total},
    )
