"""PSF explorer dock widget: one slider per blur parameter, a live PSF layer, load/apply/export."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSlider, Image, Label, PushButton, create_widget

from ..api.provenance import truth_record
from ..display import psf_montage
from ..physics import blur, get_family
from ._common import (
    DockContainer,
    LayerPicker,
    is_psf_layer,
    layer_units,
    notify_error,
    psf_thumbnail,
    set_or_add_image,
    show_layer,
)
from ._controls import family_combo, optics_spinboxes, uses_optics

if TYPE_CHECKING:
    import napari

__all__ = ["PSFExplorer", "current_gamma"]

LAYER_NAME = "PSF explorer"


def current_gamma(viewer) -> tuple[str, dict, np.ndarray] | None:
    """``(family, optics, gamma)`` of the explorer's PSF layer in this viewer (its metadata), if any."""
    if LAYER_NAME not in viewer.layers:
        return None
    meta = viewer.layers[LAYER_NAME].metadata.get("napari_deepblur", {})
    if "gamma" not in meta:
        return None
    return meta["family"], meta.get("optics", {}), np.array(list(meta["gamma"].values()), dtype=np.float32)


def _is_result(layer) -> bool:
    """A layer with an estimated γ in its metadata (a ``… deblurred`` / ``… PSF`` result of the Blind deblur)."""
    meta = (layer.metadata or {}).get("napari_deepblur", {})
    return layer.name != LAYER_NAME and "gamma" in meta and "method" in meta


def _not_ours(layer) -> bool:
    return layer.name != LAYER_NAME


def _has_gamma(layer) -> bool:
    """A layer with any γ in its metadata (results, and the known truth of samples and simulations)."""
    return layer.name != LAYER_NAME and "gamma" in (layer.metadata or {}).get("napari_deepblur", {})


class PSFExplorer(DockContainer):
    """Explore a family's PSFs: sliders for each parameter, linear/log display, live update."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        import napari

        self.family = family_combo()
        self.na, self.wavelength, self.pixel_size = optics_spinboxes()
        self.psf_size = ComboBox(label="PSF size (px)", choices=[31, 47, 63], value=63)
        self.display = ComboBox(label="display", choices=["linear", "log"], value="linear")
        # each parameter's name on its own line above a full-width slider: the names are long (up to 40 characters
        # for the space-varying family) and beside the sliders they squeezed them to a knob at the default width
        self.slider_box = Container(labels=False)
        self.sliders: list[FloatSlider] = []
        self.info = Label(label="")
        self.psf_view = Image(label="PSF")
        # nullable: "-----" rather than a layer that does not fit (such as the explorer's own PSF)
        self.source = create_widget(annotation=napari.layers.Image, label="result layer", options={"nullable": True})
        self.load_button = PushButton(text="Load γ from result layer")
        self.target = create_widget(annotation=napari.layers.Image, label="image", options={"nullable": True})
        self.apply_button = PushButton(text="Apply PSF to image (blur)")
        self.export_path = FileEdit(label="TIFF file", mode="w", filter="*.tif")
        self.export_button = PushButton(text="Export PSF")
        self.extend([
            self.family, self.na, self.wavelength, self.pixel_size, self.psf_size, self.display, self.slider_box,
            self.info, self.psf_view, self.source, self.load_button, self.target, self.apply_button,
            self.export_path, self.export_button,
        ])  # fmt: skip
        self.psf_view.min_height = 205
        self.family.changed.connect(self._rebuild)
        for w in (self.na, self.wavelength, self.pixel_size, self.psf_size, self.display):
            w.changed.connect(self._update)
        self.load_button.changed.connect(self._load)
        self.apply_button.changed.connect(self._apply)
        self.export_button.changed.connect(self._export)
        # the layers the user means: a result for "load", the selected / newest visible image for "apply"
        self._pickers = (
            LayerPicker(self.source, viewer, _is_result, _has_gamma, _not_ours),
            LayerPicker(self.target, viewer, lambda ly: not is_psf_layer(ly), _not_ours),
        )
        self.watch_layers(viewer, self._choose_layers)
        self._choose_layers()
        self._rebuild()

    def _choose_layers(self, *_) -> None:
        for picker in self._pickers:
            picker.choose()

    def on_docked(self) -> None:
        self._choose_layers()
        if LAYER_NAME in self._viewer.layers:  # the canvas got its final size with the dock: fit the PSF again
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, self._show_psf)

    def _show_psf(self) -> None:
        if LAYER_NAME in self._viewer.layers:
            show_layer(self._viewer, self._viewer.layers[LAYER_NAME])

    # ------------------------------------------------------------------------------------------------ model
    def fam(self):
        """The family with the current optical numbers (raises ValueError on impossible optics)."""
        opts = {"psf_size": int(self.psf_size.value)}
        if uses_optics(self.family.value):
            opts.update(na=self.na.value, wavelength=self.wavelength.value, pixel_size=self.pixel_size.value)
        return get_family(self.family.value, **opts)

    @property
    def gamma(self) -> np.ndarray:
        """Current parameter vector."""
        return np.array([s.value for s in self.sliders], dtype=np.float32)

    def _rebuild(self) -> None:
        try:
            fam = self.fam()
        except ValueError:
            fam = get_family(self.family.value)
        self.slider_box.clear()
        self.sliders = []
        default = fam.default_gamma()[0].tolist()
        for p, v in zip(fam.parameters, default, strict=True):
            step = (p.high - p.low) / 200
            name = f"{p.label} ({p.unit})"
            s = FloatSlider(label=name, min=p.low, max=p.high, step=step, value=v, tooltip=name)
            s.changed.connect(self._update)
            self.slider_box.extend([Label(value=name), s])
            self.sliders.append(s)
        for w in (self.na, self.wavelength, self.pixel_size):
            w.enabled = uses_optics(self.family.value)
        self._update()

    def psf_image(self) -> np.ndarray:
        """The PSF (or montage of the PSF grid) for the current sliders."""
        fam = self.fam()
        psf = fam.psf(torch.from_numpy(self.gamma)[None])[0].numpy()
        return psf_montage(psf, fam.grid) if psf.ndim == 3 else psf

    def _placement(self) -> dict:
        """Where a new PSF layer goes: beside the layers already shown (not on top of an image's corner), at the
        pixel size of the image picked for "apply"; at the origin in an empty viewer."""
        shown = [ly for ly in self._viewer.layers if ly.visible]
        if not shown:
            return {}
        target = self.target.value
        scale = tuple(float(v) for v in np.asarray(target.scale)[-2:]) if target is not None else (1.0, 1.0)
        lo, hi = (np.asarray(e) for e in self._viewer.layers.extent.world)
        out = {"scale": scale, "translate": (float(lo[-2]), float(hi[-1]) + 8 * scale[1])}
        units = layer_units(target) if target is not None else None
        if units:
            out["units"] = units[-2:]
        return out

    def _update(self) -> None:
        try:
            fam = self.fam()
            img = self.psf_image()
        except ValueError as exc:
            self.info.value = str(exc)
            return
        shown = np.log10(np.maximum(img, img.max() * 1e-4)) if self.display.value == "log" else img
        old = self._viewer.layers[LAYER_NAME].data.shape if LAYER_NAME in self._viewer.layers else None
        place = self._placement() if old is None else {}
        layer = set_or_add_image(
            self._viewer, LAYER_NAME, shown.astype(np.float32), colormap="magma",
            metadata={"napari_deepblur": truth_record(fam, self.gamma, "PSF explorer")}, **place,
        )  # fmt: skip
        layer.contrast_limits = (float(shown.min()), float(shown.max()) if shown.max() > shown.min() else 1.0)
        if old != shown.shape:  # a new layer, or a new size: show it whole in the middle of the canvas
            show_layer(self._viewer, layer)
        self.psf_view.set_data(psf_thumbnail(img))
        fc = getattr(fam, "fc", None)
        self.info.value = f"fc = {fc:.3f} cycles/px" if fc else f"{fam.psf_size}² px"

    # ----------------------------------------------------------------------------------------------- actions
    def _load(self) -> None:
        self._pickers[0].confirm()
        layer = self.source.value
        meta = (layer.metadata or {}).get("napari_deepblur", {}) if layer is not None else {}
        gamma, fam_name = meta.get("gamma"), meta.get("family")
        if not gamma or not fam_name:
            notify_error("this layer carries no estimated γ (pick a '… deblurred' or '… PSF' result layer)")
            return
        self.family.value = fam_name
        optics = meta.get("optics", {})
        if {"na", "wavelength", "pixel_size"} <= set(optics):
            self.na.value, self.wavelength.value = optics["na"], optics["wavelength"]
            self.pixel_size.value = optics["pixel_size"]
        for s, name in zip(self.sliders, self.fam().param_names, strict=True):
            s.value = float(np.clip(gamma.get(name, 0.0), s.min, s.max))

    def _apply(self) -> None:
        self._pickers[1].confirm()
        layer = self.target.value
        if layer is None or layer.data.ndim != 2 or layer.rgb:
            notify_error("pick a 2D grey image to blur")
            return
        fam = self.fam()
        x = torch.from_numpy(np.asarray(layer.data, dtype=np.float64))[None, None]
        psf = fam.psf(torch.from_numpy(self.gamma).double()[None])
        y = blur(x, fam, psf)[0, 0].numpy().astype(np.float32)
        meta = {"napari_deepblur": truth_record(fam, self.gamma, "blurred by the PSF explorer")}
        units = {"units": layer_units(layer)} if layer_units(layer) else {}
        self._viewer.add_image(y, name=f"{layer.name} blurred", scale=layer.scale, translate=layer.translate,
                               metadata=meta, **units)  # fmt: skip

    def _export(self) -> None:
        import tifffile

        path = str(self.export_path.value)
        if not path or path == ".":
            notify_error("choose a TIFF file name first")
            return
        fam = self.fam()
        psf = fam.psf(torch.from_numpy(self.gamma)[None])[0].numpy().astype(np.float32)
        tifffile.imwrite(path, psf, metadata={"family": fam.name, "gamma": self.gamma.tolist(), **fam.optics})
        self.info.value = f"saved {psf.shape} PSF to {path}"
