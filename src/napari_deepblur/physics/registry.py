"""The operator families, by name: one explicit list, built-in families first.

The family modules import only :mod:`.families` (the base classes) and this module imports none of them until a
class is asked for, so there is no import circle and the names are known without importing torch (the CLI builds
its ``--family`` choices from :func:`available_families` before torch is loaded). A family of your own joins with
:func:`register_family`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .families import Family

__all__ = ["available_families", "family_class", "family_classes", "get_family", "register_family"]

#: name -> ``"module:Class"`` of the built-in families, in the order the user interfaces list them.
_BUILTIN = {
    "zernike": "zernike:ZernikeFamily",
    "gaussian": "gaussian:GaussianFamily",
    "spatially-varying": "spacevarying:SpaceVaryingFamily",
}
_REGISTERED: dict[str, type[Family]] = {}
_ALIASES = {"space-varying": "spatially-varying", "spacevarying": "spatially-varying", "sv": "spatially-varying"}


def register_family(cls: type[Family]) -> type[Family]:
    """Add a family class (with its ``name`` set) to the registry; usable as a class decorator."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTERED[cls.name] = cls
    return cls


def available_families() -> list[str]:
    """Names of the registered operator families (imports no family module)."""
    return [*_BUILTIN, *(n for n in _REGISTERED if n not in _BUILTIN)]


def family_class(name: str) -> type[Family]:
    """The class registered under ``name`` (aliases such as ``"space-varying"`` accepted)."""
    key = str(name).lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key in _REGISTERED:
        return _REGISTERED[key]
    if key not in _BUILTIN:
        raise ValueError(f"unknown operator family {name!r}; choose one of {', '.join(available_families())}")
    module, cls = _BUILTIN[key].split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), cls)


def family_classes() -> dict[str, type[Family]]:
    """name -> class of every registered family, in :func:`available_families` order."""
    return {name: family_class(name) for name in available_families()}


def get_family(name: str, **options) -> Family:
    """Build a family by name.

    Parameters
    ----------
    name : str
        ``"zernike"``, ``"gaussian"`` or ``"spatially-varying"``.
    **options
        Family options, e.g. the optical numbers ``na``, ``wavelength``, ``pixel_size`` (or ``fc``) and
        ``psf_size``.
    """
    return family_class(name)(**options)
