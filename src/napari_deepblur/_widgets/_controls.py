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


def optics_spinboxes() -> tuple[FloatSpinBox, FloatSpinBox, FloatSpinBox]:
    """NA, emission wavelength (µm) and pixel size (µm), starting at :data:`~napari_deepblur.physics.DEFAULT_OPTICS`."""
    return (
        FloatSpinBox(label="NA", value=DEFAULT_OPTICS["na"], min=0.05, max=1.7, step=0.05),
        FloatSpinBox(label="emission λ (µm)", value=DEFAULT_OPTICS["wavelength"], min=0.2, max=2.0, step=0.01),
        FloatSpinBox(label="pixel size (µm)", value=DEFAULT_OPTICS["pixel_size"], min=0.001, max=10.0, step=0.005),
    )
