"""Blind-deblur dock widget: a thin layer over :func:`napari_deepblur.deblur`.

Work runs in a napari worker thread (``create_worker``) that yields after each stage / slice, feeds napari's activity
dock, and stops at the next yield or progress callback when the user presses Cancel.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FileEdit,
    FloatSpinBox,
    Image,
    Label,
    PushButton,
    SpinBox,
    create_widget,
)

from ..api.provenance import recorded_noise
from ..methods import METHODS
from ..physics.noise import NOISE_LEVELS
from ..physics.optics import MAX_FC, MAX_FC_UNDERSAMPLED, MIN_FC_PLAUSIBLE, psf_width
from ..physics.priors import PRIOR_DEFAULT, PRIORS
from ._common import (
    DockContainer,
    Failure,
    LayerPicker,
    OpticsNote,
    ProgressBars,
    describe_gamma,
    is_psf_layer,
    layer_optics,
    notify_error,
    psf_thumbnail,
    result_layers,
)
from ._controls import (
    FAMILY_FILE,
    family_combo,
    family_label,
    optics_problem,
    optics_spinboxes,
    recent_family_file,
    uses_optics,
)
from .volume_run import VOLUME, layer_z_step, start_volume

if TYPE_CHECKING:
    import napari

__all__ = ["DeblurWidget"]

NOISE_CHOICES = ["auto", *NOISE_LEVELS, "custom"]
#: The stack options of 2D deblurring (a 3D layer also offers :data:`~.volume_run.VOLUME`).
STACK_2D = ["current slice", "all slices"]
NOISE_TOOLTIP = (
    "auto: estimated from the image. The named levels and custom give Poisson α and Gaussian β relative to the\n"
    "image's range (its 0.01–99.99 percentiles mapped to [0, 1])."
)


class DeblurWidget(DockContainer):
    """Pick an image, an operator family and a noise level, press Run: estimated PSF + deblurred layer."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self.track_job()
        self._bars: ProgressBars | None = None
        self._psf_note = "PSF given by the user"
        import napari

        self.image = create_widget(annotation=napari.layers.Image, label="image")
        self.family = family_combo(with_file=True)
        self.family_file = FileEdit(
            label="  family file",
            mode="r",
            filter="*.npz",
            visible=False,
            tooltip="a family calibrated from your beads (Calibrate from beads dock, or napari-deepblur calibrate)",
        )
        self.na, self.wavelength, self.pixel_size = optics_spinboxes()
        self.aberrations = ComboBox(
            label="aberrations",
            choices=[
                ("estimate from the image", "estimate"),
                ("none: diffraction-limited PSF", "none"),
                ("measured: a PSF layer", "measured"),
            ],
            value="estimate",
            tooltip="none: deblur with the aberration-free PSF computed from NA, wavelength and pixel size\n"
            "measured: deblur with a PSF you measured (a bead's PSF from the Calibrate dock, or a PSF file opened "
            "as a layer)",
        )
        self.psf_layer = ComboBox(
            label="  PSF layer",
            choices=self._psf_choices,
            visible=False,
            tooltip="a 2D PSF (a 3D one: its plane with the highest peak); resampled to the image's pixel size when "
            "its layer states a physical pixel size",
        )
        self.prior = ComboBox(
            label="expect",
            choices=[("a real microscope", "microscope"), ("the paper's benchmark", "paper")],
            value=PRIOR_DEFAULT,
            tooltip="\n".join(f"{k}: {v}" for k, v in PRIORS.items()),
        )
        self.fc_label = Label(label="cutoff")
        self.optics_note = Label(label="optics")
        self.noise = ComboBox(label="noise", choices=NOISE_CHOICES, value="auto", tooltip=NOISE_TOOLTIP)
        self.alpha = FloatSpinBox(label="  Poisson α", value=0.0, min=0.0, max=1.0, step=0.005, enabled=False)
        self.beta = FloatSpinBox(label="  Gaussian β", value=0.0, min=0.0, max=1.0, step=0.005, enabled=False)
        methods = [(m.label, k) for k, m in METHODS.items()]
        self.method = ComboBox(label="method", choices=methods, value=next(iter(METHODS)))
        self.iterations = SpinBox(label="  iterations", value=1000, min=10, max=10000, step=100, visible=False)
        self.device = ComboBox(label="device", choices=["auto", "cpu", "cuda", "mps"], value="auto")
        self.device_label = Label(label="runs on")
        self.slices = ComboBox(
            label="stack",
            choices=self._stack_choices,
            value="current slice",
            tooltip="a z-stack: one plane, every plane (2D PSFs), or the volume with a 3D PSF",
        )
        self.z_step = FloatSpinBox(
            label="  z step (µm)",
            value=0.3,
            min=0.01,
            max=20.0,
            step=0.05,
            visible=False,
            tooltip="the focus step between planes (read from the layer's scale when physical)",
        )
        self.volume_iterations = SpinBox(
            label="  3D iterations",
            value=0,
            min=0,
            max=500,
            visible=False,
            tooltip="Richardson–Lucy 3D, accelerated (20 do about what 50 plain ones do); "
            "auto: fewer on noisier stacks, where it soon amplifies the noise",
        )
        self.volume_iterations.native.setSpecialValueText("auto")  # 0
        self.signed = CheckBox(
            text="signed data (allow negative values)",
            value=False,
            tooltip="off (fluorescence): the result never goes below the image's dark level",
        )
        self.run_button = PushButton(text="Run")
        self.status = Label(label="")
        self.psf_view = Image(label="PSF", visible=False)
        self.table = Label(label="estimate")
        self.extend([
            self.image, self.family, self.family_file, self.na, self.wavelength, self.pixel_size, self.fc_label,
            self.optics_note, self.aberrations, self.psf_layer, self.prior,
            self.noise, self.alpha, self.beta, self.method, self.iterations, self.device, self.device_label,
            self.slices, self.z_step, self.volume_iterations, self.signed, self.run_button, self.status,
            self.psf_view, self.table,
        ])  # fmt: skip
        self._optics = OpticsNote(self.pixel_size, self.optics_note)
        # the dock is a scroll area: give the result rows their room instead of letting Qt squeeze them
        self.status.min_height = 88
        self.psf_view.min_height = 210
        self.table.min_height = 130
        self.noise.changed.connect(self._on_noise)
        self.image.changed.connect(self._on_image)
        for w in (self.na, self.wavelength, self.pixel_size, self.family, self.aberrations):
            w.changed.connect(self._update_cutoff)
        self.family.changed.connect(self._on_family)
        self.device.changed.connect(self._update_device)
        self.method.changed.connect(self._on_method)
        self.run_button.changed.connect(self._on_run)
        self.slices.changed.connect(self._on_slices)
        # the layer the user means (the selected / newest visible image), never a hidden one such as a sample's truth
        self._picker = LayerPicker(self.image, viewer, lambda ly: not is_psf_layer(ly), None)
        self.watch_layers(viewer, self._picker.choose)
        self.watch_layers(viewer, self._refresh_psf_choices)
        self._picker.choose()
        self._on_noise()
        self._on_image()
        self._update_cutoff()
        self._update_device()

    # ----------------------------------------------------------------------------------------------------- state
    def _on_noise(self) -> None:
        custom = self.noise.value == "custom"
        self.alpha.enabled = self.beta.enabled = custom
        # "auto": the estimate is in the status after a run; 0.000 in greyed boxes read as "no noise"
        self.alpha.visible = self.beta.visible = self.noise.value != "auto"
        if self.noise.value in NOISE_LEVELS:
            self.alpha.value, self.beta.value = NOISE_LEVELS[self.noise.value]
        elif custom and (known := self._recorded_noise()) is not None:  # a simulation's own, in deblur's units
            self.alpha.value, self.beta.value = known

    def _recorded_noise(self) -> tuple[float, float] | None:
        """The noise a simulated or sample layer records (as deblur reads that image), else ``None``."""
        layer = self.image.value
        return None if layer is None else recorded_noise(layer.metadata)

    def _stack_choices(self, _widget=None) -> list[str]:
        """The stack options for the picked layer: a (Z, Y, X) stack also offers the volume with a 3D PSF."""
        layer = self.image.value if hasattr(self, "image") else None
        volume = layer is not None and layer.data.ndim == 3 and not layer.rgb
        return [*STACK_2D, VOLUME] if volume else list(STACK_2D)

    def _psf_choices(self, _widget=None) -> list[str]:
        """Names of the layers that can be a measured PSF: 2D or 3D single-channel images other than the image
        being deblurred, PSF layers (``… PSF``) first, newest first."""
        from napari.layers import Image as ImageLayer

        current = self.image.value
        layers = [ly for ly in reversed(self._viewer.layers) if isinstance(ly, ImageLayer) and ly is not current
                  and not ly.rgb and ly.data.ndim in (2, 3)]  # fmt: skip
        return [ly.name for ly in sorted(layers, key=lambda ly: not is_psf_layer(ly))]

    def _refresh_psf_choices(self, *_) -> None:
        self.psf_layer.reset_choices()

    def _on_family(self) -> None:
        file = self.family.value == FAMILY_FILE
        self.family_file.visible = file
        if file and not Path(self.family_file.value).is_file() and recent_family_file():
            self.family_file.value = recent_family_file()  # the one the Calibrate dock saved

    def _family_path(self) -> Path | None:
        """The family file chosen (None when the blur model is a built-in family)."""
        return Path(self.family_file.value) if self.family.value == FAMILY_FILE else None

    def _on_method(self) -> None:
        self.iterations.visible = METHODS[self.method.value].blind  # SelfDeblur: its iteration count

    def on_docked(self) -> None:
        self._picker.choose()

    def _on_image(self) -> None:
        layer = self.image.value
        self._refresh_psf_choices()
        if layer is None:
            return
        self._optics.from_layer(layer)
        self.slices.enabled = layer.data.ndim > 2 and not layer.rgb
        volume = layer.data.ndim == 3 and not layer.rgb
        self.slices.reset_choices()
        z = layer_z_step(layer) if volume else None
        if z is not None and 0.01 <= z <= 20:
            self.z_step.value = z
        self._on_slices()
        known = self._recorded_noise()
        self.noise.tooltip = NOISE_TOOLTIP + (
            f"\nThis layer records its simulated noise: α={known[0]:.3g} β={known[1]:.3g} (choose custom)"
            if known is not None else ""
        )  # fmt: skip
        if known is not None and self.noise.value == "custom":
            self._on_noise()

    def _on_slices(self) -> None:
        """The volume mode shows its z step and iterations; the 2D choices it does not use are greyed out (it
        deconvolves with the aberration-free 3D PSF of the optics by Richardson–Lucy 3D: not yet blind)."""
        volume = self.slices.value == VOLUME
        self.z_step.visible = self.volume_iterations.visible = volume
        for w in (self.family, self.aberrations, self.prior, self.noise, self.method, self.signed):
            w.enabled = not volume
        if volume:
            for w in (self.na, self.wavelength, self.pixel_size):
                w.enabled = True  # the 3D PSF is the optics'
            self.table.value = "volume: Richardson–Lucy 3D with the aberration-free widefield 3D PSF of the optics"
        else:
            self._update_cutoff()  # what the family and the aberrations enable

    def _update_cutoff(self) -> None:
        optical = uses_optics(self.family.value)
        measured = self.aberrations.value == "measured"
        for w in (self.na, self.wavelength, self.pixel_size, self.aberrations):
            w.enabled = optical
        self.na.enabled = self.wavelength.enabled = optical and not measured  # the pixel size resamples the PSF
        self.psf_layer.visible = optical and measured
        self.prior.enabled = optical and self.aberrations.value == "estimate"
        self._optics.set_used(optical)
        if self.family.value == FAMILY_FILE:
            self.fc_label.value = "not used: the family file's PSFs are in pixels of the bead images"
        elif optical and measured:
            self.fc_label.value = "not used: the measured PSF (the pixel size resamples it)"
        elif not optical:
            self.fc_label.value = f"not used by the {family_label(self.family.value)} model"
        else:
            self.fc_label.value = _cutoff_note(self.na.value, self.wavelength.value, self.pixel_size.value)

    def _optics_problem(self) -> str | None:
        """Why the typed optics cannot be used (a wrong unit), checked before a run; None when they can (or the blur
        model does not use them)."""
        if not uses_optics(self.family.value):
            return None
        measured = self.aberrations.value == "measured"  # only the pixel size is used: it resamples the PSF
        return optics_problem(self.na.value, self.wavelength.value, self.pixel_size.value, pixel_only=measured)

    def _update_device(self) -> None:
        from ..api.params import resolve_device

        try:
            self.device_label.value = str(resolve_device(self.device.value))
        except ValueError as exc:
            self.device_label.value = f"unavailable ({exc})"

    def _noise_arg(self):
        if self.noise.value == "auto":
            return "auto"
        return (self.alpha.value, self.beta.value)

    # ------------------------------------------------------------------------------------------------------- run
    def _on_run(self) -> None:
        if self._worker is not None:
            self._cancel.set()
            self.status.value = "cancelling…"
            return
        layer = self.image.value
        if layer is None:
            self.status.value = "open or select an image first"
            return
        if layer.rgb:
            self.status.value = (
                "this is an RGB layer: split the channels (right-click the layer › Split RGB), then deblur one channel"
            )
            notify_error(self.status.value)
            return
        family, record = self.family.value, None
        path = self._family_path()
        if path is not None:  # read now: a missing or damaged file is said at once
            from ..api.files import load_family_file
            from ..api.provenance import family_file_record

            try:
                family = load_family_file(path, need_network=not METHODS[self.method.value].blind)
                record = family_file_record(path, family)
            except (ValueError, OSError) as exc:
                self.status.value = f"failed: {exc}"
                notify_error(str(exc))
                return
        self._picker.confirm()  # its results are added next: the picker stays on the input
        try:
            problem = self._optics_problem()
            if problem:
                raise ValueError(problem)
            if self.slices.value == VOLUME and layer.data.ndim == 3:
                start_volume(self, layer)  # the aberration-free 3D PSF of the optics (not yet blind)
                return
            self._start(layer, family, record)
        except ValueError as exc:  # optics in a wrong unit, no PSF layer chosen
            self.status.value = f"failed: {exc}"
            notify_error(str(exc))

    def _planes(self, layer):
        """(index tuples, 2D arrays) to process, following the stack option."""
        data = layer.data
        if data.ndim == 2:
            return [()], [data]
        lead = data.shape[:-2]
        if self.slices.value == "current slice":
            idx = tuple(int(i) for i in self._viewer.dims.current_step[: len(lead)])
            return [idx], [np.asarray(data[idx])]
        indices = list(np.ndindex(*lead))
        return indices, (data[i] for i in indices)

    def _start(self, layer, family, family_record: dict | None = None) -> None:
        from napari.qt.threading import create_worker

        from ..api.stack import Cancelled, deblur_planes

        kwargs = dict(
            family=family,
            noise=self._noise_arg(),
            method=self.method.value,
            device=self.device.value,
            nonneg=not self.signed.value,
        )
        if METHODS[self.method.value].blind:
            kwargs["n_iter"] = int(self.iterations.value)
        if uses_optics(self.family.value):
            kwargs.update(na=self.na.value, wavelength=self.wavelength.value, pixel_size=self.pixel_size.value)
            if self.aberrations.value == "measured":
                kwargs.update(self._measured_psf())
            else:
                kwargs["aberrations"] = self.aberrations.value
                kwargs["prior"] = self.prior.value
        indices, planes = self._planes(layer)
        cancel = self._cancel
        cancel.clear()
        # within-plane progress (SelfDeblur iterations, unrolled steps) in napari's activity dock, its bars made on
        # the main thread (the worker only emits a queued signal)
        bars = self._bars = ProgressBars(layer.name)

        def progress(done, total, stage):
            if cancel.is_set():
                raise Cancelled
            if total > 1:
                bars.report.emit(done, total, stage)

        def work():
            results = []
            try:
                runs = deblur_planes(planes, progress=progress, cancelled=cancel.is_set, label_planes=False, **kwargs)
                for n, res in runs:
                    results.append((indices[n], res))
                    yield n + 1
            except Cancelled:
                return None  # nothing is added to the viewer
            except (ValueError, RuntimeError) as exc:  # DeblurInputError, WeightsError, …: a message, not a traceback
                return Failure(str(exc))
            return results

        worker = create_worker(work, _progress={"total": len(indices), "desc": f"deblurring {layer.name}"})
        worker.returned.connect(lambda results: self._finish(layer, indices, results, family_record))
        worker.errored.connect(self._failed)
        worker.finished.connect(self._done)
        self._worker = worker
        self.run_button.text = "Cancel"
        self.status.value = f"running on {len(indices)} plane(s)…"
        worker.start()

    def _measured_psf(self) -> dict:
        """``psf`` (and ``psf_pixel_size`` when both pixel sizes are physical) of the chosen PSF layer; raises
        ValueError with what to do when there is none. The note for the result is kept in ``_psf_note``."""
        name = self.psf_layer.value
        if not name or name not in self._viewer.layers:
            raise ValueError("choose a PSF layer (open a PSF file, or measure one in the Calibrate dock)")
        layer = self._viewer.layers[name]
        psf = np.asarray(layer.data, dtype=np.float64)
        note = f"measured PSF: layer {name!r}"
        if psf.ndim == 3:
            from ..io import in_focus_plane

            psf, plane = in_focus_plane(psf)
            note += f", plane {plane} (its highest peak)"
        out = {"psf": psf}
        psf_px = layer_optics(layer)
        if psf_px and self._optics.source != "default":
            out["psf_pixel_size"] = psf_px
        elif psf_px:
            note += "\ntaken at the image's sampling: the image's pixel size is a default — enter it to resample"
        else:
            note += "\ntaken at the image's sampling (the layer states no pixel size)"
        self._psf_note = note
        return out

    def _failed(self, exc: Exception | str) -> None:
        self.job_failed(self.status, exc)

    def _done(self) -> None:
        if self.job_ended("_bars"):
            self.run_button.text = "Run"

    def _finish(self, layer, indices, results, family_record: dict | None = None) -> None:
        if not self._alive[0]:
            return
        if results is None:
            self.status.value = "cancelled — nothing was changed"
            return
        if isinstance(results, Failure):
            self._failed(results.message)
            return
        if not results:
            return
        first = results[0][1]
        stack = layer.data.ndim > 2
        if not stack or len(results) == 1:
            image = first.image
        else:
            image = np.zeros(layer.data.shape, dtype=np.float32)
            for idx, res in results:
                image[idx] = res.image
        one_plane = results[0][0] if stack and len(results) == 1 else None
        shown = result_layers(self._viewer, layer, image, first, plane=one_plane,
                              planes=results if stack else None)  # fmt: skip
        for name in (shown, f"{layer.name} PSF") if family_record else ():
            self._viewer.layers[name].metadata["napari_deepblur"]["family_file"] = family_record
        grid = getattr(first.family, "grid", None) if first.family is not None else None
        self.psf_view.set_data(psf_thumbnail(first.psf, grid))
        self.psf_view.visible = True
        lines = _describe(first)
        m = METHODS[first.method]
        resampled = first.details.get("psf_resampled")
        given = self._psf_note + (f"\n{resampled}" if resampled else "")
        text = "\n".join(lines) or (f"kernel estimated by {m.label} itself" if m.blind else given)
        verdict = first.details.get("verdict")
        if verdict:  # what the identification concluded, and how sure it was
            head, _, tail = verdict.partition(": ")
            conf = first.details.get("confidence")
            head += f" (confidence {conf:.2f})" if conf is not None else ""
            # the detected terms are in the table below; the other verdicts say what was used
            text = f"{head}\n" + text if head.startswith("aberrations detected") else f"{head}:\n{tail}\n" + text
        if stack:
            text = _plane_note(indices[0], layer.data.shape[:-2], len(results)) + "\n" + text
        self.table.value = text
        # room for every line (up to 16 for the space-varying family)
        self.table.min_height = max(130, 17 * (self.table.value.count("\n") + 1) + 10)
        from qtpy.QtCore import QTimer

        QTimer.singleShot(0, self.relayout)  # once Qt has taken the new text, or the old height clips it
        t = sum(r.timings["total"] for _, r in results)
        for message in first.details.get("fallback", []):
            from napari.utils.notifications import show_warning

            show_warning(f"{layer.name}: {message}")
        tiles = f" ({first.details['tiles']} tiles)" if "tiles" in first.details else ""
        self.status.value = (
            f"done in {t:.2f} s on {first.device}{tiles}\n" + _noise_note(first) + _truth_note(layer, first)
        )


def _truth_note(layer, res) -> str:
    """For a layer whose blur is known (a sample, a simulation): how close the PSF used is to the true one."""
    from ..api.provenance import truth_psf_snr

    snr = truth_psf_snr((layer.metadata or {}).get("napari_deepblur"), res.psf)
    return "" if snr is None else f"\nknown truth (sample): the PSF used is {snr:.1f} dB (PSF SNR) from the true one"


def _cutoff_note(na: float, wavelength: float, pixel_size: float) -> str:
    """The cutoff the typed optics give, and what it means (a wrong unit, undersampled, a PSF too wide)."""
    if optics_problem(na, wavelength, pixel_size):
        return "fc not computed — check NA and the units (µm)"
    fc = na * pixel_size / wavelength
    if fc > MAX_FC_UNDERSAMPLED:
        return f"fc = {fc:.3f} cycles/px — too coarse to deblur (> {MAX_FC_UNDERSAMPLED}): check"
    if fc > MAX_FC:
        return f"fc = {fc:.3f} cycles/px — undersampled: PSF integrated over each pixel"
    if fc < MIN_FC_PLAUSIBLE:
        return f"fc = {fc:.3f} cycles/px — PSF wider than {psf_width(fc):.0f} px: check the units"
    return f"fc = {fc:.3f} cycles/px"


def _noise_note(res) -> str:
    """The noise with significant digits (α and β are relative to the image scaled to [0, 1], so they are tiny on
    16-bit data), and its standard deviation at the median level in the image's own units (the Poisson–Gaussian
    model's variance there is α·median + β²)."""
    a, b = res.noise
    note = "est." if res.noise_estimated else "given"
    text = f"noise ({note}): α={a:.3g} β={b:.3g} (relative to the image's range)"
    levels = res.details.get("intensity")
    if levels:
        scale, median = levels["scale"], float(np.clip(levels["median"], 0, 1))
        text += f"\nσ ≈ {scale * np.sqrt(a * median + b * b):.4g} at the median level (image units)"
    return text


def _plane_note(first: tuple, lead: tuple, n: int) -> str:
    """Which plane's γ and PSF the table shows."""
    label = ", ".join(str(i) for i in first)
    total = int(np.prod(lead))
    if n == 1:
        return f"plane {label} of {total} (the current slice)"
    return f"plane {label} of {total} shown; all planes in the layer metadata"


def _describe(res) -> list[str]:
    """Lines ``"label: value"`` of the estimated γ (see :func:`._common.describe_gamma`)."""
    if res.gamma is None or res.family is None:
        return []
    return describe_gamma(res.family, res.gamma)
