"""Identification of ``gamma`` from one image: the family decides which estimator reads it."""

from __future__ import annotations

import numpy as np
import torch

from ..physics import Family
from . import ABERRATIONS

__all__ = ["identify_normalized"]


def identify_normalized(
    x: np.ndarray,
    fam: Family,
    dev: torch.device,
    *,
    aberrations: str = "estimate",
    weights: str | None = None,
    **options,
) -> tuple[torch.Tensor, dict]:
    """``gamma`` ``(1, dim)`` and details for an image already validated and scaled to [0, 1] (the core of
    :func:`napari_deepblur.identify`): the family's network for a convolution family
    (:func:`~.identify_convolution.identify_convolution`, which takes ``options`` ``max_size`` and ``tta``), local
    Zernike estimates
    fitted by the field model for a space-varying one (:func:`~.identify_space_varying.identify_space_varying`).
    ``aberrations="none"`` skips the estimate: γ = 0, the aberration-free (diffraction-limited) PSF of the optics.
    ``details["aberrations"]`` says which was used."""
    if aberrations not in ABERRATIONS:  # the API checks it with a user's message (api.params.check_aberrations)
        raise ValueError(f"aberrations must be one of {', '.join(ABERRATIONS)}, got {aberrations!r}")
    if aberrations == "none":
        return fam.default_gamma(), {"aberrations": "none (forced): the aberration-free PSF of the optics"}
    if fam.is_convolution:
        from .identify_convolution import identify_convolution

        gamma, details = identify_convolution(x, fam, dev, weights=weights, **options)
    else:
        from .identify_space_varying import identify_space_varying

        gamma, details = identify_space_varying(x, fam, dev, weights)
    return gamma, {**details, "aberrations": "estimated"}
