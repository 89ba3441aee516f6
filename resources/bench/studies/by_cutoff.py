# What the per-cutoff studies share (lambda_by_cutoff.py, sigma_map_scale.py): validation content (held-out
# fluorescence, held-out scikit-image pictures, procedural scenes; never bsd68) blurred by the aberration-free PSF at
# fc 0.2 and 0.3, noise drawn, deep-blur with one knob set to each scale and TV, both with the true PSF; mean PSNR /
# SSIM printed per cutoff. Not run on its own.
import numpy as np
import torch

from napari_deepblur import deblur
from napari_deepblur.bench.protocol import normalized_noise, scores
from napari_deepblur.bench.real import _content
from napari_deepblur.physics import ZernikeFamily, forward_model


def compare_by_cutoff(label, alpha, beta, scales, set_knob, normalized=True):
    """``set_knob(s)`` sets deep-blur's knob to scale ``s`` (``None``: as shipped, for the TV row). ``normalized``:
    the noise told in the units deblur scales the image to (False: as drawn, the benchmarks' mistake before
    2026-12-01)."""
    images = [a for v in _content(3, 0, validation=True).values() for a in v]
    for fc in (0.2, 0.3):
        fam = ZernikeFamily(fc=fc)
        h = fam.psf(torch.zeros(1, fam.dim, dtype=torch.float64))
        res = {s: [] for s in [*scales, "tv"]}
        for i, img in enumerate(images):
            gen = torch.Generator().manual_seed(100 + i)
            y = forward_model(torch.from_numpy(img).double()[None, None], fam, h, alpha, beta, generator=gen)
            y = y[0, 0].numpy().astype(np.float32)
            nz = normalized_noise(y, alpha, beta) if normalized else (alpha, beta)
            for s in res:
                set_knob(None if s == "tv" else s)
                out = deblur(y, psf=h[0].numpy(), method="tv" if s == "tv" else "deepblur", noise=nz).image
                res[s].append(scores(out, img, 16))
        print(label, fc, len(images), {s: tuple(np.round(np.mean(v, 0), 4)) for s, v in res.items()}, flush=True)
