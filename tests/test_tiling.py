"""Tiled restoration: tiles join without seams, windows know where they are, SV tiles see their own PSFs."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from napari_deepblur import deblur
from napari_deepblur._sample_data import make_sample
from napari_deepblur.api.tiling import ALIGN, AUTO_TILE_PIXELS, process_tiled, resolve_tile, tile_chunks
from napari_deepblur.errors import DeblurInputError
from napari_deepblur.physics import get_family
from napari_deepblur.physics.spacevarying import partition_of_unity

ZERNIKE = [0.05, -0.03, 0.02, 0.0, 0.03, -0.02, 0.01, 0.02]


@pytest.mark.parametrize("n,tile", [(1024, 512), (1000, 512), (513, 512), (100, 512), (4096, 512), (1100, 300)])
def test_tile_chunks_cover_the_axis_on_the_alignment_grid(n, tile):
    chunks = tile_chunks(n, tile)
    assert sum(chunks) == n
    assert max(chunks) <= max(tile, n if n <= tile else 0) + ALIGN
    assert all(c % ALIGN == 0 for c in chunks[:-1])
    assert min(chunks) > 0


def test_resolve_tile():
    assert resolve_tile("auto", (512, 512), "deepblur") == 0
    side = int(np.sqrt(AUTO_TILE_PIXELS)) + 8
    assert resolve_tile("auto", (side, side), "deepblur") == 512
    assert resolve_tile("auto", (side, side), "selfdeblur") == 0
    assert resolve_tile(256, (512, 512), "wiener") == 256
    assert resolve_tile(1024, (512, 512), "wiener") == 0  # one tile: the whole image
    assert resolve_tile(0, (4096, 4096), "deepblur") == 0
    with pytest.raises(DeblurInputError, match="at least 64"):
        resolve_tile(16, (512, 512), "deepblur")
    with pytest.raises(DeblurInputError, match="auto"):
        resolve_tile("big", (512, 512), "deepblur")


def test_windows_are_located_and_a_local_filter_is_reproduced_exactly(rng):
    x = rng.random((300, 410))
    seen = []

    def restore(window, origin):
        r0, c0 = origin
        h, w = window.shape
        np.testing.assert_array_equal(window, x[r0 : r0 + h, c0 : c0 + w])  # the window is where it says
        seen.append(origin)
        return ndi.gaussian_filter(window, 2.0, mode="reflect")

    calls = []
    out = process_tiled(x, restore, tile=128, overlap=16, progress=lambda d, n: calls.append((d, n)))
    whole = ndi.gaussian_filter(x, 2.0, mode="reflect")
    assert out.dtype == np.float32 and out.shape == x.shape
    n_tiles = len(tile_chunks(300, 128)) * len(tile_chunks(410, 128))
    assert len(seen) == n_tiles and calls[-1] == (n_tiles, n_tiles)
    # gaussian_filter reaches 4 sigma = 8 px < 16 px margin: identical up to float32 rounding
    np.testing.assert_allclose(out, whole, atol=1e-6)


def test_overlap_larger_than_a_tile_is_refused(rng):
    with pytest.raises(DeblurInputError, match="overlap"):
        process_tiled(rng.random((200, 200)), lambda w, o: w, tile=64, overlap=80)


def test_window_maps_are_slices_of_the_full_field_maps():
    full = partition_of_unity((300, 200), (3, 3), dtype=torch.float64)
    win = partition_of_unity((100, 80), (3, 3), dtype=torch.float64, full_shape=(300, 200), origin=(150, 60))
    torch.testing.assert_close(win, full[:, 150:250, 60:140])
    with pytest.raises(ValueError, match="does not fit"):
        partition_of_unity((100, 80), (3, 3), full_shape=(120, 200), origin=(50, 0))


def test_tiled_deepblur_matches_the_whole_image_on_1024():
    """No visible seams: tiled (512 px tiles, default margin) vs whole-image deep-blur on 1024 x 1024."""
    s = make_sample("zernike", ZERNIKE, shape=(1024, 1024), seed=3)
    kw = {"noise": (0.01, 0.01), "psf": s["psf"]}
    whole = deblur(s["blurred"], tile=0, **kw)
    tiled = deblur(s["blurred"], tile=512, **kw)
    assert tiled.details["tiles"] == 4 and "tiles" not in whole.details
    d = np.abs(tiled.image - whole.image)
    rng_ = float(np.ptp(whole.image))
    # interior (seams included): equal to float precision; the outer 32 px differ a little because the FFT data
    # steps wrap around the padded image, whose far side differs between a tile and the whole image
    assert d[32:-32, 32:-32].max() < 1e-4 * rng_
    assert d.max() < 0.02 * rng_
    assert np.percentile(d, 99.9) < 2e-3 * rng_


def test_tiled_space_varying_uses_each_tiles_local_psfs():
    fam = get_family("spatially-varying")
    b = fam.bounds()
    gamma = (fam.default_gamma().reshape(-1) + 0.06 * (b[:, 1] - b[:, 0])).tolist()
    s = make_sample("spatially-varying", gamma, shape=(512, 512), seed=2)
    kw = {"family": "spatially-varying", "noise": (0.01, 0.01), "psf": s["psf"], "method": "wiener"}
    whole = deblur(s["blurred"], tile=0, **kw).image
    tiled = deblur(s["blurred"], tile=256, overlap=64, **kw).image
    d = np.abs(tiled - whole)
    assert d.max() < 1e-3 * float(np.ptp(whole))
    # and the tiles did not all use one PSF: the same tiling with the centre PSF everywhere differs clearly
    centre = np.repeat(s["psf"][len(s["psf"]) // 2][None], len(s["psf"]), axis=0)
    other = deblur(s["blurred"], tile=256, overlap=64, **{**kw, "psf": centre}).image
    assert np.abs(other - whole).max() > 20 * d.max()


def test_deblur_tiles_automatically_above_the_threshold(monkeypatch):
    import napari_deepblur.api.tiling as tiling

    monkeypatch.setattr(tiling, "AUTO_TILE_PIXELS", 200 * 200)
    monkeypatch.setattr(tiling, "DEFAULT_TILE", 128)
    s = make_sample("zernike", ZERNIKE, shape=(256, 256), seed=1)
    stages = []
    kw = {"noise": (0.01, 0.01), "psf": s["psf"], "method": "wiener"}
    res = deblur(s["blurred"], progress=lambda d, n, st: stages.append((d, n, st)), **kw)
    assert (res.details["tile"], res.details["tiles"]) == (128, 4)
    assert stages[-1] == (4, 4, "wiener (tiles)")
    small = deblur(s["blurred"][:190, :190], **kw)  # below the threshold: whole image
    assert "tiles" not in small.details
