"""Orientation of the odd aberrations (comas, trefoils): a PSF or its point reflection?

A blurred image hardly tells a PSF ``h`` from its reflection ``h(-x)`` — the same aberrations with the comas and
trefoils negated (:func:`napari_deepblur.physics.priors.odd_terms`) — so the identification network is trained
blind to it (``train identify --reflection-invariant``) and the orientation is decided here from the image: each
candidate deblurs the image (Wiener), and the one whose result has the sparser gradients is kept — the normalised
sparsity ``||∇x||₁ / ||∇x||₂`` of Krishnan, Tay & Fergus (CVPR 2011), which a wrong kernel raises (its deblurred
image carries doubled, ghosted edges).
"""

from __future__ import annotations

import torch

from ..physics import Family, crop, pad_reflect, psf2otf
from ..physics.priors import odd_terms
from ._optim import adam_minimize

__all__ = [
    "ORIENTATION_MARGIN",
    "REFLECTION_MIN_CHANGE",
    "canonical_orientation",
    "normalized_sparsity",
    "orient_odd_terms",
    "refine_odd_terms",
    "wiener",
]

#: Below this relative squared difference between a PSF and its reflection the orientation is not tested.
REFLECTION_MIN_CHANGE = 1e-3
#: Relative difference of the two sparsities below which the orientation is undecidable. Measured on validation
#: content (held-out fluorescence, held-out scikit-image pictures, procedural scenes; 1–2 aberrations with a coma or
#: trefoil, fc 0.15–0.3): noiseless, every margin was >= 0.05 and every decision right (20/20); at the benchmark's
#: medium and high noise every margin was <= 0.003 and the decisions were at chance (15/27 right).
ORIENTATION_MARGIN = 0.01
#: Largest side of the (centre) crop the test reads.
MAX_SIDE = 512
#: :func:`refine_odd_terms` runs on images whose noise (std of the [0, 1]-scaled image) is at most this.
REFINE_MAX_SIGMA = 0.002
#: Its Adam steps, step size (waves), Wiener regularisation and crop side.
REFINE_STEPS, REFINE_LR, REFINE_LAMBDA, REFINE_SIDE = 40, 0.005, 1e-2, 256
#: Factor on the odd terms it finds (the criterion overshoots them; chosen on validation).
ODD_SHRINK = 0.6
#: Under the microscope prior (comas and trefoils rare) the relative sparsity gain below which no odd term is read.
ODD_MIN_GAIN = 0.02


def canonical_orientation(gamma: torch.Tensor, noll) -> tuple[torch.Tensor, torch.Tensor]:
    """One member of each point-reflection pair: ``gamma`` ``(n, dim)`` with its odd terms (comas, trefoils) negated
    where the largest of them in size is negative, and the ``(n,)`` mask of the items so flipped.

    ``h(γ)`` and its reflection ``h(γ)(-x)`` differ only in the sign of the odd terms and an image hardly tells them
    apart, so a network trained against the true γ learns to answer 0 for them, and one trained against the nearer of
    the two sits at that symmetric point (its odd outputs average 0.0025 waves against 0.027 true). Against this
    representative the target is a function of the pair — the size of the odd terms and their signs relative to each
    other — which the image does carry; the orientation is then decided at inference (:func:`orient_odd_terms`)."""
    odd = odd_terms(noll)
    if not odd:
        return gamma, torch.zeros(gamma.shape[0], dtype=torch.bool)
    g_odd = gamma[:, odd]
    lead = g_odd.gather(1, g_odd.abs().argmax(dim=1, keepdim=True))[:, 0]
    flipped = lead < 0
    out = gamma.clone()
    out[:, odd] = torch.where(flipped[:, None], -g_odd, g_odd)
    return out, flipped


def wiener(y: torch.Tensor, psf: torch.Tensor, lam: float) -> torch.Tensor:
    """Wiener deconvolution ``conj(H) Y / (|H|² + lam)`` of ``(1, 1, H, W)`` images with a ``(1, h, w)`` kernel
    (reflect padding against wrap-around)."""
    pad = psf.shape[-1] // 2 + 1
    yp = pad_reflect(y, pad)
    H = psf2otf(psf[:, None].to(yp.dtype), yp.shape[-2:])
    x = torch.fft.irfft2(H.conj() * torch.fft.rfft2(yp) / (H.abs().square() + lam), s=yp.shape[-2:])
    return crop(x, pad)


def _sparsity(x: torch.Tensor) -> torch.Tensor:
    gx = x[..., :, 1:] - x[..., :, :-1]
    gy = x[..., 1:, :] - x[..., :-1, :]
    g = torch.cat([gx.flatten(), gy.flatten()])
    return g.abs().sum() / g.square().sum().sqrt().clamp_min(1e-12)


def normalized_sparsity(x: torch.Tensor) -> float:
    """``||∇x||₁ / ||∇x||₂`` over the image's finite differences (lower: sparser gradients)."""
    return float(_sparsity(x))


def _centre(x, side: int) -> torch.Tensor:
    """The centre ``side × side`` crop (at most) of a 2D image, ``(1, 1, h, w)`` float64."""
    y = torch.as_tensor(x, dtype=torch.float64)
    H, W = y.shape
    top, left = max(0, (H - side) // 2), max(0, (W - side) // 2)
    return y[top : top + side, left : left + side][None, None]


def refine_odd_terms(
    x, fam: Family, gamma: torch.Tensor, noise_sigma: float, min_gain: float = 0.0
) -> tuple[torch.Tensor, dict]:
    """The comas and trefoils of ``gamma`` ``(1, dim)`` read from a low-noise image ``x`` (2D, in [0, 1], the
    image's own sampling) by the blind-deconvolution criterion of Krishnan, Tay & Fergus (CVPR 2011): from 0, Adam
    on the odd terms (the even ones kept) minimises the normalised sparsity of the Wiener-deblurred image, and the
    result is shrunk by :data:`ODD_SHRINK` (the criterion prefers kernels a little stronger than the true one: on
    validation its minimum lay at 1–1.5× the true odd terms). This decides their orientation too.

    Networks answer comas and trefoils ≈ 0 (an image hardly tells a PSF from its point reflection, and their odd
    outputs hedge), while the criterion reads them — and their sign — from a noise-free image; under noise it follows
    the noise, so images noisier than :data:`REFINE_MAX_SIGMA` (``noise_sigma``, the std of the [0, 1]-scaled image)
    are returned as they are, with empty details. ``min_gain``: the relative drop of the sparsity the odd terms must
    bring for the image to count as evidence of them (below it they are set to 0: a prior on which they are rare,
    :data:`ODD_MIN_GAIN`)."""
    noll = getattr(fam, "noll", None)
    odd = odd_terms(noll) if noll is not None else []
    if not odd or not fam.is_convolution or noise_sigma > REFINE_MAX_SIGMA:
        return gamma, {}
    y = _centre(x, REFINE_SIDE)
    start = gamma.detach().double().clone()
    start[:, odd] = 0

    def member(p: torch.Tensor) -> torch.Tensor:  # the even terms kept, the odd ones p
        g = start.clone()
        g[:, odd] = p
        return g

    def loss_fn(p: torch.Tensor) -> torch.Tensor:
        return _sparsity(wiener(y, fam.psf(member(p)), REFINE_LAMBDA))

    lo, hi = fam.bounds(dtype=torch.float64)[odd].unbind(1)
    p0 = torch.zeros(1, len(odd), dtype=torch.float64)
    with torch.no_grad():
        before = float(loss_fn(p0))
    with torch.enable_grad():  # callers may read images under no_grad (training's validation, the widgets)
        p = adam_minimize(loss_fn, p0, lr=REFINE_LR, n_iter=REFINE_STEPS, lower=lo[None], upper=hi[None])
    out = member(p).to(gamma.dtype)
    with torch.no_grad():
        after = float(loss_fn(p))
    gain = (before - after) / before
    info = {"odd_sparsity": [round(before, 4), round(after, 4)], "odd_gain": round(gain, 4)}
    if gain < min_gain:
        return start.to(gamma.dtype), {
            **info,
            "orientation": f"no coma or trefoil read (they sharpen the deblurred image by {gain:.1%} < {min_gain:.1%})",
        }
    out[:, odd] *= ODD_SHRINK
    return out, {**info, "orientation": "comas and trefoils read from the image (sparsest deblurred image; low noise)"}


def orient_odd_terms(
    x, fam: Family, gamma: torch.Tensor, noise_sigma: float = 0.0, undecided: str = "zero"
) -> tuple[torch.Tensor, dict]:
    """``gamma`` ``(1, dim)`` or its odd terms negated, whichever deblurs ``x`` (2D array in [0, 1], the image's own
    sampling) into the sparser gradients; when the two are closer than :data:`ORIENTATION_MARGIN` (the noise decides
    then) its odd terms are set to 0 (``undecided="zero"``: the symmetric member, the smaller expected error of a coin
    flip) or it is returned as it is with ``details["orientation_undecided"]`` set (``undecided="pair"``: the caller
    answers with the mean of the PSF and its reflection, the smaller expected error still, but not a member); details
    say what was tested. Families without odd terms, or estimates whose odd terms hardly change the PSF, are returned
    as they are. ``noise_sigma``: the image's noise standard deviation (sets the Wiener regularisation)."""
    noll = getattr(fam, "noll", None)
    odd = odd_terms(noll) if noll is not None else []
    if not odd or not fam.is_convolution:
        return gamma, {}
    flipped = gamma.clone()
    flipped[:, odd] = -flipped[:, odd]
    with torch.no_grad():
        h = fam.psf(gamma.double())
        change = float((h - torch.flip(h, dims=(-2, -1))).square().sum() / h.square().sum())
        if change < REFLECTION_MIN_CHANGE:
            return gamma, {"orientation": "not tested (odd aberrations too small to matter)"}
        y = _centre(x, MAX_SIDE)
        lam = max(1e-3, 0.3 * noise_sigma**2 / max(float(y.var()), 1e-12))
        scores = [normalized_sparsity(wiener(y, fam.psf(g.double()), lam)) for g in (gamma, flipped)]
    margin = abs(scores[1] - scores[0]) / min(scores)
    info = {"orientation_sparsity": [round(s, 4) for s in scores], "orientation_margin": round(margin, 5)}
    if margin < ORIENTATION_MARGIN and undecided == "pair":
        info["orientation_undecided"] = True
        return gamma, {**info, "orientation": "undecidable at this noise: the mean of the PSF and its reflection"}
    if margin < ORIENTATION_MARGIN:  # noise decides, not the image: the symmetric hedge halves the expected error
        hedged = gamma.clone()
        hedged[:, odd] = 0
        return hedged, {**info, "orientation": "undecidable at this noise: comas and trefoils set to 0"}
    keep = scores[1] < scores[0]
    info["orientation"] = "point reflection of the network's PSF (odd terms negated)" if keep else "as estimated"
    return (flipped if keep else gamma), info
