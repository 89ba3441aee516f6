# A study (issue 35): 3D Richardson-Lucy (methods/volume.py) against scikit-image's n-D richardson_lucy on a 512 x 512 x 32
# stack with a 63^3 widefield PSF: seconds for 50 accelerated iterations, peak RSS, scikit-image's 5 iterations x 10.
# Run from the repository root: python resources/bench/studies/rl3d_speed.py THREADS
import time, sys, resource, numpy as np, torch
threads = int(sys.argv[1]); torch.set_num_threads(threads)
from napari_deepblur import volume_psf
from napari_deepblur.methods.volume import richardson_lucy_3d
rng = np.random.default_rng(0)
y = rng.poisson(50, size=(32, 512, 512)).astype(np.float32)
psf = volume_psf(32, na=1.4, wavelength=0.52, pixel_size=0.1, z_step=0.3, psf_size=63)
print("psf", psf.shape, flush=True)
t = time.perf_counter(); richardson_lucy_3d(y, psf, 50); dt = time.perf_counter() - t
print(f"ours RL-3D 50 it (accelerated): {dt:.1f} s, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1e6:.2f} GB", flush=True)
from skimage.restoration import richardson_lucy
t = time.perf_counter(); richardson_lucy(y, psf, 5, clip=False); dt2 = time.perf_counter() - t
print(f"skimage richardson_lucy 5 it: {dt2:.1f} s -> {dt2*10:.0f} s for 50 (x{dt2*10/dt:.1f})", flush=True)
