"""Space-varying blur: product-convolution with a field-dependent aberration model (paper Model 2.2, preprint 001).

``A(gamma) x = sum_k e_k * (f_k . x)`` where

* the ``f_k`` are smooth maps forming a partition of unity over a ``gy x gx`` grid of field positions (nodes at the
  centres of the grid cells): tensor products of 1D raised-cosine interpolation weights — ``C^1``, non-negative,
  summing exactly to 1 at every pixel, constant beyond the outer nodes;
* the ``e_k`` are diffraction PSFs (:func:`~napari_deepblur.physics.zernike.diffraction_psf`) at the nodes, whose
  Zernike coefficients are low-order polynomials of the field position ``(u, v) in [-1, 1]^2`` (``u`` along columns,
  ``v`` along rows, 0 at the image centre) — the Seidel picture of a real objective:

  ========================  =================================================
  Zernike term              field dependence (13 parameters)
  ========================  =================================================
  defocus Z4                ``d0 + t_x u + t_y v + c (u^2 + v^2)`` (focus, tilted focal plane, field curvature)
  astigmatism Z5, Z6        ``a45 + A 2uv``, ``a0 + A (u^2 - v^2)`` (constant + off-axis astigmatism)
  coma Z7, Z8               ``cy + C v``, ``cx + C u`` (constant + off-axis coma)
  trefoil Z9, Z10           constants
  spherical Z11             constant
  ========================  =================================================
"""

from __future__ import annotations

import math

import torch

from .families import OpticalFamily, Parameter
from .operators import BlurOperator, ProductConvolutionOperator
from .zernike import diffraction_psf

__all__ = ["SpaceVaryingFamily", "grid_nodes", "partition_of_unity"]


def _weights_1d(n: int, g: int, dtype=torch.float64) -> torch.Tensor:
    """``(g, n)`` raised-cosine interpolation weights of ``n`` pixels on ``g`` nodes at cell centres."""
    t = torch.arange(n, dtype=dtype) + 0.5
    delta = n / g
    pos = (t / delta - 0.5).clamp(0, g - 1)  # node coordinate of each pixel
    w = torch.zeros(g, n, dtype=dtype)
    if g == 1:
        return torch.ones(1, n, dtype=dtype)
    i0 = pos.floor().clamp(max=g - 2).long()
    s = pos - i0
    w[i0, torch.arange(n)] = torch.cos(0.5 * math.pi * s) ** 2
    w[i0 + 1, torch.arange(n)] = torch.sin(0.5 * math.pi * s) ** 2
    return w


def partition_of_unity(
    shape: tuple[int, int],
    grid: tuple[int, int],
    dtype=torch.float32,
    device=None,
    *,
    full_shape: tuple[int, int] | None = None,
    origin: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Smooth maps ``f_k`` on an ``H x W`` image for a ``gy x gx`` grid, ``(gy * gx, H, W)``, row-major nodes.

    With ``full_shape``, the maps of the ``H x W`` window at ``origin`` (top-left pixel) of an image of that shape —
    what a tile of a large image needs, without building the maps of the whole field.
    """
    H, W = shape
    gy, gx = grid
    fh, fw = full_shape or shape
    r0, c0 = origin
    if r0 < 0 or c0 < 0 or r0 + H > fh or c0 + W > fw:
        raise ValueError(f"window {shape} at {origin} does not fit in an image of shape {full_shape}")
    wy = _weights_1d(fh, gy)[:, r0 : r0 + H]
    wx = _weights_1d(fw, gx)[:, c0 : c0 + W]
    maps = wy[:, None, :, None] * wx[None, :, None, :]  # (gy, gx, H, W)
    return maps.reshape(gy * gx, H, W).to(device=device, dtype=dtype)


def grid_nodes(grid: tuple[int, int]) -> torch.Tensor:
    """Normalised field positions ``(u, v) in [-1, 1]`` of the grid nodes, ``(gy * gx, 2)``, row-major."""
    gy, gx = grid
    v = (2 * torch.arange(gy, dtype=torch.float64) + 1) / gy - 1
    u = (2 * torch.arange(gx, dtype=torch.float64) + 1) / gx - 1
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack([uu.flatten(), vv.flatten()], dim=1)


class SpaceVaryingFamily(OpticalFamily):
    """Product-convolution operator with PSFs from a field-dependent Zernike model (13 parameters).

    Parameters
    ----------
    na, wavelength, pixel_size, fc : float, optional
        Optical numbers, as for :class:`~napari_deepblur.physics.zernike.ZernikeFamily`.
    grid : tuple of int
        ``(gy, gx)`` field positions where PSFs are computed (default 3 x 3).
    psf_size : int
        Odd kernel side.
    pupil_size : int
        FFT grid for the pupil → PSF transform.
    max_zernike_amplitude : float
        Full width of the range of the constant terms (as in the Zernike family, default 0.3 → ±0.15 waves); the
        field terms range over ±``max_zernike_amplitude / 3``.
    """

    name = "spatially-varying"
    label = "space-varying"
    description = "space-varying product-convolution, field-dependent Zernike aberrations"
    is_convolution = False
    #: identified from local estimates of the Zernike network (no network of its own to train)
    trainable = False
    floor_scale = 0.1

    def __init__(
        self,
        na: float | None = None,
        wavelength: float | None = None,
        pixel_size: float | None = None,
        *,
        fc: float | None = None,
        grid: tuple[int, int] = (3, 3),
        psf_size: int = 31,
        pupil_size: int = 256,
        max_zernike_amplitude: float = 0.3,
    ):
        self._set_optics(na, wavelength, pixel_size, fc)
        if psf_size < 3 or psf_size % 2 == 0:
            raise ValueError(f"psf_size must be an odd integer >= 3, got {psf_size}")
        gy, gx = (int(g) for g in grid)
        if gy < 1 or gx < 1 or gy * gx < 2:
            raise ValueError(f"grid must have at least two nodes, got {grid}")
        self.grid = (gy, gx)
        self.psf_size = int(psf_size)
        self.pupil_size = int(max(pupil_size, 2 * psf_size))
        a = max_zernike_amplitude / 2
        f = max_zernike_amplitude / 3
        self.parameters = (
            Parameter("defocus", "defocus (Z4)", "waves", -a, a),
            Parameter("focal_tilt_x", "focal-plane tilt x (Z4·u)", "waves", -f, f),
            Parameter("focal_tilt_y", "focal-plane tilt y (Z4·v)", "waves", -f, f),
            Parameter("field_curvature", "field curvature (Z4·r²)", "waves", -f, f),
            Parameter("astig_oblique", "astigmatism 45° (Z5)", "waves", -a, a),
            Parameter("astig_vertical", "astigmatism 0° (Z6)", "waves", -a, a),
            Parameter("off_axis_astig", "off-axis astigmatism (Z5·2uv, Z6·(u²−v²))", "waves", -f, f),
            Parameter("coma_vertical", "coma y (Z7)", "waves", -a, a),
            Parameter("coma_horizontal", "coma x (Z8)", "waves", -a, a),
            Parameter("off_axis_coma", "off-axis coma (Z7·v, Z8·u)", "waves", -f, f),
            Parameter("trefoil_vertical", "trefoil y (Z9)", "waves", -a, a),
            Parameter("trefoil_oblique", "trefoil x (Z10)", "waves", -a, a),
            Parameter("spherical", "spherical (Z11)", "waves", -a, a),
        )

    def zernike_at(self, gamma: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
        """Zernike coefficients (Noll 4–11, waves) at field positions.

        Parameters
        ----------
        gamma : torch.Tensor
            ``(B, 13)`` model parameters.
        uv : torch.Tensor
            ``(K, 2)`` normalised field positions ``(u, v)``.

        Returns
        -------
        torch.Tensor
            ``(B, K, 8)``.
        """
        g = self._check_gamma(gamma)
        uv = uv.to(device=g.device, dtype=g.dtype)
        u, v = uv[:, 0][None], uv[:, 1][None]  # (1, K)
        p = [g[:, i, None] for i in range(self.dim)]  # each (B, 1)
        d0, tx, ty, curv, a45, a0, aoff, cy, cx, coff, t9, t10, sph = p
        ones = torch.ones_like(u)
        z4 = d0 + tx * u + ty * v + curv * (u**2 + v**2)
        z5 = a45 + aoff * 2 * u * v
        z6 = a0 + aoff * (u**2 - v**2)
        z7 = cy + coff * v
        z8 = cx + coff * u
        z9, z10, z11 = t9 * ones, t10 * ones, sph * ones
        return torch.stack([z4, z5, z6, z7, z8, z9, z10, z11], dim=-1)

    def node_positions(self, shape: tuple[int, int]) -> torch.Tensor:
        """Pixel coordinates ``(row, col)`` of the grid nodes on an ``H x W`` image, ``(K, 2)``."""
        uv = grid_nodes(self.grid)
        H, W = shape
        rows = (uv[:, 1] + 1) / 2 * H - 0.5
        cols = (uv[:, 0] + 1) / 2 * W - 0.5
        return torch.stack([rows, cols], dim=1)

    def psf(self, gamma: torch.Tensor) -> torch.Tensor:
        """PSFs at the grid nodes, ``(B, K, psf_size, psf_size)`` in row-major node order."""
        g = self._check_gamma(gamma)
        z = self.zernike_at(g, grid_nodes(self.grid))  # (B, K, 8)
        B, K, _ = z.shape
        psf = diffraction_psf(z.reshape(B * K, -1), self.fc, self.psf_size, self.pupil_size, self.noll, self.oversample)
        return psf.reshape(B, K, self.psf_size, self.psf_size)

    def maps(
        self,
        shape: tuple[int, int],
        device=None,
        dtype=torch.float32,
        *,
        full_shape: tuple[int, int] | None = None,
        origin: tuple[int, int] = (0, 0),
    ) -> torch.Tensor:
        """The partition-of-unity maps on an ``H x W`` image, ``(K, H, W)`` (or on a window of a larger image of
        ``full_shape`` whose top-left pixel is ``origin``)."""
        return partition_of_unity(shape, self.grid, dtype=dtype, device=device, full_shape=full_shape, origin=origin)

    def operator(self, gamma: torch.Tensor, shape: tuple[int, int]) -> BlurOperator:
        return self.operator_from_psf(self.psf(gamma), shape)

    def operator_from_psf(self, psf: torch.Tensor, shape: tuple[int, int]) -> BlurOperator:
        return ProductConvolutionOperator(psf, self.maps(shape, device=psf.device, dtype=psf.dtype))
