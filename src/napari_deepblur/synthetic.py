"""Procedural sharp images: fluorescence-like scenes (cells, filaments, blobs, point sources on a background).

Used for sample data, tests and (later) training. Pure numpy, seeded, no download.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["bead_field", "dead_leaves", "fluorescence_scene"]


def _splat(img: np.ndarray, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
    """Add ``values`` at sub-pixel positions with bilinear weights (in place)."""
    H, W = img.shape
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        r, c = r0 + dr, c0 + dc
        ok = (r >= 0) & (r < H) & (c >= 0) & (c < W)
        np.add.at(img, (r[ok], c[ok]), (values * w)[ok])


def fluorescence_scene(
    shape: tuple[int, int] = (256, 256),
    seed: int | np.random.Generator | None = None,
    *,
    n_cells: int | None = None,
    n_filaments: int | None = None,
    n_blobs: int | None = None,
    n_points: int | None = None,
) -> np.ndarray:
    """A sharp fluorescence-like image in ``[0, 1]``.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)``.
    seed : int or numpy.random.Generator, optional
        Randomness (reproducible for a given seed).
    n_cells, n_filaments, n_blobs, n_points : int, optional
        Numbers of each structure (random by default, scaled with the image area).

    Returns
    -------
    numpy.ndarray
        ``float32`` image of the given shape, minimum 0 and maximum 1.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    H, W = shape
    area = H * W / 256**2
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    img = np.zeros(shape, dtype=np.float64)

    # smooth background
    bg = ndimage.gaussian_filter(rng.random((max(H // 32, 2), max(W // 32, 2))), 1.0)
    bg = ndimage.zoom(bg, (H / bg.shape[0], W / bg.shape[1]), order=3)[:H, :W]
    img += rng.uniform(0.0, 0.08) * (bg - bg.min()) / (np.ptp(bg) + 1e-12)

    # cells: soft ellipses with brighter membrane and a nucleus
    n_cells = rng.poisson(4 * area) if n_cells is None else n_cells
    for _ in range(n_cells):
        cy, cx = rng.uniform(0, H), rng.uniform(0, W)
        a, b = rng.uniform(12, 40, size=2) * min(1.0, min(H, W) / 128)
        th = rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)
        v = -(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)
        r = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        body = 0.5 * (1 - np.tanh((r - 1) * 6))
        rim = np.exp(-(((r - 1) * max(a, b) / 1.5) ** 2))
        nucleus = 0.5 * (1 - np.tanh((r - 0.35) * 10))
        img += rng.uniform(0.05, 0.2) * body + rng.uniform(0.1, 0.4) * rim + rng.uniform(0.0, 0.3) * nucleus

    # filaments: smooth random curves, about 1 px wide
    fil = np.zeros(shape)
    n_filaments = rng.poisson(12 * area) if n_filaments is None else n_filaments
    for _ in range(n_filaments):
        n = int(rng.uniform(0.3, 1.2) * max(H, W) * 2)
        p = np.array([rng.uniform(0, H), rng.uniform(0, W)])
        ang = rng.uniform(0, 2 * np.pi)
        curv = np.cumsum(rng.normal(0, 0.03, n))
        angs = ang + curv
        steps = 0.5 * np.stack([np.sin(angs), np.cos(angs)], 1)
        pts = p + np.cumsum(steps, 0)
        _splat(fil, pts[:, 0], pts[:, 1], np.full(n, rng.uniform(0.3, 1.0) * 0.5))
    img += ndimage.gaussian_filter(fil, 0.5) * 2

    # blobs (vesicles) and point sources (beads, single molecules)
    n_blobs = rng.poisson(30 * area) if n_blobs is None else n_blobs
    blobs = np.zeros(shape)
    _splat(blobs, rng.uniform(0, H, n_blobs), rng.uniform(0, W, n_blobs), rng.uniform(0.5, 1.0, n_blobs))
    for s in (1.0, 2.0):
        img += ndimage.gaussian_filter(blobs, s) * s**2 * 2 * np.pi * 0.25
    n_points = rng.poisson(20 * area) if n_points is None else n_points
    pts = np.zeros(shape)
    _splat(pts, rng.uniform(0, H, n_points), rng.uniform(0, W, n_points), rng.uniform(0.5, 1.0, n_points))
    img += pts

    img -= img.min()
    img /= img.max() + 1e-12
    return img.astype(np.float32)


def bead_field(
    shape: tuple[int, int] = (256, 256), seed: int | np.random.Generator | None = None, *, n_beads: int | None = None
) -> np.ndarray:
    """Sub-resolution beads (or puncta) on a dark background, in ``[0, 1]``: 1–40 points per 160² at sub-pixel
    positions, brightness spread over a decade, sometimes on a faint smooth background — what a bead slide or a
    sparse sample shows (the image is then the PSF itself, repeated)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    H, W = shape
    n = n_beads if n_beads is not None else max(1, int(rng.integers(1, 41) * H * W / 160**2))
    img = np.zeros(shape, dtype=np.float64)
    _splat(img, rng.uniform(0, H - 1, n), rng.uniform(0, W - 1, n), 10 ** rng.uniform(-1, 0, n))
    if rng.random() < 0.3:  # a faint smooth background (cytoplasm, out-of-focus light)
        bg = ndimage.gaussian_filter(rng.random(shape), rng.uniform(8, 30))
        img += rng.uniform(0.005, 0.05) * (bg - bg.min()) / (np.ptp(bg) + 1e-12)
    img -= img.min()
    img /= img.max() + 1e-12
    return img.astype(np.float32)


def dead_leaves(
    shape: tuple[int, int] = (256, 256),
    seed: int | np.random.Generator | None = None,
    *,
    r_min: float = 1.0,
    r_max: float | None = None,
    n_disks: int | None = None,
) -> np.ndarray:
    """A dead-leaves image: occluding disks with power-law radii (density ``r^-3``), the classic model of
    natural-image statistics (scale invariance, sharp edges).

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)``.
    seed : int or numpy.random.Generator, optional
        Randomness.
    r_min, r_max : float
        Radius range in pixels (``r_max`` defaults to a third of the smaller side).
    n_disks : int, optional
        Number of disks drawn (default: enough to cover the image).

    Returns
    -------
    numpy.ndarray
        ``float32`` image in ``[0, 1]``.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    H, W = shape
    r_max = min(H, W) / 3 if r_max is None else r_max
    n_disks = int(6 * H * W / (np.pi * r_min * r_max)) if n_disks is None else n_disks
    # inverse-CDF sampling of p(r) ~ r^-3 on [r_min, r_max]
    u = rng.random(n_disks)
    radii = 1 / np.sqrt(1 / r_min**2 - u * (1 / r_min**2 - 1 / r_max**2))
    cy = rng.uniform(-r_max / 2, H + r_max / 2, n_disks)
    cx = rng.uniform(-r_max / 2, W + r_max / 2, n_disks)
    vals = rng.random(n_disks)
    img = np.full(shape, np.nan, dtype=np.float64)
    # paint front to back: a pixel keeps the first disk that covers it
    for r, y, x, v in zip(radii, cy, cx, vals, strict=True):
        y0, y1 = max(int(y - r), 0), min(int(y + r) + 2, H)
        x0, x1 = max(int(x - r), 0), min(int(x + r) + 2, W)
        if y0 >= y1 or x0 >= x1:
            continue
        sub = img[y0:y1, x0:x1]
        yy, xx = np.ogrid[y0:y1, x0:x1]
        m = ((yy - y) ** 2 + (xx - x) ** 2 <= r * r) & np.isnan(sub)
        sub[m] = v
        if not np.isnan(img).any():
            break
    img[np.isnan(img)] = rng.random()
    return img.astype(np.float32)
