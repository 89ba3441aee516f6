# A study (issue 19, comas and trefoils end to end).
# PYTHONPATH=src python resources/bench/studies/odd_terms.py microscope|paper [ALPHA BETA] [WEIGHTS]
"""Study: correlation between estimated and true coma/trefoil coefficients on validation content (noiseless unless
``ALPHA BETA`` are given; ``WEIGHTS``: an identification weights file instead of the shipped one). :func:`validation_pictures` and :func:`odd_case` are shared with
``odd_terms_spectral.py``."""

import collections
import sys

import numpy as np
import torch

from napari_deepblur import identify
from napari_deepblur.datasets import FLUORESCENCE_VALIDATION, SKIMAGE_TEST, load_fluorescence, load_skimage
from napari_deepblur.physics import ZernikeFamily
from napari_deepblur.physics.priors import PAPER_RANGE, odd_terms, sparse_gamma
from napari_deepblur.synthetic import fluorescence_scene

#: Cases per picture.
PER_PICTURE = 6


def validation_pictures() -> list[np.ndarray]:
    """The held-out scikit-image pictures, the held-out fluorescence images (3x down, middle plane) and 2 procedural
    scenes, each scaled to [0, 1]; never bsd68."""
    pics = [load_skimage(n).astype(float) for n in SKIMAGE_TEST]
    for n in FLUORESCENCE_VALIDATION:
        a = load_fluorescence(n, downsample=3)
        if a is not None:
            a = a[a.shape[0] // 2] if a.ndim == 3 else a
            pics.append(a.astype(float))
    pics += [fluorescence_scene((256, 256), s) for s in range(2)]
    return [(p - p.min()) / np.ptp(p) for p in pics]


def odd_case(fam, g: torch.Generator) -> torch.Tensor:
    """``(1, 8)`` γ: 1-2 terms of 0.05-0.15 waves, at least one of them a coma or trefoil."""
    odd = odd_terms(fam.noll)
    gam = sparse_gamma(fam.noll, 1, g, (0.05, 0.15), 2, None, torch.float64)
    if not gam[0, odd].abs().sum():
        k = odd[int(torch.randint(0, 4, (1,), generator=g))]
        gam[0, k] = 0.05 + 0.1 * float(torch.rand(1, generator=g))
    return gam


def main(mode: str, noise: tuple[float, float], weights: str | None = None) -> None:
    from napari_deepblur.physics import forward_model

    fam = ZernikeFamily(fc=0.2)
    odd = odd_terms(fam.noll)
    g = torch.Generator().manual_seed(77)
    tru, est, raw, orient = [], [], [], []
    for p in validation_pictures():
        for _ in range(PER_PICTURE):
            if mode == "paper":
                gam = PAPER_RANGE * (2 * torch.rand(1, 8, generator=g, dtype=torch.float64) - 1)
            else:
                gam = odd_case(fam, g)
            y = forward_model(torch.from_numpy(p)[None, None], fam, fam.psf(gam), *noise, generator=g)[0, 0].numpy()
            r = identify(y, fc=0.2, noise=noise, prior="paper" if mode == "paper" else "microscope",
                         weights=weights)
            tru.append(gam[0, odd].numpy())
            est.append(r.gamma[odd])
            raw.append(np.array(list(r.details["estimate"].values()))[odd])
            orient.append(r.details.get("orientation", ""))
    t, e, ra = map(np.concatenate, (tru, est, raw))
    big = np.abs(t) > 0.03
    print(mode, noise, "cases", len(tru), "corr", round(float(np.corrcoef(t, e)[0, 1]), 3),
          "sign agreement (|true|>0.03)", round(float(np.mean(np.sign(t[big]) == np.sign(e[big]))), 3),
          "mean |est|", round(float(np.abs(e).mean()), 4), "mean |true|", round(float(np.abs(t).mean()), 4))  # fmt: skip
    print("raw network: corr", round(float(np.corrcoef(t, ra)[0, 1]), 3),
          "|corr|", round(float(np.corrcoef(np.abs(t), np.abs(ra))[0, 1]), 3),
          "mean |raw|", round(float(np.abs(ra).mean()), 4))  # fmt: skip
    print(collections.Counter(str(o)[:60] for o in orient).most_common(5))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(
        sys.argv[1],
        (0.0, 0.0) if len(sys.argv) < 3 else (float(sys.argv[2]), float(sys.argv[3])),
        sys.argv[4] if len(sys.argv) > 4 else None,
    )
