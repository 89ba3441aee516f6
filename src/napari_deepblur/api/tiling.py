"""Tiled restoration of large images: dask ``map_overlap`` over tiles with margins, so memory stays flat.

Each tile is restored together with a margin of ``overlap`` pixels of its neighbours (clipped at the image border,
where the restoration pads by reflection exactly as it does for a whole image); only the tile's own pixels are kept.
With a margin wider than the PSF plus the reach of the deblurring network, tiles join without visible seams (measured
by ``tests/test_tiling.py``: tiled vs whole on 1024 x 1024).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import DeblurInputError

__all__ = [
    "AUTO_TILE_PIXELS",
    "DEFAULT_TILE",
    "default_overlap",
    "process_tiled",
    "resolve_tile",
    "tile_chunks",
]

#: Tile side used when tiling is automatic.
DEFAULT_TILE = 512
#: Images with more pixels than this are tiled automatically (``tile="auto"``).
AUTO_TILE_PIXELS = 1024 * 1024  # tiled is as fast (see bench scaling), lighter, and cancels between tiles

Restore = Callable[[np.ndarray, tuple[int, int]], np.ndarray]


def default_overlap(psf_size: int) -> int:
    """Margin (pixels) read around each tile: the PSF support plus the network's reach, at least 64."""
    return int(max(64, psf_size + 33))


#: Tile starts and margins are multiples of this: the deblurring U-Nets downsample by 4 (8 leaves room), and a
#: window that starts off this grid would see a shifted sampling phase and give (slightly) different pixels.
ALIGN = 8


def tile_chunks(n: int, tile: int) -> tuple[int, ...]:
    """Split ``n`` pixels into ``ceil(n / tile)`` chunks of near-equal size, multiples of :data:`ALIGN` but the last."""
    k = max(1, math.ceil(n / tile))
    base = math.ceil(n / k / ALIGN) * ALIGN
    while k > 1 and base * (k - 1) >= n:
        k -= 1
    return (base,) * (k - 1) + (n - base * (k - 1),)


def resolve_tile(tile: int | str | None, shape: tuple[int, int], method) -> int:
    """The tile side to use for ``shape`` (0: the whole image at once).

    ``"auto"`` tiles images larger than :data:`AUTO_TILE_PIXELS` with :data:`DEFAULT_TILE`; ``None`` or 0 never tiles;
    an integer tiles when the image is larger than one tile. A method that is not
    :attr:`~napari_deepblur.methods.Method.tileable` (SelfDeblur: one kernel for the image) is never tiled.
    ``method`` is a :class:`~napari_deepblur.methods.Method` or its name.
    """
    from ..methods import get_method

    m = get_method(method) if isinstance(method, str) else method
    if not m.tileable or tile is None:
        return 0
    if isinstance(tile, str):
        if tile != "auto":
            raise DeblurInputError(f"tile must be 'auto', 0 or a tile side in pixels, got {tile!r}")
        return DEFAULT_TILE if shape[0] * shape[1] > AUTO_TILE_PIXELS else 0
    tile = int(tile)
    if tile == 0:
        return 0
    if tile < 64:
        raise DeblurInputError(f"tile side {tile} is too small; use at least 64 pixels (or 0 to switch tiling off)")
    return tile if max(shape) > tile else 0


def process_tiled(
    x: np.ndarray,
    restore: Restore,
    tile: int,
    overlap: int,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Apply ``restore(window, origin)`` tile by tile and assemble the tiles' own pixels, ``float32``.

    Parameters
    ----------
    x : numpy.ndarray
        2D image.
    restore : callable
        ``restore(window, (row, col))`` returns the restored ``window`` (same shape); ``(row, col)`` is the window's
        top-left pixel in ``x`` (space-varying operators need it).
    tile : int
        Tile side; the image is split into near-equal chunks no larger than this.
    overlap : int
        Margin read around each tile, rounded up to a multiple of :data:`ALIGN` (at most the smallest chunk).
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    numpy.ndarray
        ``float32`` image of ``x``'s shape.
    """
    import dask.array as da

    chunks = (tile_chunks(x.shape[0], tile), tile_chunks(x.shape[1], tile))
    overlap = math.ceil(overlap / ALIGN) * ALIGN
    smallest = min(min(c) for c in chunks)
    if overlap < 0 or overlap > smallest:
        raise DeblurInputError(
            f"overlap {overlap} px must lie between 0 and the smallest tile ({smallest} px); use a larger tile"
        )
    starts = [np.concatenate([[0], np.cumsum(c[:-1])]).astype(int) for c in chunks]
    total = len(chunks[0]) * len(chunks[1])
    done = [0]

    def one(block: np.ndarray, block_info=None) -> np.ndarray:
        i, j = block_info[0]["chunk-location"]
        r0 = int(starts[0][i]) - (overlap if i > 0 else 0)
        c0 = int(starts[1][j]) - (overlap if j > 0 else 0)
        out = np.asarray(restore(block, (r0, c0)), dtype=np.float32)
        done[0] += 1
        if progress is not None:
            progress(done[0], total)
        return out

    if total == 1:
        return np.asarray(restore(x, (0, 0)), dtype=np.float32)
    out = da.from_array(x, chunks=chunks).map_overlap(
        one, depth=overlap, boundary="none", trim=True, dtype=np.float32, meta=np.empty((0, 0), np.float32)
    )
    return out.compute(scheduler="synchronous")
