"""The npe2 manifest and the napari integration (needs Qt + OpenGL: run under xvfb-run)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui


def test_manifest_is_valid():
    from npe2 import PluginManifest

    pm = PluginManifest.from_distribution("napari-deepblur")
    pm.validate_imports()
    assert {s.key for s in pm.contributions.sample_data} == {"cells_zernike", "cells_spatially_varying"}


def test_npe2_validate_cli():
    npe2 = Path(sys.executable).with_name("npe2")  # the CLI installed beside this interpreter
    res = subprocess.run([str(npe2), "validate", "napari-deepblur"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("key", ["cells_zernike", "cells_spatially_varying"])
def test_sample_data_opens_in_the_viewer(make_napari_viewer, key):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-deepblur", key)
    names = [layer.name for layer in viewer.layers]
    assert len(names) == 3
    blurred = next(layer for layer in viewer.layers if layer.name.endswith("blurred"))
    sharp = next(layer for layer in viewer.layers if "sharp" in layer.name)
    assert blurred.data.shape == sharp.data.shape == (384, 384)
    assert any(name.endswith("true PSF") for name in names)


def test_widgets_are_in_the_layers_menu_too(make_napari_viewer):
    from napari._app_model import get_app_model

    make_napari_viewer()  # registers the plugin's actions
    menus = get_app_model().menus

    def ids(menu):
        return {getattr(getattr(item, "command", None), "id", None) for item in menus.get_menu(menu)}

    assert {"napari-deepblur.deblur_widget", "napari-deepblur.simulate"} <= ids("napari/layers/filter")
    assert "napari-deepblur.psf_explorer" in ids("napari/layers/visualize")
