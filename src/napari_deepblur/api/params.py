"""Parameters resolved once: the image, the family and its optics, the noise, a user PSF and the device.

Shared by the API, the widgets, the CLI and the batch runner; every bad value becomes a :class:`DeblurInputError`
whose message says what to do. torch is imported only by the functions that need it.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DeblurInputError

if TYPE_CHECKING:
    import torch

    from ..physics import Family

__all__ = [
    "MIN_SIZE",
    "NOISE_FORMS",
    "PSF_ZOOM_RANGE",
    "STATS_PIXELS",
    "as_image2d",
    "centre_slices",
    "check_aberrations",
    "check_optics_input",
    "check_prior",
    "check_psf",
    "looks_rgb",
    "make_family",
    "normalize_intensity",
    "normalized_noise",
    "optics_cutoff",
    "parse_noise",
    "resample_psf",
    "resolve_device",
    "resolve_noise",
    "stats_view",
]

#: Smallest image side the networks accept.
MIN_SIZE = 64


def looks_rgb(shape: tuple[int, ...]) -> bool:
    """A last axis of 3 or 4 after at least two larger axes: colour channels, not a tiny stack."""
    return len(shape) >= 3 and shape[-1] in (3, 4) and min(shape[-3:-1]) > 4


def as_image2d(image, *, min_size: int = MIN_SIZE, name: str = "image") -> np.ndarray:
    """A 2D ``float64`` copy of ``image``, or a :class:`DeblurInputError` that says what is wrong.

    Accepts numpy arrays, array-likes and dask arrays of any integer or float dtype; refuses file paths and boolean
    masks. Never modifies the input.
    """
    if isinstance(image, (str, bytes, os.PathLike)):
        raise DeblurInputError(
            f"{name} is a file path ({os.fsdecode(image)!r}), not an image: pass an array; read the file with "
            "tifffile.imread (or imageio.v3.imread for PNG/JPEG)"
        )
    if hasattr(image, "compute") and not isinstance(image, np.ndarray):  # dask and friends
        image = image.compute()
    arr = np.asarray(image)
    if arr.dtype.kind == "b":
        raise DeblurInputError(
            f"{name} is a boolean mask (dtype bool): it has no blur to remove; pass the image's own intensities"
        )
    if arr.dtype.kind not in "iuf":
        raise DeblurInputError(f"{name} has dtype {arr.dtype}; expected a real-valued (integer or float) image")
    if arr.ndim == 3 and looks_rgb(arr.shape):
        raise DeblurInputError(
            f"{name} looks like an RGB(A) picture {arr.shape}; deblur one channel at a time (split the channels in "
            "napari, or pass image[..., c])"
        )
    squeezed = np.squeeze(arr) if arr.ndim > 2 else arr
    if squeezed.ndim != 2:
        raise DeblurInputError(
            f"{name} has shape {arr.shape}; a single 2D image is expected here (for stacks, process one slice at a "
            "time or use the widget's 'all slices' option)"
        )
    arr = squeezed.astype(np.float64, copy=True)
    if min(arr.shape) < min_size:
        raise DeblurInputError(
            f"{name} is {arr.shape[0]}x{arr.shape[1]} pixels; at least {min_size}x{min_size} is needed"
        )
    if not np.isfinite(arr).all():
        n = int((~np.isfinite(arr)).sum())
        raise DeblurInputError(f"{name} contains {n} NaN or infinite values; fill or crop them first")
    if np.ptp(arr) == 0:
        raise DeblurInputError(f"{name} is constant (every pixel equals {arr.flat[0]:g}); there is nothing to deblur")
    return arr


#: Above this many pixels, image statistics (percentiles, noise) are taken on a subsample / the centre.
STATS_PIXELS = 2048 * 2048


def stats_view(arr: np.ndarray, max_pixels: int = STATS_PIXELS) -> np.ndarray:
    """``arr`` itself, or a regular subsample of at most about ``max_pixels`` (a view, no copy) for big images."""
    step = int(np.ceil(np.sqrt(arr.size / max_pixels)))
    return arr if step <= 1 else arr[::step, ::step]


def centre_slices(shape: tuple[int, int], max_pixels: int = STATS_PIXELS) -> tuple[slice, slice]:
    """The centre ``sqrt(max_pixels)``-square of an image of ``shape`` (all of a smaller one): where figures that
    read the spectrum (the noise, the out-of-band share) look at a big image, with flat memory."""
    side = int(max_pixels**0.5)
    top, left = max(0, (shape[0] - side) // 2), max(0, (shape[1] - side) // 2)
    return slice(top, top + side), slice(left, left + side)


def normalize_intensity(arr: np.ndarray, *, in_place: bool = False) -> tuple[np.ndarray, float, float]:
    """Map the image affinely to about ``[0, 1]`` (0.01 and 99.99 percentiles, on a regular subsample of big
    images); returns ``(scaled, offset, scale)`` with ``arr = offset + scale * scaled``. With ``in_place`` the
    float array ``arr`` itself is rescaled (saves a copy of a large image)."""
    sample = stats_view(arr)
    lo, hi = np.percentile(sample, [0.01, 99.99])
    if hi <= lo:
        lo, hi = float(arr.min()), float(arr.max())
    scale = float(hi - lo)
    if in_place:
        arr -= lo
        arr /= scale
        return arr, float(lo), scale
    return (arr - lo) / scale, float(lo), scale


def normalized_noise(y: np.ndarray, alpha: float, beta: float) -> tuple[float, float]:
    """The noise ``(alpha, beta)`` of ``y`` (``Var y = alpha y + beta²`` in ``y``'s own units) as
    :func:`~napari_deepblur.deblur` reads it: for the image :func:`normalize_intensity` makes of ``y``
    (``x = (y - lo) / s``; :func:`~napari_deepblur.physics.noise.rescaled_noise`). What a given ``noise=`` means."""
    from ..physics.noise import rescaled_noise

    _, lo, s = normalize_intensity(np.asarray(y, dtype=np.float64))
    return rescaled_noise(alpha, beta, lo, s)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA if available, else Apple MPS, else CPU; explicit names are checked for availability."""
    import torch

    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeblurInputError("device 'cuda' was requested but no CUDA GPU is available; use device='cpu' or 'auto'")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeblurInputError("device 'mps' was requested but Apple MPS is not available; use 'cpu' or 'auto'")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise DeblurInputError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'mps'") from exc


def check_optics_input(
    na: float | None = None, wavelength: float | None = None, pixel_size: float | None = None
) -> None:
    """The optical numbers given (``None`` skipped) checked before any work, also where no family is built (a given
    PSF): :func:`~napari_deepblur.physics.optics.check_optics`, its message (the unit: µm) as a
    :class:`DeblurInputError`."""
    from ..physics.optics import check_optics

    try:
        check_optics(na, wavelength, pixel_size)
    except ValueError as exc:
        raise DeblurInputError(str(exc)) from None


def make_family(family: str | Family, *, warn_defaults: bool = True, **optics) -> Family:
    """A family instance from a name and the user's optical numbers (``None`` values are left out), with input
    errors as :class:`DeblurInputError`. An instance is returned as it is. ``warn_defaults=False`` where the optics
    do not matter (a given PSF grid).

    The optical numbers are checked by :func:`~napari_deepblur.physics.optics.check_optics` (their units: µm) when
    the family is built, before any work.

    Warns
    -----
    UserWarning
        When an optical family gets none of ``na``, ``wavelength``, ``pixel_size`` or ``fc``: it then assumes
        :data:`~napari_deepblur.physics.optics.DEFAULT_OPTICS` (as the command line says too), or when the optics
        give a PSF wider than 40 pixels (:func:`~napari_deepblur.physics.optics.cutoff_frequency`).
    """
    from ..physics import Family, get_family

    if isinstance(family, Family):
        return family
    given = {k: v for k, v in optics.items() if v is not None}
    try:
        fam = get_family(family, **given)
    except TypeError as exc:
        raise DeblurInputError(f"unsupported option for family {family!r}: {exc}") from exc
    except ValueError as exc:
        raise DeblurInputError(str(exc)) from exc
    if warn_defaults and fam.uses_optics and not given.keys() & {"na", "wavelength", "pixel_size", "fc"}:
        warnings.warn(_default_optics_note(), UserWarning, stacklevel=3)
    return fam


def _default_optics_note() -> str:
    """What an optical family assumes when given no optics (worded as the command line's note)."""
    from ..physics.optics import DEFAULT_OPTICS

    d = DEFAULT_OPTICS
    return (
        f"no optics given: default NA {d['na']:g}, emission {d['wavelength']:g} µm and pixel size "
        f"{d['pixel_size']:g} µm used (give na, wavelength and pixel_size in µm, or fc)"
    )


#: The forms a noise argument takes, for messages and ``--help``.
NOISE_FORMS = "auto, a level name (none, medium, high) or ALPHA,BETA (two numbers, image scaled to [0, 1])"


def parse_noise(text: str) -> str | tuple[float, float]:
    """A noise argument from text: ``"auto"``, a level name (``none``, ``medium``, ``high``) or ``"ALPHA,BETA"``."""
    text = text.strip()
    if "," in text:
        try:
            a, b = (float(v) for v in text.split(","))
        except ValueError as exc:
            raise DeblurInputError(f"noise {text!r}: expected two numbers ALPHA,BETA (e.g. 0.01,0.02)") from exc
        return (a, b)
    return text


def resolve_noise(x: np.ndarray, noise, *, fc: float | None = None, quantum: float = 0.0) -> tuple[float, float, bool]:
    """``(alpha, beta, estimated)`` from ``"auto"`` (estimated on ``x`` scaled to [0, 1], its centre 2048 x 2048 for
    bigger images), a level name or a pair. ``fc`` (the optics' cutoff, when known) and ``quantum`` (the
    quantisation step in ``x``'s units) bound the estimate from below (:func:`~napari_deepblur.physics.estimate_noise`).
    """
    from ..physics import estimate_noise, noise_level

    if isinstance(noise, str) and noise.lower() == "auto":
        alpha, beta = estimate_noise(x[centre_slices(x.shape)], fc=fc, quantum=quantum)
        return float(alpha), float(beta), True
    try:
        alpha, beta = noise_level(noise)
    except ValueError as exc:
        raise DeblurInputError(str(exc)) from exc
    return float(alpha), float(beta), False


def optics_cutoff(fam: Family | None, **optics) -> float | None:
    """The optics' cutoff ``fc`` (cycles/pixel) that the noise estimate may read: the family's, else from ``optics``
    (``na``, ``wavelength``, ``pixel_size`` or ``fc``) when they are complete and valid, else None (e.g. the Gaussian
    family, or a given PSF without optics)."""
    from ..physics.optics import cutoff_frequency

    if fam is not None:
        return getattr(fam, "fc", None)
    try:
        return cutoff_frequency(**{k: optics.get(k) for k in ("na", "wavelength", "pixel_size", "fc")})
    except (TypeError, ValueError):
        return None


def check_psf(psf, fam: Family | None = None) -> np.ndarray:
    """A user PSF as float64, odd-sized and summing to 1; ``(K, h, w)`` PSF grids only for space-varying families."""
    k = np.asarray(psf, dtype=np.float64)
    if k.ndim == 3:
        if fam is None or fam.is_convolution:
            raise DeblurInputError("a stack of PSFs (K, h, w) needs the 'spatially-varying' family")
        n = len(fam.node_positions((64, 64)))
        if k.shape[0] != n:
            raise DeblurInputError(f"the {fam.name} family takes {n} PSFs (one per grid node), got {k.shape[0]}")
    elif k.ndim != 2:
        raise DeblurInputError(f"a user PSF must be a 2D array, got shape {k.shape}")
    if not np.isfinite(k).all() or (k < 0).any() or (k.reshape(-1, *k.shape[-2:]).sum(axis=(-2, -1)) <= 0).any():
        raise DeblurInputError("a user PSF must be finite, non-negative and not all zero")
    if k.shape[-2] % 2 == 0 or k.shape[-1] % 2 == 0:
        widths = [(0, 0)] * (k.ndim - 2) + [(0, 1 - k.shape[-2] % 2), (0, 1 - k.shape[-1] % 2)]
        k = np.pad(k, widths)
    return k / k.sum(axis=(-2, -1), keepdims=True)


#: Ratios of a PSF's pixel size to the image's beyond which the units are more likely wrong than the sampling.
PSF_ZOOM_RANGE = (0.2, 5.0)


def resample_psf(psf, psf_pixel_size: float, pixel_size: float) -> np.ndarray:
    """A 2D PSF sampled at ``psf_pixel_size`` resampled to the image's ``pixel_size`` (same unit): its centre pixel
    stays the centre, odd-sized, non-negative, summing to 1. A coarser sampling is first integrated over the new
    pixels (Gaussian pre-filter, as scikit-image's ``rescale`` with ``anti_aliasing``); cubic-spline interpolation.

    Raises
    ------
    DeblurInputError
        When the sizes are not positive, or differ by more than :data:`PSF_ZOOM_RANGE` (the units are then more
        likely wrong than the sampling).
    """
    from scipy import ndimage

    k = check_psf(psf)
    if k.ndim != 2:
        raise DeblurInputError("only a 2D PSF can be resampled to the image's pixel size")
    try:
        zoom = float(psf_pixel_size) / float(pixel_size)
    except (TypeError, ValueError, ZeroDivisionError):
        raise DeblurInputError("the PSF's and the image's pixel sizes must be positive numbers") from None
    if not (np.isfinite(zoom) and zoom > 0 and float(pixel_size) > 0):
        raise DeblurInputError("the PSF's and the image's pixel sizes must be positive numbers")
    lo, hi = PSF_ZOOM_RANGE
    if not lo <= zoom <= hi:
        raise DeblurInputError(
            f"the PSF's pixel size ({psf_pixel_size:g}) and the image's ({pixel_size:g}) differ by more than "
            f"{hi:g}x: check their units"
        )
    if abs(zoom - 1) < 1e-3:
        return k
    if zoom < 1:
        k = ndimage.gaussian_filter(k, (1 / zoom - 1) / 2)
    shape = [max(3, round(n * zoom) // 2 * 2 + 1) for n in k.shape]
    offset = [(n - 1) / 2 - (m - 1) / 2 / zoom for n, m in zip(k.shape, shape, strict=True)]
    out = ndimage.affine_transform(k, [1 / zoom, 1 / zoom], offset=offset, output_shape=shape, order=3)
    out = np.clip(out, 0, None)
    if out.sum() <= 0:
        raise DeblurInputError("the PSF vanished when resampled to the image's pixel size")
    return out / out.sum()


def check_prior(prior: str) -> str:
    """``prior`` checked (:data:`napari_deepblur.physics.priors.PRIORS`)."""
    from ..physics.priors import PRIORS

    if prior not in PRIORS:
        raise DeblurInputError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
    return prior


def check_aberrations(aberrations: str, fam: Family | None = None) -> str:
    """``aberrations`` checked (``"estimate"`` or ``"none"``; ``"none"`` only for families with optics)."""
    from ..methods import ABERRATIONS

    if aberrations not in ABERRATIONS:
        raise DeblurInputError(f"aberrations must be one of {', '.join(ABERRATIONS)}, got {aberrations!r}")
    if aberrations == "none" and fam is not None and not fam.uses_optics:
        raise DeblurInputError(f"aberrations='none' needs a family with optics; the {fam.name} family has none")
    return aberrations
