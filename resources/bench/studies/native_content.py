# A study (issue 33): restoration of content at native sampling, with a truth. The held-out real fluorescence images
# (datasets.FLUORESCENCE_VALIDATION: never trained on) at their own sampling, lightly smoothed (as training's "native"
# source), are the truth: smooth at the pixel scale, as a specimen seen by its microscope is. Each is blurred by the
# aberration-free PSF at fc 0.2 and 0.3, put on a camera (offset 100, Poisson at PHOTONS photons for the brightest,
# read noise 2 counts, rounded to 12 bits) and restored with the true PSF and noise="auto" — what a user's image is.
# Prints PSNR / SSIM (against the truth, on its range) and the flat-region texture (result / input) per method.
# Run from the repository root: python resources/bench/studies/native_content.py WEIGHTS|shipped [PHOTONS ...]
import sys

import numpy as np
import torch

torch.set_num_threads(1)

from restore_rows import use_deblur_weights  # noqa: E402

from napari_deepblur import deblur, identify  # noqa: E402
from napari_deepblur.bench.native import flat_texture  # noqa: E402
from napari_deepblur.datasets import FLUORESCENCE_VALIDATION, NATIVE_SMOOTHING_PX, load_fluorescence  # noqa: E402

alt = sys.argv[1] if len(sys.argv) > 1 else "shipped"
photon_levels = [float(p) for p in sys.argv[2:]] or [1000.0, 200.0]
use_deblur_weights(alt)


def cases():
    from scipy.ndimage import gaussian_filter
    from scipy.signal import fftconvolve

    for k, name in enumerate(FLUORESCENCE_VALIDATION):
        t = load_fluorescence(name)
        if t is None:
            continue
        t = gaussian_filter(t.astype(np.float64), NATIVE_SMOOTHING_PX)[:512, :512]
        lo, hi = np.percentile(t, [0.1, 99.9])
        t = np.clip((t - lo) / (hi - lo), 0, 1)
        for fc in (0.2, 0.3):
            psf = identify(t, aberrations="none", fc=fc).psf
            pad = psf.shape[0]
            b = fftconvolve(np.pad(t, pad, mode="reflect"), psf, mode="same")[pad:-pad, pad:-pad]
            for photons in photon_levels:
                rng = np.random.default_rng(1000 * k + int(100 * fc) + int(photons))
                y = rng.poisson(np.clip(b, 0, None) * photons) + 100 + rng.normal(0, 2.0, b.shape)
                y = np.clip(np.round(y), 0, 4095).astype(np.uint16)
                yield name, fc, photons, t * photons + 100, y, psf


def main():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rows = {}
    for name, fc, photons, truth, y, psf in cases():
        r = float(np.ptp(truth))
        for method in ("deepblur", "rl", "tv"):
            out = deblur(y, psf=psf, method=method, fc=fc).image
            key = (fc, photons, method)
            rows.setdefault(key, []).append(
                (
                    peak_signal_noise_ratio(truth, out, data_range=r),
                    structural_similarity(truth, out, data_range=r),
                    flat_texture(out, y.astype(np.float64)),
                )
            )
            print(name, fc, photons, method, *(f"{v:.4f}" for v in rows[key][-1]), flush=True)
    print(f"\n{alt}: mean over {len(FLUORESCENCE_VALIDATION)} images (PSNR / SSIM / flat texture)")
    print("| fc | photons | deep-blur | RL | TV |\n|---|---|---|---|---|")
    for fc, photons in sorted({k[:2] for k in rows}):
        cells = [" / ".join(f"{v:.{d}f}" for v, d in zip(np.mean(rows[(fc, photons, m)], axis=0), (2, 4, 2), strict=True))
                 for m in ("deepblur", "rl", "tv")]  # fmt: skip
        print(f"| {fc} | {photons:g} | " + " | ".join(cells) + " |")


main()
