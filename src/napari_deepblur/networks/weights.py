"""Loading of the shipped weights (``torch.load(weights_only=True)`` from the package resources only)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch

from ..errors import WeightsError

__all__ = ["load_deblur", "load_identification", "weights_path"]


def weights_path(kind: str, family: str | None = None) -> Path:
    """``<package resources>/<kind>_<family>.pt`` (``<kind>.pt`` without a family)."""
    from .. import resources

    return Path(resources.__file__).parent / (f"{kind}_{family}.pt" if family else f"{kind}.pt")


def _load(path: Path, kind: str, family: str | None) -> dict:
    rebuild = f"napari-deepblur train {kind}" + (f" --family {family}" if family else "")
    if family == "calibrated":  # a family file's network lives beside the file
        rebuild = "napari-deepblur train identify --family-file FAMILY.npz` (or the Calibrate dock's Train button"
    what = f"for family {family!r} " if family else ""
    if not path.exists():
        raise WeightsError(
            f"no trained {kind} weights {what}({path} is missing); reinstall the plugin or rebuild "
            f"them with `{rebuild}`"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, or not a weights-only file
        raise WeightsError(
            f"cannot read {path} ({type(exc).__name__}: {exc}); the file is damaged — reinstall the plugin or rebuild "
            f"it with `{rebuild}`"
        ) from exc
    if not isinstance(payload, dict) or payload.get("kind") != ("identification" if kind == "identify" else kind):
        raise WeightsError(f"{path} is not a napari-deepblur {kind} weights file")
    return payload


@lru_cache(maxsize=8)
def _load_identification_cpu(family: str, path: str, mtime: float = 0.0):
    """Cached by path and modification time: a network retrained at the same path is read again."""
    from .identification import IdentificationNet

    p = _load(Path(path), "identify", family)
    cfg = p["config"]
    net = IdentificationNet(
        cfg["dim"],
        p["bounds"],
        cfg["width"],
        tuple(cfg["blocks"]),
        cfg.get("in_channels", 1),
        cfg.get("spectral", False),
    )
    try:
        net.load_state_dict(p["state_dict"])
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not match the network architecture: {exc}") from exc
    net.eval()
    net.to(memory_format=torch.channels_last)  # same results, ~10 % faster convolutions on CPU
    meta = json.loads(p.get("meta", "{}"))
    return net, dict(p.get("family_options", {})), meta


_DEVICE_CACHE: dict = {}


def load_identification(family: str, device: torch.device | str = "cpu", path: str | Path | None = None):
    """The identification network of ``family`` in eval mode on ``device``.

    Returns
    -------
    net : IdentificationNet
    family_options : dict
        The optics the network was trained for (e.g. ``{"fc": 0.2}``).
    meta : dict
        Training metadata (from the model card).
    """
    path = str(path or weights_path("identify", family))
    mtime = Path(path).stat().st_mtime if Path(path).exists() else 0.0
    net, opts, meta = _load_identification_cpu(family, path, mtime)
    dev = torch.device(device)
    if dev.type == "cpu":
        return net, opts, meta
    key = (family, path, mtime, str(dev))
    if key not in _DEVICE_CACHE:
        import copy

        _DEVICE_CACHE[key] = copy.deepcopy(net).to(dev)
    return _DEVICE_CACHE[key], opts, meta


@lru_cache(maxsize=4)
def _load_deblur_cpu(path: str):
    from .unrolled import UnrolledDR

    p = _load(Path(path), "deblur", None)
    cfg = p["config"]
    net = UnrolledDR(cfg["iterations"], tuple(cfg["widths"]), cfg["n_res"], cfg.get("cg_iter", 20))
    try:
        net.load_state_dict(p["state_dict"])
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not match the network architecture: {exc}") from exc
    net.eval()
    for q in net.parameters():
        q.requires_grad_(False)
    # channels-last weights: the same numbers, and the U-Nets' convolutions take about half the time on CPU
    # (oneDNN works in that layout; with the default one it converts at every layer)
    net.to(memory_format=torch.channels_last)
    return net, json.loads(p.get("meta", "{}"))


def load_deblur(device: torch.device | str = "cpu", path: str | Path | None = None):
    """The unrolled deblurring network (one for all families) in eval mode on ``device``, and its metadata."""
    path = str(path or weights_path("deblur"))
    net, meta = _load_deblur_cpu(path)
    dev = torch.device(device)
    if dev.type == "cpu":
        return net, meta
    key = ("deblur", path, str(dev))
    if key not in _DEVICE_CACHE:
        import copy

        _DEVICE_CACHE[key] = copy.deepcopy(net).to(dev)
    return _DEVICE_CACHE[key], meta
