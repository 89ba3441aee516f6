"""Type stub of :mod:`napari_deepblur`: the public API, loaded lazily at run time (lazy_loader)."""

from .api.deblur import DeblurResult, deblur
from .api.identify import IdentifyResult, identify
from .errors import DeblurInputError, WeightsError
from .methods import METHODS

__version__: str

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
