# A study (issue 22): a calibrated family's estimate blended with a constant member, on validation content.
# PYTHONPATH=src python resources/bench/studies/calibrated_blend.py FAMILY.npz [...]
"""Study: hedge a calibrated family's estimate towards a constant member, on validation content (not the bench's)."""

import sys

import numpy as np
import torch

torch.set_num_threads(1)
from skimage.io import imread

from napari_deepblur import identify
from napari_deepblur.bench.protocol import normalized_noise
from napari_deepblur.datasets import FLUORESCENCE_VALIDATION, find_train400, load_fluorescence, train400_split
from napari_deepblur.physics import NOISE_LEVELS, forward_model
from napari_deepblur.physics.calibrated import CalibratedFamily


def crops():
    out = []
    for n in FLUORESCENCE_VALIDATION:
        a = load_fluorescence(n, downsample=2)
        if a is None:
            continue
        if a.ndim == 3:
            a = a[a.shape[0] // 2]
        if min(a.shape) < 300:
            a = load_fluorescence(n, downsample=1)
        if a.ndim == 3:
            a = a[a.shape[0] // 2]
        print(n, a.shape)
        a = a.astype(np.float64)
        H, W = a.shape
        for i, j in [((H - 256) // 2, (W - 256) // 2), (max(0, (H - 256) // 4), max(0, (W - 256) // 4))]:
            c = a[i : i + 256, j : j + 256]
            out.append((n, (c - c.min()) / np.ptp(c)))
    files = sorted(find_train400().glob("*.png"))
    _, held = train400_split(files, 10)
    for f in held[:6]:
        a = imread(f).astype(np.float64)
        if a.ndim == 3:
            a = a.mean(-1)
        c = a
        out.append((f.name, (c - c.min()) / np.ptp(c)))
    return out


if __name__ == "__main__":
    pics = crops()
    print(len(pics), "pictures", flush=True)
    res = {}
    for ff in sys.argv[1:]:
        fam = CalibratedFamily.load(ff)
        centre = fam.psf(fam.default_gamma(dtype=torch.float64))[0].numpy()
        draws = fam.sample(2000, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
        gmean = draws.mean(0, keepdim=True)
        meanpsf = fam.psf(gmean)[0].numpy()
        for level in ["none", "medium", "high"]:
            a, b = NOISE_LEVELS[level]
            rows = []
            for i, (name, img) in enumerate(pics):
                g = fam.sample(3, generator=torch.Generator().manual_seed(500 + i), dtype=torch.float64)
                psfs = fam.psf(g)
                for j in range(3):
                    y = (
                        forward_model(
                            torch.from_numpy(img)[None, None],
                            fam,
                            psfs[j : j + 1],
                            a,
                            b,
                            generator=torch.Generator().manual_seed(9000 + 10 * i + j),
                        )[0, 0]
                        .numpy()
                        .astype(np.float32)
                    )
                    est = identify(y, family=fam, noise=normalized_noise(y, a, b), device="cpu")
                    h = psfs[j].numpy()
                    e = lambda k: float(np.linalg.norm(k - h) / np.linalg.norm(h))
                    row = {f"c{w:.1f}": e(w * est.psf + (1 - w) * centre) for w in np.arange(0, 1.01, 0.1)}
                    row.update({f"m{w:.1f}": e(w * est.psf + (1 - w) * meanpsf) for w in np.arange(0, 1.01, 0.1)})
                    rows.append(row)
            res[(ff, level)] = rows
            m = {k: round(100 * float(np.mean([r[k] for r in rows])), 1) for k in rows[0]}
            print(ff.split("/")[-2], level, len(rows), m, flush=True)
