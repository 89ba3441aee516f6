"""napari sample data: synthetic fluorescence scenes blurred by a known PSF, with the truth as extra layers.

Registered in ``napari.yaml`` (File › Open Sample › napari-deepblur). No Qt import here; napari is not imported
either — the functions return plain ``LayerData`` tuples.
"""

from __future__ import annotations

import numpy as np
import torch

from .api.provenance import noise_record, truth_record
from .display import psf_montage
from .physics import forward_model, get_family
from .synthetic import fluorescence_scene

__all__ = ["make_sample", "sample_spatially_varying", "sample_zernike"]

# A fixed, clearly visible aberration for each sample (waves). Zernike: what a real microscope shows (the default
# prior of identify()) — a slice out of focus, spherical aberration from imaging into the sample, a little
# astigmatism. Before the microscope prior the sample carried all 8 terms at once (the paper's benchmark prior), which
# the microscope prior's network does not read: 2.8 dB against 9.2 for the paper's network; on this one both 10.8 dB.
_ZERNIKE_GAMMA = [0.10, 0.0, 0.04, 0.0, 0.0, 0.0, 0.0, -0.06]
# defocus, tilt x, tilt y, curvature, astig 45, astig 0, off-axis astig, coma y, coma x, off-axis coma,
# trefoil y, trefoil x, spherical
_SV_GAMMA = [0.04, 0.0, 0.0, 0.08, 0.0, 0.02, 0.08, 0.0, 0.0, 0.07, 0.0, 0.0, 0.03]


#: The samples' Poisson–Gaussian noise (α, β), relative to the sharp scene (in [0, 1]).
SAMPLE_NOISE = (0.01, 0.01)


def make_sample(
    family: str, gamma: list[float], shape: tuple[int, int] = (384, 384), seed: int = 0, noise=SAMPLE_NOISE
) -> dict[str, np.ndarray]:
    """Blur a seeded fluorescence scene with ``family(gamma)`` and add Poisson–Gaussian noise.

    Returns
    -------
    dict
        ``"blurred"``, ``"sharp"`` (``float32`` ``(H, W)``), ``"psf"`` (``(h, w)``, or a ``(K, h, w)`` grid) and
        ``"gamma"`` (``float32`` ``(dim,)``).
    """
    fam = get_family(family)
    sharp = fluorescence_scene(shape, seed=seed)
    g = torch.tensor([gamma], dtype=torch.float32)
    psf = fam.psf(g)
    x = torch.from_numpy(sharp)[None, None]
    gen = torch.Generator().manual_seed(seed)
    y = forward_model(x, fam, psf, *noise, generator=gen, boundary="circular")  # as the samples were always made
    return {
        "blurred": y[0, 0].numpy().astype(np.float32),
        "sharp": sharp,
        "psf": psf[0].numpy(),
        "gamma": g[0].numpy(),
    }


def _layers(family: str, gamma: list[float], title: str):
    s = make_sample(family, gamma)
    fam = get_family(family)
    meta = {"napari_deepblur": truth_record(fam, s["gamma"], "ground truth")}
    noise = noise_record(s["blurred"], *SAMPLE_NOISE)
    meta_blurred = {"napari_deepblur": {**meta["napari_deepblur"], "noise": noise}}
    psf = s["psf"]
    if psf.ndim == 3:  # space-varying: one image with the PSFs at their grid positions
        psf = psf_montage(psf, fam.grid)
    return [
        (s["sharp"], {"name": f"{title} (sharp truth)", "colormap": "gray", "visible": False, "metadata": meta}),
        (psf, {"name": f"{title} true PSF", "colormap": "magma", "metadata": meta}),
        (s["blurred"], {"name": f"{title} blurred", "colormap": "gray", "metadata": meta_blurred}),
    ]


def sample_zernike():
    """Cells and filaments blurred by an aberrated diffraction PSF (zernike family)."""
    return _layers("zernike", _ZERNIKE_GAMMA, "cells zernike")


def sample_spatially_varying():
    """Cells and filaments under a space-varying blur (field curvature, off-axis astigmatism and coma)."""
    return _layers("spatially-varying", _SV_GAMMA, "cells space-varying")
