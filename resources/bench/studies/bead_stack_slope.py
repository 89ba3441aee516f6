# A study (issue 19, the real bead's defocus; resources/bench/README.md, "A through-focus bead stack read at once").
# PYTHONPATH=src python resources/bench/studies/bead_stack_slope.py 4,6,8,10,12,14,16,18,20 fixed|free
"""The pyotf bead's planes (each cut around its own peak, datasets.measured_psf) fitted as one stack: shared
aberrations, the focus shift per plane fixed to the optics' exact value (``fixed``) or fitted (``free``, started from
it); then each plane's defocus read alone with the shared aberrations kept."""
import sys, time, numpy as np, torch
torch.set_num_threads(1)
from napari_deepblur.datasets import measured_sets, measured_psf
from napari_deepblur.physics import ZernikeFamily, psf_snr
s = [s for s in measured_sets() if s["id"] == "pyotf"][0]
fam = ZernikeFamily(**s["optics"]); fam.pupil_size = 128
fit_planes = [int(a) for a in sys.argv[1].split(",")]
free = sys.argv[2] == "free"
k0 = 12
allp = list(range(4, 21))
T = {k: torch.from_numpy(measured_psf(s["stack"], k)) for k in allp}
def exact_slope():
    r=np.linspace(0,1,20001); W=0.3*np.sqrt(1-0.85**2*r**2)/0.52
    return [2*np.trapezoid(W*Z*r,r) for Z in (np.sqrt(3)*(2*r**2-1), np.sqrt(5)*(6*r**4-6*r**2+1))]
s4, s11 = exact_slope(); s4, s11 = -s4, -s11   # gauge: defocus grows with the index
print("optics slope", s4, s11)
Tf = torch.stack([T[k] for k in fit_planes]); z = torch.tensor([k - k0 for k in fit_planes], dtype=torch.float64)
tn = Tf.square().sum((-2, -1))
def model(g, sl, zz):
    G = g[:, None, :].repeat(1, len(zz), 1)
    G[..., 0] = G[..., 0] + sl[:, None] * zz[None]
    G[..., 7] = G[..., 7] + (s11 / s4) * sl[:, None] * zz[None]
    return fam.psf(G.reshape(-1, 8)).reshape(g.shape[0], len(zz), 31, 31)
starts = []
for d0 in (-0.2, 0.0, 0.2):
    for sph in (-0.05, 0.05):
        g = torch.zeros(8, dtype=torch.float64); g[0] = d0; g[7] = sph; starts.append(g)
g = torch.stack(starts).requires_grad_(True)
sl = torch.full((len(starts),), s4, dtype=torch.float64, requires_grad=free)
opt = torch.optim.Adam([g, sl] if free else [g], lr=0.003)
t = time.time()
for it in range(300):
    opt.zero_grad()
    loss = ((model(g, sl, z) - Tf[None]).square().sum((-2, -1)) / tn).sum()
    loss.backward(); opt.step()
with torch.no_grad():
    err = ((model(g, sl, z) - Tf[None]).square().sum((-2, -1)) / tn).mean(1)
    b = int(err.argmin()); gb = g[b].clone(); slb = float(sl[b])
print("time", round(time.time() - t, 1), "errs", err.detach().numpy().round(3))
print("gamma", gb.numpy().round(3), "slope", round(slb, 4), "focus plane %.2f" % (k0 - float(gb[0]) / slb))
# stage 2: per plane, defocus alone, others fixed
grid = torch.linspace(-1.0, 1.0, 401, dtype=torch.float64)
out = []
for k in allp:
    G = gb[None].repeat(len(grid), 1); G[:, 0] = grid
    G[:, 7] = gb[7] + (s11 / s4) * (grid - gb[0])
    with torch.no_grad():
        P = fam.psf(G); e = (P - T[k][None]).square().sum((-2, -1))
    i = int(e.argmin()); snr = float(psf_snr(T[k][None], P[i:i+1]))
    m = float(psf_snr(T[k][None], model(gb[None], torch.tensor([slb], dtype=torch.float64), torch.tensor([float(k - k0)], dtype=torch.float64))[0]))
    out.append(float(grid[i]))
    print(k, "fit" if k in fit_planes else "held", "plane defocus %.3f" % grid[i], "snr %.2f" % snr, "stack-model %.2f" % m,
          "g0 %.2f" % float(psf_snr(T[k][None], fam.psf(torch.zeros(1, 8, dtype=torch.float64)))))
print("steps 9-15", np.diff(out[5:12]).round(3))
