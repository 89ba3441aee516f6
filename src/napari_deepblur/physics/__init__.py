"""Blur physics: operator families, the forward model, FFT operators, noise and metrics (torch only — no napari, no
Qt).

The names below are loaded on first use (SPEC 1, :mod:`lazy_loader`): ``import napari_deepblur.physics`` costs
nothing, and the family registry answers :func:`available_families` without importing torch. ``__init__.pyi`` lists
them for IDEs and type checkers.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
