"""What both training commands share: the learning-rate schedule and resumable checkpoints."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["init_from", "init_record", "load_checkpoint", "save_checkpoint", "warmup_cosine"]


def warmup_cosine(steps: int, warmup: int, floor: float) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine decay to ``floor`` at ``steps``."""
    return lambda s: (
        min(1.0, (s + 1) / warmup) * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    )


def save_checkpoint(path: Path, net, opt, sched, gen: torch.Generator, step: int, history: list, elapsed: float):
    """Write the training state atomically (temporary file, then rename)."""
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": net.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "gen": gen.get_state(),
            "step": step,
            "history": json.dumps(history),
            "elapsed": elapsed,
        },
        tmp,
    )
    tmp.replace(path)


def load_checkpoint(path: Path, net, opt, sched, gen: torch.Generator) -> tuple[int, list, float]:
    """Restore the training state from ``path`` if it exists; returns ``(step, history, elapsed seconds)``."""
    if not path.exists():
        return 0, [], 0.0
    ck = torch.load(path, weights_only=True)
    net.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    sched.load_state_dict(ck["sched"])
    gen.set_state(ck["gen"])
    return int(ck["step"]), json.loads(ck["history"]), float(ck["elapsed"])


def init_record(path: str, payload: dict | None = None) -> dict:
    """Where fine-tuning started: the weights file and how it was made (from its own metadata)."""
    payload = payload if payload is not None else torch.load(path, map_location="cpu", weights_only=True)
    base = json.loads(payload.get("meta", "{}"))
    return {
        "path": str(path),
        "command": base.get("command", "?"),
        "steps": base.get("steps_done", 0),
        "wall_time_s": base.get("wall_time_s", 0.0),
    }


def init_from(net, path: str, log: Callable[[str], object] = print) -> dict | None:
    """Fine-tuning: load the weights at ``path`` (same architecture) into ``net``; returns their
    :func:`init_record`, or ``None`` when ``path`` is empty (training from scratch)."""
    if not path:
        return None
    payload = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(payload["state_dict"])
    log(f"initialised from {path}")
    return init_record(path, payload)
