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
    record = {
        "path": str(path),
        "command": base.get("command", "?"),
        "steps": base.get("steps_done", 0),
        "wall_time_s": base.get("wall_time_s", 0.0),
    }
    if base.get("init"):  # those weights were fine-tuned too: keep the whole chain
        record["init"] = base["init"]
    return record


def init_chain_line(init: dict | None) -> str:
    """The model-card line naming the weights a fine-tuning run started from and, when those were fine-tuned too,
    theirs (newest first), each with the command that wrote it; ``""`` for a run from scratch."""
    if not init:
        return ""
    parts, rec = [], init
    while rec:
        parts.append(
            f"`{rec['path']}`, written by `{rec['command']}` ({rec['steps']} steps, {rec['wall_time_s'] / 60:.1f} min)"
        )
        rec = rec.get("init")
    order = (
        "run that first, then the command above"
        if len(parts) == 1
        else "run the oldest command first, then each later one on the previous one's weights, then the command above"
    )
    return (
        "\n* **Fine-tuned from** "
        + "; those weights were fine-tuned from ".join(parts)
        + f": {order} (each fine-tuning run starts a fresh optimiser and schedule)."
    )


def init_from(net, path: str, log: Callable[[str], object] = print) -> dict | None:
    """Fine-tuning: load the weights at ``path`` into ``net``; returns their :func:`init_record`, or ``None`` when
    ``path`` is empty (training from scratch).

    The architecture must match, except that a network with a ``grow_from`` method (the deblurring network) may be
    larger than the one saved: it then starts from the smaller one's function (e.g. U-Nets with one more scale).
    """
    if not path:
        return None
    payload = torch.load(path, map_location="cpu", weights_only=True)
    old_config = payload.get("config", {})
    own_config = getattr(net, "config", None)
    if hasattr(net, "grow_from") and own_config is not None and old_config.get("widths") != own_config["widths"]:
        net.grow_from(payload["state_dict"], old_config)
        log(f"initialised from {path}, grown from U-Net widths {old_config.get('widths')} to {own_config['widths']}")
    else:
        net.load_state_dict(payload["state_dict"])
        log(f"initialised from {path}")
    return init_record(path, payload)
