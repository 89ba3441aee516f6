"""The TIFF reader: napari layers get the pixel size (and z step) the file states, as the command line reads it."""

import numpy as np
import pytest
import tifffile

from napari_deepblur._reader import get_reader
from napari_deepblur.io import read_image


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    hela = tmp_path / "hela.tif"  # 3 channels, 12-bit, ImageJ: 51.5 nm pixels
    tifffile.imwrite(hela, (rng.random((3, 96, 96)) * 4095).astype(np.uint16), imagej=True,
                     resolution=(1 / 0.0515, 1 / 0.0515), metadata={"axes": "CYX", "unit": "um"})  # fmt: skip
    stack = tmp_path / "stack.tif"  # ImageJ z-stack in nm: 130 nm pixels, 300 nm steps
    tifffile.imwrite(stack, np.zeros((4, 64, 64), np.uint16), imagej=True, resolution=(1 / 130, 1 / 130),
                     metadata={"axes": "ZYX", "unit": "nm", "spacing": 300})  # fmt: skip
    ome = tmp_path / "cells.ome.tif"
    tifffile.imwrite(ome, np.zeros((4, 64, 64), np.uint16), ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeX": 65.0, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 65.0,
                               "PhysicalSizeYUnit": "nm", "PhysicalSizeZ": 0.2})  # fmt: skip
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((64, 64), np.uint16))
    return {"hela": hela, "stack": stack, "ome": ome, "plain": plain}


def test_voxel_sizes_are_read_in_micrometres(files):
    assert read_image(files["hela"])[1]["pixel_size_um"] == pytest.approx(0.0515)
    meta = read_image(files["stack"])[1]
    assert meta["pixel_size_um"] == pytest.approx(0.13) and meta["z_step_um"] == pytest.approx(0.3)
    meta = read_image(files["ome"])[1]
    assert meta["pixel_size_um"] == pytest.approx(0.065) and meta["z_step_um"] == pytest.approx(0.2)
    meta = read_image(files["plain"])[1]
    assert meta["pixel_size_um"] is None and meta["z_step_um"] is None


def test_the_reader_gives_layers_their_scale_units_and_channels(files):
    assert get_reader(str(files["hela"]).replace(".tif", ".png")) is None
    ((data, kwargs, kind),) = get_reader(str(files["hela"]))(str(files["hela"]))
    assert kind == "image" and data.shape == (3, 96, 96) and kwargs["channel_axis"] == 0
    assert kwargs["scale"] == pytest.approx([0.0515, 0.0515]) and kwargs["units"] == ["micrometer"] * 2
    assert "ImageJ" in kwargs["metadata"][0]["pixel_size_from"]
    ((_, kwargs, _),) = get_reader(str(files["stack"]))(str(files["stack"]))
    assert kwargs["scale"] == pytest.approx([0.3, 0.13, 0.13]) and "channel_axis" not in kwargs
    ((_, kwargs, _),) = get_reader(str(files["plain"]))(str(files["plain"]))
    assert "scale" not in kwargs and "pixel_size_from" not in kwargs["metadata"]  # the file states none


def test_the_dock_takes_the_pixel_size_from_the_file(files, make_napari_viewer):
    from napari_deepblur._widgets import DeblurWidget

    viewer = make_napari_viewer()
    layers = viewer.open(str(files["hela"]), plugin="napari-deepblur")
    assert len(layers) == 3 and layers[0].scale[-1] == pytest.approx(0.0515)
    w = DeblurWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.image.value = layers[1]
    assert w.pixel_size.value == pytest.approx(0.0515)
    assert "from the file" in w.optics_note.value and "hela.tif" in w.optics_note.value
