"""The microscope's optics: numerical aperture, emission wavelength, pixel size -> cutoff frequency (torch-free).

One home for the default optics, the checks of their units (µm: :func:`check_optics`) and the sampling limits, read
by the families, the widgets and the CLI (whose ``--help`` must not import torch).
"""

from __future__ import annotations

import math
import warnings

__all__ = [
    "DEFAULT_OPTICS",
    "MAX_FC",
    "MAX_FC_UNDERSAMPLED",
    "MIN_FC",
    "MIN_FC_PLAUSIBLE",
    "PIXEL_SIZE_RANGE",
    "WAVELENGTH_RANGE",
    "check_optics",
    "cutoff_frequency",
    "default_refractive_index",
    "oversampling",
    "psf_width",
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

#: Emission wavelengths (µm) a light microscope records, UV to near infrared; outside, the unit is wrong (nm, mm).
WAVELENGTH_RANGE = (0.2, 2.0)
#: Sample-plane pixel sizes (µm) a light microscope records: above, nanometres or a camera pixel not divided by the
#: magnification; below, the unit is wrong.
PIXEL_SIZE_RANGE = (0.005, 5.0)
#: Below this cutoff the PSF is wider than 40 pixels: most likely a pixel size 10x too small (warned).
MIN_FC_PLAUSIBLE = 0.03
#: Below this cutoff the pupil spans about one sample of the PSF model's 256-point grid: nothing can be modelled.
MIN_FC = 0.005


def _positive(label: str, v) -> None:
    if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
        raise ValueError(f"{label} must be a positive finite number, got {v!r}")


def _check_wavelength(wavelength: float) -> None:
    """An emission wavelength in µm, or the unit it was most likely given in."""
    lo, hi = WAVELENGTH_RANGE
    if lo <= wavelength <= hi:
        return
    if lo <= wavelength / 1000 <= hi:
        said = f"looks like nanometres; give it in µm ({wavelength / 1000:g})"
    elif lo <= wavelength * 1000 <= hi:
        said = f"looks like millimetres; give it in µm ({wavelength * 1000:g})"
    else:
        said = f"is not an emission wavelength in µm (expected {lo:g} to {hi:g}, e.g. 0.52 for 520 nm)"
    raise ValueError(f"wavelength={wavelength:g} {said}")


def _check_pixel_size(pixel_size: float) -> None:
    """A sample-plane pixel size in µm, or what it most likely is instead (nanometres, a camera pixel)."""
    lo, hi = PIXEL_SIZE_RANGE
    if pixel_size > hi:
        raise ValueError(
            f"pixel_size={pixel_size:g} is larger than a pixel in the sample plane can be (at most {hi:g} µm): if it "
            f"is in nanometres, give it in µm ({pixel_size / 1000:g}); if it is the camera's pixel, divide it by the "
            "objective's magnification (e.g. 6.5 µm / 100x = 0.065 µm)"
        )
    if pixel_size < lo:
        hint = f"; in millimetres that is {pixel_size * 1000:g} µm" if pixel_size * 1000 <= hi else ""
        raise ValueError(
            f"pixel_size={pixel_size:g} is finer than a light microscope samples (at least {lo:g} µm): give it in "
            f"µm (e.g. 0.065 for 65 nm){hint}"
        )


def check_optics(na: float | None = None, wavelength: float | None = None, pixel_size: float | None = None) -> None:
    """Check each optical number that is given (``None`` is skipped) against what a light microscope has, in µm.

    The one home of these checks: the families (through :func:`cutoff_frequency`), the CLI (before any file is read)
    and the widgets (before a run) call it.

    Parameters
    ----------
    na : float, optional
        Numerical aperture, ``0 < NA <= 1.7``.
    wavelength : float, optional
        Emission wavelength in µm, within :data:`WAVELENGTH_RANGE`.
    pixel_size : float, optional
        Pixel size in the sample plane in µm, within :data:`PIXEL_SIZE_RANGE`.

    Raises
    ------
    ValueError
        Naming the value and its likely unit mistake (``wavelength=520 looks like nanometres; give it in µm
        (0.52)``).
    """
    for label, v in (("na", na), ("wavelength", wavelength), ("pixel_size", pixel_size)):
        if v is not None:
            _positive(label, v)
    if na is not None and na > 1.7:
        raise ValueError(
            f"na={na:g} is not a physical numerical aperture (expected 0 < NA <= 1.7, the number after the "
            "magnification on the objective: 60x/1.40 is NA 1.4)"
        )
    if wavelength is not None:
        _check_wavelength(wavelength)
    if pixel_size is not None:
        _check_pixel_size(pixel_size)


def psf_width(fc: float) -> float:
    """Diameter in pixels of the in-focus PSF's central disc (the Airy disc, to its first dark ring: ``1.22 / fc``)."""
    return 1.22 / fc


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
        Emission wavelength in µm (e.g. 0.52).
    pixel_size : float
        Pixel size in the sample plane in µm (e.g. 0.065).
    fc : float, optional
        Give the cutoff directly instead of the three optical numbers.

    Returns
    -------
    float
        ``fc`` in ``[0.005, 0.5]`` (above 0.25 the image is undersampled: see :func:`oversampling`).

    Raises
    ------
    ValueError
        If the numbers are missing, non-positive, not in µm (:func:`check_optics`), give pixels more than twice the
        Nyquist size (``fc > 0.5``), or a PSF wider than the model can hold (``fc < 0.005``).

    Warns
    -----
    UserWarning
        When the optics give ``fc < 0.03``: a PSF more than 40 pixels wide, most likely a pixel size 10x too small.
    """
    derived = fc is None  # from the optics: a tiny cutoff is then most likely a unit mistake
    if derived:
        if na is None or wavelength is None or pixel_size is None:
            raise ValueError("give either fc, or all three of na, wavelength and pixel_size")
        check_optics(na, wavelength, pixel_size)
        fc = na * pixel_size / wavelength
    if not (isinstance(fc, (int, float)) and math.isfinite(fc) and fc > 0):
        raise ValueError(f"the cutoff frequency must be a positive finite number, got {fc!r}")
    if fc < MIN_FC:
        raise ValueError(
            f"cutoff frequency NA*pixel/wavelength = {fc:.3g} cycles/pixel is below {MIN_FC}: the PSF would be "
            f"{psf_width(fc):.0f} pixels wide; check NA, wavelength and pixel size (both in µm)"
        )
    if fc > MAX_FC_UNDERSAMPLED + 1e-9:
        pixels = (
            f"pixel {pixel_size:g} > twice the Nyquist pixel {0.25 / fc * pixel_size:.3g}"
            if pixel_size
            else "pixels more than twice the Nyquist size"
        )
        raise ValueError(
            f"cutoff frequency NA*pixel/wavelength = {fc:.3f} cycles/pixel exceeds {MAX_FC_UNDERSAMPLED}: the image is "
            f"undersampled beyond what can be deblurred ({pixels}; the blur is about one pixel wide); check NA, "
            "wavelength and pixel size (both in µm), or bin less / use a higher magnification"
        )
    if derived and fc < MIN_FC_PLAUSIBLE:
        warnings.warn(
            f"fc = NA*pixel/wavelength = {fc:.3g} cycles/pixel: the PSF is wider than {psf_width(fc):.0f} pixels: "
            f"check the units (pixel_size={pixel_size:g} and wavelength={wavelength:g}, both in µm)",
            UserWarning,
            stacklevel=3,
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
