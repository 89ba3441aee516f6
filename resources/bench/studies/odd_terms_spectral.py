# A study (issue 19): odd terms by a Whittle fit, then the orientation test. PYTHONPATH=src python resources/bench/studies/odd_terms_spectral.py 0.01
"""Study: odd terms' magnitude from the Whittle fit (even terms fixed at the network's), then the orientation test."""

import copy
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).with_name("spectral_fit")))
torch.set_num_threads(1)
import spectral_fit as S

from napari_deepblur import identify
from napari_deepblur.datasets import FLUORESCENCE_VALIDATION, SKIMAGE_TEST, load_fluorescence, load_skimage
from napari_deepblur.methods._optim import Adam
from napari_deepblur.methods.orientation import orient_odd_terms
from napari_deepblur.physics import ZernikeFamily, forward_model, psf_snr
from napari_deepblur.physics.priors import odd_terms, sparse_gamma
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
even = [i for i in range(8) if i not in odd]
prior = S.SpectrumPrior.shipped()
temper = float(sys.argv[1]) if len(sys.argv) > 1 else 0.01


def fit_odd(y, g_net, sigma, n_iter=150):
    n = prior.window
    B, mask = S.spectrum_basis(n, prior.n_radial)
    I, m = S.welch_periodogram(torch.as_tensor(y, dtype=torch.float64), n)
    weight = temper * m / 4.0
    Iu = I[mask]
    sigma2 = sigma**2 + S.REL_FLOOR * float(Iu.mean())
    f = copy.copy(fam)
    f.pupil_size = 128
    lo, hi = f.bounds(dtype=torch.float64).unbind(1)
    mu, Q = prior.mean, prior.precision

    def obj(g, c):
        P = S._otf2(f, g[None], n)[mask] * torch.exp(B @ c) + sigma2
        d = c - mu
        return weight * (torch.log(P) + Iu / P).sum() + 0.5 * d @ Q @ d

    starts = [g_net.clone()]
    for k in odd:
        s = g_net.clone()
        s[odd] = 0
        s[k] = 0.06
        starts.append(s)
    best = None
    for g0 in starts:
        with torch.no_grad():
            H2 = S._otf2(f, g0[None], n)[mask]
            c0 = torch.linalg.lstsq(
                B, torch.log(((Iu - sigma2).clamp_min(0.1 * sigma2)) / H2.clamp_min(1e-6))[:, None]
            ).solution[:, 0]
            c0 = 0.5 * (c0 + mu)
        g = g0.clone().requires_grad_(True)
        c = c0.clone().requires_grad_(True)
        og, oc = Adam([g], lr=0.003), Adam([c], lr=0.05)
        for _ in range(n_iter):
            obj(g, c).backward()
            g.grad[even] = 0
            og.step()
            oc.step()
            with torch.no_grad():
                g.copy_(torch.maximum(torch.minimum(g, hi), lo))
        with torch.no_grad():
            v = float(obj(g, c))
        if best is None or v < best[0]:
            best = (v, g.detach().clone())
    return best[1]


g = torch.Generator().manual_seed(77)
T, E0, E1, s0, s1 = [], [], [], [], []
t0 = time.time()
for i, p in enumerate(pics):
    for j in range(6):
        gam = sparse_gamma(fam.noll, 1, g, (0.05, 0.15), 2, None, torch.float64)
        if not gam[0, odd].abs().sum():
            k = odd[int(torch.randint(0, 4, (1,), generator=g))]
            gam[0, k] = 0.05 + 0.1 * float(torch.rand(1, generator=g))
        y = forward_model(torch.from_numpy(p)[None, None], fam, fam.psf(gam), 0.0, 0.0, generator=g)[0, 0].numpy()
        r = identify(y, fc=0.2, noise=(0, 0))
        gn = torch.tensor(list(r.details["estimate"].values()), dtype=torch.float64)
        gf = fit_odd(y, gn, 0.0)
        go, info = orient_odd_terms(y, fam, gf[None], 0.0)
        h = fam.psf(gam)
        T.append(gam[0, odd].numpy())
        E0.append(r.gamma[odd])
        E1.append(go[0, odd].numpy())
        s0.append(float(psf_snr(h, torch.from_numpy(r.psf).double()[None])))
        s1.append(float(psf_snr(h, fam.psf(go.double()))))
        print(
            i,
            j,
            np.round(gam[0, odd].numpy(), 3),
            np.round(go[0, odd].numpy(), 3),
            round(s0[-1], 1),
            round(s1[-1], 1),
            info.get("orientation", "")[:20],
            flush=True,
        )
t, e0, e1 = map(np.concatenate, (T, E0, E1))
print(
    "temper",
    temper,
    "corr shipped",
    round(float(np.corrcoef(t, e0)[0, 1]), 3),
    "corr odd-fit",
    round(float(np.corrcoef(t, e1)[0, 1]), 3),
    "PSF SNR shipped",
    round(np.mean(s0), 2),
    "odd-fit",
    round(np.mean(s1), 2),
    "s/case",
    round((time.time() - t0) / len(T), 1),
)
