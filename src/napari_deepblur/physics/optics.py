"""The microscope's optics: numerical aperture, emission wavelength, pixel size -> cutoff frequency (torch-free).

One home for the default optics and the sampling limit, read by the families, the widgets and the CLI (whose
``--help`` must not import torch).
"""

from __future__ import annotations

import math

__all__ = [
    "DEFAULT_OPTICS",
    "MAX_FC",
    "MAX_FC_UNDERSAMPLED",
    "cutoff_frequency",
    "default_refractive_index",
    "oversampling",
]

#: Largest cutoff frequency (cycles/pixel) for which the intensity PSF is Nyquist-sampled: up to here a PSF sample is
#: the PSF's value at the pixel centre.
MAX_FC = 0.25
#: Largest cutoff accepted at all: camera pixels up to twice the Nyquist size (a 6.5 µm pixel behind a 60× NA 1.4
#: objective at 0.52 µm is fc ≈ 0.29). Above ``MAX_FC`` PSFs are computed on a finer grid and integrated over each
#: camera pixel (:func:`oversampling`). Beyond this the PSF is about one pixel wide: nothing is left to deblur.
MAX_FC_UNDERSAMPLED = 0.5

#: The optics assumed when none are given: a widefield oil objective NA 1.4, emission 0.52 µm, 0.065 µm pixels
#: (fc = 0.175). The one place these numbers are written; the widgets and the CLI read them from here.
DEFAULT_OPTICS: dict[str, float] = {"na": 1.4, "wavelength": 0.52, "pixel_size": 0.065}


def cutoff_frequency(
    na: float | None = None,
    wavelength: float | None = None,
    pixel_size: float | None = None,
    fc: float | None = None,
) -> float:
    """Cutoff frequency ``fc = NA * pixel_size / wavelength`` of an incoherent microscope, in cycles per pixel.

    Parameters
    ----------
    na : float
        Numerical aperture of the objective (e.g. 1.4).
    wavelength : float
        Emission wavelength, same unit as ``pixel_size`` (e.g. 0.52 µm).
    pixel_size : float
        Pixel size in the sample plane (e.g. 0.065 µm).
    fc : float, optional
        Give the cutoff directly instead of the three optical numbers.

    Returns
    -------
    float
        ``fc`` in ``(0, 0.5]`` (above 0.25 the image is undersampled: see :func:`oversampling`).

    Raises
    ------
    ValueError
        If the numbers are missing, non-positive, or give pixels more than twice the Nyquist size (``fc > 0.5``).
    """
    if fc is None:
        if na is None or wavelength is None or pixel_size is None:
            raise ValueError("give either fc, or all three of na, wavelength and pixel_size")
        for label, v in (("na", na), ("wavelength", wavelength), ("pixel_size", pixel_size)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{label} must be a positive finite number, got {v!r}")
        if na > 1.7:
            raise ValueError(f"na={na} is not a physical numerical aperture (expected 0 < NA <= 1.7)")
        fc = na * pixel_size / wavelength
    if not (isinstance(fc, (int, float)) and math.isfinite(fc) and fc > 0):
        raise ValueError(f"the cutoff frequency must be a positive finite number, got {fc!r}")
    if fc > MAX_FC_UNDERSAMPLED + 1e-9:
        pixels = (
            f"pixel {pixel_size:g} > twice the Nyquist pixel {0.25 / fc * pixel_size:.3g}"
            if pixel_size
            else "pixels more than twice the Nyquist size"
        )
        raise ValueError(
            f"cutoff frequency NA*pixel/wavelength = {fc:.3f} cycles/pixel exceeds {MAX_FC_UNDERSAMPLED}: the image is "
            f"undersampled beyond what can be deblurred ({pixels}; the blur is about one pixel wide); check NA, "
            "wavelength and pixel size (same unit for the last two), or bin less / use a higher magnification"
        )
    return float(fc)


def oversampling(fc: float) -> int:
    """Sub-samples per camera pixel (per axis) at which PSFs are computed before being integrated over the pixel:
    1 at Nyquist or finer (``fc <= 0.25``: the PSF is sampled at the pixel centres, as the networks were trained), the
    smallest odd factor that brings ``fc`` back under 0.25 otherwise (3 up to ``fc = 0.5``; odd, so the PSF's centre
    stays on a pixel centre)."""
    s = 1
    while fc / s > MAX_FC + 1e-9:
        s += 2
    return s


def default_refractive_index(na: float) -> float:
    """The immersion medium an objective of this NA most likely uses: air below NA 1.0, water below 1.3, oil above."""
    return 1.0 if na < 1.0 else 1.333 if na < 1.3 else 1.518
