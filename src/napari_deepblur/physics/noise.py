"""Poisson–Gaussian noise ``y = alpha * Poisson(z / alpha) + beta * eps``, benchmark levels, and an estimator.

Intensities are relative to an image scaled to ``[0, 1]``: ``alpha`` is the gain of the Poisson part (``alpha = 0``
means none) and ``beta`` the standard deviation of the Gaussian part.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

__all__ = ["NOISE_LEVELS", "add_poisson_gaussian", "estimate_noise", "noise_level", "rescaled_noise"]

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


def estimate_noise(image: np.ndarray | torch.Tensor, n_bins: int = 16) -> tuple[float, float]:
    """Estimate Poisson–Gaussian ``(alpha, beta)`` from one image scaled to about ``[0, 1]``.

    Method (in the spirit of Foi et al., 2008): finest-scale diagonal Haar details
    ``d = (x00 - x01 - x10 + x11) / 2`` have the variance of the noise at their location while the blurred signal
    contributes little to them; local means come from the same 2 x 2 blocks smoothed over 3 x 3 blocks. Blocks are
    binned by mean intensity (after discarding the 50 % with the strongest local gradient), the variance of each bin
    is estimated robustly (MAD), and ``var = alpha * mean + beta^2`` is fitted by non-negative least squares.

    Parameters
    ----------
    image : array_like
        2D image, intensities scaled to about ``[0, 1]``.
    n_bins : int
        Number of intensity bins.

    Returns
    -------
    alpha, beta : float
        Estimated Poisson gain and Gaussian standard deviation (both ``>= 0``).
    """
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
