# A study (issue 19, comas and trefoils end to end). PYTHONPATH=src python resources/bench/studies/odd_terms.py microscope|paper
"""Study: correlation between estimated and true coma/trefoil coefficients, noiseless, on validation content."""

import sys

import numpy as np
import torch

torch.set_num_threads(1)
from napari_deepblur import identify
from napari_deepblur.datasets import FLUORESCENCE_VALIDATION, SKIMAGE_TEST, load_fluorescence, load_skimage
from napari_deepblur.physics import ZernikeFamily, forward_model
from napari_deepblur.physics.priors import PAPER_RANGE, odd_terms, sparse_gamma
from napari_deepblur.synthetic import fluorescence_scene

pics = [load_skimage(n).astype(float) for n in SKIMAGE_TEST]
for n in FLUORESCENCE_VALIDATION:
    a = load_fluorescence(n, downsample=3)
    if a is not None:
        a = a[a.shape[0] // 2] if a.ndim == 3 else a
        pics.append(a.astype(float))
pics += [fluorescence_scene((256, 256), s) for s in range(2)]
pics = [(p - p.min()) / np.ptp(p) for p in pics]
fam = ZernikeFamily(fc=0.2)
odd = odd_terms(fam.noll)
mode = sys.argv[1]
noise = (0.0, 0.0) if len(sys.argv) < 3 else tuple(float(v) for v in sys.argv[2:4])
g = torch.Generator().manual_seed(77)
tru, est, raw, orient = [], [], [], []
for i, p in enumerate(pics):
    for j in range(6):
        if mode == "paper":
            gam = PAPER_RANGE * (2 * torch.rand(1, 8, generator=g, dtype=torch.float64) - 1)
        else:  # 1-2 terms, at least one odd
            gam = sparse_gamma(fam.noll, 1, g, (0.05, 0.15), 2, None, torch.float64)
            if not gam[0, odd].abs().sum():
                k = odd[int(torch.randint(0, 4, (1,), generator=g))]
                gam[0, k] = 0.05 + 0.1 * float(torch.rand(1, generator=g))
        y = forward_model(torch.from_numpy(p)[None, None], fam, fam.psf(gam), *noise, generator=g)[0, 0].numpy()
        r = identify(y, fc=0.2, noise=noise, prior=mode if mode == "paper" else "microscope")
        tru.append(gam[0, odd].numpy())
        est.append(r.gamma[odd])
        raw.append(np.array(list(r.details["estimate"].values()))[odd])
        orient.append(r.details.get("orientation", ""))
t, e = np.concatenate(tru), np.concatenate(est)
print(
    mode,
    noise,
    "cases",
    len(tru),
    "corr",
    round(float(np.corrcoef(t, e)[0, 1]), 3),
    "sign agreement (|true|>0.03)",
    round(float(np.mean(np.sign(t[abs(t) > 0.03]) == np.sign(e[abs(t) > 0.03]))), 3),
    "mean |est|",
    round(float(np.abs(e).mean()), 4),
    "mean |true|",
    round(float(np.abs(t).mean()), 4),
)
ra = np.concatenate(raw)
print(
    "raw network: corr",
    round(float(np.corrcoef(t, ra)[0, 1]), 3),
    "|corr|",
    round(float(np.corrcoef(np.abs(t), np.abs(ra))[0, 1]), 3),
    "mean |raw|",
    round(float(np.abs(ra).mean()), 4),
)
import collections

print(collections.Counter(str(o)[:60] for o in orient).most_common(5))
