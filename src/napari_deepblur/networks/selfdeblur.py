"""The two untrained generators of SelfDeblur (Ren et al., CVPR 2020; seed ``004_…``).

* ``G_x`` (:class:`ImageGenerator`) — the Deep Image Prior skip encoder–decoder (5 scales, 128 channels down and up,
  16-channel skips, strided 3 x 3 convolutions down, bilinear upsampling, batch norm, LeakyReLU, reflection padding,
  1 x 1 output convolution and a sigmoid);
* ``G_k`` (:class:`KernelGenerator`) — a fully connected network ``200 → 1000 (ReLU6) → k²`` with a softmax output,
  so the kernel is non-negative and sums to one.

The fitting loop is :func:`napari_deepblur.methods.selfdeblur.selfdeblur`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ImageGenerator", "KernelGenerator"]


def _block(c_in: int, c_out: int, k: int, stride: int = 1) -> list[nn.Module]:
    pad = (k - 1) // 2
    layers: list[nn.Module] = []
    if pad:
        layers.append(nn.ReflectionPad2d(pad))
    layers += [nn.Conv2d(c_in, c_out, k, stride), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]
    return layers


class _Level(nn.Module):
    def __init__(self, c_in: int, down: int, up: int, skip: int, inner: nn.Module | None, inner_out: int):
        super().__init__()
        self.skip = nn.Sequential(*_block(c_in, skip, 1)) if skip else None
        self.deep = nn.Sequential(*_block(c_in, down, 3, 2), *_block(down, down, 3))
        self.inner = inner
        deep_out = inner_out if inner is not None else down
        self.bn = nn.BatchNorm2d(skip + deep_out)
        self.post = nn.Sequential(*_block(skip + deep_out, up, 3), *_block(up, up, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.deep(x)
        if self.inner is not None:
            d = self.inner(d)
        d = F.interpolate(d, size=x.shape[-2:], mode="bilinear", align_corners=False)
        h = torch.cat([self.skip(x), d], dim=1) if self.skip is not None else d
        return self.post(self.bn(h))


class ImageGenerator(nn.Module):
    """DIP skip encoder–decoder with a sigmoid output (``G_x``)."""

    def __init__(self, in_channels: int = 8, width: int = 128, skip: int = 16, levels: int = 5):
        super().__init__()
        inner, inner_out = None, 0
        for lev in reversed(range(levels)):
            c_in = in_channels if lev == 0 else width
            inner = _Level(c_in, width, width, skip, inner, inner_out)
            inner_out = width
        self.body = inner
        self.out = nn.Conv2d(width, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(self.body(z)))


class KernelGenerator(nn.Module):
    """Fully connected ``200 → 1000 → k²`` with a softmax output (``G_k``), reshaped to ``(k, k)``."""

    def __init__(self, k: int, n_in: int = 200, hidden: int = 1000):
        super().__init__()
        self.k = k
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU6(), nn.Linear(hidden, k * k))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(z), dim=-1).reshape(self.k, self.k)
