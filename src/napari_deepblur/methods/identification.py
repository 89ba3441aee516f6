"""Identification of ``gamma`` from one image: the family decides which estimator reads it."""

from __future__ import annotations

import numpy as np
import torch

from ..physics import Family
from ..physics.priors import PRIOR_DEFAULT, PRIORS
from . import ABERRATIONS

__all__ = ["answer_psf", "identify_normalized"]


def identify_normalized(
    x: np.ndarray,
    fam: Family,
    dev: torch.device,
    *,
    aberrations: str = "estimate",
    weights: str | None = None,
    prior: str = PRIOR_DEFAULT,
    noise: tuple[float, float] = (0.0, 0.0),
    **options,
) -> tuple[torch.Tensor, dict]:
    """``gamma`` ``(1, dim)`` and details for an image already validated and scaled to [0, 1] (the core of
    :func:`napari_deepblur.identify`): the family's network for a convolution family
    (:func:`~.identify_convolution.identify_convolution`, which takes ``options`` ``max_size``, ``tta`` and
    ``blend``), local Zernike estimates fitted by the field model for a space-varying one
    (:func:`~.identify_space_varying.identify_space_varying`).
    ``aberrations="none"`` skips the estimate: γ = 0, the aberration-free (diffraction-limited) PSF of the optics.
    ``details["aberrations"]`` says which was used. ``prior`` (:data:`~napari_deepblur.physics.priors.PRIORS`) picks
    the network and, for ``"microscope"``, adds the evidence check and the orientation test (which reads the image's
    ``noise`` ``(alpha, beta)``)."""
    if aberrations not in ABERRATIONS:  # the API checks it with a user's message (api.params.check_aberrations)
        raise ValueError(f"aberrations must be one of {', '.join(ABERRATIONS)}, got {aberrations!r}")
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
    if aberrations == "none":
        return fam.default_gamma(), {
            "aberrations": "none (forced): the aberration-free PSF of the optics",
            "verdict": "aberrations not estimated (aberrations='none'): diffraction-limited PSF used",
        }
    if fam.is_convolution:
        from .identify_convolution import identify_convolution

        alpha, beta = noise
        sigma = float(np.sqrt(beta**2 + alpha * float(np.mean(x))))
        gamma, details = identify_convolution(x, fam, dev, weights=weights, prior=prior, noise_sigma=sigma, **options)
    else:
        from .identify_space_varying import identify_space_varying

        alpha, beta = noise
        sigma = float(np.sqrt(beta**2 + alpha * float(np.mean(x))))
        gamma, details = identify_space_varying(x, fam, dev, weights, prior=prior, noise_sigma=sigma)
    return gamma, {**details, "aberrations": "estimated"}


def answer_psf(fam: Family, gamma: torch.Tensor, details: dict) -> np.ndarray:
    """The PSF (grid) of an identification's answer: ``details["psf"]`` when the answer is not a family member (the
    ``"paper"`` prior's blend; taken out of ``details``), else the family's PSF of ``gamma``; in ``gamma``'s dtype."""
    psf = details.pop("psf", None)
    if psf is not None:
        return torch.as_tensor(psf)[0].to(gamma.dtype).numpy()
    with torch.no_grad():
        return fam.psf(gamma)[0].numpy()
