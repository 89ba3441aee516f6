"""Non-blind restoration with a known (or estimated) operator: Wiener, Richardson–Lucy and total variation.

These are the classical baselines of the benchmark and user-facing methods of :func:`napari_deepblur.deblur`. All
take an image scaled to about ``[0, 1]`` and reflect-pad it by the PSF support before applying the circular
operators, so that no wrap-around ringing enters from the borders.

* ``wiener`` — scikit-image's :func:`skimage.restoration.wiener` (Laplacian regulariser) for convolutions; for a
  product-convolution, the same filter ``(A*A + balance L*L)^-1 A* y`` (L the discrete Laplacian) by conjugate
  gradient, so one ``balance`` law serves both.
* ``richardson_lucy`` — scikit-image's :func:`skimage.restoration.richardson_lucy` for convolutions; the same
  multiplicative iteration, from the same flat start, with the product-convolution operator otherwise.
* ``tv_deconvolution`` — ``min 1/2 ||A x - y||^2 + mu TV(x)`` (isotropic TV, preprint 001 eq. 7) by the
  Chambolle–Pock primal–dual algorithm, with the exact (FFT) or CG proximal map of the data term.
* ``l1_deconvolution`` — ``min 1/2 ||A x - y||^2 + mu ||x||_1`` (sparse samples: beads, puncta; preprint 001
  Fig. 3f) by FISTA.

Default regularisation follows the noise level ``sigma^2 = alpha * mean(y) + beta^2`` by the laws of
:mod:`.regularisation` (constants tuned on training images, never the benchmark images); every value can be
overridden. ``run_*`` are the registry's entry points (:data:`napari_deepblur.methods.METHODS`): one signature for
every method, the product-convolution built here for a grid of PSFs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ..physics.fft import pad_reflect
from ..physics.forward import product_convolution
from ..physics.operators import BlurOperator, ConvolutionOperator, conjugate_gradient
from .regularisation import effective_sigma, l1_mu, rl_iterations, tv_mu, wiener_balance

__all__ = [
    "l1_deconvolution",
    "richardson_lucy",
    "run_l1",
    "run_richardson_lucy",
    "run_tv",
    "run_wiener",
    "tv_deconvolution",
    "wiener",
]

Progress = Callable[[int, int], None] | None


def _pad_width(psf: np.ndarray | torch.Tensor) -> int:
    return int(max(psf.shape[-2:]))


def wiener(
    y: np.ndarray,
    psf: np.ndarray,
    alpha: float,
    beta: float,
    *,
    balance: float | None = None,
    operator: BlurOperator | None = None,
    sigma: float | None = None,
    nonneg: bool = False,
) -> np.ndarray:
    """Wiener deconvolution of ``y`` (2D, scaled to [0, 1]) by ``psf``.

    Parameters
    ----------
    y : numpy.ndarray
        Observation.
    psf : numpy.ndarray
        ``(h, w)`` kernel, or ``(K, h, w)`` with ``operator`` for a product-convolution.
    alpha, beta : float
        Noise levels (set the default regularisation).
    balance : float, optional
        Regularisation weight (default from the noise level).
    operator : BlurOperator, optional
        For space-varying blur: a product-convolution built on the image padded by the PSF side (see
        :func:`_grid_operator`).
    sigma : float, optional
        Mean noise standard deviation that sets the default regularisation (default: :func:`effective_sigma` of
        ``y``; a tile of a large image passes the whole image's value).
    nonneg : bool
        Project the result onto ``x >= 0``: Wiener is one linear filter, so the constraint can only be applied to
        its output.
    """
    s = effective_sigma(y, alpha, beta) if sigma is None else float(sigma)
    bal = wiener_balance(s) if balance is None else balance
    p = _pad_width(psf)
    yp = pad_reflect(torch.from_numpy(np.ascontiguousarray(y)), p).numpy()
    if psf.ndim == 2:
        from skimage.restoration import wiener as sk_wiener

        out = sk_wiener(yp, psf, balance=bal, clip=False)
    else:  # the same filter as scikit-image's, (A*A + balance L*L)^-1 A* y, by conjugate gradient
        t = torch.from_numpy(yp)[None, None]
        op = operator

        def normal(v: torch.Tensor) -> torch.Tensor:
            return op.normal(v) + bal * _laplacian(_laplacian(v))

        out = conjugate_gradient(normal, op.A_adjoint(t), max_iter=200, tol=1e-6)[0][0, 0].numpy()
    out = out[p:-p, p:-p]
    return np.maximum(out, 0) if nonneg else out


def _laplacian(v: torch.Tensor) -> torch.Tensor:
    """The discrete Laplacian scikit-image's Wiener filter regularises with (circular, so self-adjoint)."""
    k = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]], dtype=v.dtype, device=v.device)
    return torch.nn.functional.conv2d(torch.nn.functional.pad(v, (1, 1, 1, 1), mode="circular"), k[None, None])


def richardson_lucy(
    y: np.ndarray,
    psf: np.ndarray,
    alpha: float,
    beta: float,
    *,
    n_iter: int | None = None,
    operator: BlurOperator | None = None,
    progress: Progress = None,
    sigma: float | None = None,
    nonneg: bool = True,
) -> np.ndarray:
    """Richardson–Lucy deconvolution; the iteration count (the regularisation) defaults from the noise level.

    Non-negative by construction (multiplicative updates of a positive start on the observation clipped at 0), so
    ``nonneg`` changes nothing: RL has no signed variant."""
    s = effective_sigma(y, alpha, beta) if sigma is None else float(sigma)
    n = rl_iterations(s) if n_iter is None else int(n_iter)
    p = _pad_width(psf)
    yp = pad_reflect(torch.from_numpy(np.ascontiguousarray(np.clip(y, 0, None))), p)
    if psf.ndim == 2 and operator is None:
        from skimage.restoration import richardson_lucy as sk_rl

        out = sk_rl(yp.numpy(), psf, num_iter=n, clip=False)
        if progress is not None:
            progress(n, n)
    else:
        op = operator
        t = yp[None, None]
        ones = torch.ones_like(t)
        norm = op.A_adjoint(ones).clamp_min(1e-6)
        x = torch.full_like(t, 0.5)  # scikit-image's start: the iteration count is the regularisation
        for k in range(n):
            x = x * op.A_adjoint(t / op.A(x).clamp_min(1e-6)) / norm
            if progress is not None:
                progress(k + 1, n)
        out = x[0, 0].numpy()
    return out[p:-p, p:-p]


def _grad(x: torch.Tensor) -> torch.Tensor:
    gx = torch.zeros_like(x)
    gy = torch.zeros_like(x)
    gx[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    gy[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    return torch.stack([gy, gx])


def _div(p: torch.Tensor) -> torch.Tensor:
    """Negative adjoint of :func:`_grad`."""
    py, px = p[0], p[1]
    d = torch.zeros_like(px)
    d[..., :, 0] = px[..., :, 0]
    d[..., :, 1:-1] = px[..., :, 1:-1] - px[..., :, :-2]
    d[..., :, -1] = -px[..., :, -2]
    d[..., 0, :] += py[..., 0, :]
    d[..., 1:-1, :] += py[..., 1:-1, :] - py[..., :-2, :]
    d[..., -1, :] += -py[..., -2, :]
    return d


def _padded(y: np.ndarray, psf: np.ndarray, operator: BlurOperator | None):
    """``(t, op, p)``: ``y`` reflect-padded by the PSF side ``p`` as a ``(1, 1, H, W)`` double tensor, and the operator
    on it (``operator``, or the convolution with ``psf``) — the start of the iterative methods."""
    p = _pad_width(psf)
    t = pad_reflect(torch.from_numpy(np.ascontiguousarray(y)).double(), p)[None, None]
    op = operator or ConvolutionOperator(torch.from_numpy(np.asarray(psf)).double()[None], t.shape[-2:])
    return t, op, p


def tv_deconvolution(
    y: np.ndarray,
    psf: np.ndarray,
    alpha: float,
    beta: float,
    *,
    mu: float | None = None,
    n_iter: int = 150,
    operator: BlurOperator | None = None,
    progress: Progress = None,
    sigma: float | None = None,
    nonneg: bool = False,
) -> np.ndarray:
    """Total-variation deconvolution ``argmin 1/2 ||A x - y||^2 + mu ||grad x||_{2,1}`` (Chambolle–Pock); with
    ``nonneg`` subject to ``x >= 0``, by projecting every primal iterate onto the constraint."""
    s = effective_sigma(y, alpha, beta) if sigma is None else float(sigma)
    mu = tv_mu(s) if mu is None else mu
    t, op, p = _padded(y, psf, operator)
    tau = sig = 1 / math.sqrt(8)
    aty = op.A_adjoint(t)
    x = t.clone()
    xbar = x
    dual = torch.zeros((2, *t.shape), dtype=t.dtype)
    kw = {} if isinstance(op, ConvolutionOperator) else {"max_iter": 10, "tol": 1e-4}
    for k in range(n_iter):
        dual = dual + sig * _grad(xbar)
        norm = torch.sqrt(dual[0] ** 2 + dual[1] ** 2).clamp_min(mu) / mu
        dual = dual / norm
        v = x + tau * _div(dual)
        if kw:
            kw["x0"] = x
        x_new = op.solve(aty + v / tau, 1 / tau, **kw)
        if nonneg:
            x_new = x_new.clamp_min(0)
        xbar = 2 * x_new - x
        x = x_new
        if progress is not None and (k + 1) % 10 == 0:
            progress(k + 1, n_iter)
    return x[0, 0].numpy()[p:-p, p:-p]


def l1_deconvolution(
    y: np.ndarray,
    psf: np.ndarray,
    alpha: float,
    beta: float,
    *,
    mu: float | None = None,
    n_iter: int = 200,
    operator: BlurOperator | None = None,
    progress: Progress = None,
    sigma: float | None = None,
    nonneg: bool = False,
) -> np.ndarray:
    """Sparse deconvolution ``argmin 1/2 ||A x - y||^2 + mu ||x||_1`` (preprint 001, Fig. 3f: beads, puncta, single
    molecules on a dark background) by FISTA (Beck & Teboulle 2009) with step ``1 / ||A||²``; with ``nonneg`` subject
    to ``x >= 0`` (the proximal map is then a one-sided soft threshold)."""
    s = effective_sigma(y, alpha, beta) if sigma is None else float(sigma)
    mu = l1_mu(s) if mu is None else mu
    t, op, p = _padded(y, psf, operator)
    # ||A||² by a few power iterations (1 for a PSF that sums to 1; a product-convolution may differ a little)
    v = torch.rand(t.shape, generator=torch.Generator().manual_seed(0), dtype=t.dtype)
    for _ in range(10):
        v = op.A_adjoint(op.A(v))
        lip = float(v.norm())
        v = v / lip
    step = 1.0 / max(lip, 1e-6)
    x = t.clone()
    z, tk = x.clone(), 1.0
    for k in range(n_iter):
        g = z - step * op.A_adjoint(op.A(z) - t)
        x_new = (g - step * mu).clamp_min(0) if nonneg else torch.sign(g) * (g.abs() - step * mu).clamp_min(0)
        t_new = (1 + math.sqrt(1 + 4 * tk * tk)) / 2
        z = x_new + (tk - 1) / t_new * (x_new - x)
        x, tk = x_new, t_new
        if progress is not None and (k + 1) % 10 == 0:
            progress(k + 1, n_iter)
    return x[0, 0].numpy()[p:-p, p:-p]


def _grid_operator(x, kernel, family, origin, full_shape) -> BlurOperator | None:
    """For a ``(K, h, w)`` grid of PSFs, the product-convolution of ``family`` on ``x`` padded by the PSF side (as the
    methods pad), placed in the whole field by ``origin``/``full_shape`` for a tile; None for one PSF."""
    if kernel.ndim != 3:
        return None
    k = torch.from_numpy(np.ascontiguousarray(kernel))[None]
    return product_convolution(family, k, x.shape, _pad_width(kernel), origin=origin, full_shape=full_shape)


def run_wiener(x, kernel, alpha, beta, *, family=None, device=None, progress=None, origin=(0, 0), full_shape=None,
               **options) -> np.ndarray:  # fmt: skip
    """:func:`wiener` as a registry method (``device`` and ``progress`` unused: one FFT filter or one CG solve)."""
    return wiener(x, kernel, alpha, beta, operator=_grid_operator(x, kernel, family, origin, full_shape), **options)


def run_richardson_lucy(x, kernel, alpha, beta, *, family=None, device=None, progress=None, origin=(0, 0),
                        full_shape=None, **options) -> np.ndarray:  # fmt: skip
    """:func:`richardson_lucy` as a registry method (on the CPU)."""
    op = _grid_operator(x, kernel, family, origin, full_shape)
    return richardson_lucy(x, kernel, alpha, beta, operator=op, progress=progress, **options)


def run_l1(x, kernel, alpha, beta, *, family=None, device=None, progress=None, origin=(0, 0), full_shape=None,
           **options) -> np.ndarray:  # fmt: skip
    """:func:`l1_deconvolution` as a registry method (on the CPU)."""
    op = _grid_operator(x, kernel, family, origin, full_shape)
    return l1_deconvolution(x, kernel, alpha, beta, operator=op, progress=progress, **options)


def run_tv(x, kernel, alpha, beta, *, family=None, device=None, progress=None, origin=(0, 0), full_shape=None,
           **options) -> np.ndarray:  # fmt: skip
    """:func:`tv_deconvolution` as a registry method (on the CPU)."""
    op = _grid_operator(x, kernel, family, origin, full_shape)
    return tv_deconvolution(x, kernel, alpha, beta, operator=op, progress=progress, **options)
