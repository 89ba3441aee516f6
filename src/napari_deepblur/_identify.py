"""``identify``: blur parameters and PSF of one image, estimated by the identification network."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ._device import resolve_device
from ._optim import adam_minimize
from ._validate import STATS_PIXELS, as_image2d, normalize_intensity
from .errors import DeblurInputError
from .networks.weights import load_identification
from .physics import Family, estimate_noise, get_family, noise_level

__all__ = ["IdentifyResult", "identify", "identify_normalized", "make_family", "resolve_noise"]

#: Pixels discarded at each image border before identification (the PSF radius of the benchmark, 31 x 31 kernels).
BORDER = 16
#: Side of the training crops: the network reads big images as a grid of views this size (features averaged).
TRAIN_CROP = 128


@dataclass
class IdentifyResult:
    """Outcome of :func:`identify`. Unpacks as ``gamma, psf = identify(...)``.

    Attributes
    ----------
    gamma : numpy.ndarray
        ``(dim,)`` estimated parameters (waves for Zernike families, px / rad for Gaussian).
    psf : numpy.ndarray
        The convolution kernel ``(h, w)`` (``y = psf * x``, centred, sums to 1), or ``(K, h, w)`` PSFs on the field
        grid for space-varying families.
    family : Family
        The operator family with the user's optics.
    noise : tuple of float
        ``(alpha, beta)`` used (estimated when ``noise="auto"``), relative to the image scaled to ``[0, 1]``.
    """

    gamma: np.ndarray
    psf: np.ndarray
    family: Family
    noise: tuple[float, float]
    noise_estimated: bool
    device: str
    seconds: float
    intensity: tuple[float, float] = (0.0, 1.0)
    details: dict = field(default_factory=dict)

    def __iter__(self):
        yield self.gamma
        yield self.psf

    @property
    def named_gamma(self) -> dict[str, float]:
        """``{parameter name: value}``."""
        return dict(zip(self.family.param_names, map(float, self.gamma), strict=True))

    def describe(self) -> list[str]:
        """Human-readable lines, e.g. ``"defocus (Z4): 0.080 waves"``."""
        return [p.format(float(v)) for p, v in zip(self.family.parameters, self.gamma, strict=True)]


def make_family(family: str | Family, **optics) -> Family:
    """A family instance from a name and the user's optical numbers, with input errors as :class:`DeblurInputError`."""
    if isinstance(family, Family):
        return family
    given = {k: v for k, v in optics.items() if v is not None}
    try:
        return get_family(family, **given)
    except TypeError as exc:
        raise DeblurInputError(f"unsupported option for family {family!r}: {exc}") from exc
    except ValueError as exc:
        raise DeblurInputError(str(exc)) from exc


def _network_view(x: np.ndarray, zoom: float, max_size: int) -> torch.Tensor:
    """The part of the image the network reads: resampled by ``zoom``, borders removed, centre crop, even sides."""
    t = torch.from_numpy(x).float()[None, None]
    if abs(zoom - 1) > 1e-3:
        t = F.interpolate(t, scale_factor=zoom, mode="bicubic", antialias=zoom < 1, align_corners=False)
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


def resolve_noise(x: np.ndarray, noise) -> tuple[float, float, bool]:
    """``(alpha, beta, estimated)`` from ``"auto"`` (estimated on ``x`` scaled to [0, 1], its centre 2048 x 2048 for
    bigger images), a level name or a pair."""
    if isinstance(noise, str) and noise.lower() == "auto":
        side = int(STATS_PIXELS**0.5)  # big images: the centre 2048 x 2048 is plenty and keeps memory flat
        top, left = max(0, (x.shape[0] - side) // 2), max(0, (x.shape[1] - side) // 2)
        alpha, beta = estimate_noise(x[top : top + side, left : left + side])
        return float(alpha), float(beta), True
    try:
        alpha, beta = noise_level(noise)
    except ValueError as exc:
        raise DeblurInputError(str(exc)) from exc
    return float(alpha), float(beta), False


def _dihedral(t: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th of the 8 rotations/flips of the last two axes."""
    t = torch.rot90(t, k % 4, dims=(-2, -1))
    return torch.flip(t, dims=(-1,)) if k >= 4 else t


def _undo_dihedral(t: torch.Tensor, k: int) -> torch.Tensor:
    if k >= 4:
        t = torch.flip(t, dims=(-1,))
    return torch.rot90(t, -(k % 4), dims=(-2, -1))


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


def identify_normalized(
    x: np.ndarray,
    fam: Family,
    dev: torch.device,
    *,
    max_size: int = 768,
    weights: str | None = None,
    tta: bool = False,
) -> tuple[torch.Tensor, dict]:
    """``gamma`` ``(1, dim)`` for an image already validated and scaled to [0, 1] (the core of :func:`identify`).

    With ``tta`` (test-time augmentation) the network also reads the 7 other rotations/flips of the image; each
    estimated PSF is rotated/flipped back, the 8 PSFs are averaged, and the family member closest to that average
    (in PSF space, started from the untransformed view's estimate) is returned.
    """
    if not fam.is_convolution:
        from ._identify_sv import identify_space_varying

        return identify_space_varying(x, fam, dev, weights)
    net, train_opts, meta = load_identification(fam.name, dev, weights)
    zoom = fam.fc / train_opts["fc"] if "fc" in train_opts and hasattr(fam, "fc") else 1.0
    view = _network_view(x, zoom, max_size).to(dev)
    tile = int(meta.get("config", {}).get("crop", TRAIN_CROP))
    n_views = max(1, view.shape[-2] // tile) * max(1, view.shape[-1] // tile)
    details = {"zoom": zoom, "network_input": tuple(view.shape[-2:]), "views": n_views}
    with torch.no_grad():
        if not tta:
            return net.predict_tiled(view, tile).float().cpu(), details
        # one call per view: a quarter turn swaps height and width of a non-square image
        gammas = torch.cat([net.predict_tiled(_dihedral(view, k), tile) for k in range(8)]).float().cpu()
        psfs = fam.psf(gammas.double())
        back = torch.stack([_undo_dihedral(psfs[k], k) for k in range(8)])
        mean_psf = back.mean(0)
        closeness = (back - mean_psf).square().sum(dim=(-2, -1))
    # start from the untransformed view's estimate (the 7 others describe rotated/flipped PSFs)
    starts = gammas[:1]
    gamma = fit_gamma_to_psf(fam, mean_psf, starts)
    details["tta_spread"] = float(closeness.mean().sqrt() / mean_psf.square().sum().sqrt())
    return gamma, details


def identify(
    image,
    family: str | Family = "zernike",
    noise: str | tuple[float, float] = "auto",
    device: str | torch.device = "auto",
    *,
    na: float | None = None,
    wavelength: float | None = None,
    pixel_size: float | None = None,
    fc: float | None = None,
    psf_size: int | None = None,
    max_size: int = 768,
    weights: str | None = None,
    tta: bool = False,
) -> IdentifyResult:
    """Estimate the blur of one image with the trained identification network.

    Parameters
    ----------
    image : array_like
        2D image (any real dtype, any size >= 64 x 64; numpy or dask). Not modified.
    family : str or Family
        ``"zernike"`` (diffraction PSF with aberrations), ``"gaussian"`` or ``"spatially-varying"``.
    noise : "auto", level name or (alpha, beta)
        Noise level of the image scaled to ``[0, 1]``: estimated from the image when ``"auto"``. The identification
        itself is blind to noise; the value is returned for the deblurring step.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
    na, wavelength, pixel_size : float, optional
        Optical numbers (wavelength and pixel size in the same unit), giving ``fc = na * pixel_size / wavelength``.
        Defaults: NA 1.4, 0.52 µm, 0.065 µm. Zernike images are resampled to the network's cutoff (0.2) before
        identification; the returned PSF is at the image's own sampling.
    fc : float, optional
        The cutoff frequency (cycles/pixel) directly.
    psf_size : int, optional
        Side of the returned PSF (odd; default 31).
    max_size : int
        The network reads at most a ``max_size`` square (centre crop, after resampling), as a grid of views of its
        training crop size whose features are averaged (:meth:`IdentificationNet.predict_tiled`).
    weights : str, optional
        A weights file of your own (``napari-deepblur train identify --weights-dir ...``) instead of the shipped one.
    tta : bool
        Test-time augmentation over the 8 rotations/flips (convolution families; see :func:`identify_normalized`).
        Off by default: on validation images it changed the mean PSF SNR by +0.2 dB (Gaussian, medium noise, 30
        cases) for 1.5x the time.

    Returns
    -------
    IdentifyResult
        ``gamma, psf`` and details.

    Raises
    ------
    DeblurInputError
        Bad image or parameters (message says what to do).
    WeightsError
        Missing or damaged weight file.
    """
    t0 = time.perf_counter()
    arr = as_image2d(image)
    x, offset, scale = normalize_intensity(arr, in_place=True)  # arr is our own copy
    alpha, beta, estimated = resolve_noise(x, noise)
    optics = dict(na=na, wavelength=wavelength, pixel_size=pixel_size, fc=fc)
    if psf_size is not None:
        optics["psf_size"] = psf_size
    fam = make_family(family, **optics)
    dev = resolve_device(device)
    gamma, details = identify_normalized(x, fam, dev, max_size=max_size, weights=weights, tta=tta)
    with torch.no_grad():
        psf = fam.psf(gamma)[0].numpy()
    return IdentifyResult(
        gamma=gamma[0].numpy(),
        psf=psf,
        family=fam,
        noise=(alpha, beta),
        noise_estimated=estimated,
        device=str(dev),
        seconds=time.perf_counter() - t0,
        intensity=(offset, scale),
        details=details,
    )
