# A study (issue 22): the mean of two identification networks' PSF estimates for one calibrated family, on
# validation content (not the bench's). PYTHONPATH=src python resources/bench/studies/calibrated_ensemble.py A.npz B.npz
"""Two copies of one family file, each with its own network beside it (trained with different options); relative
operator error of each network's estimate and of their mean, on the cases of calibrated_blend.py (medium noise)."""

import sys

import numpy as np
import torch

torch.set_num_threads(1)
sys.argv, files = sys.argv[:1], sys.argv[1:]
import calibrated_blend as cb  # noqa: E402  (its module body builds the pictures; argv emptied so it runs none)

from napari_deepblur import identify  # noqa: E402
from napari_deepblur.bench.protocol import normalized_noise  # noqa: E402
from napari_deepblur.physics import NOISE_LEVELS, forward_model  # noqa: E402
from napari_deepblur.physics.calibrated import CalibratedFamily  # noqa: E402

fams = [CalibratedFamily.load(f) for f in files]
for level in ["medium", "none", "high"]:
    a, b = NOISE_LEVELS[level]
    errs = []
    for i, (_name, img) in enumerate(cb.pics):
        g = fams[0].sample(3, generator=torch.Generator().manual_seed(500 + i), dtype=torch.float64)
        psfs = fams[0].psf(g)
        for j in range(3):
            gen = torch.Generator().manual_seed(9000 + 10 * i + j)
            y = forward_model(torch.from_numpy(img)[None, None], fams[0], psfs[j : j + 1], a, b, generator=gen)
            y = y[0, 0].numpy().astype(np.float32)
            ests = [identify(y, family=f, noise=normalized_noise(y, a, b), device="cpu").psf for f in fams]
            h = psfs[j].numpy()
            e = [float(np.linalg.norm(k - h) / np.linalg.norm(h)) for k in [*ests, np.mean(ests, axis=0)]]
            errs.append(e)
    print(level, "mean error % (each network, their mean):", np.round(100 * np.mean(errs, axis=0), 1).tolist(),
          flush=True)  # fmt: skip
