"""Blur physics: operator families, FFT operators, noise and metrics (torch only — no napari, no Qt)."""

from .families import (
    FAMILIES,
    Family,
    Parameter,
    available_families,
    cutoff_frequency,
    get_family,
    register_family,
)
from .fft import conv2d_fft, conv_transpose2d_fft, crop, pad_reflect, psf2otf, solve_normal_fft
from .gaussian import GaussianFamily, gaussian_psf
from .metrics import center_to_size, psf_snr
from .noise import NOISE_LEVELS, add_poisson_gaussian, estimate_noise, noise_level
from .operators import BlurOperator, ConvolutionOperator, ProductConvolutionOperator, conjugate_gradient
from .spacevarying import SpaceVaryingFamily, grid_nodes, partition_of_unity
from .zernike import NOLL_NAMES, ZernikeFamily, diffraction_psf, noll_to_nm, zernike_polynomial

__all__ = [
    "FAMILIES",
    "NOISE_LEVELS",
    "NOLL_NAMES",
    "BlurOperator",
    "ConvolutionOperator",
    "Family",
    "GaussianFamily",
    "Parameter",
    "ProductConvolutionOperator",
    "SpaceVaryingFamily",
    "ZernikeFamily",
    "add_poisson_gaussian",
    "available_families",
    "center_to_size",
    "conjugate_gradient",
    "conv2d_fft",
    "conv_transpose2d_fft",
    "crop",
    "cutoff_frequency",
    "diffraction_psf",
    "estimate_noise",
    "gaussian_psf",
    "get_family",
    "grid_nodes",
    "noise_level",
    "noll_to_nm",
    "pad_reflect",
    "partition_of_unity",
    "psf2otf",
    "psf_snr",
    "register_family",
    "solve_normal_fft",
    "zernike_polynomial",
]
