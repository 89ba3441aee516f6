"""Identification benchmark (paper 002 §3.1.1 protocol): PSF SNR of the estimated kernel over images × PSFs.

For each test image and each sampled parameter ``gamma``: blur the sharp image (reflect-padded, so no wrap-around
edges), add Poisson–Gaussian noise at the chosen level, run :func:`napari_deepblur.identify` and score
``10 log10(||h||^2 / ||h - h_hat||^2)``. Baseline rows, which need no estimation:

* ``gamma = 0``: the aberration-free (diffraction-limited) PSF a user would take by default — for the Gaussian
  family, the PSF at the centre of the parameter box;
* the family-mean PSF: the average of 2000 PSFs drawn from the benchmark distribution, the best constant guess in
  PSF SNR (it knows the test distribution, so it is an optimistic baseline).
"""

from __future__ import annotations

import functools
import statistics
import time

import numpy as np
import torch

from ..datasets import default_test_images
from ..methods._optim import adam_minimize
from ..physics import NOISE_LEVELS, add_poisson_gaussian, blur, psf_snr
from .protocol import benchmark_family, normalized_noise, summary, write_results

__all__ = ["best_constant_gamma", "format_rows", "run_identify_bench"]


def best_constant_gamma(fam, draws: torch.Tensor, n_fit: int = 300, n_iter: int = 200) -> torch.Tensor:
    """The one family member with the highest mean PSF SNR over ``draws[:n_fit]``: the strongest answer that ignores
    the image (a family member, unlike the family-mean PSF).

    Adam on the mean PSF SNR in dB, started from the best of 32 draws scored against the others.
    """
    target = torch.cat([fam.psf(draws[i : i + 100].double()) for i in range(0, n_fit, 100)])[:n_fit]

    def mean_snr(g: torch.Tensor) -> torch.Tensor:
        return psf_snr(target, fam.psf(g).expand_as(target)).mean()

    with torch.no_grad():
        cands = draws[n_fit : n_fit + 32].double()
        start = cands[int(torch.stack([mean_snr(c[None]) for c in cands]).argmax())][None]
    lo, hi = fam.bounds(dtype=torch.float64).unbind(1)
    lr = 0.003 * float((hi - lo).mean()) / 0.3
    return adam_minimize(lambda g: -mean_snr(g), start, lr=lr, n_iter=n_iter, lower=lo, upper=hi)


@functools.lru_cache(maxsize=8)
def _image_free_psfs(family: str, fc: float, setting: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The family-mean PSF and the best constant member's PSF (over 2000 draws with seed ``10_000 + seed``). They do
    not depend on the images or the noise, so one benchmark run computes them once for all its noise levels."""
    fam, _ = benchmark_family(family, fc, setting)
    draws = fam.sample(2000, generator=torch.Generator().manual_seed(10_000 + seed))
    mean_psf = sum(fam.psf(draws[i : i + 100]).sum(0, keepdim=True) for i in range(0, 2000, 100)) / 2000
    const_psf = fam.psf(best_constant_gamma(fam, draws)).to(draws.dtype)
    return mean_psf, const_psf


def run_identify_bench(
    family: str = "zernike",
    noise: str = "none",
    images: str | None = None,
    n_images: int | None = None,
    n_psfs: int = 100,
    setting: str = "paper",
    seed: int = 0,
    device: str = "cpu",
    fc: float | None = None,
    progress: bool = True,
    weights: str | None = None,
    tta: bool = False,
) -> dict:
    """Run the benchmark; returns a JSON-serialisable dict with per-case scores and summaries."""
    from ..api.identify import identify

    imgs, source = default_test_images(images, n_images)
    fam, optics = benchmark_family(family, fc, setting)
    alpha, beta = NOISE_LEVELS[noise]
    gen = torch.Generator().manual_seed(seed)
    base_psf = fam.psf(fam.baseline_gamma())
    mean_psf, const_psf = _image_free_psfs(family, fc, setting, seed)
    scores, base_scores, mean_scores, const_scores, seconds = [], [], [], [], []
    cases = [(i, j) for i in range(len(imgs)) for j in range(n_psfs)]
    gammas = fam.sample(len(cases), generator=gen)
    psfs = torch.cat([fam.psf(gammas[i : i + 100]) for i in range(0, len(cases), 100)])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(cases), desc=f"bench identify {family}/{noise}", mininterval=5)
    for k, (i, _) in enumerate(cases):
        x = torch.from_numpy(imgs[i]).double()[None, None]
        z = blur(x, fam, psfs[k : k + 1].double())
        y = add_poisson_gaussian(z, alpha, beta, generator=gen)[0, 0].numpy()
        t0 = time.perf_counter()
        nz = normalized_noise(y, alpha, beta)  # in the units identify scales the image to
        res = identify(y, family, noise=nz, device=device, weights=weights, tta=tta, prior="paper", **optics)
        seconds.append(time.perf_counter() - t0)
        h = psfs[k : k + 1]
        scores.append(float(psf_snr(h, torch.from_numpy(res.psf)[None].to(h.dtype))))
        base_scores.append(float(psf_snr(h, base_psf)))
        mean_scores.append(float(psf_snr(h, mean_psf)))
        const_scores.append(float(psf_snr(h, const_psf)))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return {
        "family": family,
        "noise": noise,
        "alpha_beta": [alpha, beta],
        "setting": setting if fam.uses_optics else "family range",
        "coefficient_range": [float(fam.bounds()[0, 0]), float(fam.bounds()[0, 1])],
        "fc": optics.get("fc"),
        "psf_size": fam.psf_size,
        "images": source,
        "n_images": len(imgs),
        "n_psfs": n_psfs,
        "seed": seed,
        "device": device,
        "threads": torch.get_num_threads(),
        "tta": tta,
        "weights": weights or "shipped",
        "deepblur": summary(scores),
        "baseline": summary(base_scores),
        "baseline_name": fam.baseline_label,
        "mean_psf": summary(mean_scores),
        "best_constant": summary(const_scores),
        "seconds_per_image": {"median": statistics.median(seconds), "mean": float(np.mean(seconds))},
        "cases": [
            {"image": i, "psf": j, "snr": s, "baseline": b, "mean_psf": m, "best_constant": c}
            for (i, j), s, b, m, c in zip(cases, scores, base_scores, mean_scores, const_scores, strict=True)
        ],
    }


def format_rows(results: list[dict]) -> str:
    """Markdown table: one row per (method, noise level)."""
    lines = [
        "| family | setting | noise | method | mean PSF SNR (dB) | median | q1 – q3 | s / image |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows = (
            ("deepblur", "deep-blur (ours)"),
            ("baseline", r["baseline_name"]),
            ("best_constant", "best constant family member"),
            ("mean_psf", "family-mean PSF"),
        )
        for key, name in rows:
            if key not in r:  # results written before the row existed
                continue
            s = r[key]
            sec = f"{r['seconds_per_image']['median']:.3f}" if key == "deepblur" else "—"
            lines.append(
                f"| {r['family']} | {r['setting']} | {r['noise']} | {name} | {s['mean']:.2f} | {s['median']:.2f} "
                f"| {s['q1']:.2f} – {s['q3']:.2f} | {sec} |"
            )
    return "\n".join(lines)


def run(args) -> str:
    results = []
    levels = list(NOISE_LEVELS) if args.noise == "all" else [args.noise]
    for level in levels:
        results.append(
            run_identify_bench(
                args.family,
                level,
                args.images,
                args.n_images,
                args.n_psfs,
                args.setting,
                args.seed,
                args.device,
                args.fc,
                weights=args.weights,
                tta=args.tta,
            )
        )
    table = format_rows(results)
    header = (
        f"Test images: {results[0]['images']} ({results[0]['n_images']} images × {results[0]['n_psfs']} PSFs, seed "
        f"{results[0]['seed']}); coefficient range {results[0]['coefficient_range']}; device {results[0]['device']} "
        f"({results[0]['threads']} threads); test-time augmentation {'on' if results[0]['tta'] else 'off'}."
    )
    write_results(args.out, results, header + "\n\n" + table + "\n")
    return header + "\n\n" + table
