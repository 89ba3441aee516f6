"""Dock widgets through the npe2 manifest, driven as a user would (needs Qt + OpenGL: xvfb-run)."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui

PLUGIN = "napari-deepblur"


def open_widget(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def start_selfdeblur(make_napari_viewer, iterations):
    """A viewer with a 96 x 96 random image and a Blind deblur widget running SelfDeblur on it."""
    viewer = make_napari_viewer()
    viewer.add_image(np.random.rand(96, 96).astype(np.float32), name="img")
    w = open_widget(viewer, "Blind deblur")
    w.image.value = viewer.layers["img"]
    w.method.value = "selfdeblur"
    w.iterations.value = iterations
    w.run_button.clicked.emit()
    return viewer, w


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
    assert w.table.value.startswith("in waves:") and "defocus (Z4): " in w.table.value  # the unit said once
    assert not w.psf_view.native.isHidden() and w.psf_view.value.ndim == 3  # PSF thumbnail (RGB) in the widget
    n_layers = len(viewer.layers)
    w.run_button.clicked.emit()  # a second run replaces the results instead of piling up
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    assert len(viewer.layers) == n_layers


def test_dask_backed_stack_is_deblurred_by_tiles(make_napari_viewer, qtbot, monkeypatch):
    """A lazy (dask) stack: only the planes asked for are computed; a large plane goes through the tiling."""
    import dask.array as da

    import napari_deepblur.api.tiling as tiling
    from napari_deepblur._sample_data import make_sample

    monkeypatch.setattr(tiling, "AUTO_TILE_PIXELS", 150 * 150)  # make 256 x 256 planes "large"
    monkeypatch.setattr(tiling, "DEFAULT_TILE", 128)
    y = make_sample("zernike", [0.05, -0.03, 0.02, 0.0, 0.03, -0.02, 0.01, 0.02], shape=(256, 256))["blurred"]
    computed = []

    def plane(block_info=None):
        k = block_info[None]["chunk-location"][0]
        computed.append(k)
        return y[None] * (1 + k)

    lazy = da.map_blocks(plane, dtype=np.float32, chunks=((1,) * 3, (256,), (256,)))
    viewer = make_napari_viewer()
    viewer.add_image(lazy, name="lazy")
    w = open_widget(viewer, "Blind deblur")
    w.image.value = viewer.layers["lazy"]
    w.method.value = "wiener"
    viewer.dims.set_current_step(0, 1)
    computed.clear()
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    out = viewer.layers["lazy deblurred"]
    assert out.data.shape == (256, 256) and np.isfinite(out.data).all()
    assert "4 tiles" in w.status.value
    assert set(computed) == {1}  # the current plane only


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

    viewer, w = start_selfdeblur(make_napari_viewer, 10000)
    assert not w.iterations.native.isHidden()  # the iteration count shows for SelfDeblur only
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


def test_closing_the_viewer_during_a_run_does_not_hang(make_napari_viewer, qtbot):
    import time

    viewer, w = start_selfdeblur(make_napari_viewer, 5000)
    qtbot.wait(500)
    worker = w._worker
    assert worker is not None
    t0 = time.perf_counter()
    viewer.close()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=5_000)  # the run stops with the viewer
    assert time.perf_counter() - t0 < 5


def test_two_widgets_at_once_do_not_interfere_and_layers_are_not_modified(make_napari_viewer, qtbot):
    import hashlib

    from napari_deepblur._sample_data import make_sample

    runs = []
    for seed in (1, 2):
        viewer = make_napari_viewer()
        y = make_sample("zernike", [0.05 * seed, 0.0, 0.02, 0.0, 0.0, 0.0, 0.0, 0.0], shape=(128, 128), seed=seed)
        layer = viewer.add_image(y["blurred"], name=f"img{seed}")
        w = open_widget(viewer, "Blind deblur")
        w.image.value = layer
        w.method.value = "wiener"
        runs.append((viewer, layer, w, hashlib.sha256(layer.data.tobytes()).hexdigest()))
    for _, _, w, _ in runs:
        w.run_button.clicked.emit()  # both running at the same time
    for viewer, layer, w, digest in runs:
        qtbot.waitUntil(lambda w=w: w._worker is None, timeout=60_000)
        assert hashlib.sha256(layer.data.tobytes()).hexdigest() == digest  # the input layer is untouched
        assert [ly.name for ly in viewer.layers] == [layer.name, f"{layer.name} deblurred", f"{layer.name} PSF"]
    g1 = runs[0][0].layers["img1 deblurred"].metadata["napari_deepblur"]["gamma"]["defocus"]
    g2 = runs[1][0].layers["img2 deblurred"].metadata["napari_deepblur"]["gamma"]["defocus"]
    assert g1 != g2  # each widget reports its own image's estimate


def test_estimate_lines_fit_the_dock():
    """The γ̂ list of the Blind-deblur panel: the unit said once, long labels broken, so no line is clipped."""
    from types import SimpleNamespace

    from napari_deepblur._widgets.deblur import _describe
    from napari_deepblur.physics import get_family

    for name, unit in (("zernike", "waves"), ("spatially-varying", "waves")):
        fam = get_family(name)
        lines = _describe(SimpleNamespace(family=fam, gamma=np.full(fam.dim, -0.123)))
        assert lines[0] == f"in {unit}:" and len(lines) == fam.dim + 1
        assert all(len(part) <= 36 for line in lines for part in line.split("\n"))
    fam = get_family("gaussian")  # mixed units: each line keeps its own
    lines = _describe(SimpleNamespace(family=fam, gamma=np.ones(fam.dim)))
    assert len(lines) == fam.dim and all(p.unit in line for p, line in zip(fam.parameters, lines, strict=True))
