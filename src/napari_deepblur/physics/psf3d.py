"""3D PSFs: the Zernike family's pupil propagated through focus (widefield), and confocal as excitation × emission.

The model (scalar, Debye): the pupil of :func:`~napari_deepblur.physics.zernike.diffraction_psf` — the disk of spatial
frequencies ``k <= NA / λ`` with the aberration phase ``−2π Σ γ_j Z_j(ρ)`` (``ρ = k λ / NA``, Noll 4–11, waves) —
takes at an axial offset ``z`` from focus the exact (non-paraxial) defocus phase ``2π z sqrt((n / λ)² − k²)`` of the
immersion medium's index ``n``, and each plane of the PSF is ``|FFT(pupil)|²``. Refractive-index mismatch follows the
optical path difference of Gibson & Lanni (1991) for a design coverslip: a point ``depth`` below the coverslip in a
sample of index ``n_s``, seen with the stage moved by ``z_v``, has

    OPD(ρ) = depth · sqrt(n_s² − NA² ρ²) + z_v · sqrt(n² − NA² ρ²),

and the plane offsets ``z`` here are counted from the paraxial focus of that point, ``z_v = z − depth · n / n_s``:
with matched indices the depth drops out (pure defocus); with a mismatch a spherical aberration grows with depth and
the best focus moves away from the paraxial one. The sign is the bead stack's (:func:`~napari_deepblur.physics.zernike.
focus_shift_coefficients`): a positive ``z`` adds positive defocus. Camera pixels integrate the light falling on them
(``oversample``, as in 2D). Checked against ``microscPSF-py`` (Gibson–Lanni, Li et al. 2017) in the tests.
"""

from __future__ import annotations

import math

import torch

from .zernike import _pupil_basis

__all__ = ["axial_planes", "confocal_psf_3d", "widefield_psf_3d"]


def axial_planes(n_planes: int, z_step: float) -> torch.Tensor:
    """Axial offsets (µm, float64) of ``n_planes`` planes ``z_step`` apart, centred on 0 (``n_planes`` odd: the middle
    plane is in focus). A stack of ``Z`` planes needs ``2 Z − 1`` so that every plane sees every other."""
    if n_planes < 1 or n_planes % 2 == 0:
        raise ValueError(f"n_planes must be an odd number >= 1 (the middle plane in focus), got {n_planes}")
    if not (math.isfinite(z_step) and z_step > 0):
        raise ValueError(f"z_step must be a positive distance in µm, got {z_step}")
    return (torch.arange(n_planes, dtype=torch.float64) - n_planes // 2) * float(z_step)


def widefield_psf_3d(
    coeffs: torch.Tensor,
    *,
    na: float,
    wavelength: float,
    pixel_size: float,
    z: torch.Tensor,
    immersion_index: float,
    sample_index: float | None = None,
    depth: float = 0.0,
    psf_size: int = 31,
    pupil_size: int = 256,
    oversample: int = 1,
    noll: tuple[int, ...] = tuple(range(4, 12)),
) -> torch.Tensor:
    """Widefield 3D PSFs ``(B, len(z), psf_size, psf_size)``, summing to 1 over the volume.

    Parameters
    ----------
    coeffs : torch.Tensor
        Zernike coefficients in waves, ``(B, len(noll))`` (zeros: aberration-free).
    na, wavelength, pixel_size : float
        The optics; wavelength and pixel size in µm.
    z : torch.Tensor
        Axial offsets of the planes from focus, µm (e.g. :func:`axial_planes`).
    immersion_index : float
        Refractive index of the immersion medium (> ``na``): 1.0 air, 1.333 water, 1.518 oil.
    sample_index : float, optional
        Refractive index of the sample (default: the immersion's, no mismatch); must exceed ``na``.
    depth : float
        Depth of the point below the coverslip, µm (matters only under index mismatch).
    psf_size, pupil_size : int
        Lateral side of the returned kernels and of the FFT grid (keep the grid several times the widest plane).
    oversample : int
        Odd sub-samples per pixel and axis (:func:`~napari_deepblur.physics.optics.oversampling`).
    noll : tuple of int
        Noll indices of ``coeffs``.
    """
    if coeffs.ndim != 2 or coeffs.shape[1] != len(noll):
        raise ValueError(f"coeffs must be (B, {len(noll)}), got {tuple(coeffs.shape)}")
    n = float(immersion_index)
    ns = n if sample_index is None else float(sample_index)
    if not (0 < na < min(n, ns)):
        raise ValueError(f"the NA ({na}) must lie between 0 and the refractive indices (immersion {n}, sample {ns})")
    if oversample < 1 or oversample % 2 == 0:
        raise ValueError(f"oversample must be an odd integer >= 1, got {oversample}")
    s = int(oversample)
    fine_size = psf_size * s
    grid = max(int(pupil_size), 2 * fine_size)  # room for the widest (most defocused) plane
    fc = na * pixel_size / wavelength / s  # cycles per (sub-)sample
    real = coeffs.dtype if coeffs.dtype in (torch.float32, torch.float64) else torch.float32
    device = coeffs.device
    basis, idx = _pupil_basis(tuple(noll), float(fc), grid, str(device), real)
    # |k| of the in-pupil samples, in cycles per µm, from ρ = |k| / (NA / λ)
    f = torch.fft.fftshift(torch.fft.fftfreq(grid, dtype=torch.float64))
    rho = torch.hypot(f[:, None], f[None, :]).flatten()[idx.cpu()] / fc  # (P,) in [0, 1]
    na_rho2 = (na * rho) ** 2
    z = torch.as_tensor(z, dtype=torch.float64).flatten()
    opd = depth * torch.sqrt(ns**2 - na_rho2) - (depth * n / ns) * torch.sqrt(n**2 - na_rho2)  # (P,) µm
    opd = opd[None, :] + z[:, None] * torch.sqrt(n**2 - na_rho2)[None, :]  # (Z, P)
    wave = (2.0 * math.pi / wavelength) * opd
    phase = -2.0 * math.pi * (coeffs.to(real) @ basis)  # (B, P)
    total = phase[:, None, :].double() + wave[None].to(device)  # (B, Z, P)
    B, Z = coeffs.shape[0], z.numel()
    cplx = torch.complex64 if real == torch.float32 else torch.complex128
    pupil = torch.zeros(B * Z, grid * grid, dtype=cplx, device=device)
    values = torch.polar(torch.ones_like(total), total).reshape(B * Z, -1).to(cplx)
    pupil = pupil.index_copy(1, idx, values).view(B * Z, grid, grid)
    field = torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(pupil, dim=(-2, -1))), dim=(-2, -1))
    lo = grid // 2 - fine_size // 2
    field = field[:, lo : lo + fine_size, lo : lo + fine_size]
    psf = (field.real.square() + field.imag.square()).view(B, Z, fine_size, fine_size)
    if s > 1:
        psf = psf.view(B, Z, psf_size, s, psf_size, s).sum(dim=(3, 5))
    return psf / psf.sum(dim=(-3, -2, -1), keepdim=True)


def confocal_psf_3d(coeffs: torch.Tensor, *, excitation: float, emission: float, **kwargs) -> torch.Tensor:
    """Confocal 3D PSFs with a closed pinhole: the excitation PSF at ``excitation`` times the detection PSF at
    ``emission`` (both :func:`widefield_psf_3d` with the same aberrations and ``kwargs``), summing to 1."""
    psf = widefield_psf_3d(coeffs, wavelength=excitation, **kwargs) * widefield_psf_3d(
        coeffs, wavelength=emission, **kwargs
    )
    return psf / psf.sum(dim=(-3, -2, -1), keepdim=True)
