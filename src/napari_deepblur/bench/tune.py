"""Tuning of the classical methods' regularisation laws on training images (never the benchmark images).

``napari-deepblur bench tune`` draws ``--n-images`` seeded crops from train400 (or the training scikit-image
pictures when train400 is absent), blurs each with its own Zernike PSF (paper range, fc = 0.2) and, at every benchmark
noise level, runs Wiener, Richardson–Lucy and TV with the *true* PSF over a grid of constants of the laws in
:mod:`napari_deepblur.restoration` (``balance = c σ² + floor``, ``n_iter = clip(c / σ, lo, hi)``,
``mu = c σ² + floor``). The constants with the best mean PSNR over all crops and levels are printed; they are the
defaults written into :mod:`napari_deepblur.restoration`.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio

from .. import restoration
from .._deblur import blur_padded
from ..physics import NOISE_LEVELS, add_poisson_gaussian, get_family
from ..training.data import PatchBank

__all__ = ["GRIDS", "run_tune"]

GRIDS = {
    "wiener": {"c": [30, 100, 300, 1000, 3000], "floor": [1e-5, 1e-4, 1e-3]},
    "rl": {"c": [0.1, 0.25, 0.5, 1], "lo": [2, 5], "hi": [60, 120, 250]},
    "tv": {"c": [1, 3, 10, 30], "floor": [1e-5, 1e-4, 1e-3]},
}


def _run(method: str, y: np.ndarray, psf: np.ndarray, a: float, b: float, params: dict) -> np.ndarray:
    s = restoration.effective_sigma(y, a, b)
    if method == "wiener":
        return restoration.wiener(y, psf, a, b, balance=params["c"] * s**2 + params["floor"])
    if method == "rl":
        n = int(np.clip(round(params["c"] / max(s, 1e-6)), params["lo"], params["hi"]))
        return restoration.richardson_lucy(y, psf, a, b, n_iter=n)
    return restoration.tv_deconvolution(y, psf, a, b, mu=params["c"] * s**2 + params["floor"])


def run_tune(n_images: int = 16, size: int = 128, seed: int = 0, border: int = 16, progress: bool = True) -> dict:
    """Grid search; returns ``{method: {"best": params, "psnr": {params-json: mean PSNR}}}``."""
    bank = PatchBank.build(n_images, size, seed=50_000 + seed, mix={"train400": 0.7, "skimage": 0.3})
    fam = get_family("zernike", fc=0.2, max_zernike_amplitude=0.15)
    gen = torch.Generator().manual_seed(seed)
    gammas = fam.sample(n_images, generator=gen)
    cases = []
    for i in range(n_images):
        x = bank.patches[i : i + 1].double()
        h = fam.psf(gammas[i : i + 1].double())
        z = blur_padded(fam, h, x)
        for level, (a, b) in NOISE_LEVELS.items():
            y = add_poisson_gaussian(z, a, b, generator=gen)[0, 0].numpy()
            cases.append((level, x[0, 0].numpy(), y, h[0].numpy(), a, b))
    out = {"n_images": n_images, "size": size, "sources": sorted(set(bank.sources)), "methods": {}}
    combos = [(m, dict(zip(g, v, strict=True))) for m, g in GRIDS.items() for v in itertools.product(*g.values())]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(combos), desc="tune", mininterval=5)
    bsl = (slice(border, -border),) * 2
    for method, params in combos:
        scores = {lvl: [] for lvl in NOISE_LEVELS}
        for level, x, y, h, a, b in cases:
            o = np.clip(_run(method, y, h, a, b, params), 0, 1)
            scores[level].append(peak_signal_noise_ratio(x[bsl], o[bsl], data_range=1.0))
        res = out["methods"].setdefault(method, {"grid": []})
        entry = {"params": params, **{lvl: float(np.mean(v)) for lvl, v in scores.items()}}
        entry["mean"] = float(np.mean([entry[lvl] for lvl in NOISE_LEVELS]))
        res["grid"].append(entry)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    for res in out["methods"].values():
        res["best"] = max(res["grid"], key=lambda e: e["mean"])
    return out


def run(args) -> str:
    """The ``napari-deepblur bench tune`` command."""
    if args.threads:
        torch.set_num_threads(args.threads)
    res = run_tune(args.n_images, args.size, args.seed)
    lines = [f"Tuned on {res['n_images']} crops {res['size']}² from {', '.join(res['sources'])}; mean PSNR (dB):"]
    for m, r in res["methods"].items():
        b = r["best"]
        lines.append(f"{m}: {b['params']} → none {b['none']:.2f}, medium {b['medium']:.2f}, high {b['high']:.2f} dB")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1))
    return "\n".join(lines)
