# Study script (not part of the package): the space-varying identification under the two priors on validation
# content. Run from the repository root: PYTHONPATH=src python resources/bench/studies/sv_prior.py
import numpy as np, torch, sys
torch.set_num_threads(2)
from napari_deepblur import identify
from napari_deepblur.bench.real import _sparse_gamma
from napari_deepblur.datasets import load_fluorescence, FLUORESCENCE_VALIDATION, load_skimage, SKIMAGE_TEST
from napari_deepblur.physics import SpaceVaryingFamily, NOISE_LEVELS, forward_model, psf_snr
from napari_deepblur.synthetic import fluorescence_scene
rng = np.random.default_rng(3)
def crop(a, n=384):
    H, W = a.shape; i, j = max((H-n)//2, 0), max((W-n)//2, 0); a = a[i:i+n, j:j+n].astype(np.float64)
    return (a - a.min()) / max(np.ptp(a), 1e-12)
imgs = [crop(load_fluorescence(n, downsample=2)) for n in FLUORESCENCE_VALIDATION]
imgs = [a for a in imgs if min(a.shape) >= 384] + [crop(load_skimage(n)) for n in SKIMAGE_TEST[:2]] + [fluorescence_scene((384, 384), rng) for _ in range(2)]
fam = SpaceVaryingFamily(fc=0.2)
res = {}
for part in ("phantom", "sparse"):
    for level in ("none", "medium", "high"):
        a, b = NOISE_LEVELS[level]
        for img in imgs:
            g = torch.zeros(1, 13, dtype=torch.float64)
            if part == "sparse":
                s = _sparse_gamma(rng, 8)  # 1-2 constant aberrations on the constant terms
                for k, idx in enumerate((0, 4, 5, 7, 8, 10, 11, 12)):
                    g[0, idx] = s[k]
                g[0, 1] = rng.uniform(-0.05, 0.05)  # a tilted focal plane
            h = fam.psf(g)  # (1, K, h, w)
            op = fam.operator(g, img.shape)
            x = torch.from_numpy(img)[None, None]
            y = op.A(x)
            y = (y + torch.randn(y.shape, generator=torch.Generator().manual_seed(5)) * float(np.sqrt(b**2 + a * float(y.mean())))).numpy()[0, 0] if level != "none" else y.numpy()[0, 0]
            for prior in ("paper", "microscope"):
                r = identify(y.astype(np.float32), "spatially-varying", fc=0.2, noise=(a, b), prior=prior)
                est = torch.from_numpy(r.psf).double()
                snr = float(psf_snr(h[0], est).clamp(max=30).mean())
                res.setdefault((part, level, prior), []).append(snr)
        print(part, level, {p: round(float(np.mean(res[(part, level, p)])), 2) for p in ("paper", "microscope")}, flush=True)
