"""Controls shared by the dock widgets, built from the registries and the defaults (nothing typed twice)."""

from __future__ import annotations

from magicgui.widgets import ComboBox, FloatSpinBox

from ..physics import DEFAULT_OPTICS, family_class, family_classes

__all__ = ["family_choices", "family_combo", "optics_spinboxes", "uses_optics"]


def family_choices() -> list[tuple[str, str]]:
    """``(label, name)`` of every registered family, for a combo box."""
    return [(cls.label or name, name) for name, cls in family_classes().items()]


def family_combo(value: str = "zernike") -> ComboBox:
    """The "blur model" combo box."""
    return ComboBox(label="blur model", choices=family_choices(), value=value)


def uses_optics(name: str) -> bool:
    """Whether the family called ``name`` depends on NA, wavelength and pixel size."""
    return family_class(name).uses_optics


def optics_spinboxes() -> tuple[FloatSpinBox, FloatSpinBox, FloatSpinBox]:
    """NA, emission wavelength (µm) and pixel size (µm), starting at :data:`~napari_deepblur.physics.DEFAULT_OPTICS`."""
    return (
        FloatSpinBox(label="NA", value=DEFAULT_OPTICS["na"], min=0.05, max=1.7, step=0.05),
        FloatSpinBox(label="emission λ (µm)", value=DEFAULT_OPTICS["wavelength"], min=0.2, max=2.0, step=0.01),
        FloatSpinBox(label="pixel size (µm)", value=DEFAULT_OPTICS["pixel_size"], min=0.001, max=10.0, step=0.005),
    )
