"""Controls shared by the dock widgets, built from the registries and the defaults (nothing typed twice)."""

from __future__ import annotations

from pathlib import Path

from magicgui.widgets import ComboBox, FloatSpinBox

from ..physics import DEFAULT_OPTICS, family_class, family_classes

__all__ = [
    "FAMILY_FILE",
    "family_choices",
    "family_combo",
    "family_label",
    "optics_problem",
    "optics_spinboxes",
    "recent_family_file",
    "remember_family_file",
    "uses_optics",
]

#: The "blur model" entry of a family file (``napari-deepblur calibrate``, the Calibrate from beads dock).
FAMILY_FILE = "calibrated (file)"
#: Its label in the combo box.
FAMILY_FILE_LABEL = "calibrated from beads (file)…"
#: The family file the Calibrate dock saved last in this session (offered to the Blind deblur dock).
_RECENT: dict[str, str] = {"family_file": ""}


def family_choices(with_file: bool = False) -> list[tuple[str, str]]:
    """``(label, name)`` of every registered family, for a combo box; ``with_file``: and a family file."""
    choices = [(cls.label or name, name) for name, cls in family_classes().items()]
    return [*choices, (FAMILY_FILE_LABEL, FAMILY_FILE)] if with_file else choices


def family_combo(value: str = "zernike", with_file: bool = False) -> ComboBox:
    """The "blur model" combo box (``with_file``: with the :data:`FAMILY_FILE` entry)."""
    return ComboBox(label="blur model", choices=family_choices(with_file), value=value)


def uses_optics(name: str) -> bool:
    """Whether the family called ``name`` depends on NA, wavelength and pixel size (a family file does not: its PSFs
    are in pixels of the bead images)."""
    return name != FAMILY_FILE and family_class(name).uses_optics


def family_label(name: str) -> str:
    """What the combo box calls the family ``name``."""
    return "calibrated" if name == FAMILY_FILE else family_class(name).label or name


def remember_family_file(path: str | Path) -> None:
    """The Calibrate dock saved (or trained) this family file: the Blind deblur dock offers it."""
    _RECENT["family_file"] = str(path)


def recent_family_file() -> str:
    """The family file the Calibrate dock saved last in this session (``""`` if none)."""
    return _RECENT["family_file"]


#: The largest number the optics spin boxes take: wide enough for a wavelength or a pixel size typed in nanometres,
#: or a camera pixel, which a run then refuses with the unit hint
#: (:func:`~napari_deepblur.physics.optics.check_optics`) instead of the box clamping it without a word.
TYPED_MAX = 9999.0


def _optics_spinbox(label: str, key: str, step: float, decimals: int, max_value: float = TYPED_MAX) -> FloatSpinBox:
    """A spin box for one optical number showing ``decimals`` decimals (what is typed is what is used), from the
    smallest positive value it can show to ``max_value``."""
    box = FloatSpinBox(label=label, min=10.0**-decimals, max=max_value, step=step)
    box.native.setDecimals(decimals)  # before the value: Qt rounds the value to the decimals shown
    box.value = DEFAULT_OPTICS[key]
    return box


def optics_spinboxes() -> tuple[FloatSpinBox, FloatSpinBox, FloatSpinBox]:
    """NA, emission wavelength (to 0.001 µm) and pixel size (to 0.0001 µm), starting at
    :data:`~napari_deepblur.physics.DEFAULT_OPTICS`. Out-of-range values are kept, for a run to refuse them."""
    return (
        _optics_spinbox("NA", "na", 0.05, 2, max_value=99.0),
        _optics_spinbox("emission λ (µm)", "wavelength", 0.01, 3),
        _optics_spinbox("pixel size (µm)", "pixel_size", 0.005, 4),
    )


def optics_problem(na: float, wavelength: float, pixel_size: float, *, pixel_only: bool = False) -> str | None:
    """Why the typed optics cannot be used (a unit hint, :func:`~napari_deepblur.physics.optics.check_optics`), or
    None. ``pixel_only``: only the pixel size is used (a measured PSF)."""
    from ..physics.optics import check_optics

    optics = {"pixel_size": pixel_size}
    if not pixel_only:
        optics.update(na=na, wavelength=wavelength)
    try:
        check_optics(**optics)
    except ValueError as exc:
        return str(exc)
    return None
