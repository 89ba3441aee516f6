"""Calibrate-from-beads dock widget: find the beads (a points layer the user can edit), then build and save the
microscope's own PSF family (:func:`napari_deepblur.calibrate_family`) and train its identification network in the
background (:func:`napari_deepblur.training.identify.train_identify`, progress bar, Cancel); or read the aberrations of
a through-focus bead stack (:func:`napari_deepblur.identify_bead_stack`, in the background: the PSF at focus as a layer,
the focus plane and the largest aberrations in the dock)."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, FileEdit, FloatSpinBox, Label, PushButton, SpinBox, create_widget
from qtpy.QtCore import QObject, Signal

from ..physics.optics import default_refractive_index
from ._common import (
    DockContainer,
    Failure,
    LayerPicker,
    is_psf_layer,
    layer_optics,
    layer_units,
    notify_error,
    set_or_add_image,
)
from ._controls import optics_spinboxes, remember_family_file

if TYPE_CHECKING:
    import napari

__all__ = ["CalibrateWidget"]

#: Name suffix of the layer showing a family's eigen-PSFs.
EIGEN_SUFFIX = " eigen-PSFs"
#: Options of the dock's training besides its steps (``napari-deepblur train identify`` takes the same): a smaller
#: patch bank than the command's default, validated every 50 steps and at the end.
TRAIN_OPTIONS = {"bank_size": 1000, "val_every": 50}
#: Immersion / mounting media offered for a through-focus stack (label, refractive index).
MEDIA = [("air (1.0)", 1.0), ("water (1.333)", 1.333), ("glycerol (1.47)", 1.47), ("oil (1.518)", 1.518)]
#: Seconds a training process has to stop after Cancel before it is terminated (it stops at its next step).
CANCEL_GRACE_S = 3.0


class CalibrateWidget(DockContainer):
    """Bead image or through-focus stack → beads (editable points) → eigen-PSF family file → its network."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self.track_job()  # closing the viewer stops a running training; nothing is written
        self._report: _TrainReport | None = None
        import napari

        self.image = create_widget(annotation=napari.layers.Image, label="beads")
        self.psf_size = SpinBox(label="PSF size (px)", value=31, min=7, max=127, step=2)
        self.energy = FloatSpinBox(label="energy kept", value=0.995, min=0.5, max=0.9999, step=0.001)
        self.find_button = PushButton(text="Find beads")
        self.output = FileEdit(label="family file", mode="w", filter="*.npz", value="family.npz")
        self.calibrate_button = PushButton(text="Calibrate and save")
        self.info = Label(label="")
        self.steps = SpinBox(
            label="training steps",
            value=100,
            min=1,
            max=100_000,
            step=50,
            tooltip="steps of the identification network's training (about 1 s each on one CPU core)",
        )
        self.train_button = PushButton(text="Train identification")
        self.train_info = Label(label="")
        # the aberrations of a through-focus stack (phase diversity), beside the family
        self.stack_title = Label(value="— or the aberrations of a through-focus bead stack —")
        self.na, self.wavelength, self.pixel_size = optics_spinboxes()
        self.z_step = FloatSpinBox(label="z step (µm)", value=0.2, min=0.001, max=100.0, step=0.05,
                                   tooltip="focus step between planes (the layer's scale if it has units)")  # fmt: skip
        self.medium = ComboBox(label="medium", choices=MEDIA, value=default_refractive_index(self.na.value),
                               tooltip="the medium the focus moves in (follows the NA until you choose)")  # fmt: skip
        self.stack_button = PushButton(text="Aberrations from the stack")
        self.stack_info = Label(label="")
        self.extend([self.image, self.psf_size, self.energy, self.find_button, self.output, self.calibrate_button,
                     self.info, self.steps, self.train_button, self.train_info, self.stack_title, self.na,
                     self.wavelength, self.pixel_size, self.z_step, self.medium, self.stack_button,
                     self.stack_info])  # fmt: skip
        self._medium_chosen = False
        self.na.changed.connect(self._follow_na)
        self.medium.changed.connect(self._medium_edited)
        self.stack_button.changed.connect(self.read_stack)
        self._stack_worker = None
        self.info.value = "find the beads, delete the bad ones in the points layer, then calibrate"
        self.train_info.value = "then train the family's identification network (Blind deblur needs it)"
        self.find_button.changed.connect(self.find)
        self.calibrate_button.changed.connect(self.calibrate)
        self.train_button.changed.connect(self._on_train)
        # never its own result (the eigen-PSFs) nor a PSF layer
        self._picker = LayerPicker(self.image, viewer, lambda ly: not is_psf_layer(ly) and not ly.name.endswith(
            EIGEN_SUFFIX), None)  # fmt: skip
        self.watch_layers(viewer, self._picker.choose)
        self._picker.choose()
        self.family = None

    def on_docked(self) -> None:
        self._picker.choose()

    # ------------------------------------------------------------------------------------- a through-focus stack
    def _follow_na(self) -> None:
        if not self._medium_chosen:
            self._setting_medium = True
            try:
                self.medium.value = default_refractive_index(self.na.value)
            finally:
                self._setting_medium = False

    def _medium_edited(self) -> None:
        if not getattr(self, "_setting_medium", False):
            self._medium_chosen = True

    def _stack_scale(self, layer) -> None:
        """Pixel size and z step from the layer's scale when its units are lengths."""
        from ..io import um_per_unit

        units = getattr(layer, "units", None)
        if layer is None or layer.ndim != 3 or not units:
            return
        z_factor = um_per_unit(str(units[-3]))
        if z_factor is not None:
            self.z_step.value = float(layer.scale[-3]) * z_factor
        pixel = layer_optics(layer)
        if pixel is not None:
            self.pixel_size.value = pixel

    def read_stack(self) -> None:
        """The aberrations of the picked through-focus stack (:func:`napari_deepblur.identify_bead_stack`), in the
        background; the PSF at focus is added as a layer and the aberrations are said in the dock."""
        from napari.qt.threading import create_worker

        from ..api.bead_stack import identify_bead_stack

        layer = self.image.value
        if layer is None or self._stack_worker is not None:
            return
        if np.asarray(layer.data).ndim != 3:
            self.stack_info.value = "pick a (Z, Y, X) stack of beads through focus"
            return
        self._stack_scale(layer)
        worker = create_worker(identify_bead_stack, np.asarray(layer.data), self.z_step.value, na=self.na.value,
                               wavelength=self.wavelength.value, pixel_size=self.pixel_size.value,
                               refractive_index=self.medium.value, psf_size=int(self.psf_size.value) | 1)  # fmt: skip
        worker.returned.connect(lambda res, name=layer.name, layer=layer: self._stack_read(name, res, layer))
        worker.errored.connect(self._stack_failed)
        worker.finished.connect(self._stack_done)
        self._stack_worker = worker
        self.stack_button.enabled = False
        self.stack_info.value = f"fitting the {layer.data.shape[0]} planes…"
        worker.start()

    def _stack_read(self, name: str, res, layer=None) -> None:
        from ..methods.evidence import NAMED_MIN

        if not self._alive[0]:
            return
        lateral = {}
        if layer is not None and layer_units(layer) is not None:  # the PSF in the stack's lateral units
            lateral = {"scale": tuple(layer.scale[-2:]), "units": tuple(layer.units[-2:])}
        set_or_add_image(self._viewer, f"{name} PSF", res.psf.astype(np.float32), colormap="magma", **lateral)
        named = {p.name: p for p in res.family.parameters}
        top = [(named[k], v) for k, v in sorted(res.named_gamma.items(), key=lambda kv: -abs(kv[1]))[:3]]
        lines = [f"{p.label.split(' (')[0]} {v:+.3f} waves" for p, v in top if abs(v) >= NAMED_MIN]
        beads = res.details["beads"]
        self.stack_info.value = "\n".join([
            f"focus at plane {res.focus_plane:.1f} ({beads} bead{'s' if beads > 1 else ''})",
            *(lines or [f"no aberration above {NAMED_MIN} waves"]),
            f"PSF at focus: layer '{name} PSF'",
        ])  # fmt: skip

    def _stack_failed(self, exc: Exception) -> None:
        if self._alive[0]:
            self.stack_info.value = f"failed: {exc}"
            notify_error(str(exc))

    def _stack_done(self) -> None:
        self._stack_worker = None
        if self._alive[0]:
            self.stack_button.enabled = True

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
        self.info.value = f"{len(found)} isolated bead(s) found: delete the bad ones, then calibrate"

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
            stale = _discard_network(path)
        except (ValueError, OSError) as exc:
            self.info.value = f"failed: {exc}"
            notify_error(str(exc))
            return
        self.family = fam
        remember_family_file(path)
        set_or_add_image(self._viewer, self.image.value.name + EIGEN_SUFFIX, fam.basis.numpy().astype(np.float32),
                         colormap="magma")  # fmt: skip
        self.info.value = (f"{fam.dim} eigen-PSF(s), {100 * fam.explained_energy():.1f} % of the energy,\n"
                           f"from {fam.provenance['n_psfs']} PSF(s); saved to {path.name}")  # fmt: skip
        self.train_info.value = ("the previous family's network was removed:\n" if stale else "") + (
            "train its identification network, then Blind deblur › blur model › calibrated (file)")  # fmt: skip

    # ------------------------------------------------------------------------------------------------- training
    def _on_train(self) -> None:
        if self._worker is not None:
            self._cancel.set()
            self.train_info.value = "cancelling…"
            return
        from ..api.files import load_family_file

        path = Path(self.output.value)
        try:
            load_family_file(path)  # a missing or damaged file is said now, not from the worker
        except ValueError as exc:
            self.train_info.value = f"failed: {exc}"
            notify_error(str(exc))
            return
        remember_family_file(path)
        self._start_training(path, int(self.steps.value))

    def _start_training(self, path: Path, steps: int) -> None:
        from napari.qt.threading import create_worker

        from ..training.config import IdentifyConfig

        options = {**TRAIN_OPTIONS, "val_every": min(steps, TRAIN_OPTIONS.get("val_every", steps))}
        cfg = IdentifyConfig(family_file=str(path), steps=steps, **options)
        flags = [a for k, v in options.items() for a in (f"--{k.replace('_', '-')}", str(v))]
        command = shlex.join(["napari-deepblur", "train", "identify", "--family-file", str(path), "--steps", str(steps),
                              *flags])  # fmt: skip
        cancel = self._cancel
        cancel.clear()
        report = self._report = _TrainReport(self.train_info, f"training {path.name}")
        worker = create_worker(_train, cfg, command, cancel, report)
        worker.returned.connect(self._trained)
        worker.errored.connect(self._train_failed)
        worker.finished.connect(self._train_done)
        self._worker = worker
        self.train_button.text = "Cancel training"
        self.calibrate_button.enabled = False  # the family file must not change under the training
        self.train_info.value = f"training {steps} steps…"
        worker.start()

    def _trained(self, result) -> None:
        if not self._alive[0]:
            return
        if result is None:
            self.train_info.value = "training cancelled — no network written"
            return
        if isinstance(result, Failure):
            self._train_failed(result.message)
            return
        weights, snr = result
        said = f"; validation PSF SNR {snr:.1f} dB" if snr is not None else ""
        self.train_info.value = (f"wrote {weights.name}{said}\n(+ model card {weights.with_suffix('.md').name});"
                                 "\nBlind deblur › blur model › calibrated (file)")  # fmt: skip

    def _train_failed(self, exc: Exception | str) -> None:
        self.job_failed(self.train_info, exc, "training")

    def _train_done(self) -> None:
        if self.job_ended("_report"):
            self.train_button.text = "Train identification"
            self.calibrate_button.enabled = True


class _TrainReport(QObject):
    """Training progress from the worker thread, shown on the main thread: a napari progress bar (activity dock) and
    the dock's label (Qt queues :attr:`step` to this object's thread)."""

    step = Signal(int, int, str)

    def __init__(self, label: Label, desc: str):
        super().__init__()
        self._label, self._desc = label, desc
        self._bar = None
        self._closed = False
        self.step.connect(self._show)

    def _show(self, done: int, total: int, stage: str) -> None:
        if self._closed:
            return
        from napari.utils import progress

        if self._bar is None:
            self._bar = progress(total=total, desc=self._desc)
        self._bar.update(done - self._bar.n)
        self._label.value = f"step {done}/{total}: {stage}"

    def close(self) -> None:
        self._closed = True
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _train(cfg, command: str, cancel: threading.Event, report: _TrainReport):
    """The worker thread: train in a child process (:func:`_train_child`) and relay its progress; returns
    ``(weights, last validation PSF SNR)``, None when cancelled, or a :class:`Failure` for the user's message.

    Why a process: ``torch.optim`` imports ``torch._dynamo`` and triton on first use, and importing triton in a
    process that has napari's OpenGL canvas crashes it (see ``methods._optim``); the training also leaves napari's
    interpreter free. Cancel asks the child to stop at its next step; one that does not answer in
    :data:`CANCEL_GRACE_S` seconds (building its patch bank) is terminated — it has written nothing yet.
    """
    import multiprocessing as mp
    import queue as queues
    import tempfile
    import time

    ctx = mp.get_context("spawn")  # never fork a process that runs Qt
    messages, stop = ctx.Queue(), ctx.Event()
    with tempfile.TemporaryDirectory(prefix="napari-deepblur-train-") as run:
        child = ctx.Process(target=_train_child, args=(cfg, run, command, messages, stop), daemon=True)
        child.start()
        result, asked = None, None
        while result is None:
            if cancel.is_set() and asked is None:
                stop.set()
                asked = time.monotonic()
            if asked is not None and time.monotonic() - asked > CANCEL_GRACE_S:
                child.terminate()
                result = ("cancelled",)
                break
            try:
                message = messages.get(timeout=0.1)
            except queues.Empty:
                if not child.is_alive():  # its last word may still be in the pipe
                    result = _last_word(messages, child.exitcode)
                continue
            if message[0] == "step":
                report.step.emit(*message[1:])
            else:
                result = message
        child.join(timeout=10)
    if result[0] == "done":
        _forget_loaded_networks()
        return Path(result[1]), result[2]
    return None if result[0] == "cancelled" else Failure(result[1])


def _last_word(messages, exitcode: int | None) -> tuple:
    """The result message a finished child left in ``messages`` (its progress skipped), or its failure."""
    import queue as queues

    try:
        while (message := messages.get(timeout=1.0))[0] == "step":
            pass
        return message
    except queues.Empty:
        return ("failed", f"the training process stopped (exit code {exitcode})")


def _train_child(cfg, run: str, command: str, messages, stop) -> None:
    """The child process: :func:`~napari_deepblur.training.identify.train_identify` with its progress sent to the
    parent, stopped when ``stop`` is set; the last message says ``done`` (weights, SNR), ``cancelled`` or ``failed``."""
    import json

    import torch

    from ..api.stack import Cancelled
    from ..training.identify import train_identify

    def progress(step: int, total: int, stage: str) -> None:
        if stop.is_set():
            raise Cancelled
        messages.put(("step", step, total, stage))

    try:
        weights = train_identify(cfg, Path(run), Path(cfg.family_file).parent, log=lambda _: None, progress=progress,
                                 command=command)  # fmt: skip
        history = json.loads(torch.load(weights, map_location="cpu", weights_only=True)["meta"])["validation"]
        messages.put(("done", str(weights), history[-1]["none"] if history else None))
    except Cancelled:
        messages.put(("cancelled",))
    except Exception as exc:  # the parent shows it; the type says what kind of failure it was
        messages.put(("failed", str(exc) if isinstance(exc, ValueError | OSError) else f"{type(exc).__name__}: {exc}"))


def _forget_loaded_networks() -> None:
    """Networks are cached by path: a retrained family's must be read again."""
    from ..networks import weights

    weights._load_identification_cpu.cache_clear()
    weights._DEVICE_CACHE.clear()


def _discard_network(family_file: Path) -> list[Path]:
    """Remove the identification network (and its card) of a family file that was just overwritten: it was trained
    for the previous family. Returns what was removed."""
    from ..training.identify import family_weights_path

    weights = family_weights_path(family_file)
    gone = [p for p in (weights, weights.with_suffix(".md")) if p.exists()]
    for p in gone:
        p.unlink()
    return gone
