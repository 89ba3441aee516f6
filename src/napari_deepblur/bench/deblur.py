"""Deblurring benchmark (paper 002 §3.1.2, Table 1): PSNR, SSIM, PSF SNR and time of every method.

Protocol: each test image (bsd68 by default; never a training image) is blurred by its own PSF drawn from the
family's benchmark distribution (for Zernike: Noll 4–11, γ_k ~ U[−0.075, 0.075] waves, fc = 0.2), reflect-padded so
no wrap-around enters, and Poisson–Gaussian noise of the chosen level is added. Rows:

* ``blurry input`` — the observation itself;
* ``deep-blur`` — identification network + unrolled network (blind);
* ``deep-blur, true γ (oracle)`` — the unrolled network with the true operator;
* ``Wiener / RL / TV, estimated PSF`` — the classical methods with the identification network's PSF;
* ``RL, true PSF`` — Richardson–Lucy knowing the PSF;
* ``SelfDeblur`` (optional, ``--selfdeblur-images``) — on a subset of centre crops with a reduced iteration count
  and width, stated in the table, together with deep-blur on the same crops.

The noise level is given to every method (the true (α, β), converted to the units of the normalised image each
method sees); the blind part is the blur. PSNR and SSIM (scikit-image, data range 1) are computed on the image
minus a border of ``--border`` pixels. Seconds per image include the identification for blind rows.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..api.deblur import deblur
from ..api.identify import identify
from ..datasets import default_test_images
from ..methods.deepblur import default_floor_scale
from ..physics import NOISE_LEVELS, add_poisson_gaussian, blur, psf_snr
from .protocol import ROWS, benchmark_family, normalized_noise, scores, summary, write_results

__all__ = ["format_rows", "normalized_noise", "run_deblur_bench", "run_speed", "time_pipeline"]


def run_deblur_bench(
    family: str = "zernike",
    noise: str = "none",
    images: str | None = None,
    n_images: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    fc: float | None = None,
    border: int = 16,
    methods: tuple[str, ...] = tuple(ROWS),
    selfdeblur_images: int = 0,
    selfdeblur_iters: int = 500,
    selfdeblur_width: int = 32,
    selfdeblur_crop: int = 128,
    progress: bool = True,
    weights: str | None = None,
) -> dict:
    """Run the benchmark on one family and noise level; returns a JSON-serialisable dict."""
    imgs, source = default_test_images(images, n_images)
    fam, optics = benchmark_family(family, fc)
    alpha, beta = NOISE_LEVELS[noise]
    gen = torch.Generator().manual_seed(seed)
    gammas = fam.sample(len(imgs), generator=gen)
    rows: dict[str, dict[str, list]] = {k: {"psnr": [], "ssim": [], "psf_snr": [], "seconds": []} for k in methods}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(imgs), desc=f"bench deblur {family}/{noise}", mininterval=5)
    observations = []
    for i, img in enumerate(imgs):
        h = fam.psf(gammas[i : i + 1].double())
        x = torch.from_numpy(img).double()[None, None]
        y = add_poisson_gaussian(blur(x, fam, h), alpha, beta, generator=gen)[0, 0].numpy().astype(np.float32)
        observations.append((y, h))
        nz = normalized_noise(y, alpha, beta)
        t0 = time.perf_counter()
        est = identify(y, family, noise=nz, device=device, prior="paper", **optics)
        t_id = time.perf_counter() - t0
        h_hat = est.psf
        snr_hat = float(psf_snr(h, torch.from_numpy(h_hat).to(h.dtype)[None]))
        for key in methods:
            t0 = time.perf_counter()
            if key == "input":
                out, snr, sec = y, float("nan"), 0.0
            else:
                true = key in ("deepblur_oracle", "rl_true")
                method = {"deepblur_oracle": "deepblur", "rl_true": "rl"}.get(key, key)
                kernel = h[0].numpy() if true else h_hat
                extra = {"weights": weights} if weights and method == "deepblur" else {}
                res = deblur(y, fam, noise=nz, method=method, device=device, psf=kernel, prior="paper", **optics,
                             **extra)  # fmt: skip
                out = res.image
                sec = time.perf_counter() - t0 + (0.0 if true else t_id)
                snr = float("nan") if true else snr_hat
            p, s = scores(out, img, border)
            for name, v in (("psnr", p), ("ssim", s), ("psf_snr", snr), ("seconds", sec)):
                rows[key][name].append(v)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    result = {
        "family": family,
        "noise": noise,
        "alpha_beta": [alpha, beta],
        "fc": optics.get("fc"),
        "coefficient_range": [float(fam.bounds()[0, 0]), float(fam.bounds()[0, 1])],
        "images": source,
        "n_images": len(imgs),
        "seed": seed,
        "device": device,
        "weights": weights or "shipped",
        "floor_scale": default_floor_scale(family),
        "threads": torch.get_num_threads(),
        "border": border,
        "rows": {k: _row_summary(v) for k, v in rows.items()},
        "cases": {k: v for k, v in rows.items()},
    }
    if selfdeblur_images:
        result["selfdeblur"] = _selfdeblur_subset(
            imgs, observations, fam, family, alpha, beta, optics, device, border, selfdeblur_images,
            selfdeblur_iters, selfdeblur_width, selfdeblur_crop,
        )  # fmt: skip
    return result


def _row_summary(v: dict[str, list]) -> dict:
    out = {}
    for name, values in v.items():
        finite = [x for x in values if np.isfinite(x)]
        out[name] = summary(finite) if finite else None
    return out


def _selfdeblur_subset(imgs, observations, fam, family, alpha, beta, optics, device, border, n, iters, width, size):
    """SelfDeblur and deep-blur on the same centre crops of the first ``n`` observations."""
    rows = {k: {"psnr": [], "ssim": [], "psf_snr": [], "seconds": []} for k in ("input", "deepblur", "selfdeblur")}
    for (y, h), img in zip(observations[:n], imgs[:n], strict=False):
        H, W = y.shape
        r0, c0 = (H - size) // 2, (W - size) // 2
        yc, xc = y[r0 : r0 + size, c0 : c0 + size], img[r0 : r0 + size, c0 : c0 + size]
        nz = normalized_noise(yc, alpha, beta)
        for key in rows:
            t0 = time.perf_counter()
            if key == "input":
                out, snr = yc, float("nan")
            else:
                opts = {"n_iter": iters, "width": width} if key == "selfdeblur" else {}
                res = deblur(yc, family, noise=nz, method=key, device=device, prior="paper", **optics, **opts)
                out = res.image
                k = res.psf
                snr = float(psf_snr(h, torch.from_numpy(k).to(h.dtype)[None]))
            sec = time.perf_counter() - t0
            p, s = scores(out, xc, border)
            for name, v in (("psnr", p), ("ssim", s), ("psf_snr", snr), ("seconds", sec)):
                rows[key][name].append(v)
    return {
        "n_images": min(n, len(observations)),
        "crop": size,
        "iterations": iters,
        "width": width,
        "rows": {k: _row_summary(v) for k, v in rows.items()},
        "cases": rows,
    }


def _fmt(s: dict | None, key: str = "mean", digits: int = 2) -> str:
    return "—" if s is None else f"{s[key]:.{digits}f}"


def format_rows(results: list[dict]) -> str:
    """Markdown tables: one row per (noise level, method); SelfDeblur subsets in a second table."""
    lines = [
        "| family | noise | method | PSNR (dB) | SSIM | SSIM gain | PSF SNR (dB) | s / image (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        base = r["rows"]["input"]["ssim"]["mean"] if "input" in r["rows"] else float("nan")
        for key, s in r["rows"].items():
            gain = s["ssim"]["mean"] - base
            lines.append(
                f"| {r['family']} | {r['noise']} | {ROWS[key]} | {_fmt(s['psnr'])} | {_fmt(s['ssim'], digits=3)} "
                f"| {'—' if key == 'input' else f'{gain:+.3f}'} | {_fmt(s['psf_snr'])} "
                f"| {'—' if key == 'input' else _fmt(s['seconds'], 'median', 3)} |"
            )
    subsets = [r for r in results if "selfdeblur" in r]
    if subsets:
        lines += [
            "",
            "| family | noise | crops | method | PSNR (dB) | SSIM | PSF SNR (dB) | s / image (median) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        names = {"input": "blurry input", "deepblur": "deep-blur (ours, blind)"}
        for r in subsets:
            sd = r["selfdeblur"]
            crops = f"{sd['n_images']} × {sd['crop']}²"
            names["selfdeblur"] = f"SelfDeblur ({sd['iterations']} it., width {sd['width']})"
            for key, s in sd["rows"].items():
                lines.append(
                    f"| {r['family']} | {r['noise']} | {crops} | {names[key]} | {_fmt(s['psnr'])} "
                    f"| {_fmt(s['ssim'], digits=3)} | {_fmt(s['psf_snr'])} "
                    f"| {'—' if key == 'input' else _fmt(s['seconds'], 'median', 2)} |"
                )
    return "\n".join(lines)


def run(args) -> str:
    """The ``napari-deepblur bench deblur`` command; returns the markdown table."""
    if args.threads:
        torch.set_num_threads(args.threads)
    levels = list(NOISE_LEVELS) if args.noise == "all" else [args.noise]
    results = [
        run_deblur_bench(
            args.family,
            level,
            args.images,
            args.n_images,
            args.seed,
            args.device,
            args.fc,
            args.border,
            tuple(args.methods),
            args.selfdeblur_images,
            args.selfdeblur_iters,
            args.selfdeblur_width,
            args.selfdeblur_crop,
            weights=args.weights,
        )
        for level in levels
    ]
    r0 = results[0]
    header = (
        f"Test images: {r0['images']} ({r0['n_images']} images, one PSF each, seed {r0['seed']}); "
        f"coefficient range {r0['coefficient_range']}; noise level given to every method; PSNR/SSIM without a "
        f"{r0['border']}-px border; device {r0['device']} ({r0['threads']} threads); deep-blur λ-floor scale "
        f"{r0['floor_scale']:g}."
    )
    table = header + "\n\n" + format_rows(results) + "\n"
    write_results(args.out, results, table)
    return table


def time_pipeline(
    size: int = 512,
    repeats: int = 5,
    families: tuple[str, ...] = ("zernike", "gaussian", "spatially-varying"),
    device: str = "cpu",
    selfdeblur_iters: int = 3,
) -> dict:
    """Warm wall time of ``deblur`` (identification + deep-blur) on a ``size²`` image, median of ``repeats`` runs
    per family; and SelfDeblur's seconds per iteration at the paper's width (128) on the same image, extrapolated to
    its 5000 iterations."""
    from ..synthetic import fluorescence_scene

    fam0, _ = benchmark_family("zernike", setting="wide")
    x = torch.from_numpy(fluorescence_scene((size, size), seed=0)).double()[None, None]
    h = fam0.psf(fam0.sample(1, generator=torch.Generator().manual_seed(0)).double())
    y = add_poisson_gaussian(blur(x, fam0, h), 0.025, 0.05, generator=torch.Generator().manual_seed(1))
    y = y[0, 0].numpy().astype(np.float32)
    out: dict = {"size": size, "repeats": repeats, "device": device, "threads": torch.get_num_threads()}
    for family in families:
        deblur(y, family, noise="medium", device=device)  # warm-up: weights, pupil bases, caches
        times, ids = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = deblur(y, family, noise="medium", device=device)
            times.append(time.perf_counter() - t0)
            ids.append(r.timings["identify"])
        out[family] = {"total_median_s": float(np.median(times)), "identify_median_s": float(np.median(ids)),
                       "all_s": times}  # fmt: skip
    if selfdeblur_iters:
        from ..methods.selfdeblur import selfdeblur

        t0 = time.perf_counter()
        selfdeblur(y, 31, 1, width=128, device=device)  # warm-up (allocations)
        t_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        selfdeblur(y, 31, selfdeblur_iters, width=128, device=device)
        per_it = (time.perf_counter() - t0) / selfdeblur_iters
        out["selfdeblur"] = {"seconds_per_iteration": per_it, "first_call_s": t_one,
                             "extrapolated_5000_iterations_s": 5000 * per_it}  # fmt: skip
    return out


def run_speed(args) -> str:
    """The ``napari-deepblur bench speed`` command; returns a markdown table."""
    if args.threads:
        torch.set_num_threads(args.threads)
    r = time_pipeline(args.size, args.repeats, tuple(args.families), args.device, args.selfdeblur_iters)
    lines = [
        f"{r['size']}² image, device {r['device']} ({r['threads']} threads), warm, median of {r['repeats']} runs:",
        "",
        "| family | identify + deep-blur (s) | of which identify (s) |",
        "|---|---|---|",
    ]
    for f in args.families:
        lines.append(f"| {f} | {r[f]['total_median_s']:.2f} | {r[f]['identify_median_s']:.2f} |")
    if "selfdeblur" in r:
        sd = r["selfdeblur"]
        lines += ["", f"SelfDeblur (width 128): {sd['seconds_per_iteration']:.2f} s per iteration → "
                  f"{sd['extrapolated_5000_iterations_s'] / 60:.0f} min for the paper's 5000 iterations "
                  "(extrapolated)."]  # fmt: skip
    table = "\n".join(lines) + "\n"
    write_results(args.out, r, table)
    return table
