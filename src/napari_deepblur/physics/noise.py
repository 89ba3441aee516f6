"""Poisson–Gaussian noise ``y = alpha * Poisson(z / alpha) + beta * eps``, benchmark levels, and an estimator.

Intensities are relative to an image scaled to ``[0, 1]``: ``alpha`` is the gain of the Poisson part (``alpha = 0``
means none) and ``beta`` the standard deviation of the Gaussian part.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from .spectrum import out_of_band_variance

__all__ = [
    "NOISE_LEVELS",
    "add_poisson_gaussian",
    "estimate_noise",
    "noise_level",
    "quantisation_step",
    "rescaled_noise",
]

#: The paper's three benchmark levels, ``name -> (alpha, beta)``.
NOISE_LEVELS: dict[str, tuple[float, float]] = {
    "none": (0.0, 0.0),
    "medium": (0.025, 0.05),
    "high": (0.12, 0.24),
}

#: Largest (alpha, beta) the shipped networks were trained for.
MAX_ALPHA, MAX_BETA = 0.15, 0.3


def noise_level(level: str | tuple[float, float]) -> tuple[float, float]:
    """``(alpha, beta)`` from a level name (``"none"``, ``"medium"``, ``"high"``) or a pair.

    Raises
    ------
    ValueError
        For an unknown name, or a pair with negative, non-finite or out-of-range (> 1) entries.
    """
    if isinstance(level, str):
        key = level.lower()
        if key not in NOISE_LEVELS:
            raise ValueError(f"unknown noise level {level!r}; use one of {', '.join(NOISE_LEVELS)} or (alpha, beta)")
        return NOISE_LEVELS[key]
    try:
        alpha, beta = (float(v) for v in level)
    except (TypeError, ValueError):
        raise ValueError(f"noise must be a level name or a pair (alpha, beta), got {level!r}") from None
    if not (np.isfinite(alpha) and np.isfinite(beta)) or alpha < 0 or beta < 0:
        raise ValueError(f"noise parameters must be finite and >= 0, got alpha={alpha}, beta={beta}")
    if alpha > 1 or beta > 1:
        raise ValueError(
            f"noise alpha={alpha}, beta={beta} is out of range: both are relative to the image scaled to [0, 1] "
            "(the networks were trained on alpha <= 0.15, beta <= 0.3); use 'auto' or a level name"
        )
    return alpha, beta


def rescaled_noise(alpha: float, beta: float, lo: float, scale: float) -> tuple[float, float]:
    """``(alpha, beta)`` of an image ``z`` expressed for ``x = (z - lo) / scale``: ``Var = alpha z + beta²`` with
    ``z = scale x + lo`` gives ``alpha' = alpha / scale``, ``beta'² = (alpha lo + beta²) / scale²`` (at least 0)."""
    return alpha / scale, float(np.sqrt(max(alpha * lo + beta**2, 0.0)) / scale)


def _per_item(v: float | torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    v = torch.as_tensor(v, dtype=ref.dtype, device=ref.device)
    if v.ndim == 1:
        v = v.view(-1, *([1] * (ref.ndim - 1)))
    return v


def add_poisson_gaussian(
    z: torch.Tensor,
    alpha: float | torch.Tensor,
    beta: float | torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``y = alpha * Poisson(z / alpha) + beta * eps``.

    Parameters
    ----------
    z : torch.Tensor
        Noise-free intensities (negative values are clipped to 0 for the Poisson part).
    alpha, beta : float or torch.Tensor
        Poisson gain and Gaussian standard deviation; tensors of shape ``(B,)`` give one value per batch item.
        ``alpha = 0`` disables the Poisson part for that item.
    generator : torch.Generator, optional
        Random generator (on ``z``'s device) for reproducibility.

    Returns
    -------
    torch.Tensor
        Noisy observation, same shape and dtype as ``z``.
    """
    a = _per_item(alpha, z)
    b = _per_item(beta, z)
    zc = z.clamp_min(0)
    safe_a = torch.where(a > 0, a, torch.ones_like(a))
    shot = torch.poisson((zc / safe_a).expand_as(z).contiguous(), generator=generator) * safe_a
    y = torch.where(a > 0, shot, z)
    eps = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
    return y + b * eps


def quantisation_step(arr: np.ndarray) -> float:
    """The step between the levels an image can take, in its own units: 1 for integer data (and for float data whose
    values are all whole numbers, e.g. camera counts saved as float), else 0. Its noise is never below ``step² / 12``
    (the rounding error's variance), so an image read this way is never "noise-free"."""
    a = np.asarray(arr)
    if a.dtype.kind in "biu":
        return 1.0
    step = int(np.ceil(np.sqrt(a.size / 2**20)))
    sample = a[::step, ::step] if a.ndim == 2 else a.ravel()[::step]
    return 1.0 if sample.size and bool(np.all(sample == np.round(sample))) else 0.0


def estimate_noise(
    image: np.ndarray | torch.Tensor, n_bins: int = 16, *, fc: float | None = None, quantum: float = 0.0
) -> tuple[float, float]:
    """Estimate Poisson–Gaussian ``(alpha, beta)`` from one image scaled to about ``[0, 1]``.

    Method (in the spirit of Foi et al., 2008): finest-scale diagonal Haar details
    ``d = (x00 - x01 - x10 + x11) / 2`` have the variance of the noise at their location while the blurred signal
    contributes little to them; local means come from the same 2 x 2 blocks smoothed over 3 x 3 blocks. Blocks are
    binned by mean intensity (after discarding the 50 % with the strongest local gradient), the variance of each bin
    is estimated robustly (MAD), and ``var = alpha * mean + beta^2`` is fitted by non-negative least squares.

    Real camera data break that estimator's assumptions (Poisson statistics at low counts, the MAD of a mixture,
    piecewise-constant 8-bit levels where most details are exactly 0): on real fluorescence images it read 1.3–2× too
    little noise, or none. Two readings that need no model therefore bound it from below:

    * with the optics' cutoff ``fc``, the noise variance beyond the cutoff (:func:`out_of_band_variance`): when the
      fitted model predicts less there, ``alpha`` and ``beta²`` are scaled up by the ratio;
    * with the quantisation step ``quantum`` (in the scaled image's units, :func:`quantisation_step` divided by the
      scale), ``beta`` is at least ``quantum / sqrt(12)``.

    Parameters
    ----------
    image : array_like
        2D image, intensities scaled to about ``[0, 1]``.
    n_bins : int
        Number of intensity bins.
    fc : float, optional
        The optics' cutoff (``NA * pixel / wavelength``, cycles per pixel), when known.
    quantum : float
        The quantisation step of the image in its scaled units (0: continuous data).

    Returns
    -------
    alpha, beta : float
        Estimated Poisson gain and Gaussian standard deviation (both ``>= 0``).
    """
    alpha, beta = _haar_estimate(image, n_bins)
    if fc is not None:
        reading = out_of_band_variance(np.asarray(image), fc)
        if reading is not None:
            measured, mean_w = reading
            model = alpha * mean_w + beta**2
            if model <= 0:
                beta = float(np.sqrt(measured))
            elif measured > model:
                k = measured / model
                alpha, beta = alpha * k, beta * float(np.sqrt(k))
    floor = float(quantum) / np.sqrt(12.0)
    return float(alpha), float(max(beta, floor))


def _haar_estimate(image: np.ndarray | torch.Tensor, n_bins: int) -> tuple[float, float]:
    """The Haar-detail estimate of :func:`estimate_noise` alone."""
    x = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image).double()
    if x.ndim != 2:
        raise ValueError(f"estimate_noise expects a 2D image, got shape {tuple(x.shape)}")
    H, W = (s - s % 2 for s in x.shape)
    if H < 8 or W < 8:
        raise ValueError("image too small to estimate noise (needs at least 8 x 8 pixels)")
    x = x[:H, :W]
    a, b, c, d = x[0::2, 0::2], x[0::2, 1::2], x[1::2, 0::2], x[1::2, 1::2]
    detail = (a - b - c + d) / 2
    mean = (a + b + c + d) / 4
    mean_s = torch.nn.functional.avg_pool2d(mean[None, None], 3, stride=1, padding=1, count_include_pad=False)[0, 0]
    gy, gx = torch.gradient(mean_s)
    grad = (gx**2 + gy**2).flatten()
    m, dd = mean_s.flatten(), detail.flatten()
    keep = grad <= torch.quantile(grad, 0.5)
    m, dd = m[keep], dd[keep]
    edges = torch.quantile(m, torch.linspace(0, 1, n_bins + 1, dtype=m.dtype))
    means, variances, weights = [], [], []
    for lo, hi in itertools.pairwise(edges):
        sel = (m >= lo) & (m <= hi)
        if int(sel.sum()) < 32:
            continue
        v = dd[sel]
        mad = (v - v.median()).abs().median() * 1.4826
        means.append(float(m[sel].mean()))
        variances.append(float(mad**2))
        weights.append(float(sel.sum()))
    if not means:
        return 0.0, 0.0
    A = np.stack([np.clip(means, 0, None), np.ones(len(means))], axis=1)
    wts = np.sqrt(np.asarray(weights))
    from scipy.optimize import nnls

    (alpha, beta2), _ = nnls(A * wts[:, None], np.asarray(variances) * wts)
    return float(alpha), float(np.sqrt(beta2))
