"""A minimal Adam loop for the small parameter fits done at inference time.

``torch.optim`` is avoided on purpose: its first use imports ``torch._dynamo`` (and triton), which crashed the
process when it happened in napari's worker thread.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["adam_minimize"]


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
