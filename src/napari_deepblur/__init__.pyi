"""Type stub of :mod:`napari_deepblur`: the public API, loaded lazily at run time (lazy_loader)."""

from .api.bead_stack import BeadStackResult, identify_bead_stack
from .api.calibrate import calibrate_family, calibrate_field
from .api.deblur import DeblurResult, deblur
from .api.identify import IdentifyResult, identify
from .api.volume import VolumeResult, deblur_volume, volume_psf
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
    "VolumeResult",
    "WeightsError",
    "__version__",
    "calibrate_family",
    "calibrate_field",
    "deblur",
    "deblur_volume",
    "identify",
    "identify_bead_stack",
    "volume_psf",
]
