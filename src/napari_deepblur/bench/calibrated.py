"""A family calibrated from beads and its identification network, on held-out pictures (issue 22, Model 2.1).

``python -m napari_deepblur.bench.calibrated --family-file F [F2 ...] [--n-images 5 --n-ops 4]
[--out resources/bench/calibrated_family.json]``; ``--merge A.json B.json --out C.json`` joins runs on the same cases
(the rows that do not depend on the network are then written once).

Content: the held-out scikit-image pictures (:data:`~napari_deepblur.datasets.SKIMAGE_TEST`; never bsd68, never
train400), ``256²`` centre crops scaled to [0, 1]. Each is blurred by ``--n-ops`` operators drawn in the family's cone
(:meth:`~napari_deepblur.physics.calibrated.CalibratedFamily.sample`, Algorithm 2 of preprint 001, a fixed generator
per picture: the same operators for every noise level and every family file), and Poisson–Gaussian noise of the three
benchmark levels (:data:`~napari_deepblur.physics.NOISE_LEVELS`) is added (:func:`~napari_deepblur.physics.
forward_model`, reflecting boundary).

(a) **Identification**: the relative Frobenius error of the operator, ``‖h − ĥ‖₂ / ‖h‖₂`` of the PSFs (for a
convolution operator the Frobenius norm is ``√(H W)`` times the PSF's L2 norm, so the ratio is that of the PSFs), for
the family's network (:func:`napari_deepblur.identify` with the family; its weights beside the family file) and for
the centre of the measurements (:meth:`~napari_deepblur.physics.calibrated.CalibratedFamily.default_gamma`, what one
would take without identification).

(b) **Restoration** with the SAME estimated PSF for every method (:func:`napari_deepblur.deblur` with ``psf=``):
PSNR and SSIM (scikit-image, data range 1, the output clipped to [0, 1], a 16-pixel border left out), and the same
methods with the true PSF as references. The noise passed to the methods is the true (α, β) expressed for the image
as ``deblur`` scales it (:func:`~napari_deepblur.bench.protocol.normalized_noise`, as the deblurring benchmark does).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..physics import NOISE_LEVELS
from .protocol import normalized_noise, scores, summary, write_results

__all__ = [
    "BORDER",
    "METHODS",
    "SIZE",
    "format_calibrated",
    "held_out_pictures",
    "merge_results",
    "run_calibrated_bench",
]

#: Side of the centre crops.
SIZE = 256
#: Pixels left out of the scores at each side.
BORDER = 16
#: Restoration methods compared (names of :data:`napari_deepblur.METHODS` that take a given PSF).
METHODS = ("deepblur", "tv", "rl", "l1")
LABELS = {"deepblur": "deep-blur", "tv": "TV", "rl": "Richardson–Lucy", "l1": "ℓ1", "wiener": "Wiener"}


def held_out_pictures(n: int, size: int = SIZE) -> list[tuple[str, np.ndarray]]:
    """``(name, image)`` for the first ``n`` held-out scikit-image pictures: ``size²`` centre crops in [0, 1]."""
    from ..datasets import SKIMAGE_TEST, load_skimage

    if not 1 <= n <= len(SKIMAGE_TEST):
        raise ValueError(f"--n-images: 1 to {len(SKIMAGE_TEST)} held-out pictures, got {n}")
    out = []
    for name in SKIMAGE_TEST[:n]:
        a = load_skimage(name)
        H, W = a.shape
        i, j = max((H - size) // 2, 0), max((W - size) // 2, 0)
        a = a[i : i + size, j : j + size].astype(np.float64)
        out.append((name, (a - a.min()) / max(float(np.ptp(a)), 1e-12)))
    return out


def _rel_error(h: np.ndarray, h_hat: np.ndarray) -> float:
    return float(np.linalg.norm(h_hat - h) / np.linalg.norm(h))


def _family_key(fam) -> str:
    """Checksum of the family's eigen-PSFs and rays: the operators and true-PSF rows depend on nothing else."""
    d = hashlib.sha256(fam.basis.numpy().tobytes())
    d.update(np.ascontiguousarray(fam.rays[fam.kept]).tobytes())
    return d.hexdigest()[:16]


def _training(fam) -> dict:
    """What the family's network was trained with (from its weights' metadata), or ``{}``."""
    if not fam.identify_weights:
        return {}
    meta = json.loads(torch.load(fam.identify_weights, map_location="cpu", weights_only=True)["meta"])
    keep = ("steps", "batch_size", "bank_size", "threads", "noise_scale", "noise_dist", "p_noiseless", "seed", "loss")
    return {"command": meta.get("command", ""), "steps_done": meta.get("steps_done"),
            "wall_time_min": round(meta.get("wall_time_s", float("nan")) / 60, 2),
            "config": {k: meta["config"].get(k) for k in keep},
            "validation_last": (meta.get("validation") or [{}])[-1]}  # fmt: skip


def run_calibrated_bench(
    family_files,
    n_images: int = 5,
    n_ops: int = 4,
    levels=tuple(NOISE_LEVELS),
    methods=METHODS,
    seed: int = 0,
    device: str = "cpu",
    truth_rows: bool = True,
    log=None,
) -> dict:
    """Run the benchmark for each family file (each with its identification network beside it); returns a
    JSON-serialisable dict: per file, per noise level, the relative operator errors (network, centre) and the
    restoration scores (blurry input, each method with the estimate, each method with the true PSF)."""
    from ..api.deblur import deblur
    from ..api.identify import identify
    from ..physics import forward_model
    from ..physics.calibrated import CalibratedFamily

    if isinstance(family_files, (str, Path)):
        family_files = [family_files]
    pictures = held_out_pictures(n_images)
    cache: dict = {}  # (family key, level, picture, operator, row) -> scores shared by identical families
    networks = []
    for path in family_files:
        fam = CalibratedFamily.load(path)
        if not fam.identify_weights:
            raise ValueError(f"{path}: no identification network beside it (napari-deepblur train identify "
                             "--family-file)")  # fmt: skip
        key = _family_key(fam)
        centre = fam.psf(fam.default_gamma(dtype=torch.float64))[0].numpy()
        per_level = {}
        for level in levels:
            alpha, beta = NOISE_LEVELS[level]
            cases = []
            noise_seed = 1_000_000 * seed + 10_000 * list(NOISE_LEVELS).index(level)
            for i, (name, img) in enumerate(pictures):
                gamma = fam.sample(n_ops, generator=torch.Generator().manual_seed(1000 * seed + i), dtype=torch.float64)
                psfs = fam.psf(gamma)
                x = torch.from_numpy(img)[None, None]
                for j in range(n_ops):
                    gen = torch.Generator().manual_seed(noise_seed + 100 * i + j)
                    y = forward_model(x, fam, psfs[j : j + 1], alpha, beta, generator=gen)[0, 0].numpy()
                    y = y.astype(np.float32)
                    h = psfs[j].numpy()
                    nz = normalized_noise(y, alpha, beta)
                    t0 = time.perf_counter()
                    est = identify(y, family=fam, noise=nz, device=device)
                    case = {"picture": name, "operator": j, "gamma": gamma[j].tolist(),
                            "gamma_hat": est.gamma.tolist(), "identify_s": time.perf_counter() - t0,
                            "error": {"network": _rel_error(h, est.psf), "centre": _rel_error(h, centre)},
                            "psnr": {}, "ssim": {}}  # fmt: skip
                    rows = {"blurry input": None}
                    rows.update({f"{m}, estimate": (m, est.psf) for m in methods})
                    if truth_rows:
                        rows.update({f"{m}, true PSF": (m, h) for m in methods})
                    for row, spec in rows.items():
                        ck = (key, level, i, j, row)
                        if spec is not None and row.endswith("estimate"):
                            ck = None  # depends on the network
                        if ck is not None and ck in cache:
                            p, s = cache[ck]
                        else:
                            out = y if spec is None else deblur(y, family=fam, psf=spec[1], method=spec[0], noise=nz,
                                                                device=device, tile=0).image  # fmt: skip
                            p, s = scores(out, img, BORDER)
                            if ck is not None:
                                cache[ck] = (p, s)
                        case["psnr"][row], case["ssim"][row] = p, s
                    cases.append(case)
                    if log is not None:
                        log(f"{Path(path).name} {level} {name} op {j}: error {case['error']['network']:.3f} "
                            f"(centre {case['error']['centre']:.3f}), deep-blur "
                            f"{case['psnr'].get('deepblur, estimate', float('nan')):.2f} dB")  # fmt: skip
            row_names = list(cases[0]["psnr"])
            per_level[level] = {
                "error": {k: summary([c["error"][k] for c in cases]) for k in ("network", "centre")},
                "psnr": {r: summary([c["psnr"][r] for c in cases]) for r in row_names},
                "ssim": {r: summary([c["ssim"][r] for c in cases]) for r in row_names},
                "cases": cases,
            }
        networks.append({"family_file": str(path), "K": fam.dim, "kept_rays": len(fam.kept),
                         "identify_weights": fam.identify_weights, "training": _training(fam),
                         "levels": per_level})  # fmt: skip
    return {"pictures": [n for n, _ in pictures], "n_ops": n_ops, "size": SIZE, "border": BORDER, "seed": seed,
            "methods": list(methods), "noise_levels": {lv: NOISE_LEVELS[lv] for lv in levels},
            "threads": torch.get_num_threads(), "device": device, "networks": networks}  # fmt: skip


def merge_results(results: list[dict]) -> dict:
    """One result holding the networks of several runs of the same benchmark (same pictures, operators, seed)."""
    first = results[0]
    same = ("pictures", "n_ops", "size", "border", "seed", "noise_levels")
    for r in results[1:]:
        if any(r[k] != first[k] for k in same):
            raise ValueError(f"these results are not of the same benchmark cases ({', '.join(same)} differ)")
    return {**first, "networks": [n for r in results for n in r["networks"]]}


def _tag(net: dict) -> str:
    """Short name of a network in the tables: its steps and, when not the default, its noise law and scale."""
    t = net["training"]
    c = t.get("config", {})
    tag = f"{t.get('steps_done')} steps"
    tag += f", {c['noise_dist']} noise" if c.get("noise_dist", "uniform") != "uniform" else ""
    tag += f", noise ×{c['noise_scale']:g}" if c.get("noise_scale", 1.0) != 1.0 else ""
    return tag


def _describe(net: dict) -> str:
    t = net["training"]
    c = t.get("config", {})
    return (f"{_tag(net)}: `{Path(net['family_file']).name}` (K = {net['K']}, {net['kept_rays']} rays kept), "
            f"batch {c.get('batch_size')}, bank {c.get('bank_size')}, {t.get('wall_time_min')} min of training on "
            f"{c.get('threads')} thread(s); `{t.get('command', '')}`")  # fmt: skip


def _cells(stats: dict, levels: list[str], fmt) -> str:
    return " | ".join(fmt(stats[v]) for v in levels)


def format_calibrated(result: dict) -> str:
    """Markdown: the networks, the operator errors (each network, the centre of the measurements), the restoration
    scores (blurry input; each method with each network's estimate and with the true PSF); mean / median. Rows that
    do not depend on the network (centre, blurry input, true PSF) are written once when the runs agree on them."""
    nets = result["networks"]
    levels = list(nets[0]["levels"])
    n = len(result["pictures"]) * result["n_ops"]
    lines = [f"Held-out scikit-image pictures ({', '.join(result['pictures'])}; {SIZE}² centre crops) × "
             f"{result['n_ops']} operators from the family's cone = {n} cases per noise level; mean / median; "
             f"{BORDER}-px border left out of PSNR / SSIM.", ""]  # fmt: skip
    lines += [f"* {_describe(net)}" for net in nets]
    head = " | ".join(levels) + " |"
    lines += ["", "| relative Frobenius error of the operator | " + head, "|---|" + "---|" * len(levels)]

    def pct(s: dict) -> str:
        return f"{100 * s['mean']:.1f} / {100 * s['median']:.1f} %"

    for net in nets:
        err = {v: net["levels"][v]["error"]["network"] for v in levels}
        lines.append(f"| identification network, {_tag(net)} | " + _cells(err, levels, pct) + " |")
    seen: set[str] = set()

    def once(label: str, stats: dict, fmt) -> None:
        row = f"| {label} | " + _cells(stats, levels, fmt) + " |"
        if row not in seen:
            seen.add(row)
            lines.append(row)

    for net in nets:
        once("centre of the measurements", {v: net["levels"][v]["error"]["centre"] for v in levels}, pct)
    lines += ["", "| restoration (PSNR dB, SSIM) | " + head, "|---|" + "---|" * len(levels)]

    def score(s: tuple) -> str:
        return f"{s[0]['mean']:.2f} / {s[0]['median']:.2f}, {s[1]['mean']:.3f} / {s[1]['median']:.3f}"

    def both(net: dict, row: str) -> dict | None:
        lv = net["levels"]
        return {v: (lv[v]["psnr"][row], lv[v]["ssim"][row]) for v in levels} if row in lv[levels[0]]["psnr"] else None

    for net in nets:
        once("blurry input", both(net, "blurry input"), score)
    for m in result["methods"]:
        for net in nets:
            if (s := both(net, f"{m}, estimate")) is not None:
                lines.append(f"| {LABELS.get(m, m)}, estimate of {_tag(net)} | " + _cells(s, levels, score) + " |")
        for net in nets:
            if (s := both(net, f"{m}, true PSF")) is not None:
                once(f"{LABELS.get(m, m)}, true PSF", s, score)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family-file", nargs="+", help="family file(s), each with its network beside it")
    p.add_argument("--merge", nargs="+", help="instead: join the networks of earlier results (JSON) into --out")
    p.add_argument("--n-images", type=int, default=5)
    p.add_argument("--n-ops", type=int, default=4)
    p.add_argument("--noise", nargs="+", default=list(NOISE_LEVELS), choices=list(NOISE_LEVELS))
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=["deepblur", "wiener", "rl", "tv", "l1"])
    p.add_argument("--no-truth", action="store_true", help="leave out the true-PSF reference rows")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="results JSON (.json added when missing; the .md table is written beside it)")
    args = p.parse_args(argv)
    if bool(args.family_file) == bool(args.merge):
        p.error("give --family-file or --merge")
    torch.set_num_threads(args.threads)
    if args.merge:
        res = merge_results([json.loads(Path(f).read_text()) for f in args.merge])
    else:
        res = run_calibrated_bench(args.family_file, args.n_images, args.n_ops, tuple(args.noise), tuple(args.methods),
                                   args.seed, truth_rows=not args.no_truth, log=print)  # fmt: skip
    table = format_calibrated(res)
    print(table)
    if args.out:
        write_results(Path(args.out).with_suffix(".json"), res, table)


if __name__ == "__main__":
    main()
