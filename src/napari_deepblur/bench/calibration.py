"""How well a field calibration (:func:`napari_deepblur.api.calibrate.calibrate_field`, Model 2.2) reproduces the PSF
at field positions where there was no bead.

``python -m napari_deepblur.bench.calibration [--fields 5] [--out resources/bench/calibration_field]``

Synthetic bead fields: 20–60 beads at random positions (no two closer than a PSF side + 4 px) on a ``512²`` image, each
the PSF of its own field position under the ``spatially-varying`` family's continuous field model (defocus, tilt and
curvature of the focal plane, constant and off-axis astigmatism and coma, trefoil, spherical; parameters drawn from
the family), brightness 0.5–1, then Poisson–Gaussian noise at the benchmark's three levels (bead peaks about 1).
The field is calibrated from the image; at 50 held-out random positions the calibrated PSF is scored against the true
one by PSF SNR (both centred on their intensity centroid: the calibration removes each bead's position). The row
*nearest bead* is the PSF cut out of the bead nearest to each held-out position — what one would do without a field
model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..physics import NOISE_LEVELS, SpaceVaryingFamily, add_poisson_gaussian, psf_snr
from ..physics.calibrated_field import normalised_positions
from ..physics.zernike import diffraction_psf
from .protocol import write_results

__all__ = ["bead_field_case", "run_field_bench"]

SHAPE = (512, 512)
PSF_SIZE = 31


def _centred(psfs: torch.Tensor) -> torch.Tensor:
    """PSFs ``(m, h, w)`` shifted (Fourier) so that their intensity centroid is the centre pixel."""
    from scipy.ndimage import center_of_mass, fourier_shift

    out = []
    for h in psfs.numpy():
        c = (np.asarray(h.shape) - 1) / 2
        cy, cx = center_of_mass(np.clip(h, 0, None))
        out.append(np.fft.ifft2(fourier_shift(np.fft.fft2(h), (c[0] - cy, c[1] - cx))).real)
    return torch.from_numpy(np.asarray(out))


def true_psfs(fam: SpaceVaryingFamily, gamma: torch.Tensor, positions: np.ndarray) -> torch.Tensor:
    """``(m, h, w)`` PSFs of the continuous field model at pixel positions ``(m, 2)``."""
    uv = torch.from_numpy(normalised_positions(positions, SHAPE))
    z = fam.zernike_at(gamma.double(), uv)[0]
    return diffraction_psf(z, fam.fc, fam.psf_size, fam.pupil_size, fam.noll, fam.oversample)


def _spread_positions(rng: np.random.Generator, n: int, margin: int, min_dist: float) -> np.ndarray:
    pts: list[np.ndarray] = []
    for _ in range(100 * n):
        p = rng.uniform(margin, np.asarray(SHAPE) - margin)
        if all(np.hypot(*(p - q)) >= min_dist for q in pts):
            pts.append(p)
        if len(pts) == n:
            break
    return np.round(np.asarray(pts)).astype(int)


def bead_field_case(seed: int, noise: str, fc: float = 0.2) -> dict:
    """One synthetic bead field: ``image``, true ``gamma``, bead ``positions``, held-out ``held`` positions and the
    true ``held_psfs`` there (centroid-centred)."""
    rng = np.random.default_rng(seed)
    fam = SpaceVaryingFamily(fc=fc, psf_size=PSF_SIZE)
    gamma = fam.sample(1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    n = int(rng.integers(20, 61))
    pos = _spread_positions(rng, n, PSF_SIZE, PSF_SIZE + 4)
    psfs = true_psfs(fam, gamma, pos)
    img = np.zeros(SHAPE)
    half = PSF_SIZE // 2
    for (r, c), h, b in zip(pos, psfs.numpy(), rng.uniform(0.5, 1.0, n), strict=True):
        img[r - half : r + half + 1, c - half : c + half + 1] += b * h / h.max()
    alpha, beta = NOISE_LEVELS[noise]
    gen = torch.Generator().manual_seed(seed)
    y = add_poisson_gaussian(torch.from_numpy(img)[None, None], alpha, beta, generator=gen)[0, 0].numpy()
    held = rng.uniform(PSF_SIZE, np.asarray(SHAPE) - PSF_SIZE, size=(50, 2))
    return {"image": y, "gamma": gamma, "positions": pos, "held": held,
            "held_psfs": _centred(true_psfs(fam, gamma, held))}  # fmt: skip


def run_field_bench(n_fields: int = 5, levels=("none", "medium", "high")) -> dict:
    """Mean PSF SNR at held-out positions per noise level: the calibrated field and the nearest bead."""
    from ..api.calibrate import calibrate_field, extract_beads

    out = {}
    for level in levels:
        rows = []
        for seed in range(n_fields):
            case = bead_field_case(seed, level)
            field = calibrate_field(case["image"], PSF_SIZE, positions=case["positions"])
            est = _centred(field.psf_at(case["held"]))
            truth = case["held_psfs"]
            kept = field.positions.astype(int)  # the beads the calibration could cut out
            beads = extract_beads(case["image"], kept, PSF_SIZE)
            near = np.argmin(np.hypot(*(case["held"][:, None] - kept[None]).transpose(2, 0, 1)), axis=1)
            nearest = torch.from_numpy(beads[near])
            rows.append({
                "seed": seed,
                "n_beads": len(kept),
                "K": int(field.basis.shape[0]),
                "degree": field.degree,
                "field": float(psf_snr(truth, est).mean()),
                "nearest_bead": float(psf_snr(truth, nearest).mean()),
            })  # fmt: skip
        out[level] = {
            "cases": rows,
            "field_mean": float(np.mean([r["field"] for r in rows])),
            "field_min": float(np.min([r["field"] for r in rows])),
            "nearest_bead_mean": float(np.mean([r["nearest_bead"] for r in rows])),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fields", type=int, default=5)
    p.add_argument("--out", help="results JSON (a .md table is written beside it)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    res = run_field_bench(args.fields)
    lines = ["| noise | calibrated field (mean / worst field) | nearest bead |", "|---|---|---|"]
    for level, r in res.items():
        lines.append(f"| {level} | {r['field_mean']:.1f} / {r['field_min']:.1f} dB | {r['nearest_bead_mean']:.1f} dB |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        write_results(Path(args.out).with_suffix(".json"), res, table + "\n")


if __name__ == "__main__":
    main()
