"""Realism benchmark of the identification (``napari-deepblur bench real``): is the estimated PSF right on images like
a biologist's, and on real microscope data?

Three parts, each row scored by PSF SNR ``10 log10(||h||² / ||h − ĥ||²)`` against the true (or measured) PSF:

* **phantom** — content that is sharp relative to the blur, blurred by the *aberration-free* PSF of the optics at
  ``fc`` ∈ {0.15, 0.2, 0.25, 0.35} (0.35: undersampled, pixel-integrated) with the three benchmark noise levels:
  real fluorescence images held out of all training (``datasets.FLUORESCENCE_VALIDATION``, downsampled 3× by area
  averaging), bsd68 (never trained on) and procedural fluorescence scenes. The right answer is γ = 0: the row
  ``γ = 0`` is exact by construction (not shown), so the estimate's score says how much it invents.
* **sparse** — the same content under 1–2 aberrations of 0.05–0.15 waves (random terms and signs), where the row
  ``γ = 0`` (the aberration-free PSF a user would compute) is the baseline to beat.
* **real** — measured data in ``../shared/data/microscopy/`` (skipped when absent): the pyotf bead (NA 0.85, 520 nm,
  130 nm pixels, air) in focus (plane 12) against its own background-subtracted image, and the defocus the
  identification reports along planes 6–18 (0.3 µm steps: it should move monotonically) — plane by plane, and
  with the whole stack read at once (:func:`napari_deepblur.api.bead_stack.identify_bead_stack`); the MPI-CBG
  confocal sample against the PSF averaged from its beads (NA and wavelength undocumented: NA 1.4, 0.52 µm
  assumed, stated).

Rows: ``estimate`` (:func:`napari_deepblur.identify`, the shipped Zernike network) and ``γ = 0`` (the aberration-free
PSF of the same optics). Seconds per identification are recorded.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..datasets import (
    FLUORESCENCE_VALIDATION,
    SKIMAGE_TEST,
    default_test_images,
    load_fluorescence,
    load_skimage,
    measured_sets,
)
from ..physics import NOISE_LEVELS, ZernikeFamily, forward_model, psf_snr
from ..physics.priors import PRIOR_DEFAULT
from ..synthetic import fluorescence_scene
from .protocol import normalized_noise, summary, write_results

__all__ = ["FCS", "format_real", "run_real_bench"]

#: Cutoffs of the phantom and sparse parts (0.35: a camera pixel 1.4 times the Nyquist size).
FCS = (0.15, 0.2, 0.25, 0.35)
#: Crop side of the phantom content.
SIZE = 256


def _content(n_per_class: int, seed: int, validation: bool = False) -> dict[str, list[np.ndarray]]:
    """``{class: [images in [0, 1]]}``: held-out real fluorescence, bsd68 (or, with ``validation`` or without bsd68,
    the held-out scikit-image pictures), procedural fluorescence scenes — ``SIZE``² centre crops."""

    def crop(a: np.ndarray) -> np.ndarray:
        H, W = a.shape
        i, j = max((H - SIZE) // 2, 0), max((W - SIZE) // 2, 0)
        a = a[i : i + SIZE, j : j + SIZE]
        return ((a - a.min()) / max(float(np.ptp(a)), 1e-12)).astype(np.float32)

    out: dict[str, list[np.ndarray]] = {}
    fluo = [load_fluorescence(name, downsample=3) for name in FLUORESCENCE_VALIDATION]
    fluo = [crop(a) for a in fluo if a is not None and min(a.shape) >= 96]
    if fluo:
        out["fluorescence (held out, 3x down)"] = fluo[:n_per_class]
    if validation:
        natural, source = [load_skimage(n) for n in SKIMAGE_TEST[:n_per_class]], "held-out scikit-image"
    else:
        natural, source = default_test_images(None, n_per_class)
    out["bsd68" if "bsd68" in source else "natural (held-out scikit-image)"] = [crop(a) for a in natural]
    rng = np.random.default_rng(seed)
    out["procedural scenes"] = [crop(fluorescence_scene((SIZE, SIZE), rng)) for _ in range(n_per_class)]
    return out


def _sparse_gamma(rng: np.random.Generator, dim: int = 8) -> np.ndarray:
    """1–2 aberrations of 0.05–0.15 waves, random terms and signs."""
    g = np.zeros(dim)
    for k in rng.choice(dim, size=int(rng.integers(1, 3)), replace=False):
        g[k] = rng.choice([-1, 1]) * rng.uniform(0.05, 0.15)
    return g


#: PSF SNR above this counts as this (an exact γ = 0 answer to an aberration-free image would be infinite).
SNR_CAP = 30.0


def _score(h: torch.Tensor, h_hat: np.ndarray) -> float:
    return min(SNR_CAP, float(psf_snr(h, torch.as_tensor(np.asarray(h_hat, dtype=np.float64))[None])))


def _synthetic_part(
    part: str, contents: dict, levels: list[str], seed: int, device: str, weights: str | None = None,
    prior: str = PRIOR_DEFAULT,
) -> list[dict]:  # fmt: skip
    from ..api.identify import identify

    rng = np.random.default_rng(1000 + seed)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for cls, images in contents.items():
        for fc in FCS:
            fam = ZernikeFamily(fc=fc)
            for level in levels:
                alpha, beta = NOISE_LEVELS[level]
                est, raw, base, secs, truths, kept = [], [], [], [], [], []
                for img in images:
                    g = np.zeros(fam.dim) if part == "phantom" else _sparse_gamma(rng, fam.dim)
                    h = fam.psf(torch.tensor(g[None]))
                    x = torch.from_numpy(img).double()[None, None]
                    y = forward_model(x, fam, h, alpha, beta, generator=gen)[0, 0].numpy()
                    t0 = time.perf_counter()
                    nz = normalized_noise(y, alpha, beta)  # in the units identify scales the image to
                    res = identify(y, "zernike", noise=nz, device=device, fc=fc, weights=weights,
                                   prior=prior)  # fmt: skip
                    secs.append(time.perf_counter() - t0)
                    est.append(_score(h, res.psf))
                    g_raw = torch.tensor([list(res.details["estimate"].values())], dtype=torch.float64)
                    raw.append(_score(h, fam.psf(g_raw)[0]))
                    kept.append(res.details.get("kept", 1.0))
                    truths.append(h[0])
                    base.append(_score(h, fam.psf(torch.zeros(1, fam.dim, dtype=torch.float64))[0].numpy()))
                # the best image-free answer: the mean of the true PSFs minimises the mean squared error
                mean_psf = torch.stack(truths).mean(0)
                row = {"part": part, "content": cls, "fc": fc, "noise": level, "n": len(images),
                       "estimate": summary(est), "raw": summary(raw), "gamma0": summary(base),
                       "mean_psf": summary([_score(h[None], mean_psf) for h in truths]),
                       "kept": float(np.mean(kept)), "seconds": float(np.median(secs))}  # fmt: skip
                rows.append(row)
    return rows


def _real_part(device: str, weights: str | None = None, prior: str = PRIOR_DEFAULT) -> list[dict]:
    """The measured sets found in ``../shared/data/microscopy/`` (an empty list when the folder is absent)."""
    from ..api.bead_stack import identify_bead_stack
    from ..api.identify import identify

    rows = []
    for s in measured_sets():
        if s["id"] not in ("pyotf", "mpi_grid"):
            continue
        optics = s["optics"]
        fam = ZernikeFamily(**optics)
        measured = torch.from_numpy(s["psf"])[None]
        res = identify(s["image"], "zernike", device=device, weights=weights, prior=prior, **optics)
        g0 = fam.psf(torch.zeros(1, fam.dim, dtype=torch.float64))[0].numpy()
        content = "pyotf bead, plane 12 (in focus)" if s["id"] == "pyotf" else (
            "MPI-CBG confocal sample (grid), middle plane, vs averaged bead PSF")  # fmt: skip
        shown = {**optics, "assumed": "NA and wavelength"} if s["id"] == "mpi_grid" else optics
        rows.append({"part": "real", "content": content, "optics": shown, "estimate": _score(measured, res.psf),
                     "gamma0": _score(measured, g0), "gamma": res.named_gamma,
                     "verdict": res.details.get("verdict", "")})  # fmt: skip
        if s["id"] == "pyotf":
            series = {}
            for k in range(6, 19):
                series[k] = identify(s["stack"][k], "zernike", device=device, weights=weights, prior=prior, **optics)
                series[k] = series[k].named_gamma["defocus"]
            steps = np.diff([series[k] for k in range(9, 16)])
            rows.append({"part": "real", "content": "pyotf bead, defocus along planes 6-18 (0.3 um steps)",
                         "optics": optics, "defocus_by_plane": series,
                         "monotonic_9_15": bool((steps > 0).all() or (steps < 0).all())})  # fmt: skip
            whole = identify_bead_stack(s["stack"], s["z_step"], refractive_index=s["refractive_index"], **optics)
            series = {k: float(whole.defocus[k]) for k in range(6, 19)}
            steps = np.diff([series[k] for k in range(9, 16)])
            rows.append({"part": "real", "content": "pyotf bead, the whole stack read at once (identify_bead_stack): "
                         "defocus along planes 6-18", "optics": {**optics, "z_step": s["z_step"]},
                         "defocus_by_plane": series, "monotonic_9_15": bool((steps > 0).all() or (steps < 0).all()),
                         "focus_plane": round(whole.focus_plane, 2), "gamma": whole.named_gamma,
                         "plane_12": _score(measured, whole.plane_psfs[12]),
                         "seconds": round(whole.seconds, 1)})  # fmt: skip
    return rows


def run_real_bench(
    parts: tuple[str, ...] = ("phantom", "sparse", "real"),
    noise: str = "all",
    n_per_class: int = 3,
    seed: int = 0,
    device: str = "cpu",
    weights: str | None = None,
    validation: bool = False,
    prior: str = PRIOR_DEFAULT,
) -> dict:
    """Run the realism benchmark; returns a JSON-serialisable dict (``rows``, settings). ``weights``: an
    identification weights file to score instead of the shipped one; ``validation``: natural content from the
    held-out scikit-image pictures instead of bsd68 (to choose between networks without touching the test set)."""
    levels = list(NOISE_LEVELS) if noise == "all" else [noise]
    contents = _content(n_per_class, seed, validation) if {"phantom", "sparse"} & set(parts) else {}
    rows: list[dict] = []
    for part in ("phantom", "sparse"):
        if part in parts:
            rows += _synthetic_part(part, contents, levels, seed, device, weights, prior)
    if "real" in parts:
        rows += _real_part(device, weights, prior)
    return {"parts": list(parts), "noise": levels, "n_per_class": n_per_class, "seed": seed, "device": device,
            "threads": torch.get_num_threads(), "weights": weights or "shipped", "validation": validation,
            "prior": prior, "snr_cap_db": SNR_CAP, "rows": rows}  # fmt: skip


def format_real(result: dict) -> str:
    """Markdown tables: synthetic parts (mean PSF SNR, dB) and the real sets."""
    lines = [
        "| part | content | fc | noise | n | final answer (dB) | network's estimate (dB) | kept | γ = 0 (dB) | "
        "mean PSF (dB) | s / image |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if r["part"] == "real":
            continue
        g0 = f"{r['gamma0']['mean']:.2f}" if r["part"] == "sparse" else "exact (the truth)"
        raw = f"{r['raw']['mean']:.2f}" if "raw" in r else "—"
        lines.append(
            f"| {r['part']} | {r['content']} | {r['fc']:g} | {r['noise']} | {r['n']} | {r['estimate']['mean']:.2f} "
            f"| {raw} | {r.get('kept', 1.0):.2f} | {g0} | {r['mean_psf']['mean']:.2f} | {r['seconds']:.2f} |"
            if "mean_psf" in r
            else f"| {r['part']} | {r['content']} | {r['fc']:g} | {r['noise']} | {r['n']} | "
            f"{r['estimate']['mean']:.2f} | — | — | {g0} | — | {r['seconds']:.2f} |"
        )
    real = [r for r in result["rows"] if r["part"] == "real"]
    if real:
        lines += ["", "| real set | optics | estimate (dB) | γ = 0 (dB) | notes |", "|---|---|---|---|---|"]
        for r in real:
            optics = ", ".join(f"{k} {v}" for k, v in r["optics"].items())
            if "defocus_by_plane" in r:
                series = " ".join(f"{k}:{v:+.3f}" for k, v in r["defocus_by_plane"].items())
                whole = ""
                if "focus_plane" in r:
                    top = sorted(r["gamma"].items(), key=lambda kv: -abs(kv[1]))[:3]
                    whole = (f"; focus at plane {r['focus_plane']:.2f}, largest γ at focus: "
                             + ", ".join(f"{k} {v:+.3f}" for k, v in top)
                             + f"; the fitted plane 12 vs its measured PSF {r['plane_12']:.2f} dB")  # fmt: skip
                lines.append(f"| {r['content']} | {optics} | — | — | defocus (waves) by plane {series}; "
                             f"monotonic through 9–15: {'yes' if r['monotonic_9_15'] else 'no'}{whole} |")  # fmt: skip
            else:
                top = sorted(r["gamma"].items(), key=lambda kv: -abs(kv[1]))[:3]
                est = ", ".join(f"{k} {v:+.3f}" for k, v in top)
                lines.append(f"| {r['content']} | {optics} | {r['estimate']:.2f} | {r['gamma0']:.2f} | "
                             f"largest γ̂: {est}; {r.get('verdict', '')} |")  # fmt: skip
    return "\n".join(lines)


def run(args) -> str:
    """The ``napari-deepblur bench real`` command; returns the markdown tables."""
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_real_bench(
        tuple(args.parts), args.noise, args.n_per_class, args.seed, args.device, args.weights, args.validation,
        args.prior,
    )  # fmt: skip
    table = (
        f"Identification on realistic content and real data ({result['n_per_class']} images per content class, seed "
        f"{result['seed']}, device {result['device']}, {result['threads']} threads, prior {result['prior']!r}); PSF "
        f"SNR in dB, capped at {SNR_CAP:g} dB (an exact answer is infinite). Final answer: what identify() returns; "
        "network's estimate: before the evidence check (kept: the share of it kept, mean); mean PSF: the mean of the "
        "true PSFs of the row, the best image-free answer.\n\n" + format_real(result) + "\n"
    )
    write_results(args.out, result, table)
    return table
