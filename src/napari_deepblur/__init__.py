"""napari-deepblur: blind deblurring of microscope images with deep-blur (Debarnot & Weiss).

The core (``napari_deepblur.physics`` and the networks) needs torch only; napari and Qt are imported by the widgets
alone.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
