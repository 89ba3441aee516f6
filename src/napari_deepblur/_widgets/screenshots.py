"""Screenshots of the real GUI for the README (``napari-deepblur screenshots --out resources``; run under Xvfb)."""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["take_screenshots"]


def _wait(app, cond, timeout: float = 120.0) -> None:
    t0 = time.time()
    while not cond():
        app.processEvents()
        time.sleep(0.05)
        if time.time() - t0 > timeout:
            raise TimeoutError("the widget did not finish in time")


def _side_by_side(viewer, blurred, extra: tuple[str, ...] = ()) -> None:
    """Show only the input and its result, the result moved to the right of the input for the picture (the widget
    itself puts results on top of their input, napari's convention); the PSF is shown in the widget."""
    result = viewer.layers[f"{blurred.name} deblurred"]
    W = blurred.data.shape[-1] * blurred.scale[-1]
    result.translate = (*blurred.translate[:-1], blurred.translate[-1] + 1.03 * W)
    for layer in viewer.layers:
        layer.visible = layer is blurred or layer is result or layer.name.endswith(extra)
    viewer.grid.enabled = False
    viewer.reset_view()


def take_screenshots(out: str | Path, method: str = "deepblur") -> list[Path]:
    """Open napari, run each widget on the sample data, and save full-window PNGs into ``out``."""
    import napari
    from qtpy.QtWidgets import QApplication

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    viewer = napari.Viewer(title="napari-deepblur")
    viewer.window._qt_window.resize(1500, 1000)
    app = QApplication.instance()
    viewer.open_sample("napari-deepblur", "cells_zernike")
    blurred = next(layer for layer in viewer.layers if layer.name.endswith("blurred"))
    _, w = viewer.window.add_plugin_dock_widget("napari-deepblur", "Blind deblur")
    w.image.value = blurred
    w.method.value = method
    w.run_button.clicked.emit()
    _wait(app, lambda: w._worker is None)
    _side_by_side(viewer, blurred)
    app.processEvents()
    p = out / "screenshot_deblur.png"
    viewer.screenshot(str(p), canvas_only=False)
    paths.append(p)

    viewer.window.remove_dock_widget("all")  # the explorer alone, on its own layer
    viewer.layers.clear()
    _, exp = viewer.window.add_plugin_dock_widget("napari-deepblur", "PSF explorer")
    exp.sliders[0].value = 0.1
    exp.sliders[2].value = 0.05
    exp.display.value = "log"
    for layer in viewer.layers:
        layer.visible = layer.name == "PSF explorer"
    viewer.reset_view()
    app.processEvents()
    p = out / "screenshot_explorer.png"
    viewer.screenshot(str(p), canvas_only=False)
    paths.append(p)
    viewer.window.remove_dock_widget("all")

    viewer.layers.clear()
    viewer.open_sample("napari-deepblur", "cells_spatially_varying")
    blurred = next(layer for layer in viewer.layers if layer.name.endswith("blurred"))
    _, w = viewer.window.add_plugin_dock_widget("napari-deepblur", "Blind deblur")
    w.image.value = blurred
    w.family.value = "spatially-varying"
    w.method.value = method
    w.run_button.clicked.emit()
    _wait(app, lambda: w._worker is None)
    _side_by_side(viewer, blurred, extra=("positions",))
    app.processEvents()
    p = out / "screenshot_space_varying.png"
    viewer.screenshot(str(p), canvas_only=False)
    paths.append(p)
    viewer.close()
    return paths
