"""Dock widgets through the npe2 manifest, driven as a user would (needs Qt + OpenGL: xvfb-run)."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui

PLUGIN = "napari-deepblur"


def open_widget(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def test_explorer_updates_its_layer_when_a_slider_moves(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = open_widget(viewer, "PSF explorer")
    layer = viewer.layers["PSF explorer"]
    before = layer.data.copy()
    assert before.shape == (63, 63)
    w.sliders[0].value = 0.12  # defocus
    assert not np.allclose(layer.data, before)
    w.display.value = "log"
    assert float(layer.data.max()) <= 0.0  # log10 of a PSF normalised to sum 1
    w.family.value = "spatially-varying"
    assert len(w.sliders) == 13 and viewer.layers["PSF explorer"].data.shape == (3 * 63 + 2, 3 * 63 + 2)


def test_explorer_export_and_apply(make_napari_viewer, tmp_path):
    import tifffile

    viewer = make_napari_viewer()
    w = open_widget(viewer, "PSF explorer")
    w.sliders[0].value = 0.1
    w.export_path.value = tmp_path / "psf.tif"
    w.export_button.clicked.emit()
    psf = tifffile.imread(tmp_path / "psf.tif")
    assert psf.shape == (63, 63) and abs(psf.sum() - 1) < 1e-4
    viewer.add_image(np.random.rand(96, 80).astype(np.float32), name="cells")
    w.target.value = viewer.layers["cells"]
    w.apply_button.clicked.emit()
    assert viewer.layers["cells blurred"].data.shape == (96, 80)


def test_simulate_with_the_explorer_gamma(make_napari_viewer):
    viewer = make_napari_viewer()
    exp = open_widget(viewer, "PSF explorer")
    exp.sliders[0].value = 0.08
    sim = open_widget(viewer, "Simulate blur and noise")
    viewer.add_image(np.random.rand(128, 128).astype(np.float32), name="sharp", scale=(0.1, 0.1))
    sim.image.value = viewer.layers["sharp"]
    sim.gamma_source.value = "from the PSF explorer"
    sim.run_button.clicked.emit()
    out = viewer.layers["sharp simulated"]
    assert out.data.shape == (128, 128) and tuple(out.scale) == (0.1, 0.1)
    meta = out.metadata["napari_deepblur"]
    assert meta["gamma"]["defocus"] == pytest.approx(0.08, abs=1e-3)
    assert "sharp true PSF" in viewer.layers


def test_deblur_widget_runs_on_the_sample(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "cells_zernike")
    w = open_widget(viewer, "Blind deblur")
    blurred = next(layer for layer in viewer.layers if layer.name.endswith("blurred"))
    blurred.scale = (0.065, 0.065)
    w.image.value = blurred
    assert w.method.value == "deepblur"  # the default method: identification + unrolled network
    w.run_button.clicked.emit()
    assert w.run_button.text == "Cancel"
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    out = viewer.layers[f"{blurred.name} deblurred"]
    assert out.data.shape == blurred.data.shape and tuple(out.scale) == (0.065, 0.065)
    assert f"{blurred.name} PSF" in viewer.layers
    assert "defocus" in out.metadata["napari_deepblur"]["gamma"]
    assert "waves" in w.table.value
    assert not w.psf_view.native.isHidden() and w.psf_view.value.ndim == 3  # PSF thumbnail (RGB) in the widget
    n_layers = len(viewer.layers)
    w.run_button.clicked.emit()  # a second run replaces the results instead of piling up
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    assert len(viewer.layers) == n_layers


def test_cancel_stops_a_stack_run_and_leaves_the_viewer_usable(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    stack = np.random.rand(40, 96, 96).astype(np.float32)
    viewer.add_image(stack, name="stack")
    w = open_widget(viewer, "Blind deblur")
    w.image.value = viewer.layers["stack"]
    w.slices.value = "all slices"
    w.method.value = "tv"
    w.run_button.clicked.emit()
    qtbot.wait(300)
    w.run_button.clicked.emit()  # Cancel
    qtbot.waitUntil(lambda: w._worker is None, timeout=10_000)
    assert "stack deblurred" not in viewer.layers
    assert "cancel" in w.status.value
    viewer.add_points(np.zeros((1, 3)))  # still usable


def test_cancel_stops_selfdeblur_within_two_seconds(make_napari_viewer, qtbot):
    import time

    viewer = make_napari_viewer()
    viewer.add_image(np.random.rand(96, 96).astype(np.float32), name="img")
    w = open_widget(viewer, "Blind deblur")
    w.image.value = viewer.layers["img"]
    w.method.value = "selfdeblur"
    assert not w.iterations.native.isHidden()  # the iteration count shows for SelfDeblur only
    w.iterations.value = 10000
    w.run_button.clicked.emit()
    qtbot.wait(1500)  # SelfDeblur is iterating
    assert w._worker is not None
    t0 = time.perf_counter()
    w.run_button.clicked.emit()  # Cancel
    qtbot.waitUntil(lambda: w._worker is None, timeout=10_000)
    assert time.perf_counter() - t0 < 2.0
    assert "img deblurred" not in viewer.layers and "cancel" in w.status.value
    viewer.add_points(np.zeros((1, 2)))  # still usable


def test_rgb_layer_gets_a_clear_message(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.rand(64, 64, 3).astype(np.float32), name="rgb", rgb=True)
    w = open_widget(viewer, "Blind deblur")
    w.image.value = viewer.layers["rgb"]
    w.run_button.clicked.emit()
    assert w._worker is None and "rgb deblurred" not in viewer.layers


def test_bad_optics_give_a_message_not_a_traceback(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.rand(128, 128).astype(np.float32), name="img")
    w = open_widget(viewer, "Blind deblur")
    w.image.value = viewer.layers["img"]
    w.pixel_size.value = 1.0  # fc = 1.4 * 1.0 / 0.52 > 0.25: undersampled
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=20_000)
    assert "undersampled" in w.status.value and "img deblurred" not in viewer.layers
