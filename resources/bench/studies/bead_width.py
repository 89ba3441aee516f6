# A study (issue 19, the real bead's defocus with a fitted Gaussian width). PYTHONPATH=src python resources/bench/studies/bead_width.py
import copy

import numpy as np
import torch

torch.set_num_threads(1)
from napari_deepblur.api.params import make_family, normalize_intensity
from napari_deepblur.datasets import measured_sets
from napari_deepblur.methods._optim import adam_minimize
from napari_deepblur.methods.bead_fit import bead_psf, fit_bead

s = [s for s in measured_sets() if s["id"] == "pyotf"][0]
fam = make_family("zernike", **s["optics"])
names = [p.name for p in fam.parameters]
D, SPH = names.index("defocus"), names.index("spherical")


def gauss_blur(h, sig):
    n = h.shape[-1]
    f = torch.fft.fftfreq(n, dtype=torch.float64)
    fy, fx = torch.meshgrid(f, f, indexing="ij")
    G = torch.exp(-2 * (np.pi**2) * sig**2 * (fx**2 + fy**2))
    return torch.fft.ifft2(torch.fft.fft2(h) * G).real


def fit_blur(target, starts, n_iter=200):
    f = copy.copy(fam)
    f.pupil_size = 128
    t = target.double()
    tn = t.square().sum()
    lo, hi = f.bounds(dtype=torch.float64).unbind(1)
    best = None
    for g0 in starts:
        for s0 in (0.5, 1.5):
            p = torch.cat([g0.double(), torch.tensor([s0], dtype=torch.float64)])
            lo2 = torch.cat([lo, torch.tensor([0.0], dtype=torch.float64)])
            hi2 = torch.cat([hi, torch.tensor([4.0], dtype=torch.float64)])

            def loss(q):
                h = f.psf(q[:, :-1])
                return ((gauss_blur(h, q[:, -1:, None].clamp_min(1e-3)) - t).square().sum(dim=(-2, -1)) / tn).sum()

            q = adam_minimize(loss, p[None], lr=0.003, n_iter=n_iter, lower=lo2, upper=hi2)
            with torch.no_grad():
                e = float(loss(q))
            if best is None or e < best[0]:
                best = (e, q[0].detach())
    return best


for k in range(6, 19):
    x, _, _ = normalize_intensity(s["stack"][k].astype(np.float64))
    psf, det = bead_psf(x, 31)
    if psf is None:
        print(k, "no bead", det)
        continue
    target = torch.from_numpy(np.clip(psf, 0, None))
    target = target / target.sum()
    g, d = fit_bead(fam, psf, torch.zeros(1, 8))
    starts = [torch.zeros(8, dtype=torch.float64)]
    for sd in (-0.1, 0.1):
        z = torch.zeros(8, dtype=torch.float64)
        z[D] = sd
        starts.append(z)
    e, q = fit_blur(target, starts)
    print(
        k,
        "plain: defocus %+.3f sph %+.3f snr %s"
        % (float(g[0, D]) if g is not None else np.nan, float(g[0, SPH]) if g is not None else np.nan, d),
        "| blur: defocus %+.3f sph %+.3f sigma %.2f snr %.2f"
        % (float(q[D]), float(q[SPH]), float(q[-1]), -10 * np.log10(e)),
        flush=True,
    )
