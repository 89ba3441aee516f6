"""Linear blur operators: convolution and product-convolution, their adjoints and regularised inverses.

Both operators act on batches of images ``(B, C, *shape)`` with circular boundary conditions on the grid of their
``shape`` (see :mod:`napari_deepblur.physics.fft`): ``(H, W)``, or ``(D, H, W)`` volumes for the convolution (the
product-convolution is 2D). Each exposes

* ``A(x)`` — the blur,
* ``A_adjoint(y)`` — its adjoint ``A*``,
* ``solve(b, lam)`` — the solution of ``(A* A + lam I) u = b``: exact in Fourier for a convolution, preconditioned
  conjugate gradient for a product-convolution,
* ``regularized_inverse(y, lam)`` — ``(A* A + lam I)^-1 A* y``, the Tikhonov/Wiener estimate (the unrolled network
  starts from the same solve, ``solve(A* y, lam_0)``),
* ``to(device)`` — the same operator with its tensors on ``device``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch

from .fft import _as_batch_weight, psf2otf, solve_normal_fft, spatial_dims

__all__ = [
    "BlurOperator",
    "ConvolutionOperator",
    "ProductConvolutionOperator",
    "conjugate_gradient",
]


class BlurOperator(ABC):
    """A linear blur ``A`` on images of a fixed spatial shape: ``(H, W)``, or ``(D, H, W)`` for a volume."""

    shape: tuple[int, ...]

    @property
    def ndim(self) -> int:
        """Spatial axes of the images it acts on (2 or 3)."""
        return len(self.shape)

    @abstractmethod
    def A(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the blur to images ``(B, C, *shape)``."""

    @abstractmethod
    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Apply the adjoint ``A*`` to images ``(B, C, *shape)``."""

    @abstractmethod
    def to(self, device: torch.device | str) -> BlurOperator:
        """The same operator with its tensors on ``device``."""

    @abstractmethod
    def solve(self, b: torch.Tensor, lam: float | torch.Tensor, **kwargs) -> torch.Tensor:
        """Solve ``(A* A + lam I) u = b``."""

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``A* A x``."""
        return self.A_adjoint(self.A(x))

    def regularized_inverse(self, y: torch.Tensor, lam: float | torch.Tensor, **kwargs) -> torch.Tensor:
        """Tikhonov estimate ``(A* A + lam I)^-1 A* y``."""
        return self.solve(self.A_adjoint(y), lam, **kwargs)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(x)

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 2 + self.ndim or tuple(x.shape[-self.ndim :]) != tuple(self.shape):
            want = ", ".join(map(str, self.shape))
            raise ValueError(f"expected images of shape (B, C, {want}), got {tuple(x.shape)}")


class ConvolutionOperator(BlurOperator):
    """Circular convolution with one centred kernel per batch item, in 2D or 3D.

    Parameters
    ----------
    psf : torch.Tensor
        Kernels ``(B, *k)`` or ``(B, C, *k)`` with as many spatial axes as ``shape``, centre ``k // 2``.
    shape : tuple of int
        Image shape ``(H, W)`` or volume shape ``(D, H, W)``; the kernel no larger on any axis.
    """

    def __init__(self, psf: torch.Tensor, shape: tuple[int, ...]):
        d = len(spatial_dims(len(shape)))
        if psf.ndim == d + 1:
            psf = psf.unsqueeze(1)
        if psf.ndim != d + 2:
            k = "h, w" if d == 2 else "d, h, w"
            raise ValueError(f"psf must be (B, {k}) or (B, C, {k}), got {tuple(psf.shape)}")
        self.psf = psf
        self.shape = tuple(int(n) for n in shape)
        self.otf = psf2otf(psf, self.shape)

    def to(self, device: torch.device | str) -> ConvolutionOperator:
        return ConvolutionOperator(self.psf.to(device), self.shape)

    def _otf_for(self, x: torch.Tensor) -> torch.Tensor:
        otf = self.otf
        if otf.real.dtype != x.dtype:
            otf = psf2otf(self.psf.to(x.dtype), self.shape)
        return otf

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        dims = spatial_dims(self.ndim)
        return torch.fft.irfftn(torch.fft.rfftn(x, dim=dims) * self._otf_for(x), s=self.shape, dim=dims)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y)
        dims = spatial_dims(self.ndim)
        return torch.fft.irfftn(torch.fft.rfftn(y, dim=dims) * self._otf_for(y).conj(), s=self.shape, dim=dims)

    def solve(self, b: torch.Tensor, lam: float | torch.Tensor, **kwargs) -> torch.Tensor:
        """Exact Fourier solve of ``(A* A + lam I) u = b`` (extra keyword arguments are ignored)."""
        self._check(b)
        return solve_normal_fft(b, self._otf_for(b), lam, self.ndim)


def conjugate_gradient(
    apply: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    *,
    x0: torch.Tensor | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
    precond: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, int]:
    """Batched (preconditioned) conjugate gradient for a symmetric positive-definite operator.

    Each batch item (first axis) has its own step sizes; iterations stop when every item's residual satisfies
    ``||r|| <= tol * ||b||`` or after ``max_iter`` steps. No in-place update touches tensors that may require
    gradients, so the solve can be back-propagated through (as in the unrolled network).

    Parameters
    ----------
    apply : callable
        ``x -> M x`` for an SPD operator ``M``.
    b : torch.Tensor
        Right-hand side ``(B, ...)``.
    x0 : torch.Tensor, optional
        Initial guess (zeros by default).
    max_iter : int
        Maximal number of iterations.
    tol : float
        Relative residual tolerance.
    precond : callable, optional
        ``r -> P^-1 r`` for an SPD preconditioner ``P``.

    Returns
    -------
    x : torch.Tensor
        Approximate solution.
    n_iter : int
        Iterations run.
    """
    dims = tuple(range(1, b.ndim))

    def dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u * v).sum(dim=dims, keepdim=True)

    x = torch.zeros_like(b) if x0 is None else x0
    r = b - apply(x) if x0 is not None else b
    z = precond(r) if precond is not None else r
    p = z
    rz = dot(r, z)
    b_norm2 = dot(b, b).clamp_min(torch.finfo(b.dtype).tiny)
    tiny = torch.finfo(b.dtype).tiny
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (returned after the loop)
        Ap = apply(p)
        alpha = rz / dot(p, Ap).clamp_min(tiny)
        x = x + alpha * p
        r = r - alpha * Ap
        if bool((dot(r, r) <= (tol**2) * b_norm2).all()):
            break
        z = precond(r) if precond is not None else r
        rz_new = dot(r, z)
        p = z + (rz_new / rz.clamp_min(tiny)) * p
        rz = rz_new
    return x, n_iter


class ProductConvolutionOperator(BlurOperator):
    """Space-varying blur by product-convolution, ``A x = sum_k e_k * (f_k . x)``.

    Parameters
    ----------
    psfs : torch.Tensor
        Kernels ``e_k``, shape ``(B, K, h, w)``, each centred at ``(h // 2, w // 2)``.
    maps : torch.Tensor
        Spatial maps ``f_k``, shape ``(K, H, W)`` or ``(B, K, H, W)``; a partition of unity in the families we ship.
    """

    def __init__(self, psfs: torch.Tensor, maps: torch.Tensor):
        if psfs.ndim != 4:
            raise ValueError(f"psfs must be (B, K, h, w), got {tuple(psfs.shape)}")
        if maps.ndim == 3:
            maps = maps.unsqueeze(0)
        if maps.ndim != 4 or maps.shape[1] != psfs.shape[1]:
            raise ValueError(f"maps must be (K, H, W) or (B, K, H, W) with K={psfs.shape[1]}, got {tuple(maps.shape)}")
        self.psfs = psfs
        self.maps = maps.to(device=psfs.device, dtype=psfs.dtype)
        self.shape = (int(maps.shape[-2]), int(maps.shape[-1]))
        # otf: (B, 1, K, H, W//2+1); maps: (b, 1, K, H, W) — the singleton is the channel axis of the images.
        self.otf = psf2otf(psfs, self.shape).unsqueeze(1)
        self._maps5 = self.maps.unsqueeze(1)
        self._precond_otf: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> ProductConvolutionOperator:
        return ProductConvolutionOperator(self.psfs.to(device), self.maps.to(device))

    def _cast(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._maps5.dtype != x.dtype:
            return psf2otf(self.psfs.to(x.dtype), self.shape).unsqueeze(1), self._maps5.to(x.dtype)
        return self.otf, self._maps5

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        otf, maps = self._cast(x)
        spec = torch.fft.rfft2(x.unsqueeze(2) * maps)  # (B, C, K, H, W')
        return torch.fft.irfft2((spec * otf).sum(dim=2), s=self.shape)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y)
        otf, maps = self._cast(y)
        spec = torch.fft.rfft2(y).unsqueeze(2) * otf.conj()  # (B, C, K, H, W')
        return (torch.fft.irfft2(spec, s=self.shape) * maps).sum(dim=2)

    def _mean_otf(self, dtype: torch.dtype) -> torch.Tensor:
        """OTF of the map-weighted mean kernel: a convolution close to ``A``, used as CG preconditioner."""
        if self._precond_otf is None or self._precond_otf.real.dtype != dtype:
            weights = self.maps.to(dtype).mean(dim=(-2, -1))  # (b, K)
            mean_psf = (weights[..., None, None] * self.psfs.to(dtype)).sum(dim=1, keepdim=True)  # (B, 1, h, w)
            self._precond_otf = psf2otf(mean_psf, self.shape)
        return self._precond_otf

    def solve(
        self,
        b: torch.Tensor,
        lam: float | torch.Tensor,
        *,
        x0: torch.Tensor | None = None,
        max_iter: int = 50,
        tol: float = 1e-5,
        precondition: bool = True,
    ) -> torch.Tensor:
        """Solve ``(A* A + lam I) u = b`` by conjugate gradient.

        Parameters
        ----------
        b : torch.Tensor
            Right-hand side ``(B, C, H, W)``.
        lam : float or torch.Tensor
            Tikhonov weight ``> 0`` (scalar or one per batch item).
        x0 : torch.Tensor, optional
            Warm start.
        max_iter, tol : int, float
            CG stopping rule (``||r|| <= tol ||b||``).
        precondition : bool
            Precondition by the exact Fourier inverse of the map-weighted mean convolution (cuts the iteration
            count several-fold when the blur varies slowly).
        """
        self._check(b)
        lam_b = _as_batch_weight(lam, b)

        def apply(u: torch.Tensor) -> torch.Tensor:
            return self.normal(u) + lam_b * u

        precond = None
        if precondition:
            otf = self._mean_otf(b.dtype)

            def precond(r: torch.Tensor) -> torch.Tensor:
                return solve_normal_fft(r, otf, lam)

        x, _ = conjugate_gradient(apply, b, x0=x0, max_iter=max_iter, tol=tol, precond=precond)
        return x
