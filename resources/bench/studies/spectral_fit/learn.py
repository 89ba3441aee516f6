import numpy as np, torch
from PIL import Image
from napari_deepblur.datasets import find_train400, microscopy_pool
from spectral_fit import learn_spectrum_prior
torch.set_num_threads(1)
rng = np.random.default_rng(0)
imgs = []
for f in sorted(find_train400().glob("*.png")):
    a = np.asarray(Image.open(f).convert("L"), np.float64) / 255
    imgs.append(a)
pool = microscopy_pool(128)
for a in pool:
    H, W = a.shape
    if min(H, W) < 256:
        imgs.append(a); continue
    for _ in range(8):
        i, j = rng.integers(0, H - 256 + 1), rng.integers(0, W - 256 + 1)
        imgs.append(a[i:i+256, j:j+256])
print(len(imgs), "images")
p = learn_spectrum_prior(imgs)
p.save("spectrum_prior.npz")
print(p.mean)
