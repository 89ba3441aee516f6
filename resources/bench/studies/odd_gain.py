# A study (issue 19): the sparsity gain of the odd-term refinement on aberration-free vs coma images (validation).
# PYTHONPATH=src python resources/bench/studies/odd_gain.py  (from the repository root)
import sys, numpy as np, torch
torch.set_num_threads(1)
sys.path.insert(0, "resources/bench/studies")
from odd_terms import validation_pictures, odd_case
from napari_deepblur import identify
from napari_deepblur.physics import ZernikeFamily, forward_model, psf_snr
from napari_deepblur.physics.priors import odd_terms
for fc in (0.15, 0.2, 0.3):
    fam = ZernikeFamily(fc=fc); odd = odd_terms(fam.noll); g = torch.Generator().manual_seed(5)
    for kind in ("none", "odd"):
        gains, snrs = [], []
        for p in validation_pictures()[:8]:
            gam = torch.zeros(1, 8, dtype=torch.float64) if kind == "none" else odd_case(fam, g)
            y = forward_model(torch.from_numpy(p)[None, None], fam, fam.psf(gam), 0, 0, generator=g)[0, 0].numpy()
            r = identify(y, fc=fc, noise=(0, 0), prior="microscope")
            b, a = r.details.get("odd_sparsity", [1, 1])
            gains.append((b - a) / b)
            z = torch.from_numpy(r.gamma)[None].double(); z0 = z.clone(); z0[:, odd] = 0
            snrs.append((float(psf_snr(fam.psf(gam), fam.psf(z)).clamp(max=30)), float(psf_snr(fam.psf(gam), fam.psf(z0)).clamp(max=30))))
        print(fc, kind, "gain", np.round(gains, 4).tolist(), "snr refined/odd0", np.round(np.mean(snrs, 0), 2).tolist(), flush=True)
