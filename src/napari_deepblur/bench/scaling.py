"""Time and peak memory of blind deblurring vs image size, whole image vs tiles (``napari-deepblur bench scaling``).

Each measurement runs in a fresh Python process (so peak resident memory is that run's alone): the process warms the
models up on a 128 x 128 image, loads a synthetic fluorescence image of ``N x N`` pixels blurred by a Zernike PSF
with noise (made beforehand by the parent, ``float32``), then times one :func:`napari_deepblur.deblur` call
(identification and noise estimation included). Peak RAM is the process's maximum resident set size
(``getrusage``): Python, torch, the models and the user's image included. Whole-image runs get an address
space limit (``--whole-limit-gb``) so that a size that does not fit fails cleanly instead of swapping.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["format_rows", "run_scaling"]


def make_image(size: int, path: Path, family: str = "zernike") -> None:
    """A ``size x size`` synthetic fluorescence image blurred by ``family`` (a fixed aberrated member) with
    Poisson–Gaussian noise, saved as ``.npy`` (float32) — made in the parent so that the measured process only holds
    what a user would."""
    import numpy as np
    import torch

    from ..physics import forward_model, get_family
    from ..synthetic import fluorescence_scene

    fam = get_family(family)
    if family == "zernike":
        gamma = torch.tensor([[0.05, -0.03, 0.02, 0.0, 0.03, -0.02, 0.01, 0.02]])
    else:
        b = fam.bounds()
        gamma = fam.default_gamma().reshape(1, -1) + 0.1 * (b[:, 1] - b[:, 0])
    base = fluorescence_scene((512, 512), seed=0)
    reps = -(-size // 512)
    sharp = np.tile(base, (reps, reps))[:size, :size].astype(np.float32)
    with torch.no_grad():
        x = torch.from_numpy(sharp)[None, None]
        y = forward_model(x, fam, fam.psf(gamma), 0.01, 0.01, boundary="circular")  # the tiled scene is periodic
    np.save(path, y[0, 0].numpy().astype(np.float32), allow_pickle=False)


def _child(path: str, mode: str, method: str, threads: int, tile: int, limit_gb: float, family: str) -> dict:
    import resource

    if mode == "whole" and limit_gb > 0:
        lim = int(limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from .. import deblur

    rng = np.random.default_rng(0)
    deblur(rng.random((160, 160)), family=family, method=method, tile=0)  # warm-up: weights loaded
    y = np.load(path, allow_pickle=False)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    try:
        res = deblur(y, family=family, method=method, tile=tile if mode == "tiled" else 0)
        ok, err, tiles = True, "", res.details.get("tiles", 1)
    except (MemoryError, RuntimeError) as exc:
        ok, err, tiles = False, f"{type(exc).__name__}: {str(exc)[:120]}", 0
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "size": int(y.shape[0]),
        "mode": mode,
        "method": method,
        "family": family,
        "ok": ok,
        "error": err,
        "seconds": seconds,
        "peak_rss_mb": peak,
        "rss_before_mb": rss0,
        "tiles": tiles,
        "threads": threads,
    }


def run_scaling(
    sizes=(512, 1024, 2048, 4096),
    modes=("whole", "tiled"),
    method: str = "deepblur",
    threads: int = 2,
    tile: int = 512,
    whole_limit_gb: float = 12.0,
    out: str | None = None,
    family: str = "zernike",
    log=print,
) -> list[dict]:
    """Run every ``size x mode`` in its own process; returns the rows (and writes JSON + markdown to ``out``)."""
    import tempfile

    rows = []
    tmp = tempfile.TemporaryDirectory(prefix="deepblur-scaling-")
    for size in sizes:
        image = Path(tmp.name) / f"{size}.npy"
        make_image(size, image, family)
        for mode in modes:
            cmd = [sys.executable, "-m", "napari_deepblur.bench.scaling", str(image), mode, method, str(threads),
                   str(tile), str(whole_limit_gb), family]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode == 0 and lines:
                row = json.loads(lines[-1])
            else:  # killed (e.g. out of memory inside a native library)
                tail = (proc.stderr.strip().splitlines() or ["?"])[-1][:120]
                row = {"size": size, "mode": mode, "method": method, "ok": False, "threads": threads,
                       "error": f"exit {proc.returncode}: {tail}"}  # fmt: skip
            rows.append(row)
            log(format_rows([row], header=len(rows) == 1))
        image.unlink()
    tmp.cleanup()
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        meta = {"family": family, "method": method, "threads": threads, "tile": tile, "rows": rows}
        Path(out).write_text(json.dumps(meta, indent=2))
        Path(out).with_suffix(".md").write_text(format_rows(rows) + "\n")
    return rows


def format_rows(rows: list[dict], header: bool = True) -> str:
    """Markdown table: size, mode, seconds, µs per pixel, peak RAM."""
    lines = []
    if header:
        lines += [
            "| image | mode | tiles | seconds | µs / pixel | peak RAM (MB) |",
            "|---|---|---|---|---|---|",
        ]
    for r in rows:
        n = r["size"]
        if r["ok"]:
            lines.append(
                f"| {n}×{n} | {r['mode']} | {r['tiles']} | {r['seconds']:.1f} | {1e6 * r['seconds'] / n**2:.2f} | "
                f"{r['peak_rss_mb']:.0f} |"
            )
        else:
            lines.append(f"| {n}×{n} | {r['mode']} | – | failed: {r['error']} | – | – |")
    return "\n".join(lines)


if __name__ == "__main__":
    path, mode, method, threads, tile, limit, family = sys.argv[1:8]
    print(json.dumps(_child(path, mode, method, int(threads), int(tile), float(limit), family)))
