# A study (issue 19, comas and trefoils read from a low-noise image; resources/bench/README.md, last section).
# PYTHONPATH=src python resources/bench/studies/odd_refine.py WEIGHTS STEPS odd|all LAMBDA LR [zero|net] [NOISE_SCALE]
"""Sweep of the sparsity refinement of the odd terms (the loop of methods.orientation.refine_odd_terms, written out
so its constants can vary) on the 5 held-out scikit-image pictures x 8 draws of the paper prior: odd-term
correlation and PSF SNR before / after, and with the odd terms shrunk by 0.5-0.9. identify() already refines; the
odd terms of its answer are reset (zero) before this loop runs."""
import sys, time, numpy as np, torch
torch.set_num_threads(1)
from napari_deepblur import identify
from napari_deepblur.bench.protocol import benchmark_family
from napari_deepblur.datasets import load_skimage
from napari_deepblur.methods.orientation import wiener
from napari_deepblur.physics import blur, psf_snr, add_poisson_gaussian
from napari_deepblur.physics.priors import odd_terms
W=sys.argv[1]; iters=int(sys.argv[2]); which=sys.argv[3]; LAM=float(sys.argv[4]); LR=float(sys.argv[5]); ZERO=len(sys.argv)>6 and sys.argv[6]=='zero'; NS=float(sys.argv[7]) if len(sys.argv)>7 else 0.0
imgs=[load_skimage(n) for n in ["camera","astronaut","coffee","chelsea","coins"]]
fam,optics=benchmark_family("zernike",None,"paper"); odd=odd_terms(fam.noll)
gen=torch.Generator().manual_seed(321); gam=fam.sample(40,generator=gen)
def ns(x):
    gx=x[...,:,1:]-x[...,:,:-1]; gy=x[...,1:,:]-x[...,:-1,:]
    g=torch.cat([gx.flatten(),gy.flatten()]); return g.abs().sum()/g.square().sum().sqrt()
T,E0,E1,S0,S1,tt=[],[],[],[],[],[]; SC={}; SIG=[]
for k in range(40):
    x=torch.from_numpy(imgs[k//8]).double()[None,None]; g=gam[k:k+1].double(); h=fam.psf(g)
    y=add_poisson_gaussian(blur(x,fam,h),0.025*NS,0.05*NS,generator=gen)[0,0].numpy()
    r=identify(y,"zernike",noise="auto",device="cpu",prior="paper",weights=W,**optics)
    g0=torch.from_numpy(r.gamma)[None].double()
    al,be=r.noise; y01=(y-y.min())/np.ptp(y); SIG.append(float(np.sqrt(be**2+al*y01.mean())))
    if ZERO: g0[:,odd]=0
    t0=time.perf_counter()
    yy=torch.from_numpy((y-y.min())/np.ptp(y))[None,None]; c0,c1=yy.shape[-2]//2,yy.shape[-1]//2
    yy=yy[...,c0-128:c0+128,c1-128:c1+128]
    mask=torch.zeros(1,8,dtype=torch.float64); 
    if which=="odd": mask[:,odd]=1
    else: mask[:]=1
    p=g0.clone().requires_grad_(True)
    opt=torch.optim.Adam([p],lr=LR)
    for it in range(iters):
        opt.zero_grad(); q=g0+(p-g0)*mask
        loss=ns(wiener(yy,fam.psf(q),LAM)); loss.backward(); opt.step()
        with torch.no_grad(): p.clamp_(-0.15,0.15)
    g1=(g0+(p-g0)*mask).detach()
    tt.append(time.perf_counter()-t0)
    T.append(g[0,odd].numpy()); E0.append(g0[0,odd].numpy()); E1.append(g1[0,odd].numpy())
    S0.append(float(psf_snr(h,fam.psf(g0)))); S1.append(float(psf_snr(h,fam.psf(g1))))
    for c in (0.5,0.6,0.7,0.8,0.9):
        gc=g1.clone(); gc[:,odd]*=c; SC.setdefault(c,[]).append(float(psf_snr(h,fam.psf(gc))))
T,E0,E1=map(np.concatenate,(T,E0,E1))
print("odd corr before",np.corrcoef(T,E0)[0,1].round(3),"after",np.corrcoef(T,E1)[0,1].round(3))
print("member PSF SNR before",np.mean(S0).round(2),"after",np.mean(S1).round(2),"time/img",np.median(tt).round(2))
print("shrunk", {c: round(float(np.mean(v)),2) for c,v in SC.items()})
print("sigma est median", np.median(SIG), "max", np.max(SIG))
