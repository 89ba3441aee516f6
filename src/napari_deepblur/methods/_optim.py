"""A minimal Adam loop for the small parameter fits done at inference time.

``torch.optim`` is avoided on purpose: its first use imports ``torch._dynamo`` (and triton), which crashed the
process when it happened in napari's worker thread.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["Adam", "adam_minimize"]


def adam_minimize(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    *,
    lr: float,
    n_iter: int,
    lower: torch.Tensor | None = None,
    upper: torch.Tensor | None = None,
) -> torch.Tensor:
    """Minimise ``loss_fn`` from ``x0`` with Adam (betas 0.9, 0.999), optionally projecting onto a box."""
    x = x0.detach().clone()
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, n_iter + 1):
        xg = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(xg), xg)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad.square()
        x = x - lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps)
        if lower is not None and upper is not None:
            x = torch.maximum(torch.minimum(x, upper), lower)
    return x.detach()


class Adam:
    """Adam over a list of tensors (``torch.optim.Adam``'s update, without importing ``torch.optim``).

    Parameters
    ----------
    params : list of torch.Tensor
        Leaf tensors with ``requires_grad=True``; updated in place by :meth:`step`.
    lr : float
        Learning rate; may be changed between steps (``opt.lr = ...``).
    """

    def __init__(self, params: list[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999)):
        self.params = list(params)
        self.lr = lr
        self.betas = betas
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        """One update from the ``.grad`` of each parameter (gradients are then cleared)."""
        b1, b2 = self.betas
        self.t += 1
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            g = p.grad
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.addcdiv_(m / c1, (v / c2).sqrt_().add_(1e-8), value=-self.lr)
            p.grad = None
