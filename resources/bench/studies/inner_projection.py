# A study (issue 20, fluorescence content at high noise, where TV — which projects every iterate onto x >= 0 — leads
# deep-blur): deep-blur with its iterates projected onto the image's zero inside the Douglas–Rachford loop, on
# `bench restore --validation` (held-out fluorescence images and held-out scikit-image pictures; never bsd68).
# MODE: off (as shipped: the output projected), u (each prior step's output), x (each data step's output), ux (both).
# LOW: dark (the image's dark level, where the output is projected) or signal (the low end of the signal range the
# network reads, above the dark level under noise).
# Run from the repository root: MODE=off|u|x|ux LOW=dark|signal python resources/bench/studies/inner_projection.py NOISE
import os
import sys

import torch

torch.set_num_threads(1)
from restore_rows import print_restore_rows  # noqa: E402

from napari_deepblur.bench import restore  # noqa: E402
from napari_deepblur.methods import deepblur as D  # noqa: E402
from napari_deepblur.networks.unrolled import UnrolledDR, noise_map  # noqa: E402

MODE = os.environ.get("MODE", "off")
LOW = os.environ.get("LOW", "dark")
state = {"low": None, "depth": 0}
_run = D.run_unrolled


def run_unrolled(x, kernel, alpha, beta, **kw):
    if state["depth"] == 0:  # the outer call: where zero lies in the network's units
        lo, hi = kw.get("signal_range", (0.0, 1.0))
        state["low"] = (-lo / (hi - lo) if LOW == "dark" else 0.0) if kw.get("nonneg", False) else None
    state["depth"] += 1
    try:
        return _run(x, kernel, alpha, beta, **kw)
    finally:
        state["depth"] -= 1


D.run_unrolled = run_unrolled


def forward(self, y, op, alpha, beta, *, progress=None, sigma2=None, floor_scale=1.0, nonneg=False):
    low = state["low"] if MODE != "off" else None
    proj = (lambda t: t.clamp_min(low)) if low is not None else (lambda t: t)
    sig = noise_map(y, alpha, beta)
    if sigma2 is None:
        sigma2 = sig.square().mean(dim=(1, 2, 3))
    else:
        sigma2 = torch.as_tensor(sigma2, dtype=y.dtype, device=y.device).reshape(-1).expand(y.shape[0])
    kw = {} if op.__class__.__name__ == "ConvolutionOperator" else {"max_iter": self.cg_iter, "tol": 1e-4}
    aty = op.A_adjoint(y)
    x = op.solve(aty, self.lam(0, sigma2, floor_scale), **kw)
    z = x
    for k, den in enumerate(self.denoisers):
        u = den(z, sig)
        if "u" in MODE:
            u = proj(u)
        lam = self.lam(k + 1, sigma2, floor_scale)
        x = op.solve(aty + lam.view(-1, 1, 1, 1) * (2 * u - z), lam, **kw)
        if "x" in MODE:
            x = proj(x)
        z = z + x - u
    return x.clamp_min(0) if nonneg else x


UnrolledDR.forward = forward
noise = sys.argv[1]
print_restore_rows(f"{MODE} {LOW}", noise, restore.run_restore_bench(noise, validation=True), means=("deep-blur", "TV"))
