# A study (issue 19): where the sparsity criterion puts the odd terms along the true direction (t x true, noiseless).
# PYTHONPATH=src python resources/bench/studies/odd_scan.py
import numpy as np, torch
torch.set_num_threads(1)
from napari_deepblur.bench.protocol import benchmark_family
from napari_deepblur.datasets import load_skimage
from napari_deepblur.methods.orientation import wiener, normalized_sparsity
from napari_deepblur.physics import blur
from napari_deepblur.physics.priors import odd_terms
imgs=[load_skimage(n) for n in ["camera","astronaut","coffee","chelsea","coins"]]
fam,_=benchmark_family("zernike",None,"paper"); odd=odd_terms(fam.noll)
gen=torch.Generator().manual_seed(321); gam=fam.sample(40,generator=gen)
ts=np.linspace(-1.5,1.5,13)
best=[]
for k in range(0,40,3):
    x=torch.from_numpy(imgs[k//8]).double()[None,None]; g=gam[k:k+1].double()
    y=blur(x,fam,fam.psf(g)); c=y.shape[-1]//2; y=y[...,c-128:c+128,c-128:c+128]
    sc=[]
    for t in ts:
        gg=g.clone(); gg[:,odd]*=t
        sc.append(normalized_sparsity(wiener(y,fam.psf(gg),1e-3)))
    best.append(ts[int(np.argmin(sc))]); print(k, np.round(sc,3).tolist()[::2], "argmin t", best[-1], flush=True)
