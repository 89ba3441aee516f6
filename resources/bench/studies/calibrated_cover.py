# A study (issue 22): the network reads the whole image as a covering grid of training-sized views (overlapping
# where the image is not a multiple of the crop) instead of the centred grid of whole views, on validation content
# (the held-out fluorescence images and train400 pictures of calibrated_blend.py; never the bench's pictures).
# PYTHONPATH=src python resources/bench/studies/calibrated_cover.py FAMILY.npz [grid|cover ...]
"""Study: a covering grid of views for the identification network, on validation content."""

import sys

import numpy as np
import torch

torch.set_num_threads(1)
sys.path.insert(0, "resources/bench/studies")
from calibrated_blend import crops  # noqa: E402  (the same validation pictures)

from napari_deepblur import identify  # noqa: E402
from napari_deepblur.bench.protocol import normalized_noise  # noqa: E402
from napari_deepblur.networks.identification import IdentificationNet  # noqa: E402
from napari_deepblur.physics import NOISE_LEVELS, forward_model  # noqa: E402
from napari_deepblur.physics.calibrated import CalibratedFamily  # noqa: E402

_grid = IdentificationNet.predict_tiled


def _cover(self, y, tile=128, chunk=32):
    H, W = y.shape[-2:]
    if min(H, W) < tile:
        return self(y)
    tops = np.linspace(0, H - tile, int(np.ceil(H / tile))).round().astype(int)
    lefts = np.linspace(0, W - tile, int(np.ceil(W / tile))).round().astype(int)
    views = torch.stack([y[..., t : t + tile, l : l + tile] for t in tops for l in lefts], dim=1)
    views = views.reshape(y.shape[0] * len(tops) * len(lefts), *y.shape[1:-2], tile, tile)
    f = torch.cat([self.features(views[k : k + chunk]) for k in range(0, len(views), chunk)])
    return self.head_to_gamma(f.reshape(y.shape[0], len(tops) * len(lefts), -1).mean(dim=1))


ff, modes = sys.argv[1], sys.argv[2:] or ["grid", "cover"]
pics = crops()
fam = CalibratedFamily.load(ff)
for level in ("none", "medium", "high"):
    a, b = NOISE_LEVELS[level]
    errs = {m: [] for m in modes}
    for i, (_, img) in enumerate(pics):
        g = fam.sample(3, generator=torch.Generator().manual_seed(500 + i), dtype=torch.float64)
        psfs = fam.psf(g)
        for j in range(3):
            gen = torch.Generator().manual_seed(9000 + 10 * i + j)
            y = forward_model(torch.from_numpy(img)[None, None], fam, psfs[j : j + 1], a, b, generator=gen)
            y = y[0, 0].numpy().astype(np.float32)
            h = psfs[j].numpy()
            for m in modes:
                IdentificationNet.predict_tiled = _cover if m == "cover" else _grid
                est = identify(y, family=fam, noise=normalized_noise(y, a, b), device="cpu")
                errs[m].append(float(np.linalg.norm(est.psf - h) / np.linalg.norm(h)))
    print(level, len(errs[modes[0]]), {m: (round(100 * np.mean(v), 1), round(100 * np.median(v), 1)) for m, v in errs.items()}, flush=True)
