# A study (issue 35): what Biggs-Andrews acceleration saves in 3D Richardson-Lucy — PSNR against the truth after n
# plain and n accelerated iterations on the 16 x 64 x 64 test volume of tests/test_volume.py (blobs, one on the border,
# blurred on a larger object, Poisson noise). Run from the repository root: python resources/bench/studies/rl3d_acceleration.py
import numpy as np, torch
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve
from napari_deepblur import volume_psf
from napari_deepblur.methods.volume import richardson_lucy_3d
torch.set_num_threads(1)
rng = np.random.default_rng(0)
truth = np.zeros((16, 64, 64))
for _ in range(30):
    truth[tuple(rng.integers([0, 0, 0], [16, 64, 64]))] = rng.uniform(0.5, 1)
truth[8, 32, 0] = 1.0
truth = gaussian_filter(truth, (0.7, 1.2, 1.2)); truth /= truth.max()
psf = volume_psf(16, na=1.4, wavelength=0.52, pixel_size=0.1, z_step=0.25, psf_size=31)
pad = 16
blurred = fftconvolve(np.pad(truth, pad), psf, mode="same")[pad:-pad, pad:-pad, pad:-pad]
y = rng.poisson(np.clip(blurred, 0, None) * 3000) / 3000
p = lambda a: round(10 * np.log10(np.ptp(truth) ** 2 / ((a - truth) ** 2).mean()), 2)
print("plain", [(n, p(richardson_lucy_3d(y, psf, n, accelerate=False))) for n in (10, 15, 20, 25, 40, 60)])
print("acc", [(n, p(richardson_lucy_3d(y, psf, n))) for n in (5, 10, 15, 20, 30)])
