"""Headless batch CLI: mixed folders, sidecars, failures that do not stop the batch, inputs never touched."""

import hashlib
import json

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_deepblur import __version__
from napari_deepblur._sample_data import make_sample
from napari_deepblur.api.params import parse_noise
from napari_deepblur.batch import BatchOptions, expand_inputs, output_paths, process_file, run_batch
from napari_deepblur.cli import main
from napari_deepblur.errors import DeblurInputError

GAMMA = [0.05, -0.03, 0.02, 0.0, 0.03, -0.02, 0.01, 0.02]


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def folder(tmp_path):
    """uint16 ImageJ TIFF with a pixel size, 8-bit PNG, a 2-frame stack, an RGB PNG and a corrupt TIFF."""
    d = tmp_path / "in"
    d.mkdir()
    y = make_sample("zernike", GAMMA, shape=(128, 128), seed=1)["blurred"]
    u16 = (np.clip(y, 0, None) / y.max() * 60000).astype(np.uint16)
    tifffile.imwrite(d / "cells.tif", u16, imagej=True, resolution=(1 / 0.065, 1 / 0.065), metadata={"unit": "um"})
    iio.imwrite(d / "cells8.png", (np.clip(y, 0, 1) * 255).astype(np.uint8))
    tifffile.imwrite(d / "movie.tif", np.stack([u16, u16[::-1]]), imagej=True, metadata={"axes": "TYX"})
    iio.imwrite(d / "rgb.png", np.zeros((80, 80, 3), np.uint8) + np.arange(80, dtype=np.uint8)[:, None, None])
    (d / "broken.tif").write_bytes(b"II*\x00not a tiff at all")
    (d / "notes.txt").write_text("not an image: ignored when a folder is given")
    return d


GOOD = ("cells", "cells8", "movie")
BAD = ("rgb", "broken")


def test_cli_processes_a_mixed_folder_and_reports_each_failure(folder, tmp_path, capsys):
    before = {p.name: _sha(p) for p in folder.iterdir()}
    out = tmp_path / "out"
    rc = main(["deblur", str(folder), "-o", str(out), "--noise", "0.01,0.01", "--na", "1.2", "--wavelength", "0.52",
               "--pixel-size", "0.065"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1  # two files failed
    assert {p.name: _sha(p) for p in folder.iterdir()} == before  # inputs untouched
    for stem in BAD:
        assert sum(line.startswith(f"error: {folder / stem}") for line in err.splitlines()) == 1
    assert "RGB" in err
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{s}{suffix}" for s in GOOD for suffix in ("_deblurred.tif", "_psf.tif", ".json"))
    # no temporary files left behind
    assert not any(".partial" in n for n in names)

    with tifffile.TiffFile(out / "cells_deblurred.tif") as tf:
        img = tf.series[0].asarray()
        assert img.dtype == np.float32 and img.shape == (128, 128) and np.isfinite(img).all()
        num, den = tf.pages[0].tags["XResolution"].value
        assert num / den == pytest.approx(1 / 0.065, rel=1e-3)  # resolution kept
    movie = tifffile.imread(out / "movie_deblurred.tif")
    assert movie.shape == (2, 128, 128) and movie.dtype == np.float32
    assert tifffile.imread(out / "movie_psf.tif").shape == (2, 31, 31)
    psf = tifffile.imread(out / "cells_psf.tif")
    assert psf.shape == (31, 31) and psf.sum() == pytest.approx(1, abs=1e-4)

    side = json.loads((out / "cells.json").read_text())
    assert side["version"] == __version__ and side["software"] == "napari-deepblur"
    assert side["input"]["sha256"] == before["cells.tif"]
    assert side["input"]["dtype"] == "uint16" and side["input"]["pixel_size_um"] == pytest.approx(0.065, rel=1e-3)
    assert side["family"] == "zernike" and side["method"] == "deepblur" and side["device"] == "cpu"
    assert side["optics"]["fc"] == pytest.approx(1.2 * 0.065 / 0.52)
    plane = side["planes"][0]
    assert set(plane["gamma"]) == {"defocus", "astig_oblique", "astig_vertical", "coma_vertical", "coma_horizontal",
                                   "trefoil_vertical", "trefoil_oblique", "spherical"}  # fmt: skip
    assert plane["noise"] == {"alpha": 0.01, "beta": 0.01, "estimated": False}
    # the prior, what the network estimated, how much of it the image supported, and the answer in words
    assert plane["prior"] == "microscope" and 0 <= plane["kept"] <= 1 and 0 <= plane["confidence"] <= 1
    assert set(plane["estimate"]) == set(plane["gamma"]) and "detected" in plane["verdict"]
    assert {"identify", "deblur", "total"} <= set(plane["timings_s"])
    assert side["timings_s"]["total"] > 0
    assert len(json.loads((out / "movie.json").read_text())["planes"]) == 2


def test_pixel_size_comes_from_the_file_when_not_given(folder, tmp_path):
    side = process_file(folder / "cells.tif", tmp_path / "o", BatchOptions(optics={"na": 1.2, "wavelength": 0.52}))
    assert side["pixel_size_source"].startswith("file metadata")
    assert side["optics"]["pixel_size"] == pytest.approx(0.065, rel=1e-3)
    with pytest.raises(DeblurInputError, match="no pixel size"):
        process_file(folder / "cells8.png", tmp_path / "o", BatchOptions(optics={"na": 1.2, "wavelength": 0.52}))


def test_an_output_never_replaces_an_input(folder):
    # writing into the input folder is fine, unless an output name is an input's name
    clash = folder / "cells_deblurred.tif"
    tifffile.imwrite(clash, np.ones((96, 96), np.uint16) * np.arange(96, dtype=np.uint16))
    before = _sha(clash)
    statuses = run_batch([folder / "cells.tif", clash], folder, BatchOptions(noise="none"), log=lambda m: None)
    assert not statuses[0]["ok"] and "would overwrite an input" in statuses[0]["error"]
    assert _sha(clash) == before


def test_skip_existing_and_cli_errors(folder, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["deblur", str(folder / "cells8.png"), "-o", str(out), "--method", "wiener"]
    assert main(args) == 0
    first = (out / "cells8.json").read_text()
    assert main([*args, "--skip-existing"]) == 0
    assert (out / "cells8.json").read_text() == first
    assert "1 skipped" in capsys.readouterr().out
    assert main(["deblur", str(tmp_path / "missing.tif"), "-o", str(out)]) == 1
    assert "file not found" in capsys.readouterr().err
    assert main(["deblur", str(folder / "cells8.png"), "-o", str(out), "--noise", "1,x"]) == 2
    assert main(["deblur", str(folder / "cells8.png"), "-o", str(out), "--tile", "huge"]) == 2


def test_cli_refuses_optics_in_a_wrong_unit_before_reading_a_file(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["deblur", str(folder / "cells8.png"), "-o", str(out), "--wavelength", "520"]) == 2
    err = capsys.readouterr().err
    assert "napari-deepblur: error: wavelength=520 looks like nanometres; give it in µm (0.52)" in err
    assert "Traceback" not in err and not out.exists()
    assert main(["deblur", str(folder / "cells8.png"), "-o", str(out), "--pixel-size", "65"]) == 2
    assert "give it in µm (0.065)" in capsys.readouterr().err


def test_small_helpers(folder, tmp_path):
    assert parse_noise("auto") == "auto" and parse_noise("0.1, 0.2") == (0.1, 0.2)
    files = expand_inputs([folder, folder / "cells.tif"])
    assert [f.name for f in files] == ["broken.tif", "cells.tif", "cells8.png", "movie.tif", "rgb.png"]
    assert output_paths(folder / "a.b.TIFF", tmp_path)["image"].name == "a.b_deblurred.tif"


def test_tiled_file_records_its_tiles(tmp_path):
    y = make_sample("zernike", GAMMA, shape=(300, 260), seed=2)["blurred"]
    tifffile.imwrite(tmp_path / "big.tif", y.astype(np.float32))
    side = process_file(tmp_path / "big.tif", tmp_path / "o", BatchOptions(method="wiener", tile=160, overlap=48))
    assert side["planes"][0]["tiling"] == {"tile": 160, "overlap": 48, "tiles": 4}


def test_files_run_on_a_local_dask_cluster(folder, tmp_path):
    """A LocalCluster of 2 worker processes handles the folder; failures still come back one per file."""
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    messages = []
    statuses = run_batch([folder], out, BatchOptions(noise="none", method="wiener"), workers=2, log=messages.append)
    assert [s["ok"] for s in statuses] == [False, True, True, True, False]  # broken, cells, cells8, movie, rgb
    assert len(messages) == 2
    for stem in GOOD:
        side = json.loads((out / f"{stem}.json").read_text())
        assert side["options"]["threads"] == 1 and side["method"] == "wiener"
        assert side["command"] == BatchOptions().command  # this process's command line, not the worker's


def test_a_failed_write_leaves_no_partial_output(folder, tmp_path, monkeypatch):
    """The deblurred TIFF fails half-way (disk full): no output under the final name, no temporary file left."""
    import napari_deepblur.batch as batch

    real = tifffile.imwrite

    def full_disk(path, data, **kwargs):
        real(path, data[: len(data) // 2], **kwargs)  # part of the file is on disk ...
        raise OSError(28, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(tifffile, "imwrite", full_disk)
    out = tmp_path / "out"
    statuses = batch.run_batch([folder / "cells.tif"], out, BatchOptions(method="wiener"), log=lambda m: None)
    assert not statuses[0]["ok"] and "No space left" in statuses[0]["error"]
    assert list(out.iterdir()) == []


def test_files_run_on_an_existing_scheduler(folder, tmp_path):
    """--scheduler ADDRESS: the files go to a cluster someone else started (here a 1-worker LocalCluster)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        statuses = run_batch([folder / "cells8.png"], tmp_path / "out", BatchOptions(method="wiener"),
                             scheduler=cl.scheduler_address, log=lambda m: None)  # fmt: skip
        assert statuses == [{"input": str(folder / "cells8.png"), "ok": True, "skipped": False}]
        assert len(cl.scheduler.workers) == 1  # the cluster is left running for its owner
    assert (tmp_path / "out" / "cells8.json").exists()


def test_cli_first_contact(folder, tmp_path, capsys):
    """A bad --noise is a usage error naming every form; one line per finished file; the file's pixel size is used
    (a warning names the optics that were defaults); a rerun into the input folder never deblurs its own outputs."""
    cells = folder / "cells.tif"
    assert main(["deblur", str(cells), "-o", str(tmp_path / "o"), "--noise", "loud"]) == 2
    err = capsys.readouterr().err
    assert "--noise" in err and "auto" in err and "ALPHA,BETA" in err and "none, medium, high" in err

    tifffile.imwrite(folder / "wide.tif", tifffile.imread(cells), imagej=True, resolution=(1 / 0.09, 1 / 0.09),
                     metadata={"unit": "um"})  # fmt: skip
    assert main(["deblur", str(folder / "wide.tif"), str(cells), "-o", str(folder), "--method", "wiener"]) == 0
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith(("wide.tif:", "cells.tif:"))]
    assert len(lines) == 2 and all(" s, γ: " in line for line in lines)
    internal = ("astig_oblique", "astig_vertical", "coma_vertical", "trefoil_oblique")
    assert not any(name in out for name in internal)  # the docks' words
    assert all(" — " in line for line in lines)  # what the identification concluded
    assert "warning: wide.tif: default NA 1.4 and emission 0.52 µm used" in err
    side = json.loads((folder / "wide.json").read_text())
    assert side["optics"]["pixel_size"] == pytest.approx(0.09) and side["pixel_size_source"].startswith("file")
    assert side["optics_notes"] and side["optics"]["fc"] == pytest.approx(1.4 * 0.09 / 0.52)

    before = sorted(p.name for p in folder.iterdir())
    assert "wide_deblurred.tif" in before
    assert [f.name for f in expand_inputs([folder]) if "deblurred" in f.name or "psf" in f.name] == []
    assert main(["deblur", str(folder), "-o", str(folder), "--method", "wiener", "--skip-existing"]) == 1  # rgb, broken
    assert not any("_deblurred_deblurred" in p.name or "_psf_" in p.name for p in folder.iterdir())


def test_a_family_file_is_read_by_each_worker_process(folder, tmp_path):
    """BatchOptions carries the family file's path, not the family: a worker process reads it itself (here a
    1-worker LocalCluster on a 2-plane stack); a file gone by then fails that file with the user's message."""
    pytest.importorskip("distributed")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_calibrate import trained_family_file

    path, _ = trained_family_file(tmp_path)
    options = BatchOptions(family="calibrated", family_file=str(path), noise="none", method="wiener")
    statuses = run_batch([folder / "movie.tif"], tmp_path / "out", options, workers=1, log=lambda m: None)
    assert statuses == [{"input": str(folder / "movie.tif"), "ok": True, "skipped": False}]
    side = json.loads((tmp_path / "out" / "movie.json").read_text())
    assert side["family"] == "calibrated" and side["family_file"]["path"] == str(path.resolve())
    names = {f"c{k + 1}" for k in range(side["family_file"]["K"])}  # the eigen-PSFs' weights
    assert len(side["planes"]) == 2 and all(set(p["gamma"]) == names for p in side["planes"])
    path.unlink()
    statuses = run_batch([folder / "cells8.png"], tmp_path / "out2", options, log=lambda m: None)
    assert not statuses[0]["ok"] and "family file not found" in statuses[0]["error"]


def test_files_deblurred_with_a_measured_psf(tmp_path, capsys):
    """``deblur --psf PSF.tif``: the measured PSF is used instead of a blind estimate, resampled to the image's pixels
    when both files state a pixel size (a PSF sampled twice finer becomes the image's own PSF within a few %), and
    written back with the image's pixel size; without the PSF's pixel size it is taken as it is, and said."""
    import torch

    from napari_deepblur.io import pixel_size_meta, read_image, write_tiff
    from napari_deepblur.physics import ZernikeFamily, forward_model
    from napari_deepblur.synthetic import fluorescence_scene

    fine, coarse = ZernikeFamily(fc=0.1), ZernikeFamily(fc=0.2)  # the same optics sampled at 0.05 and 0.1 µm
    gamma = torch.tensor([[0.08, 0.05, 0, 0, 0, 0, 0, 0]], dtype=torch.float64)
    h_fine, h = fine.psf(gamma)[0].numpy(), coarse.psf(gamma)
    x = torch.from_numpy(fluorescence_scene((160, 160), seed=2)).double()[None, None]
    y = forward_model(x, coarse, h, 0.0, 0.005, generator=torch.Generator().manual_seed(0))[0, 0].numpy()
    image, psf_file, bare = tmp_path / "cells.tif", tmp_path / "psf.tif", tmp_path / "bare_psf.tif"
    write_tiff(image, (np.clip(y, 0, None) * 3000 + 100).astype(np.uint16), pixel_size_meta(0.1))
    write_tiff(psf_file, h_fine.astype(np.float32), pixel_size_meta(0.05))
    write_tiff(bare, h[0].numpy().astype(np.float32), {})
    out = tmp_path / "out"
    assert main(["deblur", str(image), "-o", str(out), "--psf", str(psf_file), "--method", "rl"]) == 0
    side = json.loads((out / "cells.json").read_text())
    assert side["family"] is None and "measured, from" in side["psf"]["note"]
    assert side["optics_notes"] == [] and side["pixel_size_source"] == "file metadata (µm)"
    assert "resampled to the image's 0.1" in side["planes"][0]["psf_resampled"]
    used, meta = read_image(out / "cells_psf.tif")
    assert meta["pixel_size_um"] == pytest.approx(0.1, rel=1e-3) and used.shape[0] % 2 == 1
    n = min(used.shape[0], 31)
    a = used[(used.shape[0] - n) // 2 :][:n, (used.shape[1] - n) // 2 :][:, :n]
    b = h[0].numpy()[(31 - n) // 2 :][:n, (31 - n) // 2 :][:, :n]
    assert np.linalg.norm(a - b) / np.linalg.norm(b) < 0.06
    # a raw bead crop (camera offset, 3D): its highest plane, its background taken off
    from napari_deepblur.io import read_psf

    raw = np.stack([h_fine * 0.3, h_fine, h_fine * 0.5]) / h_fine.max() * 5000 + 500
    write_tiff(tmp_path / "raw.tif", raw.astype(np.uint16), pixel_size_meta(0.05))
    clean, px, note = read_psf(tmp_path / "raw.tif")
    assert px == pytest.approx(0.05) and "plane 1 of 3" in note and "background" in note
    assert np.abs(clean / clean.max() - h_fine / h_fine.max()).max() < 0.01  # the tail below the border's level
    # a PSF file without a pixel size: taken at the image's sampling, and the note says so
    assert main(["deblur", str(image), "-o", str(tmp_path / "out2"), "--psf", str(bare), "--method", "wiener"]) == 0
    side = json.loads((tmp_path / "out2" / "cells.json").read_text())
    assert any("the PSF file states no pixel size" in n for n in side["optics_notes"])
    # said before any image is read: a blind method, --aberrations, a missing PSF file, --family with it
    capsys.readouterr()
    assert main(["deblur", str(image), "-o", str(out), "--psf", str(psf_file), "--method", "selfdeblur"]) == 2
    assert "estimates its own kernel" in capsys.readouterr().err
    assert main(["deblur", str(image), "-o", str(out), "--psf", str(psf_file), "--aberrations", "none"]) == 2
    assert "--aberrations does not apply" in capsys.readouterr().err
    assert main(["deblur", str(image), "-o", str(out), "--psf", str(tmp_path / "nope.tif")]) == 2
    assert "PSF file" in capsys.readouterr().err
    assert main(["deblur", str(image), "-o", str(out), "--psf", str(psf_file), "--family", "gaussian"]) == 2
    assert "not allowed with argument --psf" in capsys.readouterr().err


def test_cli_deconvolves_a_3d_tiff_as_a_volume(tmp_path, capsys):
    """``--volume``: a (Z, Y, X) ImageJ TIFF with its voxel size is deconvolved in 3D; the z step and the pixel size
    come from the file; the 3D PSF and its model are recorded."""
    rng = np.random.default_rng(0)
    stack = (100 + 40 * rng.random((5, 48, 48))).astype(np.uint16)
    f = tmp_path / "zs.tif"
    tifffile.imwrite(f, stack, imagej=True, resolution=(1 / 0.1, 1 / 0.1),
                     metadata={"axes": "ZYX", "unit": "um", "spacing": 0.4})  # fmt: skip
    out = tmp_path / "o"
    assert main(["deblur", str(f), "-o", str(out), "--volume", "--volume-iterations", "3", "--na", "1.2",
                 "--wavelength", "0.52"]) == 0  # fmt: skip
    image = tifffile.imread(out / "zs_deblurred.tif")
    assert image.shape == stack.shape and image.min() >= np.percentile(stack, 0.01) - 1e-3
    assert tifffile.imread(out / "zs_psf.tif").shape == (9, 63, 63)
    side = json.loads((out / "zs.json").read_text())
    assert side["volume"] and side["z_step_source"] == "file metadata (µm)" and side["psf"]["z_step"] == 0.4
    assert side["optics"]["pixel_size"] == pytest.approx(0.1) and "Gibson-Lanni" in side["psf"]["model"]
    tifffile.imwrite(tmp_path / "flat.tif", stack)  # no z step in the file, none given: said, not guessed
    assert main(["deblur", str(tmp_path / "flat.tif"), "-o", str(out), "--volume", "--na", "1.2",
                 "--wavelength", "0.52", "--pixel-size", "0.1"]) == 1  # fmt: skip
    said = capsys.readouterr()
    assert "no z step: give --z-step" in said.out + said.err
