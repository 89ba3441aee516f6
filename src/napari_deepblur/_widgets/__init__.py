"""napari dock widgets (the only modules that import napari / Qt)."""

from .calibrate import CalibrateWidget
from .deblur import DeblurWidget
from .explorer import PSFExplorer
from .simulate import SimulateWidget

__all__ = ["CalibrateWidget", "DeblurWidget", "PSFExplorer", "SimulateWidget"]
