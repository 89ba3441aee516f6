# A study (issue 19): odd terms by a Whittle fit, then the orientation test.
# PYTHONPATH=src python resources/bench/studies/odd_terms_spectral.py [TEMPER]
"""Study: the coma/trefoil terms fitted to the image's power spectrum (:func:`spectral_fit.fit_spectrum` with the
even terms held at the microscope network's reading), then oriented (:func:`orient_odd_terms`); noiseless, the cases
of ``odd_terms.py``."""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).with_name("spectral_fit"))]
from odd_terms import PER_PICTURE, odd_case, validation_pictures  # noqa: E402
from spectral_fit import fit_spectrum  # noqa: E402

from napari_deepblur import identify  # noqa: E402
from napari_deepblur.methods.orientation import orient_odd_terms  # noqa: E402
from napari_deepblur.physics import ZernikeFamily, forward_model, psf_snr  # noqa: E402
from napari_deepblur.physics.priors import odd_terms  # noqa: E402


def main(temper: float) -> None:
    fam = ZernikeFamily(fc=0.2)
    odd = odd_terms(fam.noll)
    g = torch.Generator().manual_seed(77)
    T, E0, E1, s0, s1 = [], [], [], [], []
    t0 = time.time()
    for i, p in enumerate(validation_pictures()):
        for j in range(PER_PICTURE):
            gam = odd_case(fam, g)
            h = fam.psf(gam)
            y = forward_model(torch.from_numpy(p)[None, None], fam, h, 0.0, 0.0, generator=g)[0, 0].numpy()
            r = identify(y, fc=0.2, noise=(0, 0))
            gn = torch.tensor(list(r.details["estimate"].values()), dtype=torch.float64)
            starts = [gn.clone()]  # the network's reading, and one start per odd term at 0.06 waves
            for k in odd:
                s = gn.clone()
                s[odd] = 0
                s[k] = 0.06
                starts.append(s)
            gf, _ = fit_spectrum(y, fam, torch.stack(starts), 0.0, temper=temper, free=odd)
            go, info = orient_odd_terms(y, fam, gf, 0.0)
            T.append(gam[0, odd].numpy())
            E0.append(r.gamma[odd])
            E1.append(go[0, odd].numpy())
            s0.append(float(psf_snr(h, torch.from_numpy(r.psf).double()[None])))
            s1.append(float(psf_snr(h, fam.psf(go.double()))))
            print(i, j, np.round(gam[0, odd].numpy(), 3), np.round(go[0, odd].numpy(), 3), round(s0[-1], 1),
                  round(s1[-1], 1), info.get("orientation", "")[:20], flush=True)  # fmt: skip
    t, e0, e1 = map(np.concatenate, (T, E0, E1))
    print("temper", temper, "corr shipped", round(float(np.corrcoef(t, e0)[0, 1]), 3),
          "corr odd-fit", round(float(np.corrcoef(t, e1)[0, 1]), 3), "PSF SNR shipped", round(np.mean(s0), 2),
          "odd-fit", round(np.mean(s1), 2), "s/case", round((time.time() - t0) / len(T), 1))  # fmt: skip


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 0.01)
