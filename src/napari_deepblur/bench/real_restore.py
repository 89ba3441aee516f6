"""Restoration of real microscope data (``napari-deepblur bench real-restore``): does blind deep-blur agree with what
the measured PSF gives, and does anything look wrong?

For each measured set in ``../shared/data/microscopy/`` (skipped when absent) — one 2D in-focus slice and the PSF
measured on the same microscope — four panels at the same contrast: the input, blind deep-blur (the PSF estimated from
the image with the stated optics), deep-blur with the measured PSF, Richardson–Lucy with the measured PSF. Numbers:
the agreement of the blind result with the measured-PSF result (SSIM, on the measured-PSF result's range), and for
every output the share of pixels below the input's dark level (0.01th percentile) and the peak relative to the
input's. One montage PNG (a row per set) and a JSON/markdown table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..datasets import measured_sets
from .protocol import write_results

__all__ = ["format_real_restore", "run_real_restore"]


def _ssim(a: np.ndarray, b: np.ndarray, ref: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, data_range=float(np.ptp(ref)) or 1.0))


def run_real_restore(montage: str | Path | None = None, device: str = "cpu") -> dict:
    """Restore every real set; returns the numbers and writes the montage PNG when asked."""
    from ..api.deblur import deblur

    rows, panels = [], []
    for s in measured_sets():
        img, psf = s["image"], s["psf"]
        outs = {"input": img.astype(np.float32)}
        if s["optics"] is not None:
            blind = deblur(img, "zernike", device=device, **s["optics"])
            outs["blind deep-blur"] = blind.image
        outs["deep-blur, measured PSF"] = deblur(img, psf=psf, device=device).image
        outs["RL, measured PSF"] = deblur(img, psf=psf, method="rl", device=device).image
        dark, peak = float(np.percentile(img, 0.01)), float(img.max())
        row = {"set": s["name"], "optics": s["optics"], "note": s["note"], "outputs": {}}
        for k, o in outs.items():
            row["outputs"][k] = {
                "below_dark_fraction": float((o < dark - 1e-6).mean()),
                "peak_ratio": float(o.max() / peak),
            }
        if "blind deep-blur" in outs:
            ref = outs["deep-blur, measured PSF"]
            row["ssim_blind_vs_measured"] = _ssim(outs["blind deep-blur"], ref, ref)
            row["gamma"] = blind.named_gamma
        rows.append(row)
        panels.append((s["name"], outs))
    if montage and panels:
        _write_montage(panels, Path(montage))
    return {"rows": rows, "montage": str(montage) if montage else None}


def _write_montage(panels: list, path: Path, side: int = 200) -> None:
    """One row per set, four columns, each row at the contrast of its measured-PSF deep-blur result (0.1–99.9 %)."""
    import imageio.v3 as iio
    from skimage.transform import resize

    columns = ["input", "blind deep-blur", "deep-blur, measured PSF", "RL, measured PSF"]
    gap = 4
    out = np.full((len(panels) * (side + gap) - gap, len(columns) * (side + gap) - gap), 0.15, np.float32)
    for i, (_, outs) in enumerate(panels):
        ref = outs["deep-blur, measured PSF"]
        lo, hi = np.percentile(ref, [0.1, 99.9])
        for j, col in enumerate(columns):
            if col not in outs:
                continue
            a = np.clip((outs[col] - lo) / max(hi - lo, 1e-12), 0, 1)
            a = resize(a, (side, side), order=0, anti_aliasing=False)
            out[i * (side + gap) : i * (side + gap) + side, j * (side + gap) : j * (side + gap) + side] = a
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, (255 * out).astype(np.uint8))


def format_real_restore(result: dict) -> str:
    """Markdown table of the agreement and the intensity figures."""
    lines = [
        "| set | optics | SSIM blind vs measured-PSF deep-blur | below dark level (blind / measured-PSF deep-blur / "
        "RL) | peak / input peak (same order) | notes |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        o = r["outputs"]
        keys = [k for k in ("blind deep-blur", "deep-blur, measured PSF", "RL, measured PSF") if k in o]
        below = " / ".join(f"{100 * o[k]['below_dark_fraction']:.1f} %" for k in keys)
        peaks = " / ".join(f"{o[k]['peak_ratio']:.2f}" for k in keys)
        ssim = f"{r['ssim_blind_vs_measured']:.3f}" if "ssim_blind_vs_measured" in r else "—"
        optics = ", ".join(f"{k} {v}" for k, v in r["optics"].items()) if r["optics"] else "not stated"
        lines.append(f"| {r['set']} | {optics} | {ssim} | {below} | {peaks} | {r['note']} |")
    return "\n".join(lines)


def run(args) -> str:
    """The ``napari-deepblur bench real-restore`` command."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_real_restore(args.montage, args.device)
    table = format_real_restore(result) + "\n"
    write_results(args.out, result, table)
    return table
