"""Helpers shared by the dock widgets (napari-side only; no algorithm lives here)."""

from __future__ import annotations

import numpy as np

from ..api.provenance import result_record
from ..api.stack import Cancelled
from ..display import psf_montage
from ..io import um_per_unit

__all__ = ["Cancelled", "layer_optics", "notify_error", "psf_thumbnail", "result_layers", "set_or_add_image"]


def notify_error(message: str) -> None:
    """Show a napari error notification (never a traceback dialog)."""
    from napari.utils.notifications import show_error

    show_error(message)


def layer_optics(layer) -> float | None:
    """Pixel size in µm from the layer's scale when its units say it is physical, else None."""
    units = getattr(layer, "units", None)
    if not units:
        return None
    try:
        unit = str(units[-1])
    except (TypeError, IndexError):
        return None
    factor = um_per_unit(unit)
    if factor is None:
        return None
    return float(layer.scale[-1]) * factor


def set_or_add_image(viewer, name: str, data: np.ndarray, **kwargs):
    """Replace the data of the layer called ``name`` if there is one (re-runs do not pile up), else add it."""
    if name in viewer.layers:
        layer = viewer.layers[name]
        layer.data = data
        for key in ("scale", "translate", "metadata", "contrast_limits"):
            if key in kwargs:
                setattr(layer, key, kwargs[key])
        return layer
    return viewer.add_image(data, name=name, **kwargs)


def psf_thumbnail(psf: np.ndarray, grid: tuple[int, int] | None = None, size: int = 200) -> np.ndarray:
    """An RGB ``uint8`` picture of a PSF (or a montage of a PSF grid) for the widget: magma colours, square-root
    contrast so the rings show, enlarged by an integer factor to about ``size`` pixels (nearest neighbour)."""
    from napari.utils.colormaps import ensure_colormap

    shown = psf_montage(psf, grid) if psf.ndim == 3 else np.asarray(psf, dtype=np.float32)
    v = np.sqrt(np.clip(shown / max(float(shown.max()), 1e-12), 0, 1))
    rgba = ensure_colormap("magma").map(v.ravel()).reshape(*v.shape, 4)
    f = max(1, size // max(v.shape))
    return (255 * np.repeat(np.repeat(rgba[..., :3], f, axis=0), f, axis=1)).astype(np.uint8)


def result_layers(viewer, layer, image: np.ndarray, res, single_plane: bool = False) -> None:
    """Add or update ``<name> deblurred`` and ``<name> PSF`` (and PSF positions for space-varying blur)."""
    scale = np.asarray(layer.scale)
    translate = np.asarray(layer.translate)
    if single_plane:
        scale, translate = scale[-2:], translate[-2:]
    meta = {"napari_deepblur": result_record(res)}
    lo, hi = (float(v) for v in np.percentile(image, [0.1, 99.9]))  # gentle: deblurred peaks are sparse
    limits = (lo, hi if hi > lo else lo + 1)
    set_or_add_image(
        viewer, f"{layer.name} deblurred", image, scale=scale, translate=translate, metadata=meta,
        colormap=layer.colormap.name, contrast_limits=limits,
    )  # fmt: skip

    # PSF beside the image, at the same physical pixel size
    psf = res.psf
    grid = getattr(res.family, "grid", None) if res.family is not None else None
    shown = psf_montage(psf, grid) if psf.ndim == 3 else psf
    sy, sx = (float(s) for s in np.asarray(layer.scale)[-2:])
    ty, tx = (float(t) for t in np.asarray(layer.translate)[-2:])
    H, W = layer.data.shape[-2:]
    psf_translate = (ty, tx + (W + 8) * sx)
    set_or_add_image(viewer, f"{layer.name} PSF", shown, scale=(sy, sx), translate=psf_translate, metadata=meta,
                     colormap="magma", contrast_limits=(0.0, float(shown.max()) or 1.0))  # fmt: skip

    if psf.ndim == 3 and res.family is not None:
        pos = res.family.node_positions((H, W)).numpy() * np.array([sy, sx]) + np.array([ty, tx])
        name = f"{layer.name} PSF positions"
        if name in viewer.layers:
            viewer.layers[name].data = pos
        else:
            viewer.add_points(pos, name=name, size=max(H, W) * sy / 40, face_color="transparent",
                              border_color="cyan", symbol="cross")  # fmt: skip
