"""Identification of the space-varying family from local Zernike estimates.

The image (resampled to the network's cutoff) is cut into an ``ny x nx`` grid of patches of about the training crop
size; the Zernike identification network estimates the local aberrations ``z_hat_k`` of each patch (the blur is
nearly invariant over a patch). The 13 field-model parameters are then fitted to these local estimates:

1. linear least squares ``z(u_k, v_k; gamma) = s_k z_hat_k`` — the model is linear in ``gamma`` — alternating with
   the choice of the signs ``s_k = ±1`` (a local estimate is only defined up to the global sign of its aberrations);
2. refinement in PSF space, ``sum_k ||h(z(u_k, v_k; gamma)) - h(z_hat_k)||^2 / ||h(z_hat_k)||^2``, by Adam from the
   best starts, which is insensitive to that sign ambiguity;
3. the field-independent terms are then replaced by the Zernike network's estimate from the whole image (many views
   averaged, far less noisy than one patch) and the field-dependent terms are shrunk by ``FIELD_SHRINK``: one patch
   is a single training-sized view, and the fitted field terms carry more of its noise than of the field (on held-out
   pictures the plain fit scored 9.09 / 6.98 / 6.81 dB PSF SNR, none / medium / high; with this step 10.10 / 7.87 /
   7.87 dB; dropping the field terms altogether 9.90 / 7.97 / 8.06 dB).
"""

from __future__ import annotations

import torch

from ..errors import DeblurInputError
from ..physics import ZernikeFamily, diffraction_psf
from ..physics.priors import odd_terms
from ..physics.spacevarying import SpaceVaryingFamily
from ._optim import adam_minimize
from .identify_convolution import (
    BORDER,
    TRAIN_CROP,
    identification_network,
    identify_convolution,
    reads_up_to_reflection,
    resample_view,
)

__all__ = ["identify_space_varying", "local_zernike_estimates"]

PATCH = TRAIN_CROP
MAX_PATCH = 256
#: Factor applied to the fitted field-dependent terms (tilt of focus, curvature, off-axis astigmatism and coma).
FIELD_SHRINK = 0.5
#: Indices of the field-independent terms of the 13-parameter model, in the order of the 8 Zernike coefficients.
CONSTANT_TERMS = (0, 4, 5, 7, 8, 10, 11, 12)


def local_zernike_estimates(x, fam: SpaceVaryingFamily, device, weights=None, prior: str = "paper"):
    """Local Zernike coefficients ``(P, 8)`` on a grid of patches and their field positions ``(P, 2)``, read by the
    network of ``prior``."""
    zern = ZernikeFamily(fc=fam.fc)
    net, _, meta, zoom, _ = identification_network(zern, device, weights, prior, reading="space-varying")
    t = resample_view(torch.from_numpy(x).float()[None, None], zoom)
    H, W = t.shape[-2:]
    b = BORDER if min(H, W) - 2 * BORDER >= 2 * 64 else 0
    inner = t[..., b : H - b, b : W - b]
    h_in, w_in = inner.shape[-2:]
    ny = int(min(6, max(3, round(h_in / PATCH))))
    nx = int(min(6, max(3, round(w_in / PATCH))))
    # one patch per cell, centred, at most MAX_PATCH px (big images: memory stays flat, the network sees enough)
    ph, pw = min(MAX_PATCH, (h_in // ny) // 2 * 2), min(MAX_PATCH, (w_in // nx) // 2 * 2)
    if min(ph, pw) < 32:
        raise DeblurInputError(
            f"the image is too small for space-varying identification ({H}x{W} px after resampling; "
            "needs about 128x128 or more)"
        )
    patches, uv = [], []
    for i in range(ny):
        for j in range(nx):
            top = i * (h_in // ny) + ((h_in // ny) - ph) // 2
            left = j * (w_in // nx) + ((w_in // nx) - pw) // 2
            patches.append(inner[0, :, top : top + ph, left : left + pw])
            cy, cx = b + top + ph / 2, b + left + pw / 2
            uv.append([2 * cx / W - 1, 2 * cy / H - 1])
    batch = torch.stack(patches).to(device)
    with torch.no_grad():
        # patches above the training crop are read as a grid of crop-sized views (features averaged), like identify()
        z = torch.cat([net.predict_tiled(batch[k : k + 8], PATCH) for k in range(0, len(batch), 8)]).float().cpu()
    if reads_up_to_reflection(meta):
        # a network that reads comas and trefoils up to orientation answers each patch with one member of its pair,
        # chosen per patch: no field model fits those signs, and a small patch cannot decide them. The symmetric
        # answer (0), as a network trained against the true orientation gives.
        z[:, odd_terms(zern.noll)] = 0
    return z, torch.tensor(uv, dtype=torch.float32), (ny, nx)


def _design(fam: SpaceVaryingFamily, uv: torch.Tensor) -> torch.Tensor:
    """``(P * 8, 13)`` matrix of the linear map ``gamma -> z(u_k, v_k)``."""
    eye = torch.eye(fam.dim, dtype=torch.float64)
    cols = fam.zernike_at(eye, uv.double())  # (13, P, 8)
    return cols.reshape(fam.dim, -1).T


def identify_space_varying(
    x, fam: SpaceVaryingFamily, device, weights=None, n_iter: int = 60, prior: str = "paper", noise_sigma: float = 0.0
):
    """``gamma`` ``(1, 13)`` of the space-varying model for the image ``x`` (scaled to [0, 1]) and details. The local
    estimates and the whole-image reading of the field-independent terms use the network of ``prior`` for this
    reading (:func:`~.identify_convolution.identification_network`, ``reading="space-varying"``; under
    ``"microscope"``, the whole-image reading passes its checks: :func:`~.identify_convolution.identify_convolution`,
    which takes the image's noise ``noise_sigma``)."""
    z_hat, uv, grid = local_zernike_estimates(x, fam, device, weights, prior)
    M = _design(fam, uv)
    zf = z_hat.double()
    starts = []
    for init_signs in (torch.ones(len(zf), dtype=torch.float64),):
        s = init_signs.clone()
        for _ in range(4):
            g = torch.linalg.lstsq(M, (s[:, None] * zf).reshape(-1, 1)).solution[:, 0]
            pred = (M @ g).reshape(len(zf), -1)
            s_new = torch.where((pred * zf).sum(1) >= 0, 1.0, -1.0).double()
            if torch.equal(s_new, s):
                break
            s = s_new
        starts.append(g)
    starts.append(torch.linalg.lstsq(M, zf.reshape(-1, 1)).solution[:, 0])
    lo, hi = fam.bounds(dtype=torch.float64).unbind(1)
    pupil = 128
    with torch.no_grad():
        target = diffraction_psf(zf, fam.fc, fam.psf_size, pupil, fam.noll, fam.oversample)
    tn = target.square().sum(dim=(-2, -1))

    def loss_fn(g: torch.Tensor) -> torch.Tensor:
        z = fam.zernike_at(g[None], uv.double())[0]
        h = diffraction_psf(z, fam.fc, fam.psf_size, pupil, fam.noll, fam.oversample)
        return ((h - target).square().sum(dim=(-2, -1)) / tn).mean()

    best, best_loss = None, float("inf")
    for g0 in starts:
        g = adam_minimize(loss_fn, g0.clamp(lo, hi), lr=0.005, n_iter=n_iter)
        with torch.no_grad():
            final = float(loss_fn(g))
        if final < best_loss:
            best, best_loss = g, final
    whole, whole_details = identify_convolution(x, ZernikeFamily(fc=fam.fc), device, weights=weights, prior=prior,
                                                noise_sigma=noise_sigma, blend=False, read_odd=False,
                                                reading="space-varying")  # fmt: skip
    best = best.clone()
    field = [i for i in range(fam.dim) if i not in CONSTANT_TERMS]
    best[field] = best[field] * FIELD_SHRINK
    best[list(CONSTANT_TERMS)] = whole[0].to(best.dtype)
    best = torch.maximum(torch.minimum(best, hi), lo)
    details = {
        "local_grid": grid,
        "whole_image_zernike": whole[0].numpy(),
        "field_shrink": FIELD_SHRINK,
        "local_estimates": z_hat.numpy(),
        "local_positions": uv.numpy(),
        "fit_loss": best_loss,
        "prior": prior,
        "network": whole_details.get("network"),
    }
    return best.float()[None], details
