"""Calibrate-from-beads dock widget: find the beads (a points layer the user can edit), then build and save the
microscope's own PSF family (:func:`napari_deepblur.calibrate_family`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import FileEdit, FloatSpinBox, Label, PushButton, SpinBox, create_widget

from ._common import DockContainer, LayerPicker, is_psf_layer, notify_error, set_or_add_image

if TYPE_CHECKING:
    import napari

__all__ = ["CalibrateWidget"]

#: Name suffix of the layer showing a family's eigen-PSFs.
EIGEN_SUFFIX = " eigen-PSFs"


class CalibrateWidget(DockContainer):
    """Bead image or through-focus stack → beads (editable points) → eigen-PSF family file."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        import napari

        self.image = create_widget(annotation=napari.layers.Image, label="beads")
        self.psf_size = SpinBox(label="PSF size (px)", value=31, min=7, max=127, step=2)
        self.energy = FloatSpinBox(label="energy kept", value=0.995, min=0.5, max=0.9999, step=0.001)
        self.find_button = PushButton(text="Find beads")
        self.output = FileEdit(label="family file", mode="w", filter="*.npz", value="family.npz")
        self.calibrate_button = PushButton(text="Calibrate and save")
        self.info = Label(label="")
        self.extend([self.image, self.psf_size, self.energy, self.find_button, self.output, self.calibrate_button,
                     self.info])  # fmt: skip
        self.info.value = "find the beads, delete the bad ones\nin the points layer, then calibrate"
        self.find_button.changed.connect(self.find)
        self.calibrate_button.changed.connect(self.calibrate)
        # never its own result (the eigen-PSFs) nor a PSF layer
        self._picker = LayerPicker(self.image, viewer, lambda ly: not is_psf_layer(ly) and not ly.name.endswith(
            EIGEN_SUFFIX), None)  # fmt: skip
        self.watch_layers(viewer, self._picker.choose)
        self._picker.choose()
        self.family = None

    def on_docked(self) -> None:
        self._picker.choose()

    def _points_name(self) -> str:
        return f"{self.image.value.name} beads"

    def _data(self) -> np.ndarray:
        data = np.asarray(self.image.value.data, dtype=np.float64)
        return data if data.ndim in (2, 3) else data.reshape(-1, *data.shape[-2:])

    def find(self) -> None:
        """Detect isolated beads (on the maximum projection of a stack) into an editable points layer."""
        from ..api.calibrate import find_beads

        if self.image.value is None:
            return
        data = self._data()
        found = find_beads(data.max(0) if data.ndim == 3 else data, int(self.psf_size.value) | 1)
        name = self._points_name()
        if name in self._viewer.layers:
            self._viewer.layers[name].data = found
        else:
            self._viewer.add_points(found, name=name, size=int(self.psf_size.value), face_color="transparent",
                                    border_color="yellow", symbol="square")  # fmt: skip
        self.info.value = f"{len(found)} isolated bead(s) found:\ndelete the bad ones, then calibrate"

    def calibrate(self) -> None:
        """Calibrate from the beads of the points layer, save the family file, show the eigen-PSFs."""
        from ..api.calibrate import calibrate_family

        if self.image.value is None:
            return
        name = self._points_name()
        positions = np.asarray(self._viewer.layers[name].data)[:, -2:].round().astype(int) if name in (
            self._viewer.layers) else None  # fmt: skip
        try:
            fam = calibrate_family(self._data(), psf_size=int(self.psf_size.value) | 1, energy=self.energy.value,
                                   positions=positions, provenance={"layer": self.image.value.name})  # fmt: skip
            path = fam.save(Path(self.output.value))
        except (ValueError, OSError) as exc:
            self.info.value = f"failed: {exc}"
            notify_error(str(exc))
            return
        self.family = fam
        set_or_add_image(self._viewer, self.image.value.name + EIGEN_SUFFIX, fam.basis.numpy().astype(np.float32),
                         colormap="magma")  # fmt: skip
        self.info.value = (f"{fam.dim} eigen-PSF(s), {100 * fam.explained_energy():.1f} % of the energy,\n"
                           f"from {fam.provenance['n_psfs']} PSF(s); saved to {path.name}")  # fmt: skip
