"""Simulate dock widget: blur + Poisson–Gaussian noise an image with a random or chosen γ (known truth)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from magicgui.widgets import ComboBox, FloatSpinBox, Label, PushButton, SpinBox, create_widget

from ..api.provenance import noise_record, truth_record
from ..physics import NOISE_LEVELS, forward_model, get_family
from ._common import (
    DockContainer,
    LayerPicker,
    OpticsNote,
    describe_gamma,
    is_psf_layer,
    layer_units,
    notify_error,
    set_or_add_image,
)
from ._controls import family_combo, optics_spinboxes, uses_optics
from .explorer import current_gamma

if TYPE_CHECKING:
    import napari

__all__ = ["SimulateWidget", "simulate"]


def simulate(image: np.ndarray, family, gamma: np.ndarray, alpha: float, beta: float, seed: int = 0):
    """Blur ``image`` (scaled to [0, 1] first) with ``family(gamma)`` and add noise; returns ``(y, psf, scaled)``."""
    from ..api.params import as_image2d, normalize_intensity

    x, _, _ = normalize_intensity(as_image2d(image))
    psf = family.psf(torch.as_tensor(gamma, dtype=torch.float64)[None])
    gen = torch.Generator().manual_seed(seed)
    y = forward_model(torch.from_numpy(x)[None, None], family, psf, alpha, beta, generator=gen)
    return y[0, 0].numpy().astype(np.float32), psf[0].numpy().astype(np.float32), x.astype(np.float32)


class SimulateWidget(DockContainer):
    """Make a test image with a known blur and noise from any layer."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        import napari

        self.image = create_widget(annotation=napari.layers.Image, label="sharp image")
        self.family = family_combo()
        self.na, self.wavelength, self.pixel_size = optics_spinboxes()
        self.optics_note = Label(label="optics")
        self.gamma_source = ComboBox(label="γ", choices=["random", "from the PSF explorer"], value="random")
        self.seed = SpinBox(label="seed", value=0, min=0, max=2**31 - 1)
        self.noise = ComboBox(label="noise", choices=[*NOISE_LEVELS, "custom"], value="medium")
        self.alpha = FloatSpinBox(label="  Poisson α", value=0.025, min=0.0, max=1.0, step=0.005, enabled=False)
        self.beta = FloatSpinBox(label="  Gaussian β", value=0.05, min=0.0, max=1.0, step=0.005, enabled=False)
        self.run_button = PushButton(text="Simulate")
        self.info = Label(label="")
        self.extend([
            self.image, self.family, self.na, self.wavelength, self.pixel_size, self.optics_note, self.gamma_source,
            self.seed, self.noise, self.alpha, self.beta, self.run_button, self.info,
        ])  # fmt: skip
        self._optics = OpticsNote(self.pixel_size, self.optics_note)
        self.noise.changed.connect(self._on_noise)
        self.run_button.changed.connect(self.run)
        self.image.changed.connect(self._on_image)
        self.family.changed.connect(self._on_family)
        self._picker = LayerPicker(self.image, viewer, lambda ly: not is_psf_layer(ly), None)
        self.watch_layers(viewer, self._picker.choose)
        self._picker.choose()
        self._on_image()
        self._on_family()

    def on_docked(self) -> None:
        self._picker.choose()

    def _on_image(self) -> None:
        self._optics.from_layer(self.image.value)

    def _on_family(self) -> None:
        optical = uses_optics(self.family.value)
        for w in (self.na, self.wavelength, self.pixel_size):
            w.enabled = optical
        self._optics.set_used(optical)

    def _on_noise(self) -> None:
        self.alpha.enabled = self.beta.enabled = self.noise.value == "custom"
        if self.noise.value in NOISE_LEVELS:
            self.alpha.value, self.beta.value = NOISE_LEVELS[self.noise.value]

    def run(self) -> None:
        layer = self.image.value
        if layer is None or layer.rgb or np.squeeze(layer.data).ndim != 2:
            notify_error("pick a 2D grey image layer to simulate from")
            return
        self._picker.confirm()
        try:
            if self.gamma_source.value == "random":
                opts = (
                    dict(na=self.na.value, wavelength=self.wavelength.value, pixel_size=self.pixel_size.value)
                    if uses_optics(self.family.value)
                    else {}
                )
                fam = get_family(self.family.value, **opts)
                gamma = fam.sample(1, generator=torch.Generator().manual_seed(int(self.seed.value)))[0].numpy()
                gamma = gamma * fam.benchmark_scale  # the paper's benchmark range (Zernike: ±0.075 waves)
            else:
                chosen = current_gamma(self._viewer)
                if chosen is None:
                    notify_error("open the PSF explorer and set γ there first")
                    return
                name, optics, gamma = chosen
                fam = get_family(name, **{k: v for k, v in optics.items() if k in ("na", "wavelength", "pixel_size")})
            y, psf, _ = simulate(np.squeeze(layer.data), fam, gamma, self.alpha.value, self.beta.value,
                                 int(self.seed.value))  # fmt: skip
        except ValueError as exc:  # optics in a wrong unit, …: said in the dock too
            self.info.value = f"failed: {exc}"
            notify_error(str(exc))
            return
        noise = noise_record(y, self.alpha.value, self.beta.value)
        meta = {"napari_deepblur": truth_record(fam, gamma, "simulated ground truth")}
        meta_y = {"napari_deepblur": {**meta["napari_deepblur"], "noise": noise}}
        scale, translate = np.asarray(layer.scale)[-2:], np.asarray(layer.translate)[-2:]
        units = layer_units(layer)
        units = units[-2:] if units else None
        set_or_add_image(self._viewer, f"{layer.name} simulated", y, scale=scale, translate=translate, units=units,
                         metadata=meta_y)  # fmt: skip
        if psf.ndim == 3:
            from ..display import psf_montage

            psf = psf_montage(psf, fam.grid)
        W = y.shape[1]
        set_or_add_image(self._viewer, f"{layer.name} true PSF", psf, colormap="magma", metadata=meta, units=units,
                         scale=scale, translate=(translate[0], translate[1] + (W + 8) * scale[1]))  # fmt: skip
        lines = describe_gamma(fam, gamma)
        head = f"true γ {lines.pop(0)}" if lines[0].startswith("in ") else "true γ:"  # "true γ in waves:"
        said = f"noise as Blind deblur reads it (its custom): α={noise['alpha']:.3g} β={noise['beta']:.3g}"
        self.info.value = "\n".join([head, *lines, said])
        self.info.min_height = 17 * (self.info.value.count("\n") + 1) + 10
