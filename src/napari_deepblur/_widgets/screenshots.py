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


def _run(app, w) -> None:
    w.run_button.clicked.emit()
    _wait(app, lambda: w._worker is None)


def _picked(w, viewer):
    """The image the widget picked by itself (as for a user who opened the sample and the widget), checked."""
    blurred = next(layer for layer in viewer.layers if layer.name.endswith("blurred"))
    if w.image.value is not blurred:
        raise RuntimeError(f"the widget picked {w.image.value} instead of the blurred sample")
    return blurred


def _save(viewer, app, path: Path, paths: list[Path]) -> None:
    for _ in range(5):  # let Qt lay out the docks and the canvas redraw
        app.processEvents()
        time.sleep(0.05)
    viewer.screenshot(str(path), canvas_only=False)
    paths.append(path)


def _bead_stack():
    """A through-focus stack (7 planes, defocus -0.15 ... +0.15 waves, spherical -0.05) of a synthetic bead slide."""
    import numpy as np
    import torch

    from ..physics import ZernikeFamily, forward_model
    from ..synthetic import bead_field

    fam = ZernikeFamily(fc=0.2)
    x = torch.from_numpy(bead_field((256, 256), np.random.default_rng(1), n_beads=12)).double()[None, None]
    planes = []
    for z in np.linspace(-0.15, 0.15, 7):
        h = fam.psf(torch.tensor([[z, 0, 0, 0, 0, 0, 0, -0.05]], dtype=torch.float64))
        planes.append(forward_model(x, fam, h, 0.0, 0.0005, generator=torch.Generator().manual_seed(0))[0, 0])
    return torch.stack(planes).numpy().astype(np.float32)


def take_screenshots(out: str | Path, method: str = "deepblur") -> list[Path]:
    """Open napari, run each widget on the sample data as a user would (the widgets pick the layers themselves), and
    save full-window PNGs into ``out``; the last one at a laptop's 1366 x 768 with two docks open."""
    import napari
    from qtpy.QtWidgets import QApplication

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    viewer = napari.Viewer(title="napari-deepblur")
    window = viewer.window._qt_window
    window.resize(1500, 1100)  # the Blind-deblur and explorer panels whole
    app = QApplication.instance()
    viewer.open_sample("napari-deepblur", "cells_zernike")
    _, w = viewer.window.add_plugin_dock_widget("napari-deepblur", "Blind deblur")
    blurred = _picked(w, viewer)
    w.method.value = method
    _run(app, w)
    _side_by_side(viewer, blurred)
    _save(viewer, app, out / "screenshot_deblur.png", paths)

    viewer.window.remove_dock_widget("all")  # the explorer alone, on its own layer
    viewer.layers.clear()
    _, exp = viewer.window.add_plugin_dock_widget("napari-deepblur", "PSF explorer")
    exp.sliders[0].value = 0.1
    exp.sliders[2].value = 0.05
    exp.display.value = "log"
    _save(viewer, app, out / "screenshot_explorer.png", paths)  # the explorer centres the view on its PSF
    viewer.window.remove_dock_widget("all")

    viewer.layers.clear()
    viewer.open_sample("napari-deepblur", "cells_spatially_varying")
    _, w = viewer.window.add_plugin_dock_widget("napari-deepblur", "Blind deblur")
    blurred = _picked(w, viewer)
    w.family.value = "spatially-varying"
    w.method.value = method
    _run(app, w)
    _side_by_side(viewer, blurred, extra=("positions",))
    _save(viewer, app, out / "screenshot_space_varying.png", paths)
    viewer.window.remove_dock_widget("all")

    # calibrating from beads: a synthetic through-focus bead stack, beads found, family made (saved to a temp dir)
    import tempfile

    viewer.layers.clear()
    viewer.add_image(_bead_stack(), name="bead stack", colormap="gray")
    _, cal = viewer.window.add_plugin_dock_widget("napari-deepblur", "Calibrate from beads")
    cal.find_button.clicked.emit()
    with tempfile.TemporaryDirectory() as tmp:
        cal.output.value = Path(tmp) / "family.npz"
        cal.calibrate_button.clicked.emit()
    viewer.layers["bead stack eigen-PSFs"].visible = False
    viewer.dims.set_point(0, 3)
    viewer.reset_view()
    _save(viewer, app, out / "screenshot_calibrate.png", paths)
    viewer.window.remove_dock_widget("all")

    # a laptop screen: Blind deblur after a run and the PSF explorer docked together, each scrolling
    viewer.layers.clear()
    window.resize(1366, 768)
    viewer.open_sample("napari-deepblur", "cells_zernike")
    dock, w = viewer.window.add_plugin_dock_widget("napari-deepblur", "Blind deblur")
    blurred = _picked(w, viewer)
    w.method.value = method
    _run(app, w)
    dock2, _ = viewer.window.add_plugin_dock_widget("napari-deepblur", "PSF explorer")
    for _ in range(5):  # the explorer fits the view to its PSF once docked; frame the picture after that
        app.processEvents()
        time.sleep(0.05)
    from qtpy.QtCore import Qt

    window.resizeDocks([dock, dock2], [400, 300], Qt.Orientation.Vertical)  # both panels in sight, each scrolls
    _side_by_side(viewer, blurred)
    _save(viewer, app, out / "screenshot_laptop.png", paths)
    viewer.close()
    return paths
