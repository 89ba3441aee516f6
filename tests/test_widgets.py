"""Dock widgets through the npe2 manifest, driven as a user would (needs Qt + OpenGL: xvfb-run)."""

from pathlib import Path

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
    sim.noise.value = "high"
    sim.run_button.clicked.emit()
    out = viewer.layers["sharp simulated"]
    assert out.data.shape == (128, 128) and tuple(out.scale) == (0.1, 0.1)
    meta = out.metadata["napari_deepblur"]
    assert meta["gamma"]["defocus"] == pytest.approx(0.08, abs=1e-3)
    assert "sharp true PSF" in viewer.layers
    # the noise is recorded as Blind deblur reads this image (a named level there would misstate it 2-3x)
    from napari_deepblur.api.params import normalized_noise
    from napari_deepblur.physics import NOISE_LEVELS

    assert (meta["noise"]["drawn"]["alpha"], meta["noise"]["drawn"]["beta"]) == NOISE_LEVELS["high"]
    read = normalized_noise(out.data, *NOISE_LEVELS["high"])
    assert (meta["noise"]["alpha"], meta["noise"]["beta"]) == pytest.approx(read)
    assert read[0] < 0.7 * NOISE_LEVELS["high"][0] and "as Blind deblur reads it" in sim.info.value
    w = open_widget(viewer, "Blind deblur")
    w.image.value = out
    assert w.noise.value == "auto" and "records its simulated noise" in w.noise.tooltip
    w.noise.value = "custom"
    assert (w.alpha.value, w.beta.value) == pytest.approx(read, abs=1e-3)


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
    assert w.table.value.startswith("aberrations detected (confidence")  # what the identification concluded
    assert w.table.value.count("in waves:") == 1 and "defocus (Z4): " in w.table.value  # the unit said once
    assert not w.psf_view.native.isHidden() and w.psf_view.value.ndim == 3  # PSF thumbnail (RGB) in the widget
    assert "known truth (sample): the PSF used is" in w.status.value  # a sample's estimate against its truth
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
    out = viewer.layers["lazy deblurred (plane 1)"]  # the current slice, named and placed at its plane
    assert out.data.shape == (1, 256, 256) and np.isfinite(out.data).all()
    assert out.translate[0] == 1 and out.contrast_limits == viewer.layers["lazy"].contrast_limits
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
    assert "Split RGB" in w.status.value  # said in the dock, not only in a toast that may be cut


def test_bad_optics_give_a_message_not_a_traceback(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.rand(128, 128).astype(np.float32), name="img")
    w = open_widget(viewer, "Blind deblur")
    w.image.value = viewer.layers["img"]
    w.pixel_size.value = 1.0  # fc = 1.4 * 1.0 / 0.52 > 0.25: undersampled
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=20_000)
    assert "undersampled" in w.status.value and "img deblurred" not in viewer.layers


def _type(qtbot, spinbox, text):
    """Type ``text`` into a spin box as a user would (select all, type, Enter)."""
    from qtpy.QtCore import Qt

    spinbox.native.selectAll()
    qtbot.keyClicks(spinbox.native, text)
    qtbot.keyClick(spinbox.native, Qt.Key.Key_Return)


def test_typed_optics_are_kept_and_a_wrong_unit_is_refused_not_clamped(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.rand(128, 128).astype(np.float32), name="img")
    w = open_widget(viewer, "Blind deblur")
    w.image.value = viewer.layers["img"]
    _type(qtbot, w.wavelength, "0.461")
    _type(qtbot, w.pixel_size, "0.0645")
    assert w.wavelength.value == pytest.approx(0.461) and w.pixel_size.value == pytest.approx(0.0645)
    assert f"fc = {1.4 * 0.0645 / 0.461:.3f}" in w.fc_label.value
    _type(qtbot, w.pixel_size, "130")  # nanometres: kept as typed, refused at Run with the unit
    assert w.pixel_size.value == pytest.approx(130) and "check" in w.fc_label.value
    w.run_button.clicked.emit()
    assert w._worker is None and "img deblurred" not in viewer.layers
    assert "pixel_size=130" in w.status.value and "nanometres, give it in µm (0.13)" in w.status.value
    _type(qtbot, w.pixel_size, "0.065")
    _type(qtbot, w.wavelength, "520")
    w.run_button.clicked.emit()
    assert w._worker is None and "wavelength=520 looks like nanometres; give it in µm (0.52)" in w.status.value
    ex = open_widget(viewer, "PSF explorer")  # the same controls: kept as typed, the unit said
    _type(qtbot, ex.pixel_size, "0.0645")
    assert ex.pixel_size.value == pytest.approx(0.0645)
    _type(qtbot, ex.wavelength, "520")
    assert "looks like nanometres" in ex.info.value


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


# ------------------------------------------------------------------------------------------ first contact (issue)
def _blurred(viewer):
    return next(layer for layer in viewer.layers if layer.name.endswith("blurred"))


def test_pickers_default_to_the_layer_the_user_means(make_napari_viewer):
    """Sample › cells (zernike), then the widgets through the manifest: the blurred image is picked, never the
    hidden sharp truth (nor a PSF)."""
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "cells_zernike")
    blurred = _blurred(viewer)
    w = open_widget(viewer, "Blind deblur")
    assert w.image.value is blurred
    exp = open_widget(viewer, "PSF explorer")
    assert exp.target.value is blurred
    assert exp.source.value is not None and exp.source.value.visible and exp.source.value.name != "PSF explorer"
    sim = open_widget(viewer, "Simulate blur and noise")
    assert sim.image.value is blurred
    # until the user picks a layer, the pickers follow the selection
    other = viewer.add_image(np.random.rand(64, 64).astype(np.float32), name="other")  # added, hence selected
    assert w.image.value is other and sim.image.value is other
    viewer.layers.selection.active = blurred
    assert w.image.value is blurred
    # the user's own choice stays while it is visible; a hidden one gives way to the newest visible image
    w.image.value = other
    third = viewer.add_image(np.random.rand(64, 64).astype(np.float32), name="third")
    assert w.image.value is other and sim.image.value is third
    other.visible = False
    viewer.layers.selection.active = viewer.layers["cells zernike true PSF"]  # a PSF is not what one deblurs
    assert w.image.value is third


def test_widget_opened_before_the_data_picks_the_blurred_sample(make_napari_viewer):
    viewer = make_napari_viewer()
    w = open_widget(viewer, "Blind deblur")
    assert w.image.value is None
    viewer.open_sample(PLUGIN, "cells_zernike")
    assert w.image.value is _blurred(viewer)


def test_two_docks_fit_a_laptop_screen_and_scroll(make_napari_viewer, qtbot):
    """1366 x 768 with Blind deblur (after a run: PSF thumbnail and γ table) and the PSF explorer open: the main
    window is not forced taller than the screen; the panels scroll instead."""
    from qtpy.QtWidgets import QScrollArea

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1366, 768)
    viewer.open_sample(PLUGIN, "cells_zernike")
    dock, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deblur")
    w.image.value = _blurred(viewer)
    w.method.value = "wiener"
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    dock2, _ = viewer.window.add_plugin_dock_widget(PLUGIN, "PSF explorer")
    qtbot.wait(200)
    assert window.height() <= 768 and window.minimumSizeHint().height() <= 768
    for d in (dock, dock2):
        assert isinstance(d.widget(), QScrollArea) and d.minimumSizeHint().height() < 200
    scroll = dock.widget()
    assert scroll.verticalScrollBar().maximum() > 0  # the content is taller than the dock: it scrolls
    assert not w.psf_view.native.isHidden() and w.table.value.count("\n") >= 8  # the γ table: 9 lines


def test_default_optics_are_said_and_layer_optics_used(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    plain = viewer.add_image(np.random.rand(96, 96).astype(np.float32), name="plain")
    w = open_widget(viewer, "Blind deblur")
    w.image.value = plain
    note = w.optics_note
    assert "default 0.065 µm" in note.value and "enter your microscope" in note.value and not note.native.isHidden()
    for units in (("µm", "µm"), ("micrometer", "micrometer")):
        calibrated = viewer.add_image(np.random.rand(96, 96).astype(np.float32), scale=(0.1, 0.1), units=units)
        w.image.value = calibrated
        assert w.pixel_size.value == pytest.approx(0.1)
        assert "default" not in note.value and "from the layer" in note.value
    w.image.value = plain  # back to a layer without units: the default numbers again, said again
    assert w.pixel_size.value == pytest.approx(0.065) and "default 0.065 µm" in note.value
    w.family.value = "gaussian"  # a model without optics: nothing to say
    assert note.native.isHidden()
    sim = open_widget(viewer, "Simulate blur and noise")
    sim.image.value = calibrated
    assert sim.pixel_size.value == pytest.approx(0.1) and "from the layer" in sim.optics_note.value
    # results carry the input's units
    w.family.value = "zernike"
    w.image.value = calibrated
    w.na.value = 1.2  # 0.1 µm pixels are too coarse for NA 1.4 at 0.52 µm (fc > 0.25)
    w.method.value = "wiener"
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    out = viewer.layers[f"{calibrated.name} deblurred"]
    assert [str(u) for u in out.units] == ["micrometer", "micrometer"] and tuple(out.scale) == (0.1, 0.1)


def test_all_slices_keep_one_record_per_plane(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.rand(3, 96, 96).astype(np.float32), name="stack")
    w = open_widget(viewer, "Blind deblur")
    w.image.value = viewer.layers["stack"]
    w.slices.value = "all slices"
    w.method.value = "wiener"
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    meta = viewer.layers["stack deblurred"].metadata["napari_deepblur"]
    assert [p["plane"] for p in meta["planes"]] == [0, 1, 2]
    assert all("defocus" in p["gamma"] for p in meta["planes"])
    assert meta["gamma"] == meta["planes"][0]["gamma"]  # the top-level record is the plane shown
    assert w.table.value.startswith("plane 0 of 3 shown")


def test_noise_is_readable_on_16_bit_data(make_napari_viewer, qtbot):
    from napari_deepblur._sample_data import make_sample

    y = make_sample("zernike", [0.05, 0.0, 0.02, 0.0, 0.0, 0.0, 0.0, 0.0], shape=(128, 128), noise=(0.0, 0.02))
    data = (1000 + 30000 * np.clip(y["blurred"], 0, 1)).astype(np.uint16)
    viewer = make_napari_viewer()
    viewer.add_image(data, name="u16")
    w = open_widget(viewer, "Blind deblur")
    w.method.value = "wiener"
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    assert "α=0.000" not in w.status.value and "β=0.000" not in w.status.value
    sigma = float(w.status.value.split("σ ≈ ")[1].split()[0])
    assert 100 < sigma < 3000  # β ≈ 0.02 of a ~30000 range, in the image's own units


def test_no_qt_thread_warning_from_progress_bars(make_napari_viewer, qtbot, qtlog):
    """Within-plane progress (the unrolled network's steps) used to create napari progress bars in the worker
    thread: ``QObject::setParent: Cannot set parent, new parent is in a different thread``."""
    viewer = make_napari_viewer()
    viewer.add_image(np.random.rand(96, 96).astype(np.float32), name="img")
    w = open_widget(viewer, "Blind deblur")
    assert w.method.value == "deepblur"
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    qtbot.wait(100)
    assert "img deblurred" in viewer.layers
    assert not [r.message for r in qtlog.records if "different thread" in r.message]


def test_explorer_shows_its_psf_in_the_widget_and_in_view(make_napari_viewer):
    viewer = make_napari_viewer()
    alone = open_widget(viewer, "PSF explorer")
    assert alone.source.value is None and alone.target.value is None  # never its own PSF layer
    viewer.window.remove_dock_widget("all")
    viewer.layers.clear()
    viewer.open_sample(PLUGIN, "cells_zernike")
    w = open_widget(viewer, "PSF explorer")
    layer = viewer.layers["PSF explorer"]
    assert w.psf_view.value.ndim == 3 and not w.psf_view.native.isHidden()  # RGB thumbnail
    before = w.psf_view.value.copy()
    w.sliders[0].value = 0.12
    assert not np.array_equal(w.psf_view.value, before)
    # beside the sample (not over its corner), and the view on it
    (y0, x0), (y1, x1) = (np.asarray(e)[-2:] for e in layer.extent.world)
    assert x0 > _blurred(viewer).extent.world[1][-1]
    cy, cx = viewer.camera.center[-2:]
    assert y0 <= cy <= y1 and x0 <= cx <= x1
    assert viewer.camera.zoom * (x1 - x0) > 0.5 * min(viewer.canvas.size)  # not a dot: it fills the canvas


def test_aberrations_none_and_signed_data_reach_the_core(make_napari_viewer, qtbot):
    """'aberrations: none' deblurs with the diffraction-limited PSF of the optics (said in the dock and recorded);
    'signed data' switches the fluorescence constraint off."""
    viewer = make_napari_viewer()
    beads = np.zeros((96, 96), np.float32)
    beads[20::24, 20::24] = 1.0  # bright points on a dark background: a sharpening filter undershoots beside them
    beads += 0.001 * np.random.default_rng(0).random((96, 96)).astype(np.float32)
    viewer.add_image(beads, name="img")
    w = open_widget(viewer, "Blind deblur")
    w.image.value = viewer.layers["img"]
    w.method.value = "wiener"
    w.aberrations.value = "none"
    w.signed.value = True
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    meta = viewer.layers["img deblurred"].metadata["napari_deepblur"]
    assert meta["aberrations"].startswith("none") and set(meta["gamma"].values()) == {0.0}
    assert "diffraction-limited PSF" in w.table.value
    assert viewer.layers["img deblurred"].data.min() < 0  # signed: Wiener's undershoot is not projected away
    w.signed.value = False
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    assert viewer.layers["img deblurred"].data.min() >= 0  # fluorescence: never below the dark level
    assert not w.prior.enabled  # nothing is estimated: no prior to choose
    w.family.value = "gaussian"
    assert not w.aberrations.enabled  # no aberrations in a Gaussian


def test_a_measured_psf_layer_in_the_deblur_dock(make_napari_viewer, qtbot):
    """'aberrations: measured' deblurs with a PSF layer (e.g. the Calibrate dock's bead PSF): resampled to the image's
    pixel size when both layers state one, said in the dock and recorded; without a PSF layer, a message."""
    import torch

    from napari_deepblur.physics import ZernikeFamily, forward_model
    from napari_deepblur.synthetic import fluorescence_scene

    gamma = torch.tensor([[0.08, 0.05, 0, 0, 0, 0, 0, 0]], dtype=torch.float64)
    h_fine, h = ZernikeFamily(fc=0.1).psf(gamma)[0].numpy(), ZernikeFamily(fc=0.2).psf(gamma)
    x = torch.from_numpy(fluorescence_scene((128, 128), seed=2)).double()[None, None]
    y = forward_model(x, ZernikeFamily(fc=0.2), h, 0.0, 0.005, generator=torch.Generator().manual_seed(0))
    viewer = make_napari_viewer()
    w = open_widget(viewer, "Blind deblur")
    w.aberrations.value = "measured"
    assert not w.psf_layer.native.isHidden()  # shown with the dock (the viewer window is not shown in tests)
    assert not w.na.enabled and w.pixel_size.enabled and not w.prior.enabled
    viewer.add_image(y[0, 0].numpy().astype(np.float32), name="cells", scale=(0.1, 0.1), units=("um", "um"))
    w.image.value = viewer.layers["cells"]
    w.method.value = "wiener"
    w.run_button.clicked.emit()  # no PSF layer yet
    assert "choose a PSF layer" in w.status.value and w._worker is None
    viewer.add_image(h_fine.astype(np.float32), name="bead PSF", scale=(0.05, 0.05), units=("um", "um"))
    viewer.add_image(np.ones((5, 5), np.float32), name="other")
    w.image.value = viewer.layers["cells"]
    assert w.psf_layer.choices[0] == "bead PSF" and "cells" not in w.psf_layer.choices  # PSF layers first
    w.psf_layer.value = "bead PSF"
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    assert "measured PSF: layer 'bead PSF'" in w.table.value and "resampled to the image's 0.1" in w.table.value
    used = viewer.layers["cells PSF"].data
    n = min(used.shape[0], 31)
    a = used[(used.shape[0] - n) // 2 :][:n, (used.shape[1] - n) // 2 :][:, :n]
    b = h[0].numpy()[(31 - n) // 2 :][:n, (31 - n) // 2 :][:, :n]
    assert np.linalg.norm(a - b) / np.linalg.norm(b) < 0.06
    assert "psf_resampled" in viewer.layers["cells deblurred"].metadata["napari_deepblur"]
    viewer.layers["bead PSF"].units = ("pixel", "pixel")  # no physical size: taken as it is, and said
    viewer.layers["bead PSF"].scale = (1, 1)
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    assert "taken at the image's sampling (the layer states no pixel size)" in w.table.value
    assert viewer.layers["cells PSF"].data.shape == h_fine.shape


def test_the_dock_says_what_the_identification_concluded(make_napari_viewer, qtbot):
    """The default prior (a real microscope): the dock says whether aberrations were detected and how sure it is;
    the layer's record keeps the prior, the network's estimate and the share of it kept."""
    from napari_deepblur._sample_data import make_sample

    viewer = make_napari_viewer()
    viewer.add_image(make_sample("zernike", [0.0] * 8, shape=(128, 128))["blurred"], name="img")
    w = open_widget(viewer, "Blind deblur")
    w.image.value = viewer.layers["img"]
    w.method.value = "wiener"
    assert w.prior.value == "microscope" and w.prior.enabled
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    meta = viewer.layers["img deblurred"].metadata["napari_deepblur"]
    assert meta["prior"] == "microscope" and 0 <= meta["kept"] <= 1 and set(meta["estimate"]) == set(meta["gamma"])
    assert "detected (confidence" in w.table.value and meta["verdict"].split(":")[0] in w.table.value


def test_calibrate_from_beads_in_the_dock(make_napari_viewer, tmp_path):
    """Find the beads of a through-focus stack (an editable points layer), drop one, calibrate: the family file is
    written from the beads that are left, and the eigen-PSFs are shown."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from napari_deepblur.physics.calibrated import CalibratedFamily
    from test_calibrate import bead_stack

    viewer = make_napari_viewer()
    stack, _ = bead_stack(np.linspace(-0.1, 0.1, 5), n_beads=5)
    viewer.add_image(stack.astype(np.float32), name="beads")
    w = open_widget(viewer, "Calibrate from beads")
    w.image.value = viewer.layers["beads"]
    w.find_button.clicked.emit()
    points = viewer.layers["beads beads"]
    assert len(points.data) == 5 and "5 isolated bead(s)" in w.info.value
    points.data = points.data[1:]  # the user drops one
    w.output.value = tmp_path / "fam.npz"
    w.calibrate_button.clicked.emit()
    fam = CalibratedFamily.load(tmp_path / "fam.npz")
    assert fam.provenance["layer"] == "beads" and fam.provenance["n_psfs"] == 5  # 5 planes, 4 beads averaged each
    assert viewer.layers["beads eigen-PSFs"].data.shape == (fam.dim, 31, 31) and "saved to fam.npz" in w.info.value
    assert w.image.value is viewer.layers["beads"]  # the dock keeps the beads, not its own result


def test_the_aberrations_of_a_bead_stack_in_the_calibrate_dock(make_napari_viewer, qtbot):
    """A through-focus bead stack with physical units: the z step and pixel size come from the layer, the medium
    follows the NA until chosen, and *Aberrations from the stack* adds the PSF at focus and says the focus plane and
    the largest aberrations."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_bead_fit import _bead_stack

    stack, _ = _bead_stack([0.0, 0.0, 0.06, 0.0, 0.0, 0.0, 0.0, -0.05], n_planes=9, focus=4.0)
    viewer = make_napari_viewer()
    viewer.add_image(stack.astype(np.float32), name="beads", scale=(0.3, 0.13, 0.13), units=("um", "um", "um"))
    w = open_widget(viewer, "Calibrate from beads")
    w.image.value = viewer.layers["beads"]
    w.na.value = 1.4
    assert w.medium.value == 1.518  # oil for NA 1.4
    w.na.value = 0.85
    assert w.medium.value == 1.0
    w.wavelength.value = 0.52
    w.stack_button.clicked.emit()
    assert w.z_step.value == pytest.approx(0.3) and w.pixel_size.value == pytest.approx(0.13)
    qtbot.waitUntil(lambda: w._stack_worker is None, timeout=60_000)
    psf = viewer.layers["beads PSF"].data
    assert psf.shape == (31, 31) and abs(float(psf.sum()) - 1) < 1e-4
    assert "focus at plane 4.0 (3 beads)" in w.stack_info.value, w.stack_info.value
    assert "astigmatism 0° +0.060 waves" in w.stack_info.value and "spherical -0.050" in w.stack_info.value
    assert "coma" not in w.stack_info.value  # nothing below 0.01 waves is named
    assert viewer.layers["beads PSF"].scale[-1] == pytest.approx(0.13)  # the stack's lateral units
    assert w.image.value is viewer.layers["beads"] and w.stack_button.enabled
    w.medium.value = 1.333  # chosen by the user: the NA no longer moves it
    w.na.value = 1.4
    assert w.medium.value == 1.333


def _calibrate_module():
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    import test_calibrate

    return test_calibrate


def test_train_identification_in_the_calibrate_dock(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """Calibrate and save, then Train: the network trains in the background (progress in the dock), its weights and
    model card land beside the family file, and the Blind deblur dock reads it from the family-file entry (offered
    the file just saved, optics greyed out) and records it in the result's provenance."""
    import napari_deepblur._widgets.calibrate as calibrate
    from napari_deepblur._widgets._controls import FAMILY_FILE

    monkeypatch.setattr(calibrate, "TRAIN_OPTIONS", {"bank_size": 16, "batch_size": 4, "val_size": 8, "threads": 1})
    stack, _ = _calibrate_module().bead_stack(np.linspace(-0.15, 0.15, 7), n_beads=4)
    viewer = make_napari_viewer()
    viewer.add_image(stack.astype(np.float32), name="beads")
    w = open_widget(viewer, "Calibrate from beads")
    w.image.value = viewer.layers["beads"]
    w.output.value = tmp_path / "fam.npz"
    w.calibrate_button.clicked.emit()
    assert w.steps.value == 100
    w.steps.value = 2
    w.train_button.clicked.emit()
    assert w.train_button.text == "Cancel training" and not w.calibrate_button.enabled
    qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)
    assert (tmp_path / "fam.identify.pt").exists() and (tmp_path / "fam.identify.md").exists()
    assert "wrote fam.identify.pt" in w.train_info.value and w.calibrate_button.enabled
    assert "--family-file" in (tmp_path / "fam.identify.md").read_text()  # the card's command reruns it

    viewer.add_image(stack[3, :128, :128].astype(np.float32), name="img")
    d = open_widget(viewer, "Blind deblur")
    d.image.value = viewer.layers["img"]
    assert d.family_file.native.isHidden()
    d.family.value = FAMILY_FILE
    assert not d.family_file.native.isHidden() and Path(d.family_file.value) == tmp_path / "fam.npz"
    assert not d.na.enabled and not d.pixel_size.enabled and not d.prior.enabled and "not used" in d.fc_label.value
    d.method.value = "wiener"
    d.run_button.clicked.emit()
    qtbot.waitUntil(lambda: d._worker is None, timeout=60_000)
    meta = viewer.layers["img deblurred"].metadata["napari_deepblur"]
    assert meta["family"] == "calibrated" and meta["family_file"]["path"] == str((tmp_path / "fam.npz").resolve())
    assert set(meta["gamma"]) == {f"c{k + 1}" for k in range(meta["family_file"]["K"])}
    assert "eigen-PSF 1: " in d.table.value and "in :" not in d.table.value


def test_a_bad_family_file_gives_a_message_not_a_traceback(make_napari_viewer, tmp_path):
    from napari_deepblur._widgets._controls import FAMILY_FILE

    viewer = make_napari_viewer()
    viewer.add_image(np.random.rand(96, 96).astype(np.float32), name="img")
    d = open_widget(viewer, "Blind deblur")
    d.image.value = viewer.layers["img"]
    d.family.value = FAMILY_FILE
    (tmp_path / "bad.npz").write_text("not a family")
    untrained = (
        _calibrate_module()
        .calibrate_family(_calibrate_module().bead_stack(np.linspace(-0.1, 0.1, 5), n_beads=4)[0])
        .save(tmp_path / "untrained.npz")
    )
    for path, said in [("none.npz", "family file not found"), ("bad.npz", "not a napari-deepblur family file"),
                       (untrained.name, "no identification network yet")]:  # fmt: skip
        d.family_file.value = tmp_path / path
        d.run_button.clicked.emit()
        assert d._worker is None and said in d.status.value and "img deblurred" not in viewer.layers
    c = open_widget(viewer, "Calibrate from beads")
    c.output.value = tmp_path / "none.npz"
    c.train_button.clicked.emit()
    assert c._worker is None and "family file not found" in c.train_info.value


def test_cancel_stops_the_training_and_writes_nothing(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    import time

    import napari_deepblur._widgets.calibrate as calibrate

    monkeypatch.setattr(calibrate, "TRAIN_OPTIONS", {"bank_size": 16, "batch_size": 4, "val_size": 8, "threads": 1})
    tc = _calibrate_module()
    tc.calibrate_family(tc.bead_stack(np.linspace(-0.1, 0.1, 5), n_beads=4)[0]).save(tmp_path / "fam.npz")
    viewer = make_napari_viewer()
    w = open_widget(viewer, "Calibrate from beads")
    w.output.value = tmp_path / "fam.npz"
    w.steps.value = 100_000
    w.train_button.clicked.emit()
    qtbot.waitUntil(lambda: "loss" in w.train_info.value, timeout=30_000)  # training steps
    t0 = time.perf_counter()
    w.train_button.clicked.emit()  # Cancel
    qtbot.waitUntil(lambda: w._worker is None, timeout=10_000)
    assert time.perf_counter() - t0 < 3
    assert "cancelled" in w.train_info.value and w.train_button.text == "Train identification"
    assert not (tmp_path / "fam.identify.pt").exists() and not (tmp_path / "fam.identify.md").exists()


def test_long_lines_wrap_and_the_dock_never_scrolls_sideways(make_napari_viewer, qtbot):
    """1366 x 768, the Blind deblur dock with the longest lines it can show (a cutoff note, an optics note, an error
    with a hint, the estimate): the text wraps, the content is never wider than the dock's viewport."""
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1366, 768)
    viewer.open_sample(PLUGIN, "cells_zernike")
    dock, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deblur")
    w.fc_label.value = "fc = 0.410 cycles/px — undersampled: PSF integrated over each pixel (camera pixels coarser)"
    w.optics_note.value = "pixel size not in the file: default 0.065 µm used; NA and wavelength typed by the user"
    w.status.value = (
        "failed: wavelength 520 µm is not an emission wavelength: give it in µm (520 nm = 0.52 µm); the run was "
        "refused before any work, nothing was changed — done in 0.73 s on cpu"
    )
    w.table.value = "\n".join(["astigmatism 45° +0.029 (detected, confidence 0.90 of 1: the image supports it)"] * 3)
    qtbot.wait(300)
    scroll = dock.widget()
    assert scroll.horizontalScrollBar().maximum() == 0
    assert scroll.widget().width() <= scroll.viewport().width()
    for label in (w.fc_label, w.optics_note, w.status, w.table):
        assert label.native.wordWrap()
        assert label.native.geometry().right() <= scroll.viewport().width()


def test_a_z_stack_is_deconvolved_as_a_volume(make_napari_viewer, qtbot):
    """A 3D layer with its voxel size (µm): the dock offers *volume (3D PSF)*, reads the z step from the layer, runs
    3D Richardson–Lucy in the worker and adds the result with the stack's scale, and the 3D PSF."""
    from napari_deepblur._widgets.volume_run import VOLUME

    rng = np.random.default_rng(0)
    stack = (100 + 50 * rng.random((6, 64, 64))).astype(np.float32)
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack, name="zs", scale=(0.4, 0.1, 0.1), units=("micrometer",) * 3)
    w = open_widget(viewer, "Blind deblur")
    w.image.value = layer
    assert VOLUME in w.slices.choices and w.z_step.value == pytest.approx(0.4)
    w.slices.value = VOLUME
    assert not w.z_step.native.isHidden() and not w.volume_iterations.native.isHidden()
    w.volume_iterations.value = 3
    w.run_button.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None, timeout=120_000)
    out = viewer.layers["zs deblurred (3D)"]
    assert out.data.shape == stack.shape and tuple(out.scale) == pytest.approx((0.4, 0.1, 0.1))
    assert out.data.min() >= np.percentile(stack, 0.01) - 1e-3
    assert viewer.layers["zs PSF (3D)"].data.shape[0] == 11  # 2 Z - 1 planes
    assert "done in" in w.status.value and "3D" in w.table.value
    w.image.value = viewer.add_image(stack[0], name="plane")
    assert VOLUME not in w.slices.choices
