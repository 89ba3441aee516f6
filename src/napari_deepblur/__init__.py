"""napari-deepblur: blind deblurring of microscope images with deep-blur (Debarnot & Weiss).

The core (``napari_deepblur.physics`` and the networks) needs torch only; napari and Qt are imported by the widgets
alone.
"""

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "DeblurInputError",
    "DeblurResult",
    "IdentifyResult",
    "WeightsError",
    "__version__",
    "deblur",
    "identify",
]


def __getattr__(name: str):
    # Lazy: `import napari_deepblur` (done by napari at start-up for the manifest) must not import torch.
    if name in ("identify", "IdentifyResult"):
        from . import _identify as _mod

        return getattr(_mod, name)
    if name in ("deblur", "DeblurResult", "METHODS"):
        from . import _deblur as _mod

        return getattr(_mod, name)
    if name in ("DeblurInputError", "WeightsError"):
        from . import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'napari_deepblur' has no attribute {name!r}")
