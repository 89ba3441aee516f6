"""Timing of the blur operators: ``A``, ``A*`` and the regularised solve, per family, median of repeats."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

from ..physics import available_families, get_family

__all__ = ["bench_operators", "format_table"]


def _time(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up (plans, caches)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_operators(size: int = 512, repeats: int = 7, device: str = "cpu", cg_iter: int = 20) -> list[dict]:
    """Median seconds of ``psf(gamma)``, ``A``, ``A*`` and ``(A*A + lam I)^-1`` on one ``size x size`` image.

    The product-convolution solve runs ``cg_iter`` preconditioned CG iterations (the unrolled network's budget).
    """
    dev = torch.device(device)
    rows = []
    gen = torch.Generator().manual_seed(0)
    for name in available_families():
        fam = get_family(name)
        gamma = fam.sample(1, generator=gen).to(dev)
        x = torch.rand(1, 1, size, size, generator=gen).to(dev)
        op = fam.operator(gamma, (size, size))
        kwargs = {} if fam.is_convolution else dict(max_iter=cg_iter, tol=0.0)
        rows.append(
            {
                "family": name,
                "size": size,
                "device": str(dev),
                "threads": torch.get_num_threads(),
                "psf_s": _time(lambda: fam.psf(gamma), repeats, dev),  # noqa: B023
                "A_s": _time(lambda: op.A(x), repeats, dev),  # noqa: B023
                "A_adjoint_s": _time(lambda: op.A_adjoint(x), repeats, dev),  # noqa: B023
                "solve_s": _time(lambda: op.solve(x, 1e-2, **kwargs), repeats, dev),  # noqa: B023
                "solve_note": "exact FFT" if fam.is_convolution else f"PCG, {cg_iter} iterations",
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    """Markdown table of :func:`bench_operators` rows (milliseconds)."""
    out = [
        "| family | image | device | PSF(s) | A | A* | (A*A+λI)⁻¹ |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['family']} | {r['size']}² | {r['device']} ({r['threads']} threads) | {1e3 * r['psf_s']:.1f} ms "
            f"| {1e3 * r['A_s']:.1f} ms | {1e3 * r['A_adjoint_s']:.1f} ms | {1e3 * r['solve_s']:.1f} ms "
            f"({r['solve_note']}) |"
        )
    return "\n".join(out)


def run(size: int, repeats: int, device: str, out: str | None) -> str:
    rows = bench_operators(size=size, repeats=repeats, device=device)
    table = format_table(rows)
    if out:
        Path(out).write_text(json.dumps(rows, indent=2))
        Path(out).with_suffix(".md").write_text(table + "\n")
    return table
