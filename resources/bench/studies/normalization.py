# A study (issue 20, the high-noise tie with TV): does the intensity scaling deep-blur reads the image through cost it
# under noise? `deblur` maps the noisy image's 0.01-99.99 percentiles to [0, 1]; at high noise the noise widens that
# range 2-3x, so the network sees a compressed image lifted off zero, unlike its training patches (TV is unaffected by
# an offset). Rows: deep-blur as `deblur` runs it; deep-blur on the image in its true [0, 1] units (an oracle
# scaling); deep-blur with the percentiles taken on a Gaussian-smoothed copy (sigma 1 px) for the low end only or for
# both ends; TV as `deblur` runs it. Validation content (held-out fluorescence, held-out scikit-image pictures,
# procedural scenes; never bsd68), aberration-free blur, the true PSF, noise told in each scaling's units.
# PYTHONPATH=src python resources/bench/studies/normalization.py NOISE
import sys

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

torch.set_num_threads(1)
from napari_deepblur import deblur  # noqa: E402
from napari_deepblur.bench.protocol import normalized_noise, scores  # noqa: E402
from napari_deepblur.bench.real import _content  # noqa: E402
from napari_deepblur.methods.deepblur import run_unrolled  # noqa: E402
from napari_deepblur.physics import NOISE_LEVELS, ZernikeFamily, forward_model  # noqa: E402

level = sys.argv[1]
alpha, beta = NOISE_LEVELS[level]
images = [a for v in _content(3, 0, validation=True).values() for a in v]


def scaled_run(y, h, lo, hi):
    s = hi - lo
    a2, b2 = alpha / s, float(np.sqrt(max(alpha * lo + beta**2, 0.0)) / s)
    out = run_unrolled((y - lo) / s, h, a2, b2, floor_scale=0.1, nonneg=False)
    return lo + s * out


for fc in (0.2, 0.3):
    fam = ZernikeFamily(fc=fc)
    h = fam.psf(torch.zeros(1, fam.dim, dtype=torch.float64))
    hk = h[0].numpy().astype(np.float32)
    res = {k: [] for k in ("api", "true units", "smoothed low end", "smoothed both ends", "tv")}
    for i, img in enumerate(images):
        gen = torch.Generator().manual_seed(100 + i)
        y = forward_model(torch.from_numpy(img).double()[None, None], fam, h, alpha, beta, generator=gen)
        y = y[0, 0].numpy().astype(np.float32)
        nz = normalized_noise(y, alpha, beta)
        res["api"].append(scores(deblur(y, psf=hk, method="deepblur", noise=nz).image, img, 16))
        res["tv"].append(scores(deblur(y, psf=hk, method="tv", noise=nz).image, img, 16))
        res["true units"].append(scores(scaled_run(y, hk, 0.0, 1.0), img, 16))
        lo_raw, hi_raw = np.percentile(y, [0.01, 99.99])
        lo_s, hi_s = np.percentile(gaussian_filter(y, 1.0), [0.01, 99.99])
        res["smoothed low end"].append(scores(scaled_run(y, hk, lo_s, hi_raw), img, 16))
        res["smoothed both ends"].append(scores(scaled_run(y, hk, lo_s, hi_s), img, 16))
    print(level, fc, len(images), {k: tuple(np.round(np.mean(v, 0), 4)) for k, v in res.items()}, flush=True)
