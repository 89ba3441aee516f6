"""Image files: read with their pixel size, write TIFF with resolution, write atomically, checksum.

Used by the batch runner and the CLI; the widgets use the unit table. numpy only at import (tifffile and imageio are
imported when a file is read or written).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import DeblurInputError

__all__ = [
    "IMAGE_SUFFIXES",
    "atomic_write",
    "in_focus_plane",
    "pixel_size_meta",
    "read_image",
    "read_psf",
    "sha256_file",
    "um_per_unit",
    "write_tiff",
]

#: File types read (TIFF through tifffile, the others through imageio).
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")

#: Length units (as files, ImageJ and napari/pint write them) -> micrometres. The one unit table.
_UM_PER_UNIT = {
    "micrometer": 1.0, "micrometre": 1.0, "micron": 1.0, "microns": 1.0, "µm": 1.0, "um": 1.0, "\\u00b5m": 1.0,
    "nanometer": 1e-3, "nanometre": 1e-3, "nm": 1e-3,
    "millimeter": 1e3, "millimetre": 1e3, "mm": 1e3,
}  # fmt: skip


def um_per_unit(unit) -> float | None:
    """Micrometres per ``unit`` (a name such as ``"µm"``, ``"nm"``, ``"micrometer"``, or a pint unit); None if the
    unit is not a known length."""
    return _UM_PER_UNIT.get(str(unit).strip().lower())


def read_image(path: Path) -> tuple[np.ndarray, dict]:
    """The pixel data and the metadata worth keeping: TIFF resolution tags, ImageJ ``spacing``/``unit``/axes, OME
    physical sizes; ``pixel_size_um`` and ``z_step_um`` (µm, None when the file does not say)."""
    if not path.exists():
        raise DeblurInputError("file not found")
    suffix = path.suffix.lower()
    meta: dict = {}
    try:
        if suffix in (".tif", ".tiff"):
            import logging

            import tifffile

            logging.getLogger("tifffile").setLevel(logging.ERROR)  # corrupt files: our one-line error suffices
            with tifffile.TiffFile(path) as tf:
                arr = tf.series[0].asarray()
                meta["axes"] = tf.series[0].axes
                page = tf.pages[0]
                tags = page.tags
                if "XResolution" in tags and "YResolution" in tags:
                    meta["resolution"] = (tags["XResolution"].value, tags["YResolution"].value)
                    unit = tags["ResolutionUnit"].value if "ResolutionUnit" in tags else 1
                    meta["resolutionunit"] = int(unit)
                if tf.is_imagej:
                    ij = tf.imagej_metadata or {}
                    meta["imagej"] = {k: ij[k] for k in ("spacing", "unit", "finterval") if k in ij}
                if tf.is_ome and tf.ome_metadata:
                    meta["ome"] = _ome_sizes(tf.ome_metadata)
        elif suffix in IMAGE_SUFFIXES:
            import imageio.v3 as iio

            arr = np.asarray(iio.imread(path))
        else:
            raise DeblurInputError(f"unsupported file type {suffix!r}; use one of {', '.join(IMAGE_SUFFIXES)}")
    except DeblurInputError:
        raise
    except Exception as exc:  # corrupt or truncated files: tifffile and imageio raise many types
        raise DeblurInputError(f"cannot read the image ({type(exc).__name__}: {exc})") from exc
    meta["pixel_size_um"] = _pixel_size_um(meta)
    meta["z_step_um"] = _z_step_um(meta)
    return arr, meta


def _ome_sizes(xml: str) -> dict:
    """``PhysicalSizeX/Y/Z`` of the first image of an OME-XML header, in µm (the ones stated, with known units)."""
    import tifffile

    try:
        pixels = tifffile.xml2dict(xml)["OME"]["Image"]
        pixels = (pixels[0] if isinstance(pixels, list) else pixels)["Pixels"]
    except (KeyError, IndexError, TypeError, ValueError):
        return {}
    out = {}
    for axis in "XYZ":
        size, unit = pixels.get(f"PhysicalSize{axis}"), pixels.get(f"PhysicalSize{axis}Unit", "µm")
        factor = um_per_unit(unit)
        if size is not None and factor is not None and float(size) > 0:
            out[axis] = float(size) * factor
    return out


def _z_step_um(meta: dict) -> float | None:
    """The focus step between planes in µm: OME ``PhysicalSizeZ``, or ImageJ ``spacing`` in its ``unit``."""
    if "Z" in meta.get("ome", {}):
        return meta["ome"]["Z"]
    ij = meta.get("imagej", {})
    factor = um_per_unit(ij.get("unit", "")) if ij.get("unit") else None
    if ij.get("spacing") and factor is not None:
        return float(ij["spacing"]) * factor
    return None


def _pixel_size_um(meta: dict) -> float | None:
    """Pixel size in µm from OME sizes, ImageJ units or TIFF resolution tags (None when the file does not say)."""
    if "X" in meta.get("ome", {}):
        return meta["ome"]["X"]
    res = meta.get("resolution")
    if not res:
        return None
    num, den = res[0] if isinstance(res[0], tuple) else (res[0], 1)
    if not num:
        return None
    per_unit = num / den  # pixels per unit
    unit = str(meta.get("imagej", {}).get("unit", "")).lower()
    factor = um_per_unit(unit) if unit else None
    if factor is not None:
        return factor / per_unit
    if meta.get("resolutionunit") == 3 and not unit:  # centimetre
        return 1e4 / per_unit
    return None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(tmp)`` to a temporary file beside ``target``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".partial" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; outputs get the usual permissions
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_tiff(path: Path, data: np.ndarray, meta: dict) -> None:
    import tifffile

    kwargs: dict = {"metadata": {}}
    if meta.get("resolution"):
        kwargs["resolution"] = meta["resolution"]
        if "resolutionunit" in meta and "imagej" not in meta:
            kwargs["resolutionunit"] = meta["resolutionunit"]
    if "imagej" in meta:
        kwargs["imagej"] = True
        kwargs["metadata"] = dict(meta["imagej"])
    if "axes" in meta and len(meta["axes"]) == data.ndim:
        kwargs["metadata"]["axes"] = meta["axes"]
    tifffile.imwrite(path, data, **kwargs)


def pixel_size_meta(pixel_size_um: float | None) -> dict:
    """The metadata :func:`write_tiff` needs to state a pixel size in µm (ImageJ unit and resolution tags); empty
    when it is not known."""
    if not pixel_size_um:
        return {}
    per_um = 1.0 / float(pixel_size_um)
    return {"resolution": (per_um, per_um), "imagej": {"unit": "micron"}}


def in_focus_plane(stack: np.ndarray) -> tuple[np.ndarray, int]:
    """The in-focus plane of a through-focus PSF ``(Z, H, W)`` — the one with the highest peak — and its index."""
    plane = int(np.argmax(stack.reshape(len(stack), -1).max(axis=1)))
    return stack[plane], plane


def read_psf(path: Path) -> tuple[np.ndarray, float | None, str]:
    """A PSF file (TIFF/PNG): ``(psf, pixel size in µm or None, note)``. A 2D PSF is taken as it is; of a 3D stack
    (a through-focus PSF) the plane with the highest peak, the in-focus one, said in ``note``. Checked and
    normalised later, like any PSF given to :func:`napari_deepblur.deblur`."""
    arr, meta = read_image(Path(path))
    arr = np.squeeze(np.asarray(arr, dtype=np.float64))
    note = f"{Path(path).name}"
    if arr.ndim == 3:
        n = len(arr)
        arr, plane = in_focus_plane(arr)
        note += f": plane {plane} of {n} (the highest peak)"
    elif arr.ndim != 2:
        raise DeblurInputError(f"a PSF file must hold a 2D PSF or a 3D stack, got shape {arr.shape}")
    # a raw crop of a bead keeps the camera offset and background: the median of its border, taken off when it is
    # more than 1 % of the peak (a computed or cleaned PSF has none)
    border = np.concatenate([arr[0], arr[-1], arr[1:-1, 0], arr[1:-1, -1]])
    level, peak = float(np.median(border)), float(arr.max())
    if np.isfinite(level) and peak > 0 and level > 0.01 * peak:
        arr = np.clip(arr - level, 0, None)
        note += f"; its background ({100 * level / peak:.0f} % of the peak, the median of its border) taken off"
    return arr, meta["pixel_size_um"], note
