"""Anisotropic Gaussian blur: a three-parameter convolution family (fast, simple, good for teaching and tests)."""

from __future__ import annotations

import math

import torch

from .families import Family, Parameter
from .operators import BlurOperator, ConvolutionOperator

__all__ = ["GaussianFamily", "gaussian_psf"]


def gaussian_psf(gamma: torch.Tensor, psf_size: int) -> torch.Tensor:
    """Rotated anisotropic Gaussian kernels.

    Parameters
    ----------
    gamma : torch.Tensor
        ``(B, 3)``: ``sigma_1``, ``sigma_2`` (pixels, along the rotated x and y axes) and ``theta`` (radians, the
        angle from the image x axis (columns) towards y (rows)).
    psf_size : int
        Odd kernel side.

    Returns
    -------
    torch.Tensor
        ``(B, psf_size, psf_size)``, centred, summing to 1.
    """
    dtype = gamma.dtype if gamma.is_floating_point() else torch.float32
    r = torch.arange(psf_size, device=gamma.device, dtype=dtype) - psf_size // 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    s1, s2, th = (gamma[:, i, None, None].to(dtype) for i in range(3))
    c, s = torch.cos(th), torch.sin(th)
    u = c * xx + s * yy
    v = -s * xx + c * yy
    h = torch.exp(-0.5 * ((u / s1) ** 2 + (v / s2) ** 2))
    return h / h.sum(dim=(-2, -1), keepdim=True)


class GaussianFamily(Family):
    """Convolution by an anisotropic Gaussian ``(sigma_1, sigma_2, theta)``.

    Parameters
    ----------
    psf_size : int
        Odd kernel side (default 31, enough for ``sigma <= 5`` px).
    sigma_range : tuple of float
        Range of both standard deviations in pixels, for sampling and the networks.
    na, wavelength, pixel_size, fc : float, optional
        Accepted for a uniform family API and ignored (a Gaussian has no optics).
    """

    name = "gaussian"
    label = "Gaussian"
    description = "anisotropic Gaussian (sigma_1, sigma_2 in px, theta in rad)"
    floor_scale = 0.005
    baseline_label = "centre of the parameter box"

    def __init__(
        self,
        na: float | None = None,
        wavelength: float | None = None,
        pixel_size: float | None = None,
        *,
        fc: float | None = None,
        psf_size: int = 31,
        sigma_range: tuple[float, float] = (0.5, 4.0),
    ):
        # The optical numbers are accepted so that every family takes the same keywords; a Gaussian ignores them.
        del na, wavelength, pixel_size, fc
        if psf_size < 3 or psf_size % 2 == 0:
            raise ValueError(f"psf_size must be an odd integer >= 3, got {psf_size}")
        lo, hi = sigma_range
        if not 0 < lo < hi:
            raise ValueError(f"sigma_range must satisfy 0 < low < high, got {sigma_range}")
        self.psf_size = int(psf_size)
        self.parameters = (
            Parameter("sigma_1", "σ₁", "px", float(lo), float(hi)),
            Parameter("sigma_2", "σ₂", "px", float(lo), float(hi)),
            Parameter("theta", "θ", "rad", 0.0, math.pi),
        )

    def default_gamma(self, device=None, dtype=torch.float32) -> torch.Tensor:
        lo = self.parameters[0].low
        return torch.tensor([[lo, lo, 0.0]], device=device, dtype=dtype)

    def baseline_gamma(self, dtype=torch.float32) -> torch.Tensor:
        return self.bounds(dtype=dtype).mean(dim=1, keepdim=True).T

    def psf(self, gamma: torch.Tensor) -> torch.Tensor:
        gamma = self._check_gamma(gamma)
        if bool((gamma[:, :2] <= 0).any()):
            raise ValueError("Gaussian widths sigma_1, sigma_2 must be > 0")
        return gaussian_psf(gamma, self.psf_size)

    def operator(self, gamma: torch.Tensor, shape: tuple[int, int]) -> BlurOperator:
        return ConvolutionOperator(self.psf(gamma), shape)
