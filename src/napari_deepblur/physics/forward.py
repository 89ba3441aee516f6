"""The forward model ``y = N(A(gamma) x)``: blur by a family's operator, then Poisson–Gaussian noise.

One boundary rule, stated once: the image is **reflect-padded** by :func:`pad_width` (the PSF radius plus one), the
circular operator is applied on the padded grid, and the padding is cropped off — so no wrap-around enters from the
borders, the output has the input's shape, and the restorations (which pad the same way) see what they assume. Two
other rules are offered for the cases that need them, by name:

* ``"circular"`` — periodic images (the synthetic sample scenes, timing runs): the operator on the image's own grid;
* ``"valid"`` — a larger scene seen through a smaller window (training patches): blur the whole patch, keep the
  centre ``crop`` pixels, which no boundary reaches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .families import Family
from .fft import crop, pad_reflect
from .noise import add_poisson_gaussian
from .operators import BlurOperator, ProductConvolutionOperator

__all__ = ["BOUNDARIES", "blur", "forward_model", "pad_width", "padded_operator", "product_convolution"]

#: The boundary rules :func:`blur` knows; the first is the default.
BOUNDARIES = ("reflect", "circular", "valid")


def pad_width(psf_side: int) -> int:
    """Reflect padding (pixels per side) for a kernel of side ``psf_side``: its radius plus one."""
    return int(psf_side) // 2 + 1


def product_convolution(
    fam,
    psfs: torch.Tensor,
    shape: tuple[int, int],
    pad: int,
    *,
    origin: tuple[int, int] = (0, 0),
    full_shape: tuple[int, int] | None = None,
) -> ProductConvolutionOperator:
    """The product-convolution of a space-varying ``fam`` with PSFs ``psfs`` (``(1, K, h, w)``) for an image of
    ``shape`` reflect-padded by ``pad``: maps computed on the image and extended by replication (they are constant
    beyond the outer grid nodes). For a tile, ``origin`` and ``full_shape`` place the window in the whole field so
    the tile sees its own local PSFs."""
    maps = fam.maps(shape, dtype=psfs.dtype, full_shape=full_shape, origin=origin).to(psfs.device)
    maps = F.pad(maps[None], (pad, pad, pad, pad), mode="replicate")[0]
    return ProductConvolutionOperator(psfs, maps)


def padded_operator(fam: Family, psf: torch.Tensor, shape: tuple[int, int], pad: int) -> BlurOperator:
    """``fam``'s operator built from ``psf`` for an image of ``shape`` reflect-padded by ``pad`` (the operator acts on
    the padded grid)."""
    if fam.is_convolution:
        return fam.operator_from_psf(psf, (shape[0] + 2 * pad, shape[1] + 2 * pad))
    return product_convolution(fam, psf, shape, pad)


def blur(
    x: torch.Tensor, fam: Family, psf: torch.Tensor, *, boundary: str = "reflect", crop_to: int | None = None
) -> torch.Tensor:
    """``A x``: images ``(B, 1, H, W)`` blurred by ``fam``'s operator built from ``psf`` (``(B, h, w)``, or
    ``(1, K, h, w)`` for a space-varying family).

    Parameters
    ----------
    boundary : {"reflect", "circular", "valid"}
        See the module docstring. ``"reflect"`` and ``"circular"`` return ``(B, 1, H, W)``; ``"valid"`` the centre
        ``crop_to`` square.
    crop_to : int, optional
        Side of the centre crop kept by ``"valid"``.
    """
    if boundary == "reflect":
        pad = pad_width(fam.psf_size)
        return crop(padded_operator(fam, psf, tuple(x.shape[-2:]), pad).A(pad_reflect(x, pad)), pad)
    if boundary == "circular":
        return fam.operator_from_psf(psf, tuple(x.shape[-2:])).A(x)
    if boundary == "valid":
        if crop_to is None:
            raise ValueError("boundary='valid' needs crop_to (the side of the centre crop to keep)")
        size = x.shape[-1]
        o = (size - crop_to) // 2
        if o < fam.psf_size // 2:
            raise ValueError(f"patches of {size} px leave no valid {crop_to} px crop for a {fam.psf_size} px PSF")
        z = fam.operator_from_psf(psf, tuple(x.shape[-2:])).A(x)
        return z[..., o : o + crop_to, o : o + crop_to]
    raise ValueError(f"unknown boundary rule {boundary!r}; choose one of {', '.join(BOUNDARIES)}")


def forward_model(
    x: torch.Tensor,
    fam: Family,
    psf: torch.Tensor,
    alpha: float | torch.Tensor = 0.0,
    beta: float | torch.Tensor = 0.0,
    *,
    generator: torch.Generator | None = None,
    boundary: str = "reflect",
    crop_to: int | None = None,
) -> torch.Tensor:
    """``y = N(A x)``: :func:`blur`, then Poisson–Gaussian noise of levels ``alpha``, ``beta``
    (:func:`~napari_deepblur.physics.noise.add_poisson_gaussian`, drawn from ``generator``)."""
    return add_poisson_gaussian(blur(x, fam, psf, boundary=boundary, crop_to=crop_to), alpha, beta, generator=generator)
