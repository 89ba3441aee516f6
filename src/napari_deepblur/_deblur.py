"""``deblur``: the one entry point the widgets, the CLI and the tests use."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from . import restoration
from ._device import resolve_device
from ._identify import identify_normalized, make_family, resolve_noise
from ._validate import as_image2d, normalize_intensity
from .errors import DeblurInputError
from .physics import Family, crop, pad_reflect
from .physics.operators import BlurOperator, ConvolutionOperator, ProductConvolutionOperator
from .tiling import DEFAULT_TILE, default_overlap, process_tiled, resolve_tile, tile_chunks

__all__ = ["METHODS", "DeblurResult", "deblur"]

#: method name -> description (only methods that work are listed).
METHODS: dict[str, str] = {
    "deepblur": "deep-blur: unrolled Douglas–Rachford network with the estimated operator",
    "selfdeblur": "SelfDeblur (zero-shot; estimates its own kernel, slow)",
    "wiener": "Wiener deconvolution with the estimated PSF (scikit-image)",
    "rl": "Richardson–Lucy with the estimated PSF (scikit-image)",
    "tv": "total-variation deconvolution with the estimated PSF",
}

Progress = Callable[[int, int, str], None] | None

#: Scale of the deblurring network's learned λ floor on noise-free data, per family of the blind estimate (1 = as
#: trained; see :meth:`~napari_deepblur.networks.unrolled.UnrolledDR.lam`). The floor was learned on small training
#: patches, whose blind operator estimates are poorer than those made from a whole image, so it over-regularises whole
#: images. Each value is the best of a grid on whole training pictures (never the benchmark images):
#: ``napari-deepblur bench tune --deepblur --out resources/bench/tune_deepblur.json`` (zernike, gaussian) and
#: ``... --families spatially-varying --n-psfs 1 --out resources/bench/tune_deepblur_sv.json``.
FLOOR_SCALE: dict[str, float] = {"zernike": 0.1, "gaussian": 0.005, "spatially-varying": 0.1}


def default_floor_scale(family: str | Family) -> float:
    """:data:`FLOOR_SCALE` of ``family`` (a name or a :class:`~napari_deepblur.physics.Family`); 1 if unknown."""
    return FLOOR_SCALE.get(family.name if isinstance(family, Family) else str(family), 1.0)


@dataclass
class DeblurResult:
    """Outcome of :func:`deblur`.

    Attributes
    ----------
    image : numpy.ndarray
        The deblurred image, same shape as the input, ``float32``, in the input's intensity units.
    gamma : numpy.ndarray or None
        Estimated parameters (None when a PSF was given).
    psf : numpy.ndarray
        The PSF used: ``(h, w)``, or ``(K, h, w)`` PSFs on the field grid for space-varying blur.
    family : Family or None
    method : str
    noise : tuple of float
        ``(alpha, beta)`` relative to the image scaled to [0, 1].
    timings : dict
        Seconds per stage (``identify``, ``deblur``, ``total``).
    """

    image: np.ndarray
    gamma: np.ndarray | None
    psf: np.ndarray
    family: Family | None
    method: str
    noise: tuple[float, float]
    noise_estimated: bool
    device: str
    timings: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    @property
    def named_gamma(self) -> dict[str, float]:
        if self.gamma is None or self.family is None:
            return {}
        return dict(zip(self.family.param_names, map(float, self.gamma), strict=True))


def _check_psf(psf, fam: Family | None = None) -> np.ndarray:
    """A user PSF as float64, odd-sized and summing to 1; ``(K, h, w)`` PSF grids only for space-varying families."""
    k = np.asarray(psf, dtype=np.float64)
    if k.ndim == 3:
        if fam is None or fam.is_convolution:
            raise DeblurInputError("a stack of PSFs (K, h, w) needs the 'spatially-varying' family")
        n = len(fam.node_positions((64, 64)))
        if k.shape[0] != n:
            raise DeblurInputError(f"the {fam.name} family takes {n} PSFs (one per grid node), got {k.shape[0]}")
    elif k.ndim != 2:
        raise DeblurInputError(f"a user PSF must be a 2D array, got shape {k.shape}")
    if not np.isfinite(k).all() or (k < 0).any() or (k.reshape(-1, *k.shape[-2:]).sum(axis=(-2, -1)) <= 0).any():
        raise DeblurInputError("a user PSF must be finite, non-negative and not all zero")
    if k.shape[-2] % 2 == 0 or k.shape[-1] % 2 == 0:
        widths = [(0, 0)] * (k.ndim - 2) + [(0, 1 - k.shape[-2] % 2), (0, 1 - k.shape[-1] % 2)]
        k = np.pad(k, widths)
    return k / k.sum(axis=(-2, -1), keepdims=True)


def sv_operator(
    fam,
    psfs: torch.Tensor,
    shape: tuple[int, int],
    pad: int,
    *,
    origin: tuple[int, int] = (0, 0),
    full_shape: tuple[int, int] | None = None,
) -> ProductConvolutionOperator:
    """Product-convolution for an image of ``shape`` reflect-padded by ``pad``: maps computed on the image and
    extended by replication (they are constant beyond the outer grid nodes). For a tile, ``origin`` and
    ``full_shape`` place the window in the whole field so the tile sees its own local PSFs."""
    maps = fam.maps(shape, dtype=psfs.dtype, full_shape=full_shape, origin=origin).to(psfs.device)
    maps = F.pad(maps[None], (pad, pad, pad, pad), mode="replicate")[0]
    return ProductConvolutionOperator(psfs, maps)


def blur_padded(fam, psf: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Blur images ``(1, 1, H, W)`` by ``fam``'s operator built from ``psf`` (``(1, h, w)`` or ``(1, K, h, w)``),
    reflect-padding by the PSF radius so no wrap-around enters from the borders; same shape out."""
    pad = fam.psf_size // 2 + 1
    H, W = x.shape[-2:]
    if fam.is_convolution:
        op = fam.operator_from_psf(psf, (H + 2 * pad, W + 2 * pad))
    else:
        op = sv_operator(fam, psf, (H, W), pad)
    return crop(op.A(pad_reflect(x, pad)), pad)


def run_unrolled(
    x: np.ndarray,
    kernel: np.ndarray,
    alpha: float,
    beta: float,
    device: torch.device,
    *,
    family: Family | None = None,
    progress: Callable[[int, int], None] | None = None,
    weights: str | None = None,
    origin: tuple[int, int] = (0, 0),
    full_shape: tuple[int, int] | None = None,
    sigma2: float | None = None,
    floor_scale: float = 1.0,
) -> np.ndarray:
    """The unrolled deblurring network on an image scaled to [0, 1].

    ``x`` is reflect-padded by the PSF radius (as in training) and deblurred with the convolution by ``kernel``
    (``(h, w)``) — or, for ``(K, h, w)`` PSFs on the grid of a space-varying ``family``, with its product-convolution
    — and cropped back. ``origin``/``full_shape`` locate a tile in a space-varying field; ``sigma2`` is the mean
    noise variance of the whole image (default: of ``x``), which sets the network's regularisation weights.
    ``floor_scale`` scales the network's learned λ floor on noise-free data (1 = as trained; :func:`deblur` passes
    :data:`FLOOR_SCALE`; see :meth:`~napari_deepblur.networks.unrolled.UnrolledDR.lam`).
    """
    from .networks.weights import load_deblur

    net, _ = load_deblur(device, weights)
    pad = max(kernel.shape[-2:]) // 2 + 1
    with torch.no_grad():
        y = pad_reflect(torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=device)[None, None], pad)
        k = torch.as_tensor(kernel, dtype=torch.float32, device=device)[None]
        if kernel.ndim == 3:
            if family is None:
                raise DeblurInputError("a grid of PSFs needs its space-varying family")
            op: BlurOperator = sv_operator(family, k, x.shape, pad, origin=origin, full_shape=full_shape)
        else:
            op = ConvolutionOperator(k, tuple(y.shape[-2:]))
        if sigma2 is None:
            sigma2 = restoration.effective_sigma(x, alpha, beta) ** 2
        out = net(y, op, float(alpha), float(beta), progress=progress, sigma2=sigma2, floor_scale=float(floor_scale))
    return crop(out, pad)[0, 0].cpu().numpy()


def deblur(
    image,
    family: str | Family = "zernike",
    noise: str | tuple[float, float] = "auto",
    method: str = "deepblur",
    device: str | torch.device = "auto",
    psf=None,
    progress: Progress = None,
    *,
    tile: int | str | None = "auto",
    overlap: int | None = None,
    na: float | None = None,
    wavelength: float | None = None,
    pixel_size: float | None = None,
    fc: float | None = None,
    **method_options,
) -> DeblurResult:
    """Blind (or PSF-given) deblurring of one 2D image.

    Parameters
    ----------
    image : array_like
        2D image of any real dtype and size >= 64 x 64 (numpy or dask). Never modified.
    family : str or Family
        Operator family for the blind estimate: ``"zernike"``, ``"gaussian"``, ``"spatially-varying"``.
    noise : "auto", level name or (alpha, beta)
        Poisson–Gaussian noise of the image scaled to [0, 1]; estimated from the image when ``"auto"``.
    method : str
        One of :data:`METHODS`.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"`` (identification network).
    psf : array_like, optional
        A 2D PSF to use instead of the blind estimate (e.g. measured from beads); ``family`` is then ignored. For the
        ``"spatially-varying"`` family, a ``(K, h, w)`` stack of PSFs at the grid nodes (row-major) is accepted.
    progress : callable, optional
        ``progress(done, total, stage)`` called during long work.
    tile : "auto", int or None
        Restore by tiles of this side (dask ``map_overlap``) so memory stays flat on large images. ``"auto"`` tiles
        images above :data:`~napari_deepblur.tiling.AUTO_TILE_PIXELS` with 512 px tiles; ``None`` or 0 never tiles.
        The operator is estimated once for the whole image either way (convolution families: from the centre crop
        the network reads; space-varying: from patches across the whole field). SelfDeblur is never tiled.
    overlap : int, optional
        Margin read around each tile (default: PSF size + 33, at least 64 px).
    na, wavelength, pixel_size, fc : float, optional
        Optical numbers of the microscope (see :func:`napari_deepblur.identify`).
    **method_options
        Passed to the restoration method: ``balance`` for Wiener, ``n_iter`` for RL, ``mu`` and ``n_iter`` for TV,
        ``n_iter``, ``kernel_size``, ``width``, ``tv_weight``, ``seed`` for SelfDeblur (default: the paper's 5000
        iterations, the family's PSF size), ``weights`` (a path) and ``floor_scale`` (default: the family's
        :data:`FLOOR_SCALE`) for deep-blur.

    Returns
    -------
    DeblurResult
    """
    t0 = time.perf_counter()
    if method not in METHODS:
        raise DeblurInputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "deepblur":  # checked before any work
        given = method_options.get("floor_scale", default_floor_scale(family))
        try:
            fs = float(given)
        except (TypeError, ValueError):
            fs = math.nan
        if not fs > 0:  # also rejects NaN
            raise DeblurInputError(f"floor_scale must be a positive number, got {given!r}")
        method_options["floor_scale"] = fs
    in_shape = np.shape(image)
    arr = as_image2d(image)
    x, offset, scale = normalize_intensity(arr, in_place=True)  # arr is our own copy
    alpha, beta, estimated = resolve_noise(x, noise)
    dev = resolve_device(device)
    fam, gamma, details = None, None, {}
    if method == "selfdeblur" and psf is not None:
        raise DeblurInputError("SelfDeblur estimates its own kernel; with a known PSF use deepblur, rl, wiener, tv")

    def prog(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total, method)

    if method == "selfdeblur":  # blind by itself: no identification, its own kernel
        from .selfdeblur import selfdeblur

        opts = {"kernel_size": make_family(family, na=na, wavelength=wavelength, pixel_size=pixel_size, fc=fc).psf_size}
        opts.update(method_options)
        r = selfdeblur(x, sigma=restoration.effective_sigma(x, alpha, beta), device=dev, progress=prog, **opts)
        out, kernel, t_id = r.image, r.kernel, 0.0
        details = {"n_iter": opts.get("n_iter", 5000), "kernel_size": opts["kernel_size"]}
        return _result(out, offset, scale, in_shape, None, kernel, None, method, alpha, beta, estimated, dev, t0,
                       t_id, details)  # fmt: skip
    if psf is not None:
        if np.ndim(psf) == 3:
            fam = make_family(family, na=na, wavelength=wavelength, pixel_size=pixel_size, fc=fc)
        kernel = _check_psf(psf, fam)
    else:
        fam = make_family(family, na=na, wavelength=wavelength, pixel_size=pixel_size, fc=fc)
        if progress is not None:
            progress(0, 1, "identify")
        g, details = identify_normalized(x, fam, dev)
        gamma = g[0].numpy()
        with torch.no_grad():
            kernel = fam.psf(g.double())[0].numpy()
    t_id = time.perf_counter() - t0
    side = resolve_tile(tile, x.shape, method)
    if method == "deepblur":
        details = {**details, "floor_scale": method_options["floor_scale"]}

    def attempt(device: torch.device, side: int) -> tuple[np.ndarray, dict]:
        if not side:
            return _restore(x, kernel, fam, method, alpha, beta, device, prog, method_options), {}
        margin = default_overlap(max(kernel.shape[-2:])) if overlap is None else int(overlap)
        # regularisation set by the noise of the whole image, not of each tile
        s = restoration.effective_sigma(x, alpha, beta)
        tile_opts = {**method_options, **({"sigma2": s**2} if method == "deepblur" else {"sigma": s})}

        def tile_prog(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total, f"{method} (tiles)")

        def restore_tile(window: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
            return _restore(window, kernel, fam, method, alpha, beta, device, None, tile_opts, origin, x.shape)

        out = process_tiled(x, restore_tile, side, margin, progress=tile_prog)
        n = len(tile_chunks(x.shape[0], side)) * len(tile_chunks(x.shape[1], side))
        return out, {"tile": side, "overlap": margin, "tiles": n}

    out, more, dev = restore_with_fallback(attempt, dev, side, x.shape)
    details = {**details, **more}
    return _result(out, offset, scale, in_shape, gamma, kernel, fam, method, alpha, beta, estimated, dev, t0, t_id,
                   details)  # fmt: skip


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in str(exc).lower()


def restore_with_fallback(
    attempt: Callable[[torch.device, int], tuple[np.ndarray, dict]],
    device: torch.device,
    side: int,
    shape: tuple[int, int],
) -> tuple[np.ndarray, dict, torch.device]:
    """Run ``attempt(device, tile_side)``; on out-of-memory retry with tiles, then (GPU) on the CPU.

    Each fallback is announced with a :class:`RuntimeWarning` (napari shows it as a notification) and recorded in
    the returned details under ``"fallback"``. Out of memory on the CPU with tiles already is a
    :class:`DeblurInputError` that says what to do.
    """
    notes: list[str] = []
    while True:
        try:
            out, details = attempt(device, side)
            if notes:
                details = {**details, "fallback": notes}
            return out, details, device
        except (MemoryError, RuntimeError) as exc:
            if not _is_oom(exc):
                raise
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if not side and max(shape) >= 128:
                side = min(DEFAULT_TILE, 8 * math.ceil(max(shape) / 16))  # at least two tiles
                note = f"out of memory on {device} for the whole image; retrying in {side}-px tiles"
            elif device.type != "cpu":
                note = f"out of memory on {device} even in tiles; falling back to the CPU"
                device = torch.device("cpu")
            else:
                raise DeblurInputError(
                    f"out of memory on the CPU even in {side or 'whole'}-px tiles ({shape[0]}x{shape[1]} image); "
                    "close other programs or pass a smaller tile (tile=256)"
                ) from exc
            warnings.warn(note, RuntimeWarning, stacklevel=2)
            notes.append(note)


def _restore(x, kernel, fam, method, alpha, beta, dev, prog, options, origin=(0, 0), full_shape=None) -> np.ndarray:
    """One (non-blind) restoration of ``x`` (scaled to [0, 1]) by ``method`` with ``kernel``; ``origin`` and
    ``full_shape`` place a tile in the field for space-varying PSF grids."""
    operator = None
    if kernel.ndim == 3 and method != "deepblur":
        k = torch.from_numpy(np.ascontiguousarray(kernel))[None]
        operator = sv_operator(fam, k, x.shape, int(max(kernel.shape[-2:])), origin=origin, full_shape=full_shape)
    if method == "deepblur":
        return run_unrolled(
            x, kernel, alpha, beta, dev, family=fam, progress=prog, origin=origin, full_shape=full_shape, **options
        )
    if method == "wiener":
        return restoration.wiener(x, kernel, alpha, beta, operator=operator, **options)
    if method == "rl":
        return restoration.richardson_lucy(x, kernel, alpha, beta, operator=operator, progress=prog, **options)
    return restoration.tv_deconvolution(x, kernel, alpha, beta, operator=operator, progress=prog, **options)


def _result(out, offset, scale, in_shape, gamma, kernel, fam, method, alpha, beta, estimated, dev, t0, t_id, details):
    """Back to the input's intensity units and shape, with timings."""
    t_total = time.perf_counter() - t0
    return DeblurResult(
        image=(offset + scale * out).astype(np.float32).reshape(in_shape),
        gamma=gamma,
        psf=np.asarray(kernel, dtype=np.float32),
        family=fam,
        method=method,
        noise=(alpha, beta),
        noise_estimated=estimated,
        device=str(dev),
        timings={"identify": t_id, "deblur": t_total - t_id, "total": t_total},
        details=details,
    )
