"""What the optics pass: the band of spatial frequencies inside the cutoff, and figures read from an image's spectrum
that need no ground truth (numpy; torch.fft for the one filter).

An incoherent microscope transmits no spatial frequency beyond ``2 fc`` cycles per pixel (``fc = NA * pixel /
wavelength``, :func:`~napari_deepblur.physics.optics.cutoff_frequency`). So, in an image: the power beyond the cutoff
is noise (:func:`out_of_band_variance`); in a deconvolution's result, power beyond the cutoff that the input did not
have is invented (:func:`out_of_band_share`; :func:`limit_out_of_band` takes it back out); and the power gained just
inside it, where the optics attenuate most, is what deconvolution is for (:func:`band_gain`). Each figure uses a Hann
window, so the image's borders add nothing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BAND_LIMIT_PAD", "BAND_LIMIT_ROUNDS", "MIN_OUT_OF_BAND", "OUT_OF_BAND_MARGIN", "band_gain",
           "limit_out_of_band", "out_of_band_share", "out_of_band_variance", "power_spectrum"]  # fmt: skip

#: Frequencies beyond this multiple of the optics' cutoff ``2 fc`` hold no signal: the margin covers the PSF's pixel
#: integration and a cutoff a few per cent off.
OUT_OF_BAND_MARGIN = 1.1

#: Fewest frequencies beyond the cutoff that the out-of-band figures read (below: no reading).
MIN_OUT_OF_BAND = 500


def power_spectrum(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(power, radius, w2)``: the power ``|rfft2(w (x - mean))|²`` of a 2D image under a Hann window ``w``, the radius
    of each frequency in cycles per pixel, and ``sum(w²)`` (white noise of variance ``v`` has expected power ``v w2``
    at every frequency)."""
    x = np.asarray(image, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"a 2D image is expected, got shape {x.shape}")
    w = np.outer(np.hanning(x.shape[0]), np.hanning(x.shape[1]))
    power = np.abs(np.fft.rfft2((x - x.mean()) * w)) ** 2
    radius = np.hypot(np.fft.fftfreq(x.shape[0])[:, None], np.fft.rfftfreq(x.shape[1])[None])
    return power, radius, float((w**2).sum())


def _out_of_band(radius: np.ndarray, fc: float) -> np.ndarray | None:
    band = radius > OUT_OF_BAND_MARGIN * 2.0 * float(fc)
    return band if int(band.sum()) >= MIN_OUT_OF_BAND else None


def out_of_band_variance(image: np.ndarray, fc: float) -> tuple[float, float] | None:
    """The noise variance read where the optics pass no signal: ``(variance, weighted mean intensity)``, or None.

    The power an image holds beyond :data:`OUT_OF_BAND_MARGIN` × the cutoff is its noise, whatever the noise's law, the
    camera or the processing (aliasing of undersampled data up to ``fc = 0.5`` folds back inside ``1.2 fc``). For
    independent noise of per-pixel variance ``v`` every frequency's expected power is ``sum(w² v)``: the returned
    variance is the ``w²``-weighted mean of ``v``, and the second number the ``w²``-weighted mean of the image, so that
    a Poisson–Gaussian model ``v = alpha x + beta²`` can be compared with it. None when fewer than
    :data:`MIN_OUT_OF_BAND` frequencies lie beyond the cutoff (``fc`` above about 0.3 on a 512² image).
    """
    x = np.asarray(image, dtype=np.float64)
    power, radius, w2 = power_spectrum(x)
    band = _out_of_band(radius, fc)
    if band is None:
        return None
    w = np.outer(np.hanning(x.shape[0]), np.hanning(x.shape[1]))
    return float(power[band].mean() / w2), float((w**2 * np.clip(x, 0, None)).sum() / w2)


def out_of_band_share(image: np.ndarray, fc: float) -> float:
    """The share of the image's power (all frequencies but 0) that lies beyond :data:`OUT_OF_BAND_MARGIN` × the cutoff
    ``2 fc``; NaN when too few frequencies lie there. A result's share divided by its input's: above 1, the result holds
    power the optics could not have passed (invented detail, or amplified noise)."""
    power, radius, _ = power_spectrum(image)
    band = _out_of_band(radius, fc)
    if band is None:
        return float("nan")
    return float(power[band].sum() / max(power[radius > 0].sum(), 1e-300))


def band_gain(result: np.ndarray, image: np.ndarray, fc: float, band: tuple[float, float] = (0.5, 1.0)) -> float:
    """Power of ``result`` over power of ``image`` between ``band[0]`` and ``band[1]`` × the cutoff ``2 fc`` (default
    0.5–1: the attenuated band, where the optics pass little and deconvolution restores most): how much it sharpens."""
    p_out, radius, _ = power_spectrum(result)
    p_in, _, _ = power_spectrum(image)
    sel = (radius > band[0] * 2.0 * fc) & (radius <= band[1] * 2.0 * fc)
    return float(p_out[sel].sum() / max(p_in[sel].sum(), 1e-300))


#: Margin (pixels, reflected) around an image whose out-of-band part :func:`limit_out_of_band` removes, so that the
#: image's borders, which are not periodic, add nothing to that part.
BAND_LIMIT_PAD = 32


#: Most alternations of the band limit and the projection onto ``x >= 0`` (:func:`limit_out_of_band`; on real images
#: 2–4 suffice, on a nearly noise-free one about 10).
BAND_LIMIT_ROUNDS = 20


def limit_out_of_band(
    result: np.ndarray,
    image: np.ndarray,
    fc: float,
    *,
    view: tuple[slice, slice] | None = None,
    nonneg: bool = False,
) -> tuple[np.ndarray, float]:
    """``(result', s)``: ``result`` with its power beyond the optics' cutoff brought down to ``image``'s share.

    The check of a restoration that can invent detail (a learned prior): its output may hold no larger share of power
    beyond :data:`OUT_OF_BAND_MARGIN` × the cutoff ``2 fc`` than its input, where that power is the camera's noise,
    since no optics pass anything there. When it holds more, the part of ``result`` beyond the cutoff is multiplied by
    ``s < 1`` so that its share (:func:`out_of_band_share`) falls to 0.95 × the input's; the band inside ``2 fc`` is
    untouched and a raised-cosine ramp between ``2 fc`` and the margin joins the two. ``s = 1`` (and ``result``
    itself) when the share is already no larger, or when too few frequencies lie beyond the cutoff to tell.

    Parameters
    ----------
    result, image : numpy.ndarray
        The restoration and its input, 2D, same shape and units.
    fc : float
        The optics' cutoff (cycles per pixel, ``NA * pixel / wavelength``).
    view : tuple of slice, optional
        Where the shares are read (e.g. the centre of a large image); the whole image by default.
    nonneg : bool
        Keep the result at or above 0 (fluorescence): the filter's undershoot next to bright structures is projected
        away, which puts a little power back beyond the cutoff, so the two alternate (at most
        :data:`BAND_LIMIT_ROUNDS` times) and the returned ``s`` is the product of the rounds' factors.
    """
    r, total_s = np.asarray(result), 1.0
    sel = view or (slice(None), slice(None))
    q_in = out_of_band_share(np.asarray(image)[sel], fc)  # the input's share: read once
    for _ in range(BAND_LIMIT_ROUNDS if nonneg else 1):
        r, s = _limit_once(r, q_in, fc, sel)
        if s >= 1.0:
            break
        total_s *= s
        if nonneg:
            r = np.maximum(r, 0.0, out=r)
    return r, total_s


def _limit_once(r: np.ndarray, q_in: float, fc: float, sel) -> tuple[np.ndarray, float]:
    """One round of :func:`limit_out_of_band` (no projection), the input's share ``q_in`` given."""
    power, radius, _ = power_spectrum(r[sel])
    band = _out_of_band(radius, fc)
    if band is None or not np.isfinite(q_in):
        return r, 1.0
    total, outside = float(power[radius > 0].sum()), float(power[band].sum())
    target = 0.95 * q_in
    if outside <= 0 or outside / max(total, 1e-300) <= q_in:
        return r, 1.0
    s = float(np.sqrt(np.clip(target * (total - outside) / (outside * (1.0 - target)), 0.0, 1.0)))
    return _scale_out_of_band(r, fc, s), s


def _scale_out_of_band(x: np.ndarray, fc: float, s: float) -> np.ndarray:
    """``x`` with its spectrum beyond ``OUT_OF_BAND_MARGIN × 2 fc`` multiplied by ``s`` (ramp from ``2 fc``), computed
    on the image reflected by :data:`BAND_LIMIT_PAD` pixels (torch.fft, in ``x``'s float precision)."""
    import torch

    pad = min(BAND_LIMIT_PAD, *(n - 1 for n in x.shape))
    t = torch.from_numpy(np.pad(np.asarray(x, dtype=np.float32), pad, mode="reflect"))
    radius = torch.hypot(torch.fft.fftfreq(t.shape[0])[:, None], torch.fft.rfftfreq(t.shape[1])[None])
    lo, hi = 2.0 * fc, OUT_OF_BAND_MARGIN * 2.0 * fc
    ramp = torch.clamp((radius - lo) / (hi - lo), 0.0, 1.0)
    gain = 1.0 - (1.0 - s) * torch.sin(0.5 * torch.pi * ramp) ** 2
    out = torch.fft.irfft2(torch.fft.rfft2(t) * gain, s=t.shape)
    return out[pad : pad + x.shape[0], pad : pad + x.shape[1]].numpy().astype(x.dtype, copy=False)
