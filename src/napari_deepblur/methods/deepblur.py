"""deep-blur's restoration step: the unrolled Douglas–Rachford network with a known (or estimated) operator."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ..errors import DeblurInputError
from ..physics import Family, crop, family_class, family_classes, pad_reflect, pad_width, product_convolution
from ..physics.noise import rescaled_noise
from ..physics.operators import BlurOperator, ConvolutionOperator
from .regularisation import effective_sigma

__all__ = ["FLOOR_SCALE", "NOISY_SIGMA", "SMOOTHING_PX", "SMOOTH_FLOOR_SCALE", "content_floor_scale",
           "default_floor_scale", "prepare_options", "run_unrolled", "signal_range"]  # fmt: skip

#: The λ-floor scale for images that are not pictures of beads, under the microscope prior, for convolution families
#: whose own floor is higher (Zernike 0.1, a calibrated family 1.0; the Gaussian family's 0.005 stays). Chosen on
#: validation content for the Zernike family (held-out fluorescence, held-out scikit-image, procedural; true PSF):
#: floor scales 0.1 / 0.03 / 0.01 / 0.003 gave 33.96 / 34.93 / 35.54 / 35.96 dB noise-free (Richardson–Lucy 35.66),
#: medium noise unchanged; 0.01 kept the SSIM best. Around isolated points a floor this low draws rings, so a picture
#: of beads keeps the family's floor.
SMOOTH_FLOOR_SCALE = 0.01

#: family name -> :attr:`Family.floor_scale <napari_deepblur.physics.Family.floor_scale>` (read from the classes).
FLOOR_SCALE: dict[str, float] = {name: cls.floor_scale for name, cls in family_classes().items()}


def default_floor_scale(family: str | Family) -> float:
    """The λ-floor scale of ``family`` (a name or a family): its class's ``floor_scale``; 1 for an unknown name."""
    if isinstance(family, Family):
        return family.floor_scale
    try:
        return family_class(str(family)).floor_scale
    except ValueError:
        return 1.0


def content_floor_scale(
    x: np.ndarray, floor_scale: float, psf_size: int, bead_picture: bool | None = None
) -> tuple[float, str]:
    """``(floor scale, why)`` for the image ``x`` (2D, in [0, 1]) under the microscope prior: the family's
    ``floor_scale`` for a picture of beads or puncta (:func:`~.bead_fit.bead_psf`, unless ``bead_picture`` already
    says), else at most :data:`SMOOTH_FLOOR_SCALE`."""
    if bead_picture is None:
        from .bead_fit import bead_psf

        bead_picture = bead_psf(x, psf_size)[0] is not None
    if bead_picture:
        return floor_scale, "a picture of beads: the family's λ floor (a lower one draws rings around points)"
    if floor_scale <= SMOOTH_FLOOR_SCALE:
        return floor_scale, "the family's λ floor"
    return SMOOTH_FLOOR_SCALE, "not a picture of beads: the lower λ floor of the microscope prior"


#: Mean noise standard deviation (image scaled to [0, 1]) from which the network reads the image in its signal's range
#: (:func:`signal_range`); below it the noise hardly widens the image's percentiles.
NOISY_SIGMA = 0.01

#: Width (px) of the Gaussian that smooths the image before its range is read under noise (:func:`signal_range`).
SMOOTHING_PX = 0.4


def signal_range(x: np.ndarray, alpha: float, beta: float, side: int = 2048) -> tuple[float, float]:
    """The intensities ``(lo, hi)`` of ``x`` that the network reads as 0 and 1.

    ``x`` comes scaled by the percentiles of the noisy image (:func:`~napari_deepblur.api.params.normalize_intensity`),
    and noise widens those: at the benchmark's high noise 2–3×, so the image would reach the network compressed and
    lifted off zero, unlike the images it was trained on (the true intensities, [0, 1]). With the true range the
    network does better (validation content, true PSF, aberration-free blur, fc 0.2 / 0.3;
    ``resources/bench/studies/normalization.py``): medium noise 26.44 / 26.82 → 26.82 / 27.18 dB, high noise 22.92 /
    23.09 → 22.96 / 23.26 dB (SSIM +0.04 to +0.06). Under noise (mean standard deviation from :data:`NOISY_SIGMA`) the
    range is therefore the 0.01 and 99.99 percentiles of a lightly smoothed copy (Gaussian of 0.4 px; of the centre
    ``side x side`` of bigger images); nearly noise-free images keep ``(0, 1)``. The width was chosen on `bench restore
    --validation` (blind estimate; the rule: no row worse than reading the image as scaled): 0.4 px gave phantom /
    sparse, medium 25.12 / 23.75 → 25.18 / 23.81 dB (SSIM 0.786 / 0.721 → 0.791 / 0.728), high 21.71 / 21.05 → 21.73 /
    21.08 dB (SSIM 0.596 / 0.552 → 0.605 / 0.563); 0.6 px and 1 px gained more elsewhere but lost 0.03 and 0.11 dB on
    the aberration-free high-noise row; 2 px lost 1 dB at high noise.
    """
    from scipy.ndimage import gaussian_filter

    if effective_sigma(x, alpha, beta) < NOISY_SIGMA:
        return 0.0, 1.0
    top, left = max(0, (x.shape[0] - side) // 2), max(0, (x.shape[1] - side) // 2)
    centre = np.asarray(x[top : top + side, left : left + side], dtype=np.float32)
    lo, hi = (float(v) for v in np.percentile(gaussian_filter(centre, SMOOTHING_PX), [0.01, 99.99]))
    return (lo, hi) if hi > lo else (0.0, 1.0)


def prepare_options(family: str | Family, options: dict) -> dict:
    """deep-blur's options before any work: ``floor_scale`` (default: the family's) must be a positive number."""
    given = options.get("floor_scale", default_floor_scale(family))
    try:
        fs = float(given)
    except (TypeError, ValueError):
        fs = math.nan
    if not fs > 0:  # also rejects NaN
        raise DeblurInputError(f"floor_scale must be a positive number, got {given!r}")
    return {**options, "floor_scale": fs}


def run_unrolled(
    x: np.ndarray,
    kernel: np.ndarray,
    alpha: float,
    beta: float,
    *,
    device: torch.device | str = "cpu",
    family: Family | None = None,
    progress: Callable[[int, int], None] | None = None,
    weights: str | None = None,
    origin: tuple[int, int] = (0, 0),
    full_shape: tuple[int, int] | None = None,
    sigma: float | None = None,
    floor_scale: float = 1.0,
    nonneg: bool = False,
    signal_range: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """The unrolled deblurring network on an image scaled to [0, 1].

    ``x`` is reflect-padded by :func:`~napari_deepblur.physics.forward.pad_width` (as in training) and deblurred with
    the convolution by ``kernel`` (``(h, w)``) — or, for ``(K, h, w)`` PSFs on the grid of a space-varying
    ``family``, with its product-convolution — and cropped back. ``origin``/``full_shape`` locate a tile in a
    space-varying field; ``sigma`` is the mean noise standard deviation of the whole image (default: of ``x``), whose
    square sets the network's regularisation weights. ``floor_scale`` scales the network's learned λ floor on
    noise-free data (1 = as trained; :func:`~napari_deepblur.deblur` passes the family's
    :attr:`~napari_deepblur.physics.Family.floor_scale`; see
    :meth:`~napari_deepblur.networks.unrolled.UnrolledDR.lam`). ``nonneg``: the output projected onto ``x >= 0`` (see
    :meth:`~napari_deepblur.networks.unrolled.UnrolledDR.forward`). ``signal_range``: the intensities of ``x`` the
    network reads as 0 and 1 (:func:`signal_range`; the noise levels and ``sigma`` are converted with them, the output
    mapped back, and the projection is onto ``x >= 0`` in ``x``'s own units).
    """
    from ..networks.weights import load_deblur

    lo, hi = (float(v) for v in signal_range)
    if (lo, hi) != (0.0, 1.0):
        s = hi - lo
        a2, b2 = rescaled_noise(alpha, beta, lo, s)
        out = run_unrolled(
            (np.asarray(x, dtype=np.float32) - lo) / s, kernel, a2, b2, device=device, family=family,
            progress=progress, weights=weights, origin=origin, full_shape=full_shape,
            sigma=None if sigma is None else sigma / s, floor_scale=floor_scale,
        )  # fmt: skip
        out = lo + s * out
        return np.maximum(out, 0.0) if nonneg else out

    net, _ = load_deblur(device, weights)
    pad = pad_width(max(kernel.shape[-2:]))
    with torch.no_grad():
        y = pad_reflect(torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=device)[None, None], pad)
        k = torch.as_tensor(kernel, dtype=torch.float32, device=device)[None]
        if kernel.ndim == 3:
            if family is None:
                raise DeblurInputError("a grid of PSFs needs its space-varying family")
            op: BlurOperator = product_convolution(family, k, x.shape, pad, origin=origin, full_shape=full_shape)
        else:
            op = ConvolutionOperator(k, tuple(y.shape[-2:]))
        if sigma is None:
            sigma = effective_sigma(x, alpha, beta)
        out = net(
            y, op, float(alpha), float(beta), progress=progress, sigma2=sigma**2, floor_scale=float(floor_scale),
            nonneg=nonneg,
        )  # fmt: skip
    return crop(out, pad)[0, 0].cpu().numpy()
