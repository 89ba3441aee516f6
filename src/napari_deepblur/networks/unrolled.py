"""Unrolled Douglas–Rachford deblurring network (paper 002 §2.2.2, Algorithm 1).

For ``min_x 1/2 ||A x - y||^2 + R(x)`` with the data term's proximal map
``R_lam(v) = (A*A + lam I)^-1 (A* y + lam v)`` (the regularised inverse: exact in Fourier for convolutions, conjugate
gradient for product-convolution) and learned proximal maps ``D_k`` for the prior, ``T`` iterations of

    u_k = D_k(z_{k-1}, sigma)            # learned prox of the prior (small DRUNet-style U-Net)
    x_k = R_{lam_k}(2 u_k - z_{k-1})     # data step with the (estimated) operator
    z_k = z_{k-1} + x_k - u_k

from ``z_0 = x_0 = (A*A + lam_0 I)^-1 A* y``; the output is ``x_T``. The weights ``lam_k`` are learned and scale with
the noise variance; the U-Nets see a per-pixel noise-level map (Poisson–Gaussian noise depends on the intensity).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from ..physics.operators import BlurOperator

__all__ = ["SmallUNet", "UnrolledDR", "noise_map"]


def noise_map(y: torch.Tensor, alpha: torch.Tensor | float, beta: torch.Tensor | float) -> torch.Tensor:
    """Per-pixel noise standard deviation ``sqrt(alpha * max(y, 0) + beta^2)`` (same shape as ``y``)."""
    a = torch.as_tensor(alpha, dtype=y.dtype, device=y.device).reshape(-1, *([1] * (y.ndim - 1)))
    b = torch.as_tensor(beta, dtype=y.dtype, device=y.device).reshape(-1, *([1] * (y.ndim - 1)))
    return torch.sqrt(a * y.clamp_min(0) + b.square())


class _Res(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SmallUNet(nn.Module):
    """A DRUNet-style denoiser, far smaller than DRUNet's 32.6 M parameters.

    Residual blocks at each scale, strided 2 x 2 convolutions down, transposed convolutions up, additive skips, no
    normalisation; input = image + noise-level map, output = image + predicted residual.

    Parameters
    ----------
    widths : tuple of int
        Channels per scale (each scale halves the resolution).
    n_res : int
        Residual blocks per scale.
    """

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64), n_res: int = 1):
        super().__init__()
        self.widths = tuple(widths)
        self.head = nn.Conv2d(2, widths[0], 3, 1, 1)
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for c, c_next in itertools.pairwise(widths):
            self.down.append(nn.Sequential(*[_Res(c) for _ in range(n_res)], nn.Conv2d(c, c_next, 2, 2)))
        self.body = nn.Sequential(*[_Res(widths[-1]) for _ in range(n_res)])
        for c, c_next in zip(reversed(widths[:-1]), reversed(widths[1:]), strict=True):
            self.up.append(
                nn.ModuleList([nn.ConvTranspose2d(c_next, c, 2, 2), nn.Sequential(*[_Res(c) for _ in range(n_res)])])
            )
        self.tail = nn.Conv2d(widths[0], 1, 3, 1, 1)
        # start as the identity: the untrained network is plain Douglas–Rachford with an identity prior step
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        m = 2 ** (len(self.widths) - 1)
        H, W = x.shape[-2:]
        ph, pw = (-H) % m, (-W) % m
        xi = torch.cat([x, sigma.expand_as(x)], dim=1)
        if ph or pw:
            xi = F.pad(xi, (0, pw, 0, ph), mode="replicate")
        h = self.head(xi)
        skips = []
        for d in self.down:
            skips.append(h)
            h = d(h)
        h = self.body(h)
        for (up, res), s in zip(self.up, reversed(skips), strict=True):
            h = res(up(h) + s)
        out = self.tail(h)[..., :H, :W]
        return x + out

    def grow_from(self, old: dict[str, torch.Tensor], old_widths: tuple[int, ...]) -> None:
        """Load the weights of a U-Net with fewer (coarser) scales so that this one computes the same function.

        ``self.widths`` must start with ``old_widths``. The old bottleneck's residual blocks become the blocks after
        the upsampling into the old coarsest scale, and that upsampling starts at zero, so the new coarser scales add
        nothing until training moves it; their other layers keep their random initialisation.
        """
        n_old, n_new = len(old_widths), len(self.widths)
        if tuple(self.widths[:n_old]) != tuple(old_widths) or n_new <= n_old:
            raise ValueError(f"cannot grow a U-Net with widths {list(old_widths)} into {list(self.widths)}")
        extra = n_new - n_old
        state = self.state_dict()
        for key, value in old.items():
            if key.startswith("up."):
                i, rest = key[3:].split(".", 1)
                new_key = f"up.{int(i) + extra}.{rest}"
            elif key.startswith("body."):
                new_key = f"up.{extra - 1}.1.{key[5:]}"
            else:
                new_key = key
            if new_key not in state or state[new_key].shape != value.shape:
                raise ValueError(f"cannot grow: no place for {key} {tuple(value.shape)} in the larger U-Net")
            state[new_key] = value
        state[f"up.{extra - 1}.0.weight"] = torch.zeros_like(state[f"up.{extra - 1}.0.weight"])
        state[f"up.{extra - 1}.0.bias"] = torch.zeros_like(state[f"up.{extra - 1}.0.bias"])
        self.load_state_dict(state)


class UnrolledDR(nn.Module):
    """The deblurring network: ``T`` unrolled Douglas–Rachford iterations with learned proximal U-Nets.

    Parameters
    ----------
    iterations : int
        ``T`` (4 in the paper).
    widths, n_res : see :class:`SmallUNet`.
    cg_iter : int
        Conjugate-gradient iterations for the data steps of product-convolution operators.
    """

    #: The noise variance, as a share of the learned floor, at which a scaled floor is half way back to the learned
    #: one (:meth:`lam`): 0.01, i.e. a noise standard deviation of 0.1 × the floor's (about 0.0024 of the image's
    #: range for the shipped weights). At 1 (until 2026-12-07) a real camera image, whose noise lies 2–10× below the
    #: floor's, ran at a tenth of the learned floor and came out with a honeycomb texture.
    floor_fade: float = 0.01

    def __init__(self, iterations: int = 4, widths: tuple[int, ...] = (16, 32, 64), n_res: int = 1, cg_iter: int = 20):
        super().__init__()
        self.config = {"iterations": iterations, "widths": list(widths), "n_res": n_res, "cg_iter": cg_iter}
        self.denoisers = nn.ModuleList([SmallUNet(widths, n_res) for _ in range(iterations)])
        # lam_k = exp(log_scale_k) * (sigma^2 + exp(log_floor)): proportional to the noise variance, never zero
        self.log_scale = nn.Parameter(torch.full((iterations + 1,), 3.0))  # ~ Wiener: sigma^2 / Var(x)
        self.log_floor = nn.Parameter(torch.tensor(-7.0))
        self.cg_iter = cg_iter

    def grow_from(self, old: dict[str, torch.Tensor], old_config: dict) -> None:
        """Start from the weights of a network with U-Nets of fewer scales (same iterations and blocks per scale):
        the larger network computes exactly the same function until training moves it (:meth:`SmallUNet.grow_from`).
        """
        for k in ("iterations", "n_res"):
            if old_config[k] != self.config[k]:
                raise ValueError(f"cannot grow: {k} differs ({old_config[k]} vs {self.config[k]})")
        own = {k: v for k, v in old.items() if not k.startswith("denoisers.")}
        self.load_state_dict({**self.state_dict(), **own})
        for i, den in enumerate(self.denoisers):
            prefix = f"denoisers.{i}."
            den.grow_from({k[len(prefix) :]: v for k, v in old.items() if k.startswith(prefix)}, old_config["widths"])

    def lam(self, k: int, sigma2: torch.Tensor, floor_scale: float = 1.0) -> torch.Tensor:
        """Regularisation weight of data step ``k`` (0 = initial guess), one per batch item.

        ``lam_k = exp(log_scale_k) * (sigma2 + rho * floor)`` with ``rho = s + (1 - s) sigma2 / (sigma2 + f floor)``
        for ``s = floor_scale`` and ``f =`` :attr:`floor_fade`: the learned floor is multiplied by ``s`` on noise-free
        data (synthetic images) and by about 1 once the noise variance exceeds ``f`` × the floor — as on every real
        camera image. ``s = 1`` (training) is the plain ``exp(log_scale_k) * (sigma2 + floor)``.
        """
        floor = torch.exp(self.log_floor)
        rho = floor_scale + (1.0 - floor_scale) * sigma2 / (sigma2 + self.floor_fade * floor)
        return torch.exp(self.log_scale[k]) * (sigma2 + rho * floor)

    def forward(
        self,
        y: torch.Tensor,
        op: BlurOperator,
        alpha: torch.Tensor | float,
        beta: torch.Tensor | float,
        *,
        progress=None,
        sigma2: torch.Tensor | float | None = None,
        floor_scale: float = 1.0,
        nonneg: bool = False,
    ) -> torch.Tensor:
        """Deblur ``y`` ``(B, 1, H, W)`` (scaled to about [0, 1]) given the operator and the noise levels.

        ``progress``, if given, is called with ``(step, total)`` after each iteration. ``sigma2``, the mean noise
        variance that sets the λ_k, defaults to the mean over ``y``; a tile of a larger image passes the whole
        image's value so that every tile uses the same λ_k. ``floor_scale`` scales the learned λ floor on noise-free
        data (see :meth:`lam`; 1 = as trained). ``nonneg`` projects the output onto ``x >= 0`` (fluorescence; off
        in training). Projecting each prior step inside the iterations too cost 0.20 dB PSNR and 0.014 SSIM on the
        noiseless bsd68 benchmark (the network was not trained with it), so it is not done.
        """
        sig = noise_map(y, alpha, beta)
        if sigma2 is None:
            sigma2 = sig.square().mean(dim=(1, 2, 3))  # (B,)
        else:
            sigma2 = torch.as_tensor(sigma2, dtype=y.dtype, device=y.device).reshape(-1).expand(y.shape[0])
        kw = {} if op.__class__.__name__ == "ConvolutionOperator" else {"max_iter": self.cg_iter, "tol": 1e-4}
        aty = op.A_adjoint(y)
        x = op.solve(aty, self.lam(0, sigma2, floor_scale), **kw)
        z = x
        T = len(self.denoisers)
        for k, den in enumerate(self.denoisers):
            u = den(z, sig)
            lam = self.lam(k + 1, sigma2, floor_scale)
            lam_b = lam.view(-1, 1, 1, 1)
            x = op.solve(aty + lam_b * (2 * u - z), lam, **kw)
            z = z + x - u
            if progress is not None:
                progress(k + 1, T)
        return x.clamp_min(0) if nonneg else x
