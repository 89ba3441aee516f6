"""Type stub of :mod:`napari_deepblur.physics`: the names it gives, loaded lazily at run time (lazy_loader)."""

from .families import Family, OpticalFamily, Parameter
from .fft import (
    conv2d_fft,
    conv_fft,
    conv_transpose2d_fft,
    conv_transpose_fft,
    crop,
    pad_reflect,
    psf2otf,
    solve_normal_fft,
    spatial_dims,
)
from .forward import blur, forward_model, pad_width, product_convolution
from .gaussian import GaussianFamily, gaussian_psf
from .metrics import center_to_size, psf_snr
from .noise import NOISE_LEVELS, add_poisson_gaussian, estimate_noise, noise_level
from .operators import BlurOperator, ConvolutionOperator, ProductConvolutionOperator, conjugate_gradient
from .optics import DEFAULT_OPTICS, MAX_FC, MAX_FC_UNDERSAMPLED, cutoff_frequency, oversampling
from .registry import available_families, family_class, family_classes, get_family, register_family
from .spacevarying import SpaceVaryingFamily, grid_nodes, partition_of_unity
from .zernike import (
    NOLL_NAMES,
    ZernikeFamily,
    diffraction_psf,
    focus_shift_coefficients,
    noll_to_nm,
    zernike_polynomial,
)

__all__ = [
    "DEFAULT_OPTICS",
    "MAX_FC",
    "MAX_FC_UNDERSAMPLED",
    "NOISE_LEVELS",
    "NOLL_NAMES",
    "BlurOperator",
    "ConvolutionOperator",
    "Family",
    "GaussianFamily",
    "OpticalFamily",
    "Parameter",
    "ProductConvolutionOperator",
    "SpaceVaryingFamily",
    "ZernikeFamily",
    "add_poisson_gaussian",
    "available_families",
    "blur",
    "center_to_size",
    "conjugate_gradient",
    "conv2d_fft",
    "conv_fft",
    "conv_transpose2d_fft",
    "conv_transpose_fft",
    "crop",
    "cutoff_frequency",
    "diffraction_psf",
    "estimate_noise",
    "family_class",
    "family_classes",
    "focus_shift_coefficients",
    "forward_model",
    "gaussian_psf",
    "get_family",
    "grid_nodes",
    "noise_level",
    "noll_to_nm",
    "oversampling",
    "pad_reflect",
    "pad_width",
    "partition_of_unity",
    "product_convolution",
    "psf2otf",
    "psf_snr",
    "register_family",
    "solve_normal_fft",
    "spatial_dims",
    "zernike_polynomial",
]
