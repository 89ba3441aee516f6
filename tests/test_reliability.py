"""Every bad input gets one clear exception; nothing is modified; out-of-memory falls back; no network, no pickle."""

import ast
import hashlib
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import napari_deepblur.api.deblur as core
from napari_deepblur import deblur, identify
from napari_deepblur._sample_data import make_sample
from napari_deepblur.errors import DeblurInputError, WeightsError

GAMMA = [0.05, -0.03, 0.02, 0.0, 0.03, -0.02, 0.01, 0.02]


@pytest.fixture(scope="module")
def blurred():
    return make_sample("zernike", GAMMA, shape=(96, 96), seed=4)["blurred"]


def _checksum(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() + str(a.dtype) + str(a.shape)


# --- inputs that work: (name, builder from a 96 x 96 float32 image in ~[0, 1]) --------------------------------------
WORKS = {
    "uint8": lambda y: (np.clip(y, 0, 1) * 255).astype(np.uint8),
    "uint16": lambda y: (np.clip(y, 0, 1) * 65535).astype(np.uint16),
    "int32": lambda y: (y * 1e6).astype(np.int32) - 200_000,
    "float16": lambda y: y.astype(np.float16),
    "float64": lambda y: y.astype(np.float64),
    "negative": lambda y: y - 10.0,
    "huge values": lambda y: y * 1e30,
    "tiny values": lambda y: y * 1e-30,
    "non-contiguous (transposed)": lambda y: y.T,
    "non-contiguous (strided)": lambda y: np.repeat(np.repeat(y, 2, 0), 2, 1)[::2, ::2],
    "singleton axis (1, H, W)": lambda y: y[None],
    "not square (64 x 96)": lambda y: y[:64],
    "fortran order": lambda y: np.asfortranarray(y),
}


@pytest.mark.parametrize("name", list(WORKS))
def test_inputs_that_work_give_a_finite_float32_image_of_the_same_shape(blurred, name):
    img = WORKS[name](blurred)
    before = _checksum(img)
    res = deblur(img, noise="auto")
    assert res.image.dtype == np.float32 and res.image.shape == img.shape
    assert np.isfinite(res.image).all()
    assert _checksum(img) == before  # the input is never modified


def test_dask_arrays_work_and_are_not_modified(blurred):
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(blurred, chunks=48)
    res = deblur(lazy, method="wiener")
    assert res.image.shape == blurred.shape and np.isfinite(res.image).all()


# --- inputs that are refused with one clear message ------------------------------------------------------------------
REFUSED = {
    "RGB": (lambda y: np.stack([y] * 3, -1), "RGB"),
    "RGBA": (lambda y: np.stack([y] * 4, -1), "RGB"),
    "1D": (lambda y: y[0], "2D image"),
    "stack": (lambda y: np.stack([y, y]), "single 2D image"),
    "4D": (lambda y: y[None, None].repeat(2, 0), "single 2D image"),
    "NaN": (lambda y: np.where(np.arange(y.size).reshape(y.shape) == 5, np.nan, y), "NaN"),
    "Inf": (lambda y: np.where(np.arange(y.size).reshape(y.shape) == 5, np.inf, y), "infinite"),
    "constant": (lambda y: np.full_like(y, 3.0), "constant"),
    "too small": (lambda y: y[:40, :40], "at least 64"),
    "empty": (lambda y: y[:0], "2D image|at least"),
    "complex": (lambda y: y.astype(np.complex64), "dtype"),
    "strings": (lambda y: np.array([["a"] * 64] * 64), "dtype"),
    "object": (lambda y: np.array([[None] * 64] * 64), "dtype"),
    "bool mask": (lambda y: y > np.median(y), "boolean mask"),
    "file path": (lambda y: "data/HeLa_12bit_plane07.tif", r"file path .*pass an array; read the file with tifffile"),
    "pathlib path": (lambda y: Path("cells.tif"), "tifffile.imread"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_bad_images_raise_one_clear_error(blurred, name):
    build, match = REFUSED[name]
    with pytest.raises(DeblurInputError, match=match):
        deblur(build(blurred))
    with pytest.raises(DeblurInputError, match=match):
        identify(build(blurred))


BAD_OPTIONS = {
    "na zero": ({"na": 0.0, "wavelength": 0.5, "pixel_size": 0.1}, "positive"),
    "na absurd": ({"na": 5.0, "wavelength": 0.5, "pixel_size": 0.1}, "numerical aperture"),
    "wavelength negative": ({"na": 1.2, "wavelength": -0.5, "pixel_size": 0.1}, "positive"),
    "pixel nan": ({"na": 1.2, "wavelength": 0.5, "pixel_size": float("nan")}, "positive"),
    "undersampled": ({"na": 1.4, "wavelength": 0.5, "pixel_size": 0.2}, "undersampled"),
    "wavelength in nm": ({"na": 1.4, "wavelength": 520, "pixel_size": 0.065}, r"looks like nanometres.*µm \(0\.52\)"),
    "wavelength in mm": ({"na": 1.4, "wavelength": 0.00052, "pixel_size": 0.065}, r"millimetres.*µm \(0\.52\)"),
    "pixel in nm": ({"na": 1.4, "wavelength": 0.52, "pixel_size": 130}, r"nanometres, give it in µm \(0\.13\)"),
    "camera pixel": ({"na": 1.4, "wavelength": 0.52, "pixel_size": 6.5}, "divide it by the objective's magnification"),
    "pixel 100x too small": ({"na": 1.4, "wavelength": 0.52, "pixel_size": 0.00065}, "finer than a light microscope"),
    "na as magnification": ({"na": 60, "wavelength": 0.52, "pixel_size": 0.065}, "60x/1.40 is NA 1.4"),
    "fc tiny": ({"fc": 0.001}, "PSF would be 1220 pixels wide"),
    "nm with a given PSF": ({"psf": np.ones((5, 5)), "method": "wiener", "wavelength": 520}, "nanometres"),
    "half the optics": ({"na": 1.2}, "all three"),
    "fc zero": ({"fc": 0.0}, "positive"),
    "noise negative": ({"noise": (-0.1, 0.0)}, ">= 0"),
    "noise nan": ({"noise": (float("nan"), 0.0)}, "finite"),
    "noise absurd": ({"noise": (5.0, 0.0)}, "out of range"),
    "noise name": ({"noise": "loud"}, "unknown noise level"),
    "noise shape": ({"noise": (0.1, 0.2, 0.3)}, "pair"),
    "family": ({"family": "airy"}, "airy"),
    "method": ({"method": "magic"}, "unknown method"),
    "device": ({"device": "tpu"}, "device"),
    "tile": ({"tile": 8}, "at least 64"),
    "psf 1D": ({"psf": np.ones(5)}, "2D"),
    "psf negative": ({"psf": -np.ones((5, 5))}, "non-negative"),
}


@pytest.mark.parametrize("name", list(BAD_OPTIONS))
def test_bad_options_raise_one_clear_error(blurred, name):
    kwargs, match = BAD_OPTIONS[name]
    with pytest.raises(DeblurInputError, match=match):
        deblur(blurred, **kwargs)


def test_a_wrong_unit_is_refused_before_any_work(blurred, monkeypatch):
    """The optics are checked when the family is built, before the identification or the restoration runs."""

    def never(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(core, "identify_normalized", never)
    monkeypatch.setattr(core, "_restore", never)
    with pytest.raises(DeblurInputError, match="wavelength=520 looks like nanometres; give it in µm"):
        deblur(blurred, na=1.4, wavelength=520, pixel_size=0.065)


def test_a_pixel_size_10x_too_small_is_warned(blurred):
    with pytest.warns(UserWarning, match=r"the PSF is wider than 70 pixels: check the units"):
        res = deblur(blurred, na=1.4, wavelength=0.52, pixel_size=0.0065, aberrations="none", method="wiener")
    assert np.isfinite(res.image).all()


def test_default_optics_are_warned_given_ones_are_not(blurred):
    with pytest.warns(UserWarning, match=r"no optics given: default NA 1\.4, emission 0\.52 µm and pixel size 0\.065"):
        deblur(blurred, aberrations="none", method="wiener")
    with pytest.warns(UserWarning, match="no optics given"):
        identify(blurred)
    s = make_sample("zernike", GAMMA, shape=(96, 96), seed=4)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        deblur(blurred, na=1.4, wavelength=0.52, pixel_size=0.065, aberrations="none", method="wiener")
        deblur(blurred, fc=0.2, aberrations="none", method="wiener")
        deblur(blurred, "gaussian", method="wiener")  # no optics in this model
        deblur(blurred, psf=s["psf"], method="wiener")  # the PSF is given: the optics do not matter
    assert not [w for w in seen if "no optics given" in str(w.message)]


def test_missing_corrupt_and_pickled_weights_raise_weights_error(blurred, tmp_path):
    with pytest.raises(WeightsError, match="missing"):
        deblur(blurred, weights=str(tmp_path / "nope.pt"))
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(WeightsError, match="damaged"):
        deblur(blurred, weights=str(bad))
    pickled = tmp_path / "pickled.pt"
    torch.save({"kind": "deblur", "obj": Path("x")}, pickled)  # needs full unpickling: refused by weights_only
    with pytest.raises(WeightsError):
        deblur(blurred, weights=str(pickled))
    with pytest.raises(WeightsError, match="missing"):
        identify(blurred, weights=str(tmp_path / "nope.pt"))


# --- out of memory ---------------------------------------------------------------------------------------------------
def test_gpu_out_of_memory_retries_in_tiles_then_on_the_cpu():
    calls = []

    def attempt(device, side):
        calls.append((device.type, side))
        if device.type == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return np.zeros((4, 4), np.float32), {"tiles": 16}

    with pytest.warns(RuntimeWarning) as record:
        out, details, dev = core.restore_with_fallback(attempt, torch.device("cuda"), 0, (2048, 2048))
    assert calls == [("cuda", 0), ("cuda", 512), ("cpu", 512)]
    assert out.shape == (4, 4) and dev.type == "cpu" and len(details["fallback"]) == 2 and len(record) == 2
    assert "tiles" in details["fallback"][0] and "CPU" in details["fallback"][1]


def test_cpu_out_of_memory_retries_in_tiles_then_says_what_to_do():
    def attempt(device, side):
        raise MemoryError()

    with pytest.raises(DeblurInputError, match="smaller tile"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        core.restore_with_fallback(attempt, torch.device("cpu"), 0, (1024, 1024))

    def other(device, side):
        raise RuntimeError("shape mismatch")  # not a memory problem: not swallowed

    with pytest.raises(RuntimeError, match="shape mismatch"):
        core.restore_with_fallback(other, torch.device("cpu"), 0, (1024, 1024))


def test_deblur_survives_running_out_of_memory_on_the_whole_image(monkeypatch):
    s = make_sample("zernike", GAMMA, shape=(256, 256), seed=2)
    real = core._restore

    def tight(x, *args, **kwargs):
        if x.shape == (256, 256):
            raise torch.OutOfMemoryError("out of memory (simulated)")
        return real(x, *args, **kwargs)

    monkeypatch.setattr(core, "_restore", tight)
    with pytest.warns(RuntimeWarning, match="tiles"):
        res = deblur(s["blurred"], psf=s["psf"], noise=(0.01, 0.01), method="wiener")
    assert res.details["tiles"] == 4 and res.details["fallback"]
    assert np.isfinite(res.image).all() and res.image.shape == (256, 256)


# --- cancel ----------------------------------------------------------------------------------------------------------
class Stop(Exception):
    pass


@pytest.mark.parametrize("stage", ["identify", "deepblur"])
def test_progress_raising_stops_the_run_at_each_stage(blurred, stage):
    seen = []

    def progress(done, total, st):
        seen.append(st)
        if st == stage:
            raise Stop

    with pytest.raises(Stop):
        deblur(blurred, progress=progress)
    assert seen[-1] == stage


# --- security --------------------------------------------------------------------------------------------------------
def test_no_network_is_touched_at_run_time(blurred, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    res = deblur(blurred)
    assert np.isfinite(res.image).all()
    identify(blurred, family="gaussian")


def test_loaders_never_unpickle():
    """Every torch.load passes weights_only=True; no np.load may allow pickles; no pickle module is imported."""
    src = Path(core.__file__).parents[1]  # the whole package (core is napari_deepblur/api/deblur.py)
    for path in src.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                owner = getattr(node.func.value, "id", "")
                kw = {k.arg: k.value for k in node.keywords}
                if owner == "torch" and name == "load":
                    assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, path
                if owner == "np" and name == "load":
                    assert isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False, path
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                assert not any(n.split(".")[0] in ("pickle", "dill", "cloudpickle") for n in names), path
