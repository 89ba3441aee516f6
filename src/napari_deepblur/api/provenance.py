"""One record of how a result was made: γ with names and units, optics, noise, method, device, timings, tiling.

The widgets put it in the result layers' metadata (under ``"napari_deepblur"``); the batch runner writes it, one per
plane, into the JSON sidecar. Plain Python values only (JSON-serialisable).
"""

from __future__ import annotations

__all__ = [
    "family_file_record",
    "noise_record",
    "recorded_noise",
    "result_record",
    "truth_psf_snr",
    "truth_record",
]

#: Keys of :attr:`DeblurResult.details` that describe how the image was processed in pieces.
TILING_KEYS = ("tile", "overlap", "tiles")
#: Keys of the identification's details that say what the estimate was and how much of it the image supported.
EVIDENCE_KEYS = ("prior", "network", "verdict", "estimate", "kept", "confidence", "evidence", "orientation")


def result_record(res) -> dict:
    """The provenance of a :class:`~napari_deepblur.api.deblur.DeblurResult` (or an ``IdentifyResult``-like object
    with ``family``, ``gamma``, ``noise`` …)."""
    rec: dict = {
        "method": getattr(res, "method", "identify"),
        "noise": {"alpha": res.noise[0], "beta": res.noise[1], "estimated": res.noise_estimated},
        "device": res.device,
        "timings_s": dict(getattr(res, "timings", {}) or {"total": getattr(res, "seconds", 0.0)}),
    }
    if res.family is not None:
        rec["family"] = res.family.name
        rec["optics"] = res.family.optics
        if res.gamma is not None:
            rec["gamma"] = res.family.named(res.gamma)
            rec["units"] = {p.name: p.unit for p in res.family.parameters}
            rec["labels"] = {p.name: p.label for p in res.family.parameters}  # the words the docks use
    rec["tiling"] = {k: res.details[k] for k in TILING_KEYS if k in res.details}
    if "aberrations" in res.details:  # estimated, or forced to none (the aberration-free PSF of the optics)
        rec["aberrations"] = res.details["aberrations"]
    for key in EVIDENCE_KEYS:  # the prior, what the evidence check kept and why, the answer in words
        if key in res.details:
            rec[key] = res.details[key]
    if "intensity" in res.details:  # the units of the noise: image = offset + scale * (image in [0, 1])
        rec["intensity"] = dict(res.details["intensity"])
    if "band_limit" in res.details:  # deep-blur's output held power beyond the optics' cutoff: taken out
        rec["band_limit"] = res.details["band_limit"]
    if "psf_resampled" in res.details:  # a given PSF sampled at another pixel size
        rec["psf_resampled"] = res.details["psf_resampled"]
    if "fallback" in res.details:
        rec["fallback"] = list(res.details["fallback"])
    return rec


def truth_record(family, gamma, role: str, **extra) -> dict:
    """The record of a known blur (sample data, simulations): family, optics, named γ and what the layer is."""
    return {"family": family.name, "optics": family.optics, "gamma": family.named(gamma), "role": role, **extra}


def truth_psf_snr(truth: dict, psf) -> float | None:
    """How far a PSF used lies from a known truth (a :func:`truth_record`, e.g. of a sample): the PSF SNR in dB
    (:func:`~napari_deepblur.physics.metrics.psf_snr`), or None when the record is not a known blur or the two do not
    compare (another family's grid, another size)."""
    import numpy as np
    import torch

    from ..physics import get_family
    from ..physics.metrics import psf_snr

    if not isinstance(truth, dict) or truth.get("role") != "ground truth" or "gamma" not in truth:
        return None
    try:
        fam = get_family(truth["family"], **{k: v for k, v in truth.get("optics", {}).items() if k == "fc"})
        gamma = torch.tensor([[truth["gamma"][p.name] for p in fam.parameters]], dtype=torch.float64)
        true = fam.psf(gamma)
        used = torch.as_tensor(np.asarray(psf, dtype=np.float64))[None]
        if used.ndim != true.ndim:
            return None
        return float(psf_snr(true, used)[0])
    except (KeyError, TypeError, ValueError, RuntimeError):
        return None


def noise_record(image, alpha: float, beta: float) -> dict:
    """The record of the noise drawn on a simulated ``image``: ``alpha``, ``beta`` as the Blind deblur dock and
    :func:`~napari_deepblur.deblur` read them (relative to the image's 0.01–99.99 percentiles; what to give as
    ``noise=``), and under ``"drawn"`` as drawn (relative to the sharp image scaled to [0, 1]). The named levels of
    the Simulate dock are of the second kind: on a noisy image the first are smaller (at ``"high"`` 2–3×)."""
    from .params import normalized_noise

    a, b = normalized_noise(image, alpha, beta)
    return {
        "alpha": float(a),
        "beta": float(b),
        "relative_to": "the image's 0.01-99.99 percentiles (as deblur reads it)",
        "drawn": {"alpha": float(alpha), "beta": float(beta), "relative_to": "the sharp image scaled to [0, 1]"},
    }


def recorded_noise(metadata) -> tuple[float, float] | None:
    """``(alpha, beta)`` of a layer's ``metadata`` written by :func:`noise_record` (a simulation or a sample), as
    :func:`~napari_deepblur.deblur` reads them; ``None`` when there is no such record."""
    rec = (metadata or {}).get("napari_deepblur", {}).get("noise")
    if not isinstance(rec, dict) or "drawn" not in rec:
        return None
    return float(rec["alpha"]), float(rec["beta"])


def family_file_record(path, family) -> dict:
    """The record of a family file (``napari-deepblur calibrate``) a result was made with: where it is, its checksum
    and layout version, its number of eigen-PSFs ``K`` and the identification network that read the image."""
    from pathlib import Path

    import numpy as np

    from ..io import sha256_file

    with np.load(path, allow_pickle=False) as f:
        version = int(f["version"])
    return {
        "path": str(Path(path).resolve()),
        "sha256": sha256_file(Path(path)),
        "version": version,
        "K": int(family.dim),
        "identify_weights": family.identify_weights,
    }
