"""Headless batch deblurring: image files in; deblurred TIFF, PSF TIFF and a JSON provenance sidecar out.

Used by ``napari-deepblur deblur INPUT... -o OUTDIR``. Every file is independent: one that fails is reported (one
line) and the others still finish. Files run in this process, on a local ``dask.distributed`` cluster
(``workers``) or on an existing one (``scheduler``); each file's tiles run inside the task that handles the file.
Outputs are written under a temporary name and renamed when complete, the sidecar last, so a sidecar marks a
finished file; no output may replace an input.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .api.files import load_family_file, read_measured_psf
from .api.params import looks_rgb
from .errors import DeblurInputError, WeightsError
from .io import IMAGE_SUFFIXES, atomic_write, pixel_size_meta, read_image, sha256_file, write_tiff
from .physics.priors import PRIOR_DEFAULT

__all__ = [
    "BatchOptions",
    "expand_inputs",
    "output_paths",
    "process_file",
    "run_batch",
]


@dataclass
class BatchOptions:
    """What to do with every file (all recorded in the sidecars)."""

    family: str = "zernike"
    noise: str | tuple[float, float] = "auto"
    method: str = "deepblur"
    device: str = "auto"
    tile: int | str | None = "auto"
    overlap: int | None = None
    optics: dict = field(default_factory=dict)
    nonneg: bool = True
    aberrations: str = "estimate"
    prior: str = PRIOR_DEFAULT
    skip_existing: bool = False
    threads: int = 0
    #: a family file (``napari-deepblur calibrate``) to use instead of ``family``; each process reads it itself
    family_file: str = ""
    #: a measured PSF file (:func:`~napari_deepblur.io.read_psf`) to deblur with instead of a blind estimate
    psf: str = ""
    #: deconvolve (Z, Y, X) files in 3D (:func:`~napari_deepblur.api.volume.deblur_volume`): the focus step (µm; the
    #: file's when None) and the iterations
    volume: bool = False
    z_step: float | None = None
    volume_iterations: int = 0  # 0: auto
    #: the command line that started the batch (recorded in the sidecars; workers have their own argv)
    command: str = field(default_factory=lambda: " ".join(sys.argv))


def is_output(path: Path) -> bool:
    """Whether ``path`` is an output of this program: ``<stem>_deblurred.tif`` or ``<stem>_psf.tif`` with the
    ``<stem>.json`` sidecar of napari-deepblur beside it."""
    name = path.name
    for suffix in ("_deblurred.tif", "_psf.tif"):
        if name.endswith(suffix):
            sidecar = path.with_name(name[: -len(suffix)] + ".json")
            try:
                return json.loads(sidecar.read_text()).get("software") == "napari-deepblur"
            except (OSError, ValueError, AttributeError):
                return False
    return False


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files given, plus the image files directly inside given folders (sorted); missing paths are kept so that
    they are reported as failures. Inside folders, this program's own outputs (:func:`is_output`) are passed over,
    so a rerun (``-o`` inside or equal to an input folder, or a shell glob that catches the output folder) never
    deblurs its own results; a file named explicitly is kept."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = (f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            out.extend(sorted(f for f in files if not is_output(f)))
        else:
            out.append(p)
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def output_paths(path: Path, outdir: Path) -> dict[str, Path]:
    """``<stem>_deblurred.tif``, ``<stem>_psf.tif`` and ``<stem>.json`` in ``outdir``."""
    stem = path.name
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return {
        "image": outdir / f"{stem}_deblurred.tif",
        "psf": outdir / f"{stem}_psf.tif",
        "sidecar": outdir / f"{stem}.json",
    }


def _planes(arr: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(n, H, W)`` planes of a 2D image or a stack (leading axes flattened); RGB(A) is refused."""
    if looks_rgb(arr.shape):
        raise DeblurInputError(f"looks like an RGB(A) image {arr.shape}; save one channel per file")
    if arr.ndim < 2:
        raise DeblurInputError(f"a 2D image or a stack of 2D images is expected, got shape {arr.shape}")
    lead = arr.shape[:-2]
    return arr.reshape(-1, *arr.shape[-2:]), lead


def resolve_file_optics(family: str, given: dict, file_pixel_um: float | None) -> tuple[dict, str | None, list[str]]:
    """``(optics, pixel_size_source, notes)`` for one file: what the user gave, the file's pixel size (µm) when the
    user gave none, :data:`~napari_deepblur.physics.DEFAULT_OPTICS` for the rest — each default said in ``notes``.
    Families without optics (Gaussian) take none."""
    from .physics import DEFAULT_OPTICS, family_class

    optics = dict(given)
    if not family_class(family).uses_optics or optics.get("fc"):
        return optics, ("given" if optics.get("fc") else None), []
    notes: list[str] = []
    source = "given" if optics.get("pixel_size") else None
    if not optics.get("pixel_size"):
        if file_pixel_um:
            optics["pixel_size"] = file_pixel_um  # the wavelength is then in µm
            source = "file metadata (µm)"
        elif optics.get("na") and optics.get("wavelength"):
            raise DeblurInputError("the file states no pixel size in µm; give --pixel-size (or --fc)")
        else:
            optics["pixel_size"] = DEFAULT_OPTICS["pixel_size"]
            source = "default"
            notes.append(f"the file states no pixel size: default {DEFAULT_OPTICS['pixel_size']:g} µm used")
    missing = [k for k in ("na", "wavelength") if not optics.get(k)]
    for k in missing:
        optics[k] = DEFAULT_OPTICS[k]
    if missing:
        said = {"na": f"NA {DEFAULT_OPTICS['na']:g}", "wavelength": f"emission {DEFAULT_OPTICS['wavelength']:g} µm"}
        notes.append("default " + " and ".join(said[k] for k in missing) + " used (give --na and --wavelength)")
    return optics, source, notes


def summarize_gamma(named: dict[str, float], n: int = 3, labels: dict[str, str] | None = None) -> str:
    """The ``n`` largest parameters by magnitude, ``"defocus +0.081, spherical -0.040"`` (``""`` when none), in the
    words of ``labels`` (a record's ``"labels"``: those the docks show) where given."""
    top = sorted(named.items(), key=lambda kv: -abs(kv[1]))[:n]
    words = labels or {}
    return ", ".join(f"{words.get(k, k)} {v:+.3f}" for k, v in top)


def process_file(
    path: str | Path,
    outdir: str | Path,
    options: BatchOptions,
    inputs: Iterable[str | Path] = (),
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Deblur one file (every plane of a stack) and write its three outputs; returns the sidecar's content.

    Raises
    ------
    DeblurInputError
        When the file cannot be read or processed, or an output would replace an input.
    """
    from .api.provenance import family_file_record, result_record
    from .api.stack import deblur_planes
    from .methods import METHODS

    t0 = time.perf_counter()
    path, outdir = Path(path), Path(outdir)
    outs = output_paths(path, outdir)
    protected = {Path(p).resolve() for p in inputs} | {path.resolve()}
    clash = [str(p) for p in outs.values() if p.resolve() in protected]
    if clash:
        raise DeblurInputError(f"output {clash[0]} would overwrite an input; choose another output folder")
    if options.skip_existing and outs["sidecar"].exists():
        return {"skipped": True, "input": str(path)}
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    arr, meta = read_image(path)
    checksum = sha256_file(path)
    if options.volume and arr.ndim == 3:
        return _process_volume(path, outs, arr, meta, checksum, options, progress, t0)
    planes, lead = _planes(arr)
    t_read = time.perf_counter() - t0
    family = options.family
    measured: dict = {}
    if options.psf:  # read here, like a family file
        optics, pixel_source, notes, measured = _measured_psf_options(options, meta["pixel_size_um"])
    elif options.family_file:  # read here, in the process that deblurs (a dask worker reads its own copy)
        family = load_family_file(options.family_file, need_network=not METHODS[options.method].blind)
        optics, pixel_source, notes = {}, None, []  # its PSFs are in pixels of the bead images
    else:
        optics, pixel_source, notes = resolve_file_optics(options.family, options.optics, meta["pixel_size_um"])
    out = np.empty(planes.shape, dtype=np.float32)
    psfs, records = [], []
    runs = deblur_planes(
        planes,
        progress=progress,
        family=family,
        noise=options.noise,
        method=options.method,
        device=options.device,
        tile=options.tile,
        overlap=options.overlap,
        nonneg=options.nonneg,
        aberrations=options.aberrations,
        prior=options.prior,
        **optics,
        **measured,
    )
    for i, res in runs:
        out[i] = res.image
        psfs.append(res.psf)
        records.append({"plane": i, **result_record(res)})
    t_proc = time.perf_counter() - t0 - t_read
    image = out.reshape(arr.shape[:-2] + out.shape[-2:]) if lead else out[0]
    psf = np.stack(psfs) if len(psfs) > 1 else psfs[0]
    outdir.mkdir(parents=True, exist_ok=True)
    atomic_write(outs["image"], lambda p: write_tiff(p, image, meta))
    known = pixel_source in ("given", "file metadata (µm)")
    psf_meta = pixel_size_meta(optics.get("pixel_size") if known else None)  # the image's pixels, when known
    atomic_write(outs["psf"], lambda p: write_tiff(p, psf.astype(np.float32), psf_meta))
    fam = res.family
    sidecar = {
        **_sidecar_head(path, outs, arr, meta, checksum, options),
        "family": fam.name if fam is not None else (None if options.psf else options.family),
        **({"family_file": family_file_record(options.family_file, family)} if options.family_file else {}),
        "optics": fam.optics if fam is not None else {},
        "pixel_size_source": pixel_source,
        "optics_notes": notes,
        "method": options.method,
        "device": res.device,
        "options": {k: v for k, v in asdict(options).items() if k not in ("optics", "command")},
        "psf": {
            "shape": list(psf.shape),
            "note": "convolution kernel (y = psf * x), centred, sums to 1"
            + ("; a grid of PSFs (row-major nodes) per plane" if psf.ndim - (len(psfs) > 1) == 3 else "")
            + (f"; measured, from {options.psf}" if options.psf else ""),
        },
        "planes": records,
        "timings_s": {"read": t_read, "process": t_proc},
    }
    sidecar["timings_s"]["total"] = time.perf_counter() - t0
    text = json.dumps(sidecar, indent=2, default=_json_default)
    atomic_write(outs["sidecar"], lambda p: p.write_text(text))
    return sidecar


def _sidecar_head(path: Path, outs: dict, arr: np.ndarray, meta: dict, checksum: str, options: BatchOptions) -> dict:
    """What every sidecar starts with: the program, when and how it ran, the input (checksum, shape, voxel size) and
    the outputs."""
    from . import __version__

    return {
        "software": "napari-deepblur",
        "version": __version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": options.command,
        "input": {
            "path": str(path.resolve()),
            "sha256": checksum,
            "shape": list(arr.shape),
            "dtype": str(arr.dtype),
            "pixel_size_um": meta["pixel_size_um"],
        },
        "outputs": {k: str(v.resolve()) for k, v in outs.items()},
    }


def _process_volume(path, outs, arr, meta, checksum, options: BatchOptions, progress, t0) -> dict:
    """:func:`process_file` of a ``(Z, Y, X)`` file with ``--volume``: 3D Richardson–Lucy with the optics' 3D PSF."""
    from .api.volume import deblur_volume

    optics, pixel_source, notes = resolve_file_optics("zernike", options.optics, meta["pixel_size_um"])
    z_step = options.z_step or meta.get("z_step_um")
    if not z_step:
        raise DeblurInputError("the file states no z step: give --z-step (µm) for --volume")
    z_source = "given" if options.z_step else "file metadata (µm)"
    res = deblur_volume(arr, z_step=z_step, na=optics["na"], wavelength=optics["wavelength"],
                        pixel_size=optics["pixel_size"], n_iter=options.volume_iterations or "auto",
                        device=options.device, progress=progress)  # fmt: skip
    outdir = outs["image"].parent
    outdir.mkdir(parents=True, exist_ok=True)
    atomic_write(outs["image"], lambda p: write_tiff(p, res.image, meta))
    atomic_write(outs["psf"], lambda p: write_tiff(p, res.psf, pixel_size_meta(optics["pixel_size"])))
    head = _sidecar_head(path, outs, arr, meta, checksum, options)
    head["input"]["z_step_um"] = meta.get("z_step_um")
    sidecar = {
        **head,
        "volume": True,
        "optics": optics,
        "pixel_size_source": pixel_source,
        "z_step_source": z_source,
        "optics_notes": notes,
        "method": res.details["method"],
        "options": {k: v for k, v in asdict(options).items() if k not in ("optics", "command")},
        "psf": {
            "shape": list(res.psf.shape),
            "note": "3D convolution kernel (Z, Y, X), centred, sums to 1",
            **res.details["psf"],
        },
        "planes": [{"plane": "all", "n_iter": res.details["n_iter"], "dark_level": res.details["dark_level"]}],
        "timings_s": {**res.timings, "total": time.perf_counter() - t0},
    }
    text = json.dumps(sidecar, indent=2, default=_json_default)
    atomic_write(outs["sidecar"], lambda p: p.write_text(text))
    return sidecar


def _measured_psf_options(options: BatchOptions, file_pixel_um: float | None) -> tuple[dict, str | None, list, dict]:
    """``(optics, pixel_size_source, notes, deblur options)`` for deblurring with the measured PSF of
    ``options.psf``: resampled to the image's pixels when both pixel sizes are known, else taken as it is."""
    psf, psf_um, note = read_measured_psf(options.psf)
    given = options.optics.get("pixel_size")
    pixel = given or file_pixel_um
    source = "given" if given else ("file metadata (µm)" if file_pixel_um else None)
    notes = [f"measured PSF {note}"] if "plane" in note else []  # a plane chosen from a 3D PSF is said
    if pixel and psf_um:
        return {"pixel_size": pixel}, source, notes, {"psf": psf, "psf_pixel_size": psf_um}
    missing = "the PSF file states no pixel size" if not psf_um else "the image's pixel size is not known"
    notes.append(f"{missing}: the PSF is taken at the image's sampling (give --pixel-size and a PSF file that states "
                 "its own to have it resampled)")  # fmt: skip
    return {}, source, notes, {"psf": psf}


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def _process_safe(path: Path, outdir: Path, options: BatchOptions, inputs: tuple) -> dict:
    """:func:`process_file` that reports a failure as ``{"error": ...}`` instead of raising (for cluster tasks); a
    success carries its seconds, a γ summary of its first plane and the notes on default optics."""
    try:
        rec = process_file(path, outdir, options, inputs)
        if rec.get("skipped"):
            return {"input": str(path), "ok": True, "skipped": True}
        planes = rec["planes"]
        return {
            "input": str(path),
            "ok": True,
            "skipped": False,
            "seconds": rec["timings_s"]["total"],
            "planes": len(planes),
            "gamma": summarize_gamma(planes[0].get("gamma", {}), labels=planes[0].get("labels")),
            "verdict": planes[0].get("verdict", ""),
            "notes": rec["optics_notes"],
        }
    except (DeblurInputError, WeightsError, OSError) as exc:
        return {"input": str(path), "ok": False, "error": str(exc)}
    except Exception as exc:  # keep the batch going; the message names the type
        return {"input": str(path), "ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _finished(status: dict, report: Callable[[dict], None] | None) -> dict:
    """Hand the full status of a finished file to ``report``; keep ``input``, ``ok``, ``skipped``, ``error``."""
    if report is not None:
        report(status)
    return {k: status[k] for k in ("input", "ok", "skipped", "error") if k in status}


def run_batch(
    inputs: Iterable[str | Path],
    outdir: str | Path,
    options: BatchOptions,
    *,
    workers: int = 0,
    scheduler: str | None = None,
    log: Callable[[str], None] = print,
    report: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Process every input file; returns one status dict per file (``input``, ``ok``, ``skipped`` or ``error``).

    Parameters
    ----------
    inputs : iterable of path
        Image files and folders (their image files, not recursive).
    outdir : path
        Output folder (created).
    options : BatchOptions
    workers : int
        ``> 0``: start a local ``dask.distributed`` cluster of that many single-threaded worker processes.
    scheduler : str, optional
        Address of an existing ``dask.distributed`` scheduler (e.g. ``tcp://10.0.0.5:8786``).
    log : callable
        Where the one-line failure messages go (once all files are done, in input order).
    report : callable, optional
        Called with each file's status as soon as it is finished (``input``, ``ok``, ``seconds``, ``gamma`` summary,
        ``notes`` on default optics, ``error``).
    """
    from tqdm import tqdm

    files = expand_inputs(inputs)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    statuses: list[dict] = []
    bar = tqdm(total=len(files), desc="deblur", unit="file", file=sys.stderr, disable=None)
    every = tuple(str(f) for f in files)
    if scheduler or workers:
        from distributed import Client, LocalCluster, as_completed

        if scheduler:
            client, cluster = Client(scheduler), None
        else:
            cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        try:
            if not options.threads:
                options = BatchOptions(**{**asdict(options), "threads": 1})
            futures = [client.submit(_process_safe, f, outdir, options, every, pure=False) for f in files]
            for fut in as_completed(futures):
                statuses.append(_finished(fut.result(), report))
                bar.update(1)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        for f in files:
            bar.set_postfix_str(f.name)
            statuses.append(_finished(_process_safe(f, outdir, options, every), report))
            bar.update(1)
    bar.close()
    order = {str(f): i for i, f in enumerate(files)}
    statuses.sort(key=lambda s: order.get(s["input"], 0))
    for s in statuses:
        if not s["ok"]:
            log(f"error: {s['input']}: {s['error']}")
    return statuses
