"""``deblur``: the one entry point the widgets, the CLI and the tests use."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DeblurInputError
from ..methods import METHODS, Method
from ..methods.identification import answer_psf, identify_normalized
from ..methods.regularisation import effective_sigma
from ..physics import Family
from ..physics.calibrated_field import CalibratedField
from ..physics.noise import quantisation_step
from ..physics.priors import PRIOR_DEFAULT
from ..physics.spectrum import limit_out_of_band
from .params import (
    as_image2d,
    centre_slices,
    check_aberrations,
    check_optics_input,
    check_prior,
    check_psf,
    make_family,
    normalize_intensity,
    optics_cutoff,
    resample_psf,
    resolve_device,
    resolve_noise,
    stats_view,
)
from .tiling import DEFAULT_TILE, default_overlap, process_tiled, resolve_tile, tile_chunks

__all__ = ["METHODS", "DeblurResult", "deblur", "restore_with_fallback"]


def family_is_convolution(family: str | Family) -> bool:
    """Whether ``family`` (a name or an instance) blurs by one convolution (not a product-convolution)."""
    from ..physics import family_class

    if isinstance(family, Family):
        return bool(family.is_convolution)
    try:
        return bool(family_class(family).is_convolution)
    except (KeyError, ValueError):
        return False


Progress = Callable[[int, int, str], None] | None


@dataclass
class DeblurResult:
    """Outcome of :func:`deblur`.

    Attributes
    ----------
    image : numpy.ndarray
        The deblurred image, same shape as the input, ``float32``, in the input's intensity units.
    gamma : numpy.ndarray or None
        Estimated parameters (None when a PSF was given).
    psf : numpy.ndarray
        The PSF used: ``(h, w)``, or ``(K, h, w)`` PSFs on the field grid for space-varying blur.
    family : Family or None
    method : str
    noise : tuple of float
        ``(alpha, beta)`` relative to the image scaled to [0, 1].
    timings : dict
        Seconds per stage (``identify``, ``deblur``, ``total``).
    """

    image: np.ndarray
    gamma: np.ndarray | None
    psf: np.ndarray
    family: Family | None
    method: str
    noise: tuple[float, float]
    noise_estimated: bool
    device: str
    timings: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    @property
    def named_gamma(self) -> dict[str, float]:
        if self.gamma is None or self.family is None:
            return {}
        return self.family.named(self.gamma)


def deblur(
    image,
    family: str | Family = "zernike",
    noise: str | tuple[float, float] = "auto",
    method: str = "deepblur",
    device: str | torch.device = "auto",
    psf=None,
    progress: Progress = None,
    *,
    tile: int | str | None = "auto",
    overlap: int | None = None,
    na: float | None = None,
    wavelength: float | None = None,
    pixel_size: float | None = None,
    fc: float | None = None,
    nonneg: bool = True,
    aberrations: str = "estimate",
    prior: str = PRIOR_DEFAULT,
    psf_pixel_size: float | None = None,
    **method_options,
) -> DeblurResult:
    """Blind (or PSF-given) deblurring of one 2D image.

    Parameters
    ----------
    image : array_like
        2D image of any real dtype and size >= 64 x 64 (numpy or dask). Never modified.
    family : str or Family
        Operator family for the blind estimate: ``"zernike"``, ``"gaussian"``, ``"spatially-varying"``.
    noise : "auto", level name or (alpha, beta)
        Poisson–Gaussian noise of the image scaled to [0, 1]; estimated from the image when ``"auto"``.
    method : str
        One of :data:`METHODS`.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"`` (identification network).
    psf : array_like, optional
        A 2D PSF to use instead of the blind estimate (e.g. measured from beads); ``family`` is then ignored. For the
        ``"spatially-varying"`` family, a ``(K, h, w)`` stack of PSFs at the grid nodes (row-major) is accepted. A
        :class:`~napari_deepblur.physics.calibrated_field.CalibratedField` (:func:`napari_deepblur.calibrate_field`,
        the microscope's PSF across the field from beads) is taken as its PSFs on a 5 × 5 product-convolution grid.
    progress : callable, optional
        ``progress(done, total, stage)`` called during long work.
    tile : "auto", int or None
        Restore by tiles of this side (dask ``map_overlap``) so memory stays flat on large images. ``"auto"`` tiles
        images above :data:`~napari_deepblur.api.tiling.AUTO_TILE_PIXELS` with 512 px tiles; ``None`` or 0 never tiles.
        The operator is estimated once for the whole image either way (convolution families: from the centre crop
        the network reads; space-varying: from patches across the whole field). SelfDeblur is never tiled.
    overlap : int, optional
        Margin read around each tile (default: PSF size + 33, at least 64 px).
    na, wavelength, pixel_size, fc : float, optional
        Optical numbers of the microscope (see :func:`napari_deepblur.identify`).
    nonneg : bool
        Fluorescence mode (default): the restored intensities stay at or above the image's dark level (its 0.01th
        percentile: camera offset and background), each method enforcing it as
        :attr:`~napari_deepblur.methods.Method.nonneg` says. ``False`` for signed data (differences, phase).
    aberrations : {"estimate", "none"}
        Blind estimate of the aberrations (default), or ``"none"``: the aberration-free PSF of the optics (see
        :func:`napari_deepblur.identify`).
    prior : {"microscope", "paper"}
        The aberration prior of the blind estimate (see :func:`napari_deepblur.identify`).
    psf_pixel_size : float, optional
        The pixel size at which a given 2D ``psf`` was sampled (e.g. beads imaged at another zoom), in the unit of
        ``pixel_size``, which must then be given: the PSF is resampled to the image's pixels
        (:func:`~napari_deepblur.api.params.resample_psf`; ``details["psf_resampled"]`` says so).
    **method_options
        Passed to the restoration method: ``balance`` for Wiener, ``n_iter`` for RL, ``mu`` and ``n_iter`` for TV,
        ``n_iter``, ``kernel_size``, ``width``, ``tv_weight``, ``seed`` for SelfDeblur (default: the paper's 5000
        iterations, the family's PSF size), ``weights`` (a path) and ``floor_scale`` (default: the family's
        :attr:`~napari_deepblur.physics.Family.floor_scale`) for deep-blur.

    Returns
    -------
    DeblurResult
    """
    t0 = time.perf_counter()
    if method not in METHODS:
        raise DeblurInputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    m = METHODS[method]
    check_aberrations(aberrations)
    check_prior(prior)
    check_optics_input(na, wavelength, pixel_size)  # a wrong unit is said before any work, a PSF given or not
    floor_given = "floor_scale" in method_options
    method_options = {**m.prepare(family, method_options), "nonneg": bool(nonneg)}  # checked before any work
    in_shape = np.shape(image)
    arr = as_image2d(image)
    step = quantisation_step(arr)  # read before arr is rescaled
    x, offset, scale = normalize_intensity(arr, in_place=True)  # arr is our own copy
    quantum = step / scale
    floor_note = None
    convolution = family_is_convolution(family) and (
        psf is None or (not isinstance(psf, CalibratedField) and np.ndim(psf) == 2)
    )
    floor_follows_content = method == "deepblur" and prior == "microscope" and convolution and not floor_given
    floor_psf_size = int(np.shape(psf)[-1]) if psf is not None else 31
    dev = resolve_device(device)
    if m.blind and psf is not None:
        others = ", ".join(k for k, v in METHODS.items() if not v.blind)
        raise DeblurInputError(f"{m.label} estimates its own kernel; with a known PSF use {others}")
    # the family is built once, and only when something needs it: the blind estimate, a PSF grid, a blind method
    fam = None
    if isinstance(psf, CalibratedField):  # the field's PSFs on a grid of a product-convolution
        family, psf = psf.grid_family()
    if psf is None or np.ndim(psf) == 3:
        fam = make_family(family, na=na, wavelength=wavelength, pixel_size=pixel_size, fc=fc, warn_defaults=psf is None)
    cutoff = optics_cutoff(fam, na=na, wavelength=wavelength, pixel_size=pixel_size, fc=fc)
    alpha, beta, estimated = resolve_noise(x, noise, fc=cutoff, quantum=quantum)
    # the units of (alpha, beta): x = (image - offset) / scale; the median level tells the noise std in image units
    intensity = {"offset": offset, "scale": scale, "median": float(np.median(stats_view(x)))}
    gamma, details = None, {}

    def prog(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total, method)

    if m.blind:  # no identification: the method finds its own kernel
        r = m.run(x, None, alpha, beta, family=fam, device=dev, progress=prog, **method_options)
        details = {"n_iter": len(r.losses), "kernel_size": int(r.kernel.shape[-1]), "nonneg": bool(nonneg),
                   "intensity": intensity}  # fmt: skip
        return _result(r.image, offset, scale, in_shape, None, r.kernel, None, method, alpha, beta, estimated, dev,
                       t0, 0.0, details)  # fmt: skip
    if psf is not None:
        kernel = check_psf(psf, fam)
        if psf_pixel_size is not None:
            if kernel.ndim != 2 or not pixel_size:
                raise DeblurInputError("psf_pixel_size needs a 2D psf and the image's pixel_size")
            if abs(float(psf_pixel_size) / float(pixel_size) - 1) >= 1e-3:
                kernel = resample_psf(kernel, psf_pixel_size, pixel_size)
                floor_psf_size = int(kernel.shape[-1])
                details["psf_resampled"] = (
                    f"the PSF sampled at {psf_pixel_size:g} per pixel was resampled to the image's {pixel_size:g}"
                )
    else:
        if progress is not None:
            progress(0, 1, "identify")
        g, details = identify_normalized(
            x, fam, dev, aberrations=check_aberrations(aberrations, fam), prior=prior, noise=(alpha, beta)
        )
        gamma = g[0].numpy()
        kernel = answer_psf(fam, g.double(), details)
    t_id = time.perf_counter() - t0
    if floor_follows_content:
        from ..methods.deepblur import content_floor_scale

        # the blind reading has already looked for beads at this PSF size: not twice
        seen = details.get("bead_picture") if fam is not None and fam.psf_size == floor_psf_size else None
        method_options["floor_scale"], floor_note = content_floor_scale(
            x, method_options["floor_scale"], floor_psf_size, seen
        )
    if method == "deepblur" and "signal_range" not in method_options:
        from ..methods.deepblur import signal_range

        method_options["signal_range"] = signal_range(x, alpha, beta)  # one range for the whole image, tiles too
    side = resolve_tile(tile, x.shape, m)
    details = {**details, **m.record(method_options), "nonneg": bool(nonneg), "intensity": intensity}
    if floor_note:
        details["floor"] = floor_note

    def attempt(device: torch.device, side: int) -> tuple[np.ndarray, dict]:
        if not side:
            return _restore(x, kernel, fam, m, alpha, beta, device, prog, method_options), {}
        margin = default_overlap(max(kernel.shape[-2:])) if overlap is None else int(overlap)
        # regularisation set by the noise of the whole image, not of each tile
        tile_opts = {**method_options, "sigma": effective_sigma(x, alpha, beta)}

        def tile_prog(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total, f"{method} (tiles)")

        def restore_tile(window: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
            return _restore(window, kernel, fam, m, alpha, beta, device, None, tile_opts, origin, x.shape)

        out = process_tiled(x, restore_tile, side, margin, progress=tile_prog)
        n = len(tile_chunks(x.shape[0], side)) * len(tile_chunks(x.shape[1], side))
        return out, {"tile": side, "overlap": margin, "tiles": n}

    out, more, dev = restore_with_fallback(attempt, dev, side, x.shape)
    details = {**details, **more}
    if m.band_limited and cutoff is not None:
        out, s = limit_out_of_band(out, x, cutoff, view=centre_slices(x.shape), nonneg=nonneg)
        if s < 1:
            details["band_limit"] = (
                f"the result held more power beyond the optics' cutoff (2 fc = {2 * cutoff:.3f} cycles/px) than the "
                f"image, where no optics pass anything: that part scaled by {s:.2f}"
            )
    return _result(out, offset, scale, in_shape, gamma, kernel, fam, method, alpha, beta, estimated, dev, t0, t_id,
                   details)  # fmt: skip


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in str(exc).lower()


def restore_with_fallback(
    attempt: Callable[[torch.device, int], tuple[np.ndarray, dict]],
    device: torch.device,
    side: int,
    shape: tuple[int, int],
) -> tuple[np.ndarray, dict, torch.device]:
    """Run ``attempt(device, tile_side)``; on out-of-memory retry with tiles, then (GPU) on the CPU.

    Each fallback is announced with a :class:`RuntimeWarning` (napari shows it as a notification) and recorded in
    the returned details under ``"fallback"``. Out of memory on the CPU with tiles already is a
    :class:`DeblurInputError` that says what to do.
    """
    notes: list[str] = []
    while True:
        try:
            out, details = attempt(device, side)
            if notes:
                details = {**details, "fallback": notes}
            return out, details, device
        except (MemoryError, RuntimeError) as exc:
            if not _is_oom(exc):
                raise
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if not side and max(shape) >= 128:
                side = min(DEFAULT_TILE, 8 * math.ceil(max(shape) / 16))  # at least two tiles
                note = f"out of memory on {device} for the whole image; retrying in {side}-px tiles"
            elif device.type != "cpu":
                note = f"out of memory on {device} even in tiles; falling back to the CPU"
                device = torch.device("cpu")
            else:
                raise DeblurInputError(
                    f"out of memory on the CPU even in {side or 'whole'}-px tiles ({shape[0]}x{shape[1]} image); "
                    "close other programs or pass a smaller tile (tile=256)"
                ) from exc
            warnings.warn(note, RuntimeWarning, stacklevel=2)
            notes.append(note)


def _restore(
    x: np.ndarray, kernel, fam, m: Method, alpha, beta, dev, prog, options, origin=(0, 0), full_shape=None
) -> np.ndarray:
    """One (non-blind) restoration of ``x`` (scaled to [0, 1]) by method ``m`` with ``kernel``; ``origin`` and
    ``full_shape`` place a tile in the field for space-varying PSF grids."""
    return m.run(
        x, kernel, alpha, beta, family=fam, device=dev, progress=prog, origin=origin, full_shape=full_shape, **options
    )


def _result(out, offset, scale, in_shape, gamma, kernel, fam, method, alpha, beta, estimated, dev, t0, t_id, details):
    """Back to the input's intensity units and shape, with timings."""
    t_total = time.perf_counter() - t0
    return DeblurResult(
        image=(offset + scale * out).astype(np.float32).reshape(in_shape),
        gamma=gamma,
        psf=np.asarray(kernel, dtype=np.float32),
        family=fam,
        method=method,
        noise=(alpha, beta),
        noise_estimated=estimated,
        device=str(dev),
        timings={"identify": t_id, "deblur": t_total - t_id, "total": t_total},
        details=details,
    )
