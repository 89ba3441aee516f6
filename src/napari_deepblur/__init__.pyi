"""Type stub of :mod:`napari_deepblur`: the public API, loaded lazily at run time (lazy_loader)."""

from .api.bead_stack import BeadStackResult, identify_bead_stack
from .api.calibrate import calibrate_family, calibrate_field
from .api.deblur import DeblurResult, deblur
from .api.identify import IdentifyResult, identify
from .errors import DeblurInputError, WeightsError
from .methods import METHODS
from .physics.calibrated import CalibratedFamily
from .physics.calibrated_field import CalibratedField

__version__: str

__all__ = [
    "METHODS",
    "BeadStackResult",
    "CalibratedFamily",
    "CalibratedField",
    "DeblurInputError",
    "DeblurResult",
    "IdentifyResult",
    "WeightsError",
    "__version__",
    "calibrate_family",
    "calibrate_field",
    "deblur",
    "identify",
    "identify_bead_stack",
]
