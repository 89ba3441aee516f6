"""Tuning of the classical methods' regularisation laws on training images (never the benchmark images).

``napari-deepblur bench tune`` draws ``--n-images`` seeded crops from train400 (or the training scikit-image
pictures when train400 is absent), blurs each with its own Zernike PSF (paper range, fc = 0.2) and, at every benchmark
noise level, runs Wiener, Richardson–Lucy and TV with the *true* PSF over a grid of constants of the laws in
:mod:`napari_deepblur.methods.regularisation` (``balance = c σ² + floor``, ``n_iter = clip(c / σ, lo, hi)``,
``mu = c σ² + floor``). The constants with the best mean PSNR over all crops and levels are printed; they are the
defaults written into :mod:`napari_deepblur.methods.regularisation`.

``napari-deepblur bench tune --deepblur`` instead tunes the one inference constant of deep-blur, the scale of the
network's learned λ floor on noise-free data (:attr:`napari_deepblur.physics.Family.floor_scale`): blind deep-blur (the
identification network's PSF) on centre crops of the *whole* training scikit-image pictures, each blurred by
``--n-psfs`` PSFs of each family (Zernike: paper range) at every noise level; for each family, the scale with the
best mean PSNR over the noise levels wins (the floor stands for the error of that family's blind estimate).
Whole pictures matter: the identification reads many windows of them, so its error is smaller than on the training
patches the floor was learned on.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio

from ..datasets import PatchBank
from ..methods import classical, regularisation
from ..physics import NOISE_LEVELS, add_poisson_gaussian, blur
from . import protocol

__all__ = ["FLOOR_GRID", "GRIDS", "run_tune", "run_tune_deepblur"]

GRIDS = {
    "wiener": {"c": [30, 100, 300, 1000, 3000], "floor": [1e-5, 1e-4, 1e-3]},
    "rl": {"c": [0.1, 0.25, 0.5, 1], "lo": [2, 5], "hi": [60, 120, 250]},
    "tv": {"c": [1, 3, 10, 30], "floor": [1e-5, 1e-4, 1e-3]},
}


#: λ-floor scales tried by :func:`run_tune_deepblur`.
FLOOR_GRID = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)


def _run(method: str, y: np.ndarray, psf: np.ndarray, a: float, b: float, params: dict) -> np.ndarray:
    s = regularisation.effective_sigma(y, a, b)
    if method == "wiener":
        return classical.wiener(y, psf, a, b, balance=regularisation.wiener_balance(s, **params))
    if method == "rl":
        return classical.richardson_lucy(y, psf, a, b, n_iter=regularisation.rl_iterations(s, **params))
    return classical.tv_deconvolution(y, psf, a, b, mu=regularisation.tv_mu(s, **params))


def run_tune(n_images: int = 16, size: int = 128, seed: int = 0, border: int = 16, progress: bool = True) -> dict:
    """Grid search; returns ``{method: {"best": params, "psnr": {params-json: mean PSNR}}}``."""
    bank = PatchBank.build(n_images, size, seed=50_000 + seed, mix={"train400": 0.7, "skimage": 0.3})
    fam, _ = protocol.benchmark_family("zernike")
    gen = torch.Generator().manual_seed(seed)
    gammas = fam.sample(n_images, generator=gen)
    cases = []
    for i in range(n_images):
        x = bank.patches[i : i + 1].double()
        h = fam.psf(gammas[i : i + 1].double())
        z = blur(x, fam, h)
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


def _centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    H, W = img.shape
    i, j = max((H - size) // 2, 0), max((W - size) // 2, 0)
    return np.ascontiguousarray(img[i : i + size, j : j + size])


def run_tune_deepblur(
    n_psfs: int = 2,
    size: int = 384,
    seed: int = 0,
    scales: tuple[float, ...] = FLOOR_GRID,
    families: tuple[str, ...] = ("zernike", "gaussian"),
    border: int = 16,
    progress: bool = True,
) -> dict:
    """Grid search of deep-blur's λ-floor scale, blind, on whole training pictures (see the module docstring).

    Returns ``{"grid": [{"floor_scale", family: {level: {"psnr", "ssim"}, "mean": mean PSNR}}], "best": {family:
    scale}, ...}``.
    """
    from ..api.deblur import deblur
    from ..api.identify import identify
    from ..datasets import SKIMAGE_TRAIN, load_skimage

    pics = [_centre_crop(load_skimage(name), size) for name in SKIMAGE_TRAIN]
    gen = torch.Generator().manual_seed(seed)
    cases = []
    for family in families:
        fam, optics = protocol.benchmark_family(family)  # optical families: benchmark cutoff and paper range
        gammas = fam.sample(len(pics) * n_psfs, generator=gen)
        for i, x in enumerate(pics):
            for j in range(n_psfs):
                h = fam.psf(gammas[i * n_psfs + j : i * n_psfs + j + 1].double())
                z = blur(torch.from_numpy(x).double()[None, None], fam, h)
                for level, (a, b) in NOISE_LEVELS.items():
                    y = add_poisson_gaussian(z, a, b, generator=gen)[0, 0].numpy().astype(np.float32)
                    nz = protocol.normalized_noise(y, a, b)
                    psf = identify(y, family, noise=nz, device="cpu", prior="paper", **optics).psf
                    cases.append((family, level, x, y, nz, psf, optics))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(scales) * len(cases), desc="tune deep-blur", mininterval=5)
    grid = []
    for scale in scales:
        scores: dict[str, dict[str, list]] = {}
        for family, level, x, y, nz, psf, optics in cases:
            out = deblur(y, family, noise=nz, method="deepblur", psf=psf, device="cpu", floor_scale=scale, **optics)
            p, q = protocol.scores(out.image, x, border)
            s = scores.setdefault(family, {}).setdefault(level, {"psnr": [], "ssim": []})
            s["psnr"].append(p)
            s["ssim"].append(q)
            if bar is not None:
                bar.update(1)
        entry: dict = {"floor_scale": scale}
        for family, levels in scores.items():
            entry[family] = {lvl: {k: float(np.mean(v)) for k, v in d.items()} for lvl, d in levels.items()}
        for family in scores:
            entry[family]["mean"] = float(np.mean([d["psnr"] for d in entry[family].values()]))
        grid.append(entry)
    if bar is not None:
        bar.close()
    return {
        "pictures": list(SKIMAGE_TRAIN),
        "size": size,
        "n_psfs": n_psfs,
        "seed": seed,
        "families": list(families),
        "blind": True,
        "grid": grid,
        "best": {f: max(grid, key=lambda e, f=f: e[f]["mean"])["floor_scale"] for f in families},
    }


def run(args) -> str:
    """The ``napari-deepblur bench tune`` command."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.deepblur:
        res = run_tune_deepblur(args.n_psfs, args.size or 384, args.seed, families=tuple(args.families))
        lines = [
            f"deep-blur λ-floor scale, blind, on {len(res['pictures'])} whole training pictures (centre "
            f"{res['size']}² crops) x {res['n_psfs']} PSFs; mean PSNR (dB) none / medium / high:"
        ]
        for e in res["grid"]:
            per = "; ".join(
                f"{f} " + " / ".join(f"{e[f][lvl]['psnr']:.2f}" for lvl in NOISE_LEVELS) + f" (mean {e[f]['mean']:.3f})"
                for f in res["families"]
            )
            lines.append(f"{e['floor_scale']:g}: {per}")
        lines.append("best: " + ", ".join(f"{f} {v:g}" for f, v in res["best"].items()))
    else:
        res = run_tune(args.n_images, args.size or 128, args.seed)
        lines = [f"Tuned on {res['n_images']} crops {res['size']}² from {', '.join(res['sources'])}; mean PSNR (dB):"]
        for m, r in res["methods"].items():
            b = r["best"]
            scores = ", ".join(f"{lvl} {b[lvl]:.2f}" for lvl in NOISE_LEVELS)
            lines.append(f"{m}: {b['params']} → {scores} dB")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1))
    return "\n".join(lines)
