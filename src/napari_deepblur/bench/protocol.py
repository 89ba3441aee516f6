"""What the benchmarks share (torch-free at import, so the CLI can list the choices): the rows, the settings, the
family under test with the benchmark's optics, the noise conversion, the scores and their summaries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..api.params import normalized_noise  # the benchmarks tell every method the noise as deblur reads it

__all__ = ["ROWS", "SETTINGS", "benchmark_family", "normalized_noise", "scores", "summary", "write_results"]

#: Rows of the deblurring benchmark, in table order.
ROWS = {
    "input": "blurry input",
    "deepblur": "deep-blur (ours, blind)",
    "deepblur_oracle": "deep-blur, true γ (oracle)",
    "wiener": "Wiener, estimated PSF",
    "rl": "Richardson–Lucy, estimated PSF",
    "tv": "TV, estimated PSF",
    "rl_true": "Richardson–Lucy, true PSF",
}

#: Distributions of γ: the paper's benchmark range (the family's ``benchmark_options``; Zernike U[-0.075, 0.075])
#: or the family's own wide sampling range (Zernike U[-0.15, 0.15]).
SETTINGS = {"paper": "the paper's benchmark range", "wide": "the family's full sampling range"}


def benchmark_family(family: str, fc: float | None = None, setting: str = "paper"):
    """``(fam, optics)``: the family under test and the optics to pass to ``identify``/``deblur``. Optical families
    are sampled at cutoff ``fc`` (default: the networks' canonical cutoff) with the ``setting``'s γ range; others as
    they are."""
    from ..physics import family_class

    cls = family_class(family)
    if not cls.uses_optics:
        return cls(), {}
    fc = cls.CANONICAL_FC if fc is None else fc
    options = dict(cls.benchmark_options) if setting == "paper" else {}
    return cls(fc=fc, **options), {"fc": fc}


def scores(out: np.ndarray, x: np.ndarray, border: int) -> tuple[float, float]:
    """PSNR and SSIM (scikit-image, data range 1) of ``out`` clipped to [0, 1] against ``x``, without a border."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    b = (slice(border, -border or None),) * 2
    o, t = np.clip(out[b], 0, 1).astype(np.float64), x[b].astype(np.float64)
    return (
        float(peak_signal_noise_ratio(t, o, data_range=1.0)),
        float(structural_similarity(t, o, data_range=1.0)),
    )


def summary(values: list[float]) -> dict[str, float]:
    """Mean, median, quartiles and count."""
    a = np.asarray(values)
    return {
        "mean": float(a.mean()),
        "median": float(np.median(a)),
        "q1": float(np.percentile(a, 25)),
        "q3": float(np.percentile(a, 75)),
        "n": len(values),
    }


def write_results(out: str | Path | None, result, table: str) -> None:
    """A benchmark's results as JSON at ``out``, its printed table as markdown beside it (nothing without ``out``)."""
    if not out:
        return
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    out.with_suffix(".md").write_text(table)
