# A study (issue 35): 3D restoration of synthetic z-stacks with a sharp truth — the blurry input, 2D deep-blur plane by
# plane with the in-focus plane of the 3D PSF (what deblur() does to a stack today, PSF given), 3D Richardson-Lucy
# (accelerated; 10 / 20 / 40 iterations and "auto") and, until the commit after f852db4, deep-blur 3D (3D data steps,
# 2D priors plane by plane; removed: see the research record), all with the true 3D PSF. Content: blobs (nuclei-like) and filaments in a 24 x 128 x 128 volume (z 0.25 um, 0.1 um pixels, NA 1.4
# oil, 0.52 um), on a camera (offset 100, Poisson at PHOTONS photons for the brightest voxel, read noise 2, 16-bit).
# Prints PSNR / SSIM over the whole volume against the truth (in the same units). The truth picks no parameter.
# Run from the repository root: python resources/bench/studies/volume_methods.py [PHOTONS ...]
import sys
import time

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

torch.set_num_threads(2)
from napari_deepblur import deblur, deblur_volume, volume_psf  # noqa: E402

OPTICS = dict(na=1.4, wavelength=0.52, pixel_size=0.1)
Z, N = 24, 128


def scene(kind, rng):
    x = np.zeros((Z, N, N))
    if kind == "blobs":
        for _ in range(25):
            c = rng.integers([3, 10, 10], [Z - 3, N - 10, N - 10])
            x[tuple(c)] = rng.uniform(0.5, 1.0)
        x = gaussian_filter(x, (1.2, 3.0, 3.0))
    else:  # filaments: random 3D line segments
        for _ in range(12):
            p0, p1 = rng.uniform([2, 0, 0], [Z - 2, N, N]), rng.uniform([2, 0, 0], [Z - 2, N, N])
            for t in np.linspace(0, 1, 400):
                q = np.clip(np.round(p0 + t * (p1 - p0)).astype(int), 0, [Z - 1, N - 1, N - 1])
                x[tuple(q)] = 1.0
        x = gaussian_filter(x, (0.6, 0.8, 0.8))
    return x / x.max()


photon_levels = [float(p) for p in sys.argv[1:]] or [1000.0, 200.0]
psf = volume_psf(Z, z_step=0.25, psf_size=63, **OPTICS)
focus = psf[psf.shape[0] // 2]
focus = focus / focus.sum()
for kind in ("blobs", "filaments"):
    rng = np.random.default_rng(0 if kind == "blobs" else 1)
    truth = scene(kind, rng)
    pad = 32
    blurred = fftconvolve(np.pad(truth, pad), psf, mode="same")[pad:-pad, pad:-pad, pad:-pad]
    for photons in photon_levels:
        cam = rng.poisson(np.clip(blurred, 0, None) * photons) + 100 + rng.normal(0, 2.0, blurred.shape)
        y = np.clip(np.round(cam), 0, 65535).astype(np.uint16)
        ref = 100 + photons * truth  # the truth in the camera's units (the PSF sums to 1 over the volume)
        r = float(np.ptp(ref))

        def score(out, label, secs):
            p = peak_signal_noise_ratio(ref, out, data_range=r)
            s = structural_similarity(ref, out, data_range=r)
            print(f"{kind} {photons:g} {label}: {p:.2f} / {s:.4f} ({secs:.1f} s)", flush=True)

        score(y.astype(np.float64), "input", 0.0)
        t = time.perf_counter()
        planes = np.stack([deblur(y[k], psf=focus, fc=OPTICS["na"] * 0.1 / 0.52).image for k in range(Z)])
        score(planes, "deep-blur 2D plane by plane", time.perf_counter() - t)
        for n in (10, 20, 40):
            t = time.perf_counter()
            out = deblur_volume(y, psf=psf, n_iter=n).image
            score(out, f"RL-3D {n}", time.perf_counter() - t)
        t = time.perf_counter()
        res = deblur_volume(y, psf=psf)
        score(res.image, f"RL-3D auto ({res.details['n_iter']})", time.perf_counter() - t)
