"""Helpers shared by the dock widgets (napari-side only; no algorithm lives here)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from magicgui.widgets import Container, FloatSpinBox, Label
from qtpy.QtCore import QEvent, QObject, Signal

from ..api.provenance import result_record
from ..api.stack import Cancelled
from ..display import psf_montage
from ..io import um_per_unit
from ..physics import DEFAULT_OPTICS

__all__ = [
    "Cancelled",
    "DockContainer",
    "Failure",
    "LayerPicker",
    "OpticsNote",
    "ProgressBars",
    "describe_gamma",
    "is_psf_layer",
    "layer_optics",
    "layer_units",
    "notify_error",
    "preferred_image",
    "psf_thumbnail",
    "result_layers",
    "set_or_add_image",
    "show_layer",
]


# ------------------------------------------------------------------------------------------------------- the dock
#: Characters a choice list shows when the dock is narrow (the open list shows each entry whole).
MIN_CHOICE_CHARS = 14


class _EventWatcher(QObject):
    """Calls ``callback`` when the watched widget gets an event of ``kind``: a new parent (napari docks it), a layout
    request (a longer choice, a shown row)."""

    def __init__(self, kind: QEvent.Type, callback: Callable[[], None]):
        super().__init__()
        self._kind, self._callback = kind, callback

    def eventFilter(self, obj, event) -> bool:
        if event.type() == self._kind:
            self._callback()
        return False


class DockContainer(Container):
    """A labelled magicgui container whose content scrolls inside its dock.

    magicgui's ``scrollable=True`` puts the content in a ``QScrollArea`` but keeps ``.native`` on the inner widget,
    and napari docks ``.native`` (not ``root_native_widget``): the scroll area was dropped and a long panel forced
    the main window taller than the screen (magicgui#431). Here ``.native`` is the scroll area itself, so the dock's
    minimum height is that of a scroll area (a few lines) and any panel fits a 768-px laptop screen.
    """

    def __init__(self, **kwargs):
        super().__init__(labels=True, scrollable=True, **kwargs)
        scroll = self.root_native_widget
        self._content = scroll.widget()  # the widget with the layout
        self._content._magic_widget = self  # children find this container whatever widget they walk up through
        scroll.setFrameShape(scroll.Shape.NoFrame)
        self._content.layout().addStretch(1)  # widgets stay at the top; magicgui inserts before the stretch
        # magicgui resets the layer combos when its widget gets a parent; ours is the scroll area: do the same
        self._parent_watcher = _EventWatcher(QEvent.Type.ParentChange, self._on_docked)
        scroll.installEventFilter(self._parent_watcher)
        self._layout_watcher = _EventWatcher(QEvent.Type.LayoutRequest, self._keep_width)
        self._content.installEventFilter(self._layout_watcher)
        self._connections: list = []
        connections = self._connections

        def disconnect(*_):  # not self: this runs while the Qt widget is being destroyed
            for emitter, callback in connections:
                try:
                    emitter.disconnect(callback)
                except (RuntimeError, TypeError, ValueError):
                    pass
            connections.clear()

        scroll.destroyed.connect(disconnect)

    @property
    def native(self):
        """The scroll area (what napari puts in the dock)."""
        return self.root_native_widget

    def track_job(self) -> None:
        """Set up the plumbing of one cancellable background job: ``_worker`` (the running one, or None),
        ``_cancel`` (a ``threading.Event``, also set when the dock is destroyed: closing the viewer stops the job and
        its results go nowhere) and ``_alive``."""
        self._worker = None
        self._cancel = threading.Event()
        self._alive = alive = [True]
        cancel = self._cancel  # not self: the slot runs while the Qt widget is being destroyed

        def closed(*_):
            alive[0] = False
            cancel.set()

        self.native.destroyed.connect(closed)

    def job_failed(self, label: Label, exc: Exception | str, what: str = "") -> None:
        """A job's error: said in ``label`` (``"[<what> ]failed: ..."``) and as a napari notification."""
        if not self._alive[0]:
            return
        label.value = f"{what} failed: {exc}".lstrip()
        notify_error(str(exc))

    def job_ended(self, progress_attr: str) -> bool:
        """After a job, done, cancelled or failed: forget the worker, close and drop the progress display held in the
        attribute ``progress_attr``; whether the dock is still there (its cancel flag is then cleared)."""
        self._worker = None
        shown = getattr(self, progress_attr)
        if shown is not None:
            shown.close()
            setattr(self, progress_attr, None)
        if not self._alive[0]:
            return False
        self._cancel.clear()
        return True

    def watch(self, emitter, callback) -> None:
        """Connect ``callback`` to a viewer event for as long as this widget lives."""
        emitter.connect(callback)
        self._connections.append((emitter, callback))

    def watch_layers(self, viewer, callback) -> None:
        """Call ``callback`` when a layer is added or removed, or another layer is selected."""
        for event in (
            viewer.layers.events.inserted,
            viewer.layers.events.removed,
            viewer.layers.selection.events.active,
        ):
            self.watch(event, callback)

    def _on_docked(self) -> None:
        self.reset_choices()
        self.wrap_text()
        self.on_docked()

    def wrap_text(self) -> None:
        """Every text of the panel wraps at the dock's width, so a long line (a cutoff note, an optics note, an error)
        makes the panel taller, never wider than its dock: it never needs sideways scrolling. A choice list may be
        narrower than its longest entry (the open list shows it whole). Called when the panel is docked; a panel
        that adds labels later calls it again."""
        from qtpy.QtWidgets import QComboBox, QLabel, QSizePolicy

        for combo in self._content.findChildren(QComboBox):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(MIN_CHOICE_CHARS)
        for label in self._content.findChildren(QLabel):
            if label.pixmap() is not None and not label.pixmap().isNull():
                continue  # a picture (the PSF thumbnail) keeps its size
            label.setWordWrap(True)
            # magicgui fixes a label's size to its one-line text; wrapped, its height follows its width
            policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            policy.setHeightForWidth(True)
            label.setSizePolicy(policy)
        self._keep_width()

    def _keep_width(self) -> None:
        """The dock at least as wide as the panel's narrowest layout plus the vertical scroll bar, which shows when
        the panel is taller than the dock (else that bar's width had to scroll sideways)."""
        scroll = self.root_native_widget
        from qtpy.QtWidgets import QStyle

        bar = max(
            scroll.verticalScrollBar().sizeHint().width(),
            scroll.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent),
        )
        scroll.setMinimumWidth(self._content.minimumSizeHint().width() + bar + 2 * scroll.frameWidth() + 4)

    def on_docked(self) -> None:
        """Called once the widget sits in its dock (the layer combos then list this viewer's layers)."""

    def relayout(self) -> None:
        """Make Qt take new label text / minimum heights into account (deferred calls may find the dock closed)."""
        try:
            layout = self._content.layout()
        except RuntimeError:
            return
        if layout is not None:
            layout.invalidate()
            layout.activate()


# ------------------------------------------------------------------------------------------------------- layers
def is_psf_layer(layer) -> bool:
    """A PSF picture (ours: ``… PSF``, ``… true PSF``, ``PSF explorer``): not an image a user means to process."""
    return layer.name.endswith("PSF") or layer.name == "PSF explorer"


def preferred_image(viewer, accept: Callable | None = None):
    """The image layer the user means: the selected (active) image layer if it is visible, else the newest visible
    image layer; never a hidden layer. ``accept(layer)`` narrows the candidates. None when there is none."""
    from napari.layers import Image

    layers = [ly for ly in viewer.layers if isinstance(ly, Image) and (accept is None or accept(ly))]
    active = viewer.layers.selection.active
    if active in layers and active.visible:
        return active
    return next((ly for ly in reversed(layers) if ly.visible), None)


class LayerPicker:
    """Keeps a layer combo box on the layer the user means (:func:`preferred_image`, with the first of ``accepts``
    that finds one) until the user picks one or runs with it (:meth:`confirm`); after that it changes only when the
    choice is unset, hidden or gone. Call :meth:`choose` when layers are added or removed or the selection changes.
    """

    def __init__(self, combo, viewer, *accepts: Callable | None):
        self.combo, self.viewer, self.accepts = combo, viewer, accepts or (None,)
        self.auto = True
        self._setting = False
        combo.changed.connect(self._on_changed)
        activated = getattr(combo.native, "activated", None)  # the user picked from the list (even the same item)
        if activated is not None:
            activated.connect(self.confirm)

    def _on_changed(self, *_) -> None:
        if not self._setting:
            self.auto = False  # the user's own choice

    def confirm(self, *_) -> None:
        """The user acts on the current choice (Run, Apply…): keep it."""
        self.auto = False

    def choose(self, *_) -> None:
        self._setting = True
        try:
            self.combo.reset_choices()
            current = self.combo.value
            if not self.auto and current is not None and current.visible and current in self.viewer.layers:
                return
            for accept in self.accepts:
                layer = preferred_image(self.viewer, accept)
                if layer is not None:
                    break
            if layer in self.combo.choices:  # (None is a choice of a nullable combo: nothing fits)
                if layer is not current:
                    self.combo.value = layer
                self.auto = True
        except RuntimeError:  # the widget was closed
            return
        finally:
            self._setting = False


def layer_units(layer) -> tuple | None:
    """The layer's units when they are physical lengths (napari ≥ 0.6 layers have units; the default is pixels)."""
    units = getattr(layer, "units", None)
    if not units or um_per_unit(str(units[-1])) is None:
        return None
    return tuple(units)


def layer_optics(layer) -> float | None:
    """Pixel size in µm from the layer's scale when its units say it is physical, else None."""
    units = getattr(layer, "units", None)
    if not units:
        return None
    try:
        unit = str(units[-1])
    except (TypeError, IndexError):
        return None
    factor = um_per_unit(unit)
    if factor is None:
        return None
    return float(layer.scale[-1]) * factor


class OpticsNote:
    """Keeps a pixel-size spin box and a note in step with the picked layer: the layer's scale and units when they
    give a physical pixel size, else the default, said out loud (NA and λ are never in the file)."""

    def __init__(self, pixel_size: FloatSpinBox, label: Label):
        self.pixel_size, self.label = pixel_size, label
        self.source = "default"  # "layer" | "default" | "user"
        self.used = True  # whether the blur model uses the optics at all
        self._setting = False
        self._layer_name = ""
        self._from_file = ""  # where the layer's pixel size came from, when a reader said it
        pixel_size.changed.connect(self._on_edit)

    def _on_edit(self) -> None:
        if not self._setting:
            self.source = "user"
            self.update()

    def from_layer(self, layer) -> None:
        """Take the pixel size from ``layer`` when it states one."""
        if layer is None:
            return
        px = layer_optics(layer)
        if px is not None:
            self._setting = True
            try:
                self.pixel_size.value = px
            finally:
                self._setting = False
            self.source = "layer"
            self._layer_name = layer.name
            self._from_file = (layer.metadata or {}).get("pixel_size_from", "")
        elif self.source == "layer":  # a layer without units after one with: back to the default numbers
            self._setting = True
            try:
                self.pixel_size.value = DEFAULT_OPTICS["pixel_size"]
            finally:
                self._setting = False
            self.source = "default"
        self.update()

    def set_used(self, used: bool) -> None:
        """The blur model uses the optics (or not: then there is nothing to say)."""
        self.used = used
        self.update()

    def update(self) -> None:
        """Refresh the note (empty when the blur model does not use the optics)."""
        px = self.pixel_size.value
        if not self.used:
            text = ""
        elif self.source == "layer" and self._from_file:
            text = f"pixel size {px:.4g} µm from the file: {self._from_file}; NA and λ: enter your microscope's"
        elif self.source == "layer":
            text = f"pixel size {px:.4g} µm from the layer's scale and units; NA and λ: enter your microscope's"
        elif self.source == "user":
            text = f"pixel size {px:.4g} µm as entered (the layer states none)"
        else:
            text = (
                f"pixel size not in the file: default {px:.4g} µm used — enter your microscope's numbers"
            )  # fmt: skip
        self.label.value = text
        self.label.visible = bool(text)


# ------------------------------------------------------------------------------------------------------ messages
class Failure:
    """A user-facing error message carried out of a worker (a returned Exception instance would be re-raised)."""

    def __init__(self, message: str):
        self.message = message


def notify_error(message: str) -> None:
    """Show a napari error notification (never a traceback dialog)."""
    from napari.utils.notifications import show_error

    show_error(message)


def describe_gamma(family, gamma) -> list[str]:
    """Lines ``"label: value"`` of a parameter vector. When all parameters share one unit it is said once, on the
    first line, so that the lines fit the dock's default width; otherwise each line carries its unit. A long label
    is broken before its parenthesis."""
    params = family.parameters
    units = {p.unit for p in params}
    if len(units) == 1:
        unit = units.pop()  # (none for the eigen-PSF weights of a calibrated family)
        lines = [f"in {unit}:"] if unit else []
        lines += [f"{p.label}: {float(v):+.3f}" for p, v in zip(params, gamma, strict=True)]
    else:
        lines = [p.format(float(v)) for p, v in zip(params, gamma, strict=True)]
    return [t.replace(" (", "\n    (", 1) if len(t) > 36 else t for t in lines]


class ProgressBars(QObject):
    """napari progress bars for stages reported from a worker thread, created and updated on the main thread.

    napari's ``progress`` makes Qt widgets (the activity dock's bars); made in the worker thread they printed
    ``QObject::setParent: Cannot set parent, new parent is in a different thread``. The worker only emits
    :attr:`report`; Qt queues it to this object's (the main) thread.
    """

    report = Signal(int, int, str)

    def __init__(self, prefix: str):
        super().__init__()
        self._prefix = prefix
        self._bars: dict = {}
        self._closed = False
        self.report.connect(self._update)

    def _update(self, done: int, total: int, stage: str) -> None:
        if self._closed:
            return
        from napari.utils import progress

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = progress(total=total, desc=f"{self._prefix}: {stage}")
        bar.update(done - bar.n)

    def close(self) -> None:
        self._closed = True
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


# ----------------------------------------------------------------------------------------------------- pictures
def psf_thumbnail(psf: np.ndarray, grid: tuple[int, int] | None = None, size: int = 200) -> np.ndarray:
    """An RGB ``uint8`` picture of a PSF (or a montage of a PSF grid) for the widget: magma colours, square-root
    contrast so the rings show, enlarged by an integer factor to about ``size`` pixels (nearest neighbour)."""
    from napari.utils.colormaps import ensure_colormap

    shown = psf_montage(psf, grid) if psf.ndim == 3 else np.asarray(psf, dtype=np.float32)
    v = np.sqrt(np.clip(shown / max(float(shown.max()), 1e-12), 0, 1))
    rgba = ensure_colormap("magma").map(v.ravel()).reshape(*v.shape, 4)
    f = max(1, size // max(v.shape))
    return (255 * np.repeat(np.repeat(rgba[..., :3], f, axis=0), f, axis=1)).astype(np.uint8)


def show_layer(viewer, layer, margin: float = 0.15) -> None:
    """Centre the view on ``layer`` and zoom so that it fills most of the canvas."""
    try:
        viewer.reset_view(layers=[layer], margin=margin)  # napari ≥ 0.6
    except TypeError:
        viewer.reset_view()


# ------------------------------------------------------------------------------------------------------ results
def set_or_add_image(viewer, name: str, data: np.ndarray, **kwargs):
    """Replace the data of the layer called ``name`` if there is one (re-runs do not pile up), else add it.
    ``units=None`` is dropped (the layer keeps napari's default, pixels)."""
    if kwargs.get("units", ...) is None:
        kwargs.pop("units")
    if name in viewer.layers:
        layer = viewer.layers[name]
        layer.data = data
        for key in ("scale", "translate", "units", "metadata", "contrast_limits"):
            if key in kwargs:
                setattr(layer, key, kwargs[key])
        return layer
    return viewer.add_image(data, name=name, **kwargs)


def _plane_label(index: tuple) -> int | list[int]:
    return int(index[0]) if len(index) == 1 else [int(i) for i in index]


def result_layers(viewer, layer, image: np.ndarray, res, plane: tuple[int, ...] | None = None, planes=None) -> str:
    """Add or update ``<name> deblurred`` and ``<name> PSF`` (and PSF positions for space-varying blur); the name of
    the result layer.

    ``plane``: the index of the one plane of a stack that was deblurred (the current slice): the result is a
    one-plane layer ``<name> deblurred (plane i)`` placed at that plane's position, so napari shows it over that
    plane only. ``planes``: ``[(index, result), …]`` for a stack: every plane's record goes into the metadata, under
    ``"planes"`` (each with its ``"plane"`` index); the top-level record, γ and PSF shown are the first plane's.
    The result is shown with the input layer's contrast limits, so the two compare as they are.
    """
    scale = np.asarray(layer.scale, dtype=float)
    translate = np.asarray(layer.translate, dtype=float)
    units = layer_units(layer)
    name = f"{layer.name} deblurred"
    if plane is not None:  # one plane of the stack, where it lies in it
        lead = len(plane)
        translate = translate.copy()
        translate[:lead] += np.asarray(plane, dtype=float) * scale[:lead]
        image = np.asarray(image).reshape((1,) * lead + np.shape(image)[-2:])
        name += f" (plane {', '.join(str(int(i)) for i in plane)})"
    record = result_record(res)
    if planes:
        record["planes"] = [{"plane": _plane_label(idx), **result_record(r)} for idx, r in planes]
    meta = {"napari_deepblur": record}
    limits = tuple(float(v) for v in layer.contrast_limits)  # the input's: both shown alike
    set_or_add_image(
        viewer, name, image, scale=scale, translate=translate, units=units, metadata=meta,
        colormap=layer.colormap.name, contrast_limits=limits,
    )  # fmt: skip

    # PSF beside the image, at the same physical pixel size
    psf = res.psf
    grid = getattr(res.family, "grid", None) if res.family is not None else None
    shown = psf_montage(psf, grid) if psf.ndim == 3 else psf
    sy, sx = (float(s) for s in np.asarray(layer.scale)[-2:])
    ty, tx = (float(t) for t in np.asarray(layer.translate)[-2:])
    H, W = layer.data.shape[-2:]
    psf_translate = (ty, tx + (W + 8) * sx)
    set_or_add_image(viewer, f"{layer.name} PSF", shown, scale=(sy, sx), translate=psf_translate, metadata=meta,
                     units=units[-2:] if units else None,
                     colormap="magma", contrast_limits=(0.0, float(shown.max()) or 1.0))  # fmt: skip

    if psf.ndim == 3 and res.family is not None:
        pos = res.family.node_positions((H, W)).numpy() * np.array([sy, sx]) + np.array([ty, tx])
        pos_name = f"{layer.name} PSF positions"
        if pos_name in viewer.layers:
            viewer.layers[pos_name].data = pos
        else:
            extra = {"units": units[-2:]} if units else {}
            viewer.add_points(pos, name=pos_name, size=max(H, W) * sy / 40, face_color="transparent",
                              border_color="cyan", symbol="cross", **extra)  # fmt: skip
    return name
