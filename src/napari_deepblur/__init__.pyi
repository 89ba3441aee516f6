"""Type stub of :mod:`napari_deepblur`: the public API, loaded lazily at run time (lazy_loader)."""

from .api.calibrate import calibrate_family
from .api.deblur import DeblurResult, deblur
from .api.identify import IdentifyResult, identify
from .errors import DeblurInputError, WeightsError
from .methods import METHODS
from .physics.calibrated import CalibratedFamily

__version__: str

__all__ = [
    "METHODS",
    "CalibratedFamily",
    "DeblurInputError",
    "DeblurResult",
    "IdentifyResult",
    "WeightsError",
    "__version__",
    "calibrate_family",
    "deblur",
    "identify",
]
