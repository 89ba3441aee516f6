"""napari reader (npe2): TIFF and OME-TIFF opened with the voxel size their metadata state.

napari's built-in TIFF reader opens a file with scale 1, so the docks could not see the pixel size that the command
line reads from the same file (:func:`napari_deepblur.io.read_image`, the one place that reads it): the GUI and the CLI
then gave different estimates. This reader gives each layer its scale and units (µm) from the ImageJ or OME metadata,
lateral and axial, splits a channel axis into one layer per channel, and says in the layer metadata where the sizes
came from (``"pixel_size_from"``: the docks say "from the file").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["TIFF_SUFFIXES", "get_reader", "layer_data"]

#: File endings this reader opens.
TIFF_SUFFIXES = (".tif", ".tiff")


def get_reader(path):
    """The reader for one TIFF path (npe2 ``get_reader``), else None so napari tries another plugin."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    return read_tiff if str(path).lower().endswith(TIFF_SUFFIXES) else None


def read_tiff(path) -> list[tuple]:
    """Layer data tuples for napari (see :func:`layer_data`)."""
    if isinstance(path, (list, tuple)):
        path = path[0]
    from .io import read_image

    data, meta = read_image(Path(path))
    return [layer_data(data, meta, Path(path))]


def layer_data(data: np.ndarray, meta: dict, path: Path) -> tuple:
    """``(data, kwargs, "image")`` for the array and metadata :func:`~napari_deepblur.io.read_image` returns: scale and
    units in µm on the Y/X axes (and Z, when the file gives its step) when the file states the pixel size; RGB(A)
    samples shown as colour; a channel axis split (``channel_axis``)."""
    axes = str(meta.get("axes", ""))[-data.ndim :] if meta.get("axes") else ""
    kwargs: dict = {"name": path.stem, "metadata": {"source_file": str(path)}}
    rgb = axes.endswith("S") and data.shape[-1] in (3, 4)
    if rgb:
        kwargs["rgb"] = True
    spatial = [a for a in axes if a != "C" and not (rgb and a == "S")] if axes else []
    if "C" in axes and not rgb and data.shape[axes.index("C")] > 1:
        kwargs["channel_axis"] = axes.index("C")
        kwargs["name"] = [f"{path.stem} [{i}]" for i in range(data.shape[axes.index("C")])]
    px, dz = meta.get("pixel_size_um"), meta.get("z_step_um")
    if px and spatial and spatial[-2:] == ["Y", "X"]:
        scale = [px if a in "YX" else (dz if a == "Z" and dz else 1.0) for a in spatial]
        units = ["micrometer" if a in "YX" or (a == "Z" and dz) else "pixel" for a in spatial]
        kwargs["scale"], kwargs["units"] = scale, units
        said = "OME" if "ome" in meta else ("ImageJ" if "imagej" in meta else "TIFF resolution")
        kwargs["metadata"]["pixel_size_from"] = f"{path.name} ({said} metadata)"
    if "channel_axis" in kwargs:
        kwargs["metadata"] = [dict(kwargs["metadata"]) for _ in kwargs["name"]]
    return data, kwargs, "image"
