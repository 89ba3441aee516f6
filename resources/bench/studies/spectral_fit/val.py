import sys, time, numpy as np, torch
from napari_deepblur.bench.real import _content
from napari_deepblur.bench.protocol import benchmark_family
from napari_deepblur.api.params import normalize_intensity
from napari_deepblur.methods.identify_convolution import read_image
from spectral_fit import fit_spectrum, SpectrumPrior
from napari_deepblur.methods.orientation import orient_odd_terms
from napari_deepblur.physics import NOISE_LEVELS, forward_model, psf_snr
torch.set_num_threads(1)
kw = dict(a.split("=") for a in sys.argv[1:])
temper = float(kw.get("temper", 1)); n_iter = int(kw.get("iters", 150)); lrg = float(kw.get("lrg", 0.003))
levels = kw.get("levels", "none,medium,high").split(",")
npsf = int(kw.get("npsf", 3))
fam, _ = benchmark_family("zernike", None, "paper")
contents = _content(3, 0, validation=True)
gen = torch.Generator().manual_seed(0)
prior = SpectrumPrior.shipped()
draws = fam.sample(2000, generator=torch.Generator().manual_seed(10_000))
mean_psf = sum(fam.psf(draws[i:i+100]).sum(0, keepdim=True) for i in range(0, 2000, 100)) / 2000
res = {}
for level in levels:
    alpha, beta = NOISE_LEVELS[level]
    rows = []; percls = {}
    for cls, images in contents.items():
        for img in images:
            gs = fam.sample(npsf, generator=gen)
            for g in gs:
                h = fam.psf(g[None].double())
                x = torch.from_numpy(img).double()[None, None]
                y = forward_model(x, fam, h, alpha, beta, generator=gen)[0, 0].numpy()
                y = normalize_intensity(y.astype(np.float32), in_place=True)[0]
                sigma = float(np.sqrt(beta**2 + alpha * float(np.mean(y))))
                r = read_image(y, fam, torch.device("cpu"), prior="paper")
                t0 = time.perf_counter()
                starts = torch.cat([r.gamma, torch.zeros_like(r.gamma), fam.sample(int(kw.get('nrand',2)), generator=gen)])
                gf, d = fit_spectrum(y, fam, starts, sigma, prior, temper=temper, n_iter=n_iter, lr_g=lrg)
                t1 = time.perf_counter() - t0
                go, info = orient_odd_terms(y, fam, gf, sigma)
                s = lambda gg: float(psf_snr(h, fam.psf(gg.double())))
                rows.append((s(r.gamma), s(gf), s(go), float(psf_snr(h, mean_psf.double())), t1)); percls.setdefault(cls[:6], []).append(rows[-1][:3])
    a = np.array(rows); print({k: np.round(np.mean(v, 0), 2).tolist() for k, v in percls.items()})
    print(level, "net %.2f fit %.2f fit+orient %.2f mean %.2f  t %.2fs  fit>net %.2f" % (*a[:, :4].mean(0), a[:, 4].mean(), (a[:,2]>a[:,0]).mean()), flush=True)
