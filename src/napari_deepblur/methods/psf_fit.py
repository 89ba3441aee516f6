"""The family member closest to a given PSF: the fit test-time augmentation and the bead reading share."""

from __future__ import annotations

import torch

from ..physics import Family
from ._optim import adam_minimize

__all__ = ["fit_gamma_to_psf"]


def fit_gamma_to_psf(fam: Family, target: torch.Tensor, starts: torch.Tensor, n_iter: int = 60) -> torch.Tensor:
    """The family member closest to ``target`` (a ``(h, w)`` kernel) in relative L2, by Adam from each start."""
    import copy

    if hasattr(fam, "pupil_size"):  # a coarser pupil grid is plenty for fitting (PSF 31 px from a 128 px pupil)
        fam = copy.copy(fam)
        fam.pupil_size = max(128, 2 * fam.psf_size)
    target = target.double()
    tn = target.square().sum()
    lo, hi = fam.bounds(dtype=torch.float64).unbind(1)
    lr = 0.003 * float((hi - lo).mean()) / 0.3

    def loss_fn(g: torch.Tensor) -> torch.Tensor:
        return ((fam.psf(g) - target).square().sum(dim=(-2, -1)) / tn).sum()

    g = adam_minimize(loss_fn, starts.double(), lr=lr, n_iter=n_iter, lower=lo, upper=hi)
    with torch.no_grad():
        err = (fam.psf(g) - target).square().sum(dim=(-2, -1))
    return g.detach()[int(err.argmin())][None].float()
