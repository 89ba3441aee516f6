"""The Blind deblur dock's *volume (3D PSF)* mode: a z-stack layer deconvolved in 3D (:func:`napari_deepblur.
deblur_volume`) in a worker, with progress and Cancel, the result and the 3D PSF added with the stack's scale.

Non-blind for now: the PSF is the aberration-free widefield 3D PSF of the typed optics and the z step.
"""

from __future__ import annotations

import numpy as np

from ._common import Failure, ProgressBars, layer_units, psf_thumbnail, set_or_add_image

__all__ = ["VOLUME", "layer_z_step", "start_volume"]

#: The stack option that deconvolves the layer as a volume.
VOLUME = "volume (3D PSF)"


def layer_z_step(layer) -> float | None:
    """The focus step (µm) of a 3D layer from its scale and units when they are physical lengths, else None."""
    from ..io import um_per_unit

    units = getattr(layer, "units", None)
    if layer.data.ndim != 3 or not units:
        return None
    factor = um_per_unit(str(units[-3]))
    return None if factor is None else float(layer.scale[-3]) * factor


def start_volume(dock, layer) -> None:
    """Run :func:`~napari_deepblur.deblur_volume` on ``layer`` with the dock's optics and z step (in a worker)."""
    from napari.qt.threading import create_worker

    from ..api.stack import Cancelled
    from ..api.volume import deblur_volume

    if layer.data.ndim != 3:
        raise ValueError("volume mode needs a (Z, Y, X) stack layer")
    kwargs = dict(na=dock.na.value, wavelength=dock.wavelength.value, pixel_size=dock.pixel_size.value,
                  z_step=dock.z_step.value, n_iter=int(dock.volume_iterations.value) or "auto",
                  device=dock.device.value)  # fmt: skip
    cancel = dock._cancel
    cancel.clear()
    bars = dock._bars = ProgressBars(layer.name)

    def progress(done, total, stage):
        bars.report.emit(done, total, stage)

    def work():
        try:
            return deblur_volume(np.asarray(layer.data), progress=progress, cancelled=cancel.is_set, **kwargs)
        except Cancelled:
            return None
        except (ValueError, RuntimeError, MemoryError) as exc:
            return Failure(str(exc))

    worker = create_worker(work)
    worker.returned.connect(lambda res: _finish(dock, layer, res))
    worker.errored.connect(dock._failed)
    worker.finished.connect(dock._done)
    dock._worker = worker
    dock.run_button.text = "Cancel"
    dock.status.value = f"running in 3D on {layer.data.shape[0]} planes…"
    worker.start()


def _finish(dock, layer, res) -> None:
    if not dock._alive[0]:
        return
    if res is None:
        dock.status.value = "cancelled — nothing was changed"
        return
    if isinstance(res, Failure):
        dock._failed(res.message)
        return
    units = layer_units(layer)
    record = {"method": res.details["method"], "n_iter": res.details["n_iter"], "psf": res.details["psf"],
              "dark_level": res.details["dark_level"], "timings_s": res.timings}  # fmt: skip
    meta = {"napari_deepblur": record}
    set_or_add_image(dock._viewer, f"{layer.name} deblurred (3D)", res.image, scale=layer.scale,
                     translate=layer.translate, units=units, metadata=meta, colormap=layer.colormap.name,
                     contrast_limits=tuple(float(v) for v in layer.contrast_limits))  # fmt: skip
    d, h, w = res.psf.shape
    scale = np.asarray(layer.scale, dtype=float)
    offset = np.asarray(layer.translate, dtype=float) + np.array([-(d // 2), 0, layer.data.shape[-1] + 8]) * scale
    set_or_add_image(dock._viewer, f"{layer.name} PSF (3D)", res.psf, scale=scale, translate=offset, units=units,
                     metadata=meta, colormap="magma", contrast_limits=(0.0, float(res.psf.max()) or 1.0))  # fmt: skip
    xz = res.psf[:, h // 2, :]  # the PSF's xz section in the dock: the axial spread a 3D PSF removes
    dock.psf_view.set_data(psf_thumbnail(xz / xz.sum(), None))
    dock.psf_view.visible = True
    dock.table.value = (
        f"3D PSF ({d} × {h} × {w} voxels, widefield, aberration-free)\nshown: its xz section\n"
        f"{res.details['n_iter']} iterations of Richardson–Lucy 3D"
    )
    dock.status.value = f"done in {res.timings['total']:.1f} s (3D, {layer.data.shape[0]} planes)"
