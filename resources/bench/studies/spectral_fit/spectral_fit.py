# A study, not part of the package (measured, not shipped: see resources/bench/README.md, "A spectral fit of the
# aberrations"). Run from this folder: PYTHONPATH=../../../../src:. python val.py levels=none npsf=2 temper=0.01
"""Identification by the image's power spectrum: a Whittle marginal-likelihood fit of γ.

A blurred, noisy image ``y = h_γ * x + n`` has the expected (Welch) periodogram

    E I(ξ) ≈ |H_γ(ξ)|² S(ξ) + σ²

where ``H_γ`` is the OTF, ``S`` the sharp image's power spectrum and ``σ²`` the (white) noise variance. The sharp
spectrum is not known; it is modelled as ``S = exp(B c)`` with ``B`` a few smooth radial × angular basis functions
(:func:`spectrum_basis`) and ``c`` Gaussian, its mean and covariance learned from sharp training images
(:func:`learn_spectrum_prior`, the :class:`SpectrumPrior` in ``spectrum_prior.npz`` beside this file, from
``learn.py``). γ and ``c`` are
fitted jointly by maximising the Whittle likelihood of the periodogram plus the prior's log-density
(:func:`fit_spectrum`), started from the identification network's estimate.

A power spectrum cannot tell a PSF from its point reflection (nor the even aberrations' common sign, which leaves the
PSF unchanged), so the odd terms' orientation is decided afterwards (:mod:`.orientation`). Under noise the fit
overfits the noise floor; :data:`NOISE_GATE` (chosen on validation content) says up to which noise it is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from napari_deepblur.methods._optim import Adam
from napari_deepblur.physics import Family

__all__ = [
    "N_RADIAL",
    "NOISE_GATE",
    "WINDOW",
    "SpectrumPrior",
    "fit_spectrum",
    "learn_spectrum_prior",
    "spectrum_basis",
    "welch_periodogram",
]

#: Side of the Welch windows (px); half-overlapping Hann windows.
WINDOW = 64
#: Radial basis functions (Gaussian bumps in log-frequency); each has 3 angular factors (1, cos 2θ, sin 2θ).
N_RADIAL = 8
#: Lowest frequency used (cycles/px): below it the window's leakage and the mean removal dominate.
F_MIN = 2.0 / WINDOW
#: Noise standard deviation (image scaled to [0, 1]) above which the fit is not used (validation, see the record).
NOISE_GATE = 0.02
#: Relative floor added to the noise variance (the numerical floor of a noiseless image).
REL_FLOOR = 1e-6


def _frequency_grid(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    f = torch.fft.fftfreq(n, dtype=torch.float64)
    fy, fx = torch.meshgrid(f, f, indexing="ij")
    return fy.hypot(fx), torch.atan2(fy, fx)


def spectrum_basis(n: int = WINDOW, n_radial: int = N_RADIAL) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, mask)``: basis ``(m, K)`` of log-spectra on the used frequencies of an ``n`` × ``n`` FFT grid, and the
    boolean mask ``(n, n)`` of those frequencies (``F_MIN <= |ξ|``). ``K = 1 + 3 n_radial``: a constant, and
    Gaussian bumps in ``log |ξ|`` times ``1, cos 2θ, sin 2θ``."""
    r, theta = _frequency_grid(n)
    mask = r >= F_MIN
    r, theta = r[mask], theta[mask]
    u = torch.log(r)
    centres = torch.linspace(math.log(F_MIN), math.log(0.5 * math.sqrt(2)), n_radial, dtype=torch.float64)
    width = float(centres[1] - centres[0])
    bumps = torch.exp(-0.5 * ((u[:, None] - centres[None]) / width) ** 2)
    cols = [torch.ones_like(u)[:, None], bumps, bumps * torch.cos(2 * theta)[:, None], bumps * torch.sin(2 * theta)[:, None]]
    return torch.cat(cols, dim=1), mask


def welch_periodogram(y: torch.Tensor, n: int = WINDOW) -> tuple[torch.Tensor, int]:
    """``(I, m)``: the mean periodogram ``(n, n)`` of the half-overlapping Hann-windowed, mean-removed ``n`` × ``n``
    windows of the 2D image ``y``, scaled so that white noise of variance ``σ²`` gives ``σ²``; ``m`` windows."""
    y = torch.as_tensor(y, dtype=torch.float64)
    w1 = torch.hann_window(n, periodic=False, dtype=torch.float64)
    w = w1[:, None] * w1[None]
    patches = y.unfold(0, n, n // 2).unfold(1, n, n // 2).reshape(-1, n, n)
    patches = patches - patches.mean(dim=(-2, -1), keepdim=True)
    P = torch.fft.fft2(patches * w).abs().square().mean(0) / w.square().sum()
    return P, patches.shape[0]


@dataclass
class SpectrumPrior:
    """Gaussian prior on the log-spectrum coefficients ``c`` of sharp images: mean ``mean`` ``(K,)`` and precision
    ``precision`` ``(K, K)``, for the basis :func:`spectrum_basis` (``window``, ``n_radial``)."""

    mean: torch.Tensor
    precision: torch.Tensor
    window: int = WINDOW
    n_radial: int = N_RADIAL

    def save(self, path: str | Path) -> None:
        np.savez(path, mean=self.mean.numpy(), precision=self.precision.numpy(), window=self.window,
                 n_radial=self.n_radial)  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> SpectrumPrior:
        with np.load(path, allow_pickle=False) as z:
            return cls(torch.from_numpy(z["mean"]), torch.from_numpy(z["precision"]), int(z["window"]),
                       int(z["n_radial"]))  # fmt: skip

    @classmethod
    def shipped(cls) -> SpectrumPrior:
        return cls.load(Path(__file__).with_name("spectrum_prior.npz"))


def _coefficients(I: torch.Tensor, B: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Least-squares log-spectrum coefficients of a periodogram."""
    logI = torch.log(I[mask].clamp_min(1e-20))
    return torch.linalg.lstsq(B, logI[:, None]).solution[:, 0]


def learn_spectrum_prior(images: list[np.ndarray], ridge: float = 1e-2) -> SpectrumPrior:
    """The prior of sharp images' log-spectrum coefficients, from ``images`` (2D, in [0, 1]): mean and (ridge-
    regularised) inverse covariance of their coefficients."""
    B, mask = spectrum_basis()
    cs = torch.stack([_coefficients(welch_periodogram(torch.from_numpy(np.asarray(a, np.float64)))[0], B, mask)
                      for a in images])  # fmt: skip
    mean = cs.mean(0)
    cov = torch.cov(cs.T) + ridge * torch.eye(cs.shape[1], dtype=cs.dtype)
    return SpectrumPrior(mean, torch.linalg.inv(cov))


def _otf2(fam: Family, gamma: torch.Tensor, n: int) -> torch.Tensor:
    """``|H_γ|²`` on the ``n`` × ``n`` FFT grid."""
    h = fam.psf(gamma)[0]
    return torch.fft.fft2(h, s=(n, n)).abs().square()


def fit_spectrum(
    y: np.ndarray,
    fam: Family,
    starts: torch.Tensor,
    noise_sigma: float,
    prior: SpectrumPrior | None = None,
    *,
    n_iter: int = 150,
    temper: float = 1.0,
    lr_g: float = 0.003,
    lr_c: float = 0.05,
    free: list[int] | None = None,
) -> tuple[torch.Tensor, dict]:
    """γ ``(1, dim)`` maximising the Whittle likelihood of ``y``'s periodogram plus the spectrum prior, from each of
    ``starts`` ``(s, dim)`` (the best kept), and details (the objective at the start and at the answer).

    ``noise_sigma``: the noise standard deviation of ``y`` (2D array in [0, 1]). ``temper`` scales the likelihood
    (1: the windows counted as independent). ``free``: the entries of γ fitted (default all; the others keep the
    start's values)."""
    import copy

    prior = prior or SpectrumPrior.shipped()
    n = prior.window
    B, mask = spectrum_basis(n, prior.n_radial)
    I, m = welch_periodogram(torch.as_tensor(y, dtype=torch.float64), n)
    weight = temper * m / 4.0  # half-overlapping windows: about a quarter of them independent
    Iu = I[mask]
    sigma2 = noise_sigma**2 + REL_FLOOR * float(Iu.mean())
    if hasattr(fam, "pupil_size"):  # a coarser pupil grid is plenty for a 31 px PSF
        fam = copy.copy(fam)
        fam.pupil_size = max(128, 2 * fam.psf_size)
    lo, hi = fam.bounds(dtype=torch.float64).unbind(1)
    mu, Q = prior.mean, prior.precision

    def objective(g: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        P = _otf2(fam, g[None], n)[mask] * torch.exp(B @ c) + sigma2
        d = c - mu
        return weight * (torch.log(P) + Iu / P).sum() + 0.5 * d @ Q @ d

    fixed = [] if free is None else [k for k in range(starts.shape[-1]) if k not in free]
    best = None
    for g0 in starts.double():
        # the sharp spectrum that explains the periodogram under the start's OTF, as the start of c
        with torch.no_grad():
            H2 = _otf2(fam, g0[None], n)[mask]
            c0 = torch.linalg.lstsq(B, torch.log(((Iu - sigma2).clamp_min(0.1 * sigma2)) / H2.clamp_min(1e-6))[:, None]).solution[:, 0]
            c0 = 0.5 * (c0 + mu)
        g = g0.clone().requires_grad_(True)
        c = c0.clone().requires_grad_(True)
        with torch.no_grad():
            start_value = float(objective(g, c))
        opt_g, opt_c = Adam([g], lr=lr_g), Adam([c], lr=lr_c)
        for _ in range(n_iter):
            objective(g, c).backward()
            if fixed:
                g.grad[fixed] = 0
            opt_g.step()
            opt_c.step()
            with torch.no_grad():
                g.copy_(torch.maximum(torch.minimum(g, hi), lo))
        with torch.no_grad():
            value = float(objective(g, c))
        if best is None or value < best[0]:
            best = (value, g.detach().clone(), start_value)
    value, g, start_value = best
    return g[None].float(), {"spectral_objective": [start_value, value], "spectral_windows": m}
