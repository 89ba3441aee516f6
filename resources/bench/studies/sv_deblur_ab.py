# Study script (not part of the package): the space-varying deblurring benchmark (paper protocol) on another image
# folder with another Zernike identification network in place of the shipped one (A/B on validation content).
# Run from the repository root: python resources/bench/studies/sv_deblur_ab.py WEIGHTS|shipped FOLDER NOISE|ALPHA,BETA OUT.json
# FOLDER "validation": the held-out scikit-image pictures and held-out fluorescence images (2x down, 384² crops; the
# ones of at least 300 px), written to a temporary folder.
import json
import sys
from pathlib import Path

import torch

from napari_deepblur.bench.deblur import run_deblur_bench
from napari_deepblur.networks import weights as W
from napari_deepblur.physics import NOISE_LEVELS

torch.set_num_threads(1)
alt, folder, noise, out = sys.argv[1:5]
_orig = W.weights_path


def weights_path(kind, family=None):
    if alt != "shipped" and kind == "identify" and family == "zernike":
        return Path(alt)
    return _orig(kind, family)


W.weights_path = weights_path
if folder == "validation":
    import tempfile

    import numpy as np
    from skimage.io import imsave

    from napari_deepblur.datasets import FLUORESCENCE_VALIDATION, SKIMAGE_TEST, load_fluorescence, load_skimage

    folder = tempfile.mkdtemp()
    for name in SKIMAGE_TEST:
        imsave(f"{folder}/sk_{name}.tif", load_skimage(name).astype(np.float32))
    for name in FLUORESCENCE_VALIDATION:
        a = load_fluorescence(name, downsample=2)
        if a is None or min(a.shape) < 300:
            continue
        n = min(*a.shape, 384)
        i, j = (a.shape[0] - n) // 2, (a.shape[1] - n) // 2
        a = a[i : i + n, j : j + n].astype(np.float32)
        imsave(f"{folder}/fl_{name}", (a - a.min()) / max(float(np.ptp(a)), 1e-12))
if noise not in NOISE_LEVELS:  # "a,b": another level, named by its (alpha, beta)
    NOISE_LEVELS[noise] = tuple(float(v) for v in noise.split(","))
r = run_deblur_bench("spatially-varying", noise, images=folder, methods=("deepblur",), progress=False)
print(noise, alt, {k: {m: v[m] for m in ("psnr", "ssim", "psf_snr")} for k, v in r["rows"].items()}, flush=True)
Path(out).write_text(json.dumps(r, default=float))
