# A study (issue 20, the medium-noise tie with TV): the noise-level map the proximal U-Nets see scaled by S (λ_k
# unchanged), per cutoff, on validation content (held-out fluorescence, held-out scikit-image pictures, procedural
# scenes; never bsd68), aberration-free blur, the true PSF, TV with the same PSF for reference.
# The noise is given in the units deblur scales the image to (NORMALIZED=0: as drawn, the mistake of the benchmarks
# before 2026-12-01).
# [DEBLUR_WEIGHTS=FILE] [NORMALIZED=0|1] PYTHONPATH=src \
#     python resources/bench/studies/sigma_map_scale.py NOISE|ALPHA,BETA S1 S2 ...
import os
import sys
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)
from napari_deepblur import deblur  # noqa: E402
from napari_deepblur.bench.protocol import normalized_noise, scores  # noqa: E402
from napari_deepblur.bench.real import _content  # noqa: E402
from napari_deepblur.networks import weights as W  # noqa: E402
from napari_deepblur.networks.unrolled import SmallUNet  # noqa: E402
from napari_deepblur.physics import NOISE_LEVELS, ZernikeFamily, forward_model  # noqa: E402

_orig = W.weights_path
if os.environ.get("DEBLUR_WEIGHTS"):  # another deep-blur weights file in place of the shipped one
    W.weights_path = lambda kind, family=None: (
        Path(os.environ["DEBLUR_WEIGHTS"]) if kind == "deblur" and family is None else _orig(kind, family)
    )
level, scales = sys.argv[1], [float(s) for s in sys.argv[2:]]
alpha, beta = NOISE_LEVELS[level] if level in NOISE_LEVELS else map(float, level.split(","))
images = [a for v in _content(3, 0, validation=True).values() for a in v]
_fwd = SmallUNet.forward
for fc in (0.2, 0.3):
    fam = ZernikeFamily(fc=fc)
    h = fam.psf(torch.zeros(1, fam.dim, dtype=torch.float64))
    res = {s: [] for s in [*scales, "tv"]}
    for i, img in enumerate(images):
        gen = torch.Generator().manual_seed(100 + i)
        y = forward_model(torch.from_numpy(img).double()[None, None], fam, h, alpha, beta, generator=gen)
        y = y[0, 0].numpy().astype(np.float32)
        for s in res:
            SmallUNet.forward = _fwd if s == "tv" else (lambda self, x, sig, s=s: _fwd(self, x, s * sig))
            nz = normalized_noise(y, alpha, beta) if os.environ.get("NORMALIZED", "1") == "1" else (alpha, beta)
            out = deblur(y, psf=h[0].numpy(), method="tv" if s == "tv" else "deepblur", noise=nz).image
            res[s].append(scores(out, img, 16))
    print(level, fc, len(images), {s: tuple(np.round(np.mean(v, 0), 4)) for s, v in res.items()}, flush=True)
