"""Device selection."""

from __future__ import annotations

import torch

from .errors import DeblurInputError

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA if available, else Apple MPS, else CPU; explicit names are checked for availability."""
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeblurInputError("device 'cuda' was requested but no CUDA GPU is available; use device='cpu' or 'auto'")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeblurInputError("device 'mps' was requested but Apple MPS is not available; use 'cpu' or 'auto'")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise DeblurInputError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'mps'") from exc
