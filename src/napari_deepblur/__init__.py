"""napari-deepblur: blind deblurring of microscope images with deep-blur (Debarnot & Weiss).

The public API — :func:`identify`, :func:`deblur` and their results, :data:`METHODS`, the two exceptions — is
loaded on first use (SPEC 1, :mod:`lazy_loader`; ``__init__.pyi`` names it for IDEs and type checkers), because napari
imports this package at start-up to read the manifest and must not pay for torch there. The floors, from the bottom:
``physics`` (the blur model) → ``networks`` → ``methods`` (how an image is restored) → ``api`` (what users call) →
widgets, CLI, batch, training, benchmarks.
"""

import lazy_loader as _lazy

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
__all__ = [*__all__, "__version__"]
