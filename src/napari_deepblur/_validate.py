"""Input validation shared by the core API, the widgets and the CLI."""

from __future__ import annotations

import numpy as np

from .errors import DeblurInputError

__all__ = ["MIN_SIZE", "STATS_PIXELS", "as_image2d", "looks_rgb", "normalize_intensity", "stats_view"]

#: Smallest image side the networks accept.
MIN_SIZE = 64


def looks_rgb(shape: tuple[int, ...]) -> bool:
    """A last axis of 3 or 4 after at least two larger axes: colour channels, not a tiny stack."""
    return len(shape) >= 3 and shape[-1] in (3, 4) and min(shape[-3:-1]) > 4


def as_image2d(image, *, min_size: int = MIN_SIZE, name: str = "image") -> np.ndarray:
    """A 2D ``float64`` copy of ``image``, or a :class:`DeblurInputError` that says what is wrong.

    Accepts numpy arrays, array-likes and dask arrays of any real or boolean dtype. Never modifies the input.
    """
    if hasattr(image, "compute") and not isinstance(image, np.ndarray):  # dask and friends
        image = image.compute()
    arr = np.asarray(image)
    if arr.dtype.kind not in "biuf":
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
