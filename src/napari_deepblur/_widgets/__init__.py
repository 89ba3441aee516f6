"""napari dock widgets (the only modules that import napari / Qt)."""

from .deblur import DeblurWidget
from .explorer import PSFExplorer
from .simulate import SimulateWidget

__all__ = ["DeblurWidget", "PSFExplorer", "SimulateWidget"]
