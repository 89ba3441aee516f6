# A study (issue 20, the medium-noise tie with TV): deep-blur's λ_k all scaled by S, per cutoff, on validation
# content (held-out fluorescence, held-out scikit-image pictures, procedural scenes; never bsd68), aberration-free
# blur, the true PSF, TV with the same PSF for reference.
# PYTHONPATH=src python resources/bench/studies/lambda_by_cutoff.py NOISE S1 S2 ...
import sys

import numpy as np
import torch

torch.set_num_threads(1)
from napari_deepblur import deblur  # noqa: E402
from napari_deepblur.bench.protocol import scores  # noqa: E402
from napari_deepblur.bench.real import _content  # noqa: E402
from napari_deepblur.networks.unrolled import UnrolledDR  # noqa: E402
from napari_deepblur.physics import NOISE_LEVELS, ZernikeFamily, forward_model  # noqa: E402

level, scales = sys.argv[1], [float(s) for s in sys.argv[2:]]
alpha, beta = NOISE_LEVELS[level]
images = [a for v in _content(3, 0, validation=True).values() for a in v]
_lam = UnrolledDR.lam
for fc in (0.2, 0.3):
    fam = ZernikeFamily(fc=fc)
    h = fam.psf(torch.zeros(1, fam.dim, dtype=torch.float64))
    res = {s: [] for s in [*scales, "tv"]}
    for i, img in enumerate(images):
        gen = torch.Generator().manual_seed(100 + i)
        y = forward_model(torch.from_numpy(img).double()[None, None], fam, h, alpha, beta, generator=gen)
        y = y[0, 0].numpy().astype(np.float32)
        for s in res:
            UnrolledDR.lam = _lam if s == "tv" else (lambda self, k, s2, fs=1.0, s=s: s * _lam(self, k, s2, fs))
            out = deblur(y, psf=h[0].numpy(), method="tv" if s == "tv" else "deepblur", noise=(alpha, beta)).image
            res[s].append(scores(out, img, 16))
    print(level, fc, len(images), {s: tuple(np.round(np.mean(v, 0), 4)) for s, v in res.items()}, flush=True)
