# A study (issue 20, the high-noise row where TV leads): on the held-out real fluorescence images (3x down; the same
# images as `bench restore`'s fluorescence rows), aberration-free blur at fc 0.2 / 0.3, the true PSF given, deep-blur
# and TV: PSNR / SSIM and the error split between the dark half of the truth (background) and the bright half
# (structures): mean squared error (x 1e-4) and mean bias (x 1e-3).
# PYTHONPATH=src python resources/bench/studies/fluorescence_bias.py NOISE
import sys

import numpy as np
import torch

torch.set_num_threads(1)
from napari_deepblur import deblur  # noqa: E402
from napari_deepblur.bench.protocol import normalized_noise, scores  # noqa: E402
from napari_deepblur.bench.real import _content  # noqa: E402
from napari_deepblur.physics import NOISE_LEVELS, ZernikeFamily, forward_model  # noqa: E402

alpha, beta = NOISE_LEVELS[sys.argv[1]]
images = _content(3, 0, validation=True)["fluorescence (held out, 3x down)"]
for fc in (0.2, 0.3):
    fam = ZernikeFamily(fc=fc)
    h = fam.psf(torch.zeros(1, fam.dim, dtype=torch.float64))
    for i, img in enumerate(images):
        gen = torch.Generator().manual_seed(100 + i)
        y = forward_model(torch.from_numpy(img).double()[None, None], fam, h, alpha, beta, generator=gen)
        y = y[0, 0].numpy().astype(np.float32)
        dark = img < np.median(img)
        line = [f"fc {fc} image {i}"]
        for m in ("deepblur", "tv"):
            out = deblur(y, psf=h[0].numpy(), method=m, noise=normalized_noise(y, alpha, beta)).image
            err = out - img
            p, s = scores(out, img, 16)
            line.append(
                f"{m} {p:.2f} / {s:.3f}, mse dark {1e4 * np.mean(err[dark] ** 2):.1f} bright "
                f"{1e4 * np.mean(err[~dark] ** 2):.1f}, bias dark {1e3 * err[dark].mean():.1f} bright "
                f"{1e3 * err[~dark].mean():.1f}"
            )
        print(" | ".join(line), flush=True)
