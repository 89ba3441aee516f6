"""The user's own files that set up a run: a family file (``napari-deepblur calibrate``) and a measured PSF file, read
and checked once with a message the user can act on (:class:`~napari_deepblur.errors.DeblurInputError`). The
command line, the batch runner and the docks read them here."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DeblurInputError
from ..io import read_psf

__all__ = ["load_family_file", "read_measured_psf"]


def load_family_file(path: str | Path, need_network: bool = False):
    """The :class:`~napari_deepblur.physics.calibrated.CalibratedFamily` of a family file, with a message the user
    can act on (:class:`~napari_deepblur.errors.DeblurInputError`) when the file is missing or is no family file, and,
    with ``need_network``, when the family's identification network was never trained (a blind estimate needs it).
    """
    from ..physics.calibrated import CalibratedFamily

    p = Path(path)
    if not p.is_file():
        raise DeblurInputError(
            f"{p}: family file not found (make one with napari-deepblur calibrate or the Calibrate from beads dock)"
        )
    try:
        fam = CalibratedFamily.load(p)
    except (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile) as exc:
        said = str(exc) if "family file" in str(exc) else f"{p} is not a napari-deepblur family file ({exc})"
        raise DeblurInputError(said) from None
    if need_network and fam.identify_weights is None:
        raise DeblurInputError(
            f"{p.name} has no identification network yet ({p.stem}.identify.pt beside it): train it with "
            f"napari-deepblur train identify --family-file {p}, or the Train button of the Calibrate from beads dock"
        )
    return fam


def read_measured_psf(path: str | Path) -> tuple[np.ndarray, float | None, str]:
    """A measured PSF file read and checked (:func:`~napari_deepblur.io.read_psf`,
    :func:`~napari_deepblur.api.params.check_psf`), with the file named in any error."""
    from .params import check_psf

    try:
        psf, pixel_um, note = read_psf(Path(path))
        return check_psf(psf), pixel_um, note
    except DeblurInputError as exc:
        raise DeblurInputError(f"PSF file {path}: {exc}") from None
