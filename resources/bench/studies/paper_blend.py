# A study (issue 19, the paper prior's blend; resources/bench/README.md, "The paper prior's image-free answer").
# Run from the repository root: PYTHONPATH=src python resources/bench/studies/paper_blend.py 0 0.0005 0.002 0.006 0.02 0.05 0.1 0.2 0.4 1 4.8
import json
import sys

import numpy as np
import torch

torch.set_num_threads(1)
from napari_deepblur import identify
from napari_deepblur.bench.identify import _image_free_psfs
from napari_deepblur.bench.protocol import benchmark_family
from napari_deepblur.datasets import load_skimage
from napari_deepblur.physics import add_poisson_gaussian, blur, psf_snr

names = ["camera", "astronaut", "coffee", "chelsea", "coins"]
imgs = [load_skimage(n) for n in names]
fam, optics = benchmark_family("zernike", None, "paper")
mean_psf, _ = _image_free_psfs("zernike", None, "paper", 0)
n_psfs = 8
out = {}
for s in [float(v) for v in sys.argv[1:]]:
    a, b = 0.025 * s, 0.05 * s
    gen = torch.Generator().manual_seed(321)
    gam = fam.sample(len(imgs) * n_psfs, generator=gen)
    rows = []
    for k in range(len(gam)):
        x = torch.from_numpy(imgs[k // n_psfs]).double()[None, None]
        h = fam.psf(gam[k : k + 1].double())
        y = add_poisson_gaussian(blur(x, fam, h), a, b, generator=gen)[0, 0].numpy()
        res = identify(y, "zernike", noise="auto", device="cpu", prior="paper", **optics)
        al, be = res.noise
        # sigma as identify_normalized computes it, on the [0,1]-scaled image
        yy = (y - y.min()) / np.ptp(y)
        sig = float(np.sqrt(be**2 + al * yy.mean()))
        hh = torch.from_numpy(res.psf)[None].double()
        snr = {f"w{w:.2f}": float(psf_snr(h, w * hh + (1 - w) * mean_psf.double())) for w in np.arange(0, 1.001, 0.05)}
        rows.append(dict(snr, sigma=sig))
    out[s] = rows
    m = {key: round(float(np.mean([r[key] for r in rows])), 2) for key in rows[0] if key.startswith("w")}
    best = max(m, key=m.get)
    print(
        s,
        "sigma med",
        round(float(np.median([r["sigma"] for r in rows])), 4),
        "best",
        best,
        m[best],
        "w1",
        m["w1.00"],
        "w0",
        m["w0.00"],
        flush=True,
    )
json.dump({str(k): v for k, v in out.items()}, open("paper_blend.json", "w"))
