"""Identification of a convolution family by its network: the view it reads, test-time augmentation, PSF fitting.

The image (scaled to [0, 1]) is resampled to the network's cutoff (read from its weights), its borders dropped and a
centre crop read as a grid of training-sized views whose features are averaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DeblurInputError
from ..networks.weights import load_identification
from ..physics import Family
from .psf_fit import fit_gamma_to_psf

__all__ = [
    "BORDER",
    "TRAIN_CROP",
    "NetworkReading",
    "fit_gamma_to_psf",
    "identification_network",
    "identify_convolution",
    "network_zoom",
    "read_image",
    "resample_view",
]

#: Resampling factors closer to 1 than this leave the image as it is (no interpolation).
NO_RESAMPLING = 1e-3

#: Pixels discarded at each image border before identification (the PSF radius of the benchmark, 31 x 31 kernels).
BORDER = 16
#: Side of the training crops: the network reads big images as a grid of views this size (features averaged).
TRAIN_CROP = 128


def resample_view(t: torch.Tensor, zoom: float) -> torch.Tensor:
    """Images ``(B, C, H, W)`` resampled by ``zoom`` to the network's sampling (bicubic, antialiased when shrinking);
    the one resampling rule of inference and of training on other cutoffs."""
    if abs(zoom - 1) <= NO_RESAMPLING:
        return t
    return F.interpolate(t, scale_factor=zoom, mode="bicubic", antialias=zoom < 1, align_corners=False)


def _network_view(x: np.ndarray, zoom: float, max_size: int) -> torch.Tensor:
    """The part of the image the network reads: resampled by ``zoom``, borders removed, centre crop, even sides."""
    t = resample_view(torch.from_numpy(x).float()[None, None], zoom)
    H, W = t.shape[-2:]
    b = BORDER if min(H, W) - 2 * BORDER >= 64 else max(0, (min(H, W) - 64) // 2)
    t = t[..., b : H - b, b : W - b]
    H, W = t.shape[-2:]
    h, w = min(H, max_size) // 2 * 2, min(W, max_size) // 2 * 2
    if min(h, w) < 32:
        raise DeblurInputError(
            f"the image is too small after resampling to the network's sampling (zoom {zoom:.2f}): {H}x{W} px"
        )
    top, left = (H - h) // 2, (W - w) // 2
    return t[..., top : top + h, left : left + w].contiguous()


def _dihedral(t: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th of the 8 rotations/flips of the last two axes."""
    t = torch.rot90(t, k % 4, dims=(-2, -1))
    return torch.flip(t, dims=(-1,)) if k >= 4 else t


def _undo_dihedral(t: torch.Tensor, k: int) -> torch.Tensor:
    if k >= 4:
        t = torch.flip(t, dims=(-1,))
    return torch.rot90(t, -(k % 4), dims=(-2, -1))


def network_zoom(fam: Family, train_opts: dict) -> float:
    """Resampling factor from the image's sampling to the one the network was trained at (its weights' ``fc``)."""
    return fam.fc / train_opts["fc"] if "fc" in train_opts and hasattr(fam, "fc") else 1.0


def identification_network(
    fam: Family, dev: torch.device, weights: str | None = None, prior: str = "paper", reading: str = "whole"
):
    """``(net, train_opts, meta, zoom, variant)``: the identification network that reads an image of ``fam``'s
    sampling under a prior (:data:`napari_deepblur.physics.priors.PRIORS`).

    ``"microscope"``: the network trained on that prior (``identify_<family>_microscope.pt``: microscopy-like content,
    every sampling through the resampling, blind to the PSF's point reflection), for every image. ``"paper"``: two
    networks, one trained at its cutoff only, which reads images of exactly that sampling, and one trained through
    the resampling from other cutoffs (``identify_<family>_resampled.pt``, ``train identify --fc-range``), which reads
    every image that has to be resampled — the first invents aberrations as soon as the image is resampled even by
    5 % (``bench real``: about 7 dB at fc 0.19 and 0.21 against 11 at 0.2, where the second keeps 10–11 dB). The
    space-varying model's reading (``reading="space-varying"``: one training-sized patch per grid cell, and the
    whole image's field-independent terms) has its own network at that exact sampling under ``"paper"``
    (``identify_<family>_space_varying.pt``): the paper network, trained on the paper's narrow prior alone, reads
    noisy single patches worse than its predecessor trained on a wider mix (held-out pictures, space-varying deep-blur
    with the estimate at α, β = 0.005, 0.01 / medium / high: 25.63 / 24.42 / 22.23 dB, SSIM 0.715 / 0.681 / 0.579
    against 25.82 / 24.45 / 22.31 dB, 0.740 / 0.708 / 0.596; noise-free 30.62 against 29.97 dB;
    ``resources/bench/studies/sv_deblur_ab.py``), so the predecessor was kept for that reading. A ``weights`` file
    given by the user is used as it is (variant ``"user"``)."""
    from ..networks.weights import weights_path

    weights = weights or getattr(fam, "identify_weights", None)  # a calibrated family's own network
    if weights is not None:
        net, train_opts, meta = load_identification(fam.name, dev, weights)
        return net, train_opts, meta, network_zoom(fam, train_opts), "user"
    microscope = weights_path("identify", f"{fam.name}_microscope")
    if prior == "microscope" and microscope.exists():
        net, train_opts, meta = load_identification(fam.name, dev, microscope)
        return net, train_opts, meta, network_zoom(fam, train_opts), "microscope"
    net, train_opts, meta = load_identification(fam.name, dev)
    zoom = network_zoom(fam, train_opts)
    variant = weights_path("identify", f"{fam.name}_resampled")
    if abs(zoom - 1) > NO_RESAMPLING and variant.exists():
        net, train_opts, meta = load_identification(fam.name, dev, variant)
        return net, train_opts, meta, network_zoom(fam, train_opts), "resampled"
    patches = weights_path("identify", f"{fam.name}_space_varying")
    if reading == "space-varying" and patches.exists():
        net, train_opts, meta = load_identification(fam.name, dev, patches)
        return net, train_opts, meta, network_zoom(fam, train_opts), "space-varying"
    return net, train_opts, meta, zoom, "native"


@dataclass
class NetworkReading:
    """What the identification network read from one image: its estimate ``gamma`` ``(1, dim)``, the estimates of
    single views ``views`` ``(n, dim)`` (the microscope network only; else empty), how many independent views the
    image holds (``n_independent``: its area in training crops) and details. ``views`` is read under the
    ``"microscope"`` prior only (else empty)."""

    gamma: torch.Tensor
    views: torch.Tensor
    n_independent: float
    details: dict
    #: The network reads comas and trefoils up to orientation (:func:`reads_up_to_reflection`): its answer is one
    #: member of the pair {h, h(-x)}, and the orientation is for the image to decide.
    up_to_reflection: bool = False


def reads_up_to_reflection(meta: dict) -> bool:
    """Whether a network (its model card ``meta``) was trained to read the PSF up to its point reflection
    (``train identify --canonical-orientation`` or ``--reflection-invariant``): its comas and trefoils have a size
    but an arbitrary orientation. A network trained against the true orientation answers them ≈ 0 instead."""
    cfg = meta.get("config", {})
    return bool(cfg.get("canonical_orientation") or cfg.get("reflection_invariant"))


def read_image(
    x: np.ndarray,
    fam: Family,
    dev: torch.device,
    *,
    max_size: int = 768,
    weights: str | None = None,
    tta: bool = False,
    prior: str = "paper",
    reading: str = "whole",
) -> NetworkReading:
    """The network of the ``prior`` reads an image already validated and scaled to [0, 1]
    (:func:`identification_network`, which takes ``reading``).

    With ``tta`` (test-time augmentation) it also reads the 7 other rotations/flips of the image; each estimated PSF
    is rotated/flipped back, the 8 PSFs are averaged, and the family member closest to that average (in PSF space,
    started from the untransformed view's estimate) is taken.
    """
    net, _, meta, zoom, variant = identification_network(fam, dev, weights, prior, reading)
    view = _network_view(x, zoom, max_size).to(dev)
    tile = int(meta.get("config", {}).get("crop", TRAIN_CROP))
    n_views = max(1, view.shape[-2] // tile) * max(1, view.shape[-1] // tile)
    details = {
        "prior": prior if fam.uses_optics else "none (not an optical family)",
        "zoom": zoom,
        "network": variant,
        "network_input": tuple(view.shape[-2:]),
        "views": n_views,
    }
    views = torch.zeros(0, fam.dim)
    with torch.no_grad():
        if not tta:
            gamma = net.predict_tiled(view, tile).float().cpu()
        else:
            # one call per view: a quarter turn swaps height and width of a non-square image
            gammas = torch.cat([net.predict_tiled(_dihedral(view, k), tile) for k in range(8)]).float().cpu()
            psfs = fam.psf(gammas.double())
            back = torch.stack([_undo_dihedral(psfs[k], k) for k in range(8)])
            mean_psf = back.mean(0)
            closeness = (back - mean_psf).square().sum(dim=(-2, -1))
            details["tta_spread"] = float(closeness.mean().sqrt() / mean_psf.square().sum().sqrt())
        if prior == "microscope" and fam.uses_optics:  # the evidence check weighs their spread
            views = net.predict_views(view, tile).float().cpu()
    if tta:  # start from the untransformed view's estimate (the 7 others describe rotated/flipped PSFs)
        gamma = fit_gamma_to_psf(fam, mean_psf, gammas[:1])
    details["estimate"] = fam.named(gamma[0].numpy())
    n_independent = max(1.0, view.shape[-2] * view.shape[-1] / tile**2)
    return NetworkReading(gamma, views, n_independent, details, reads_up_to_reflection(meta))


def identify_convolution(
    x: np.ndarray,
    fam: Family,
    dev: torch.device,
    *,
    prior: str = "paper",
    noise_sigma: float = 0.0,
    blend: bool = True,
    read_odd: bool = True,
    **read_options,
) -> tuple[torch.Tensor, dict]:
    """``gamma`` ``(1, dim)`` of a convolution family for an image already validated and scaled to [0, 1], and
    details.

    The network of the ``prior`` reads the image (:func:`read_image`, which takes ``read_options``: ``max_size``,
    ``weights``, ``tta``, ``reading``). Under the ``"microscope"`` prior, a picture of beads is answered by the optics
    model fitted to its beads (:mod:`.bead_fit`); any other image's estimate then passes the evidence check
    (:func:`~.evidence.evidence_check`: shrunk towards the aberration-free PSF as far as its views disagree) and the
    orientation test of its comas and trefoils (:func:`~.orientation.orient_odd_terms`, which needs the image's noise
    ``noise_sigma``). Under the ``"paper"`` prior an optical family's answer is a PSF, not a member: the estimate's PSF
    blended with the prior's mean PSF as far as the noise asks (:func:`~.evidence.blend_with_prior_mean`;
    ``details["psf"]``, ``details["blend"]``), unless ``blend`` is off (then the estimate as it is). Under either
    prior a low-noise image's comas and trefoils are read from the image (:func:`~.orientation.refine_odd_terms`),
    unless ``read_odd`` is off (the space-varying model's whole-image reading: a convolution does not describe its
    image, and that reading was not validated with it).
    """
    from .evidence import evidence_check, verdict

    r = read_image(x, fam, dev, prior=prior, **read_options)
    gamma, details = r.gamma, r.details
    if prior != "microscope" or not fam.uses_optics:  # the paper's prior: blended with its image-free answer
        pair = False
        if fam.uses_optics:
            from .orientation import orient_odd_terms, refine_odd_terms

            refined = {}
            if read_odd:  # low noise: read from the image
                gamma, refined = refine_odd_terms(x, fam, gamma, noise_sigma)
            details.update(refined)
            if not refined and r.up_to_reflection:  # which of the pair: the image decides, or the mean of both
                gamma, oriented = orient_odd_terms(x, fam, gamma, noise_sigma, undecided="pair" if blend else "zero")
                details.update(oriented)
                pair = bool(oriented.get("orientation_undecided"))
        if fam.uses_optics and blend:
            from .evidence import blend_with_prior_mean

            details["psf"], blended = blend_with_prior_mean(fam, gamma, noise_sigma, pair=pair)
            details.update(blended)
        elif fam.uses_optics:
            details["verdict"] = verdict(fam, gamma)
        return gamma, details
    from .bead_fit import bead_psf, fit_bead
    from .orientation import ODD_MIN_GAIN, orient_odd_terms, refine_odd_terms

    beads, found = bead_psf(x, fam.psf_size)  # a picture of beads shows the PSF itself: fit the optics to it
    details.update(found, bead_picture=beads is not None)
    if beads is not None:
        fitted, fit = fit_bead(fam, beads, gamma)
        details.update(fit)
        if fitted is not None:
            details["reading"] = "beads: the optics model fitted to the beads' PSF"
            details["verdict"] = f"{verdict(fam, fitted)} (fitted to the beads)"
            return fitted, details
    gamma, checked = evidence_check(fam, gamma, r.views, r.n_independent)
    oriented = {}
    if read_odd:  # low noise: read from the image
        gamma, oriented = refine_odd_terms(x, fam, gamma, noise_sigma, ODD_MIN_GAIN)
    if not oriented:
        gamma, oriented = orient_odd_terms(x, fam, gamma, noise_sigma)
    details.update(checked, **oriented)
    details["verdict"] = verdict(fam, gamma)
    return gamma, details
