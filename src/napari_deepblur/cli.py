"""Command line: ``napari-deepblur {view, deblur, calibrate, bench, train, screenshots} ...``.

Heavy imports (torch, napari) happen inside the sub-commands so that ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

from .physics.priors import PRIOR_DEFAULT, PRIORS

__all__ = ["main"]


def _view(args: argparse.Namespace) -> int:
    import os

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print(
            "napari-deepblur: error: no screen (DISPLAY is not set). On a machine without one, run napari under a "
            "virtual screen: xvfb-run -a napari-deepblur view; or deblur files with napari-deepblur deblur",
            file=sys.stderr,
        )
        return 2
    import napari

    viewer = napari.Viewer(title="napari-deepblur")
    viewer.open_sample("napari-deepblur", f"cells_{args.sample.replace('-', '_')}")
    napari.run()
    return 0


def _noise_arg(text: str):
    """``--noise``: checked while the command line is parsed, so a bad value is a usage error (exit 2)."""
    from .api.params import NOISE_FORMS, parse_noise
    from .errors import DeblurInputError

    try:
        noise = parse_noise(text)
        if not (isinstance(noise, str) and noise.lower() == "auto"):
            from .physics.noise import noise_level

            noise_level(noise)
    except (DeblurInputError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a noise level: use {NOISE_FORMS}") from exc
    return noise


def _report_file(status: dict) -> None:
    """One line per finished file: name, seconds, the largest γ in the docks' words and what the identification
    concluded; notes on default optics as warnings, before that line."""
    from pathlib import Path

    name = Path(status["input"]).name
    if not status["ok"]:
        print(f"{name}: failed (see below)")
        return
    if status.get("skipped"):
        print(f"{name}: skipped (its sidecar exists)")
        return
    for note in status.get("notes", []):
        print(f"warning: {name}: {note}", file=sys.stderr, flush=True)
    planes = f", {status['planes']} planes" if status.get("planes", 1) > 1 else ""
    gamma = f", γ: {status['gamma']}" if status.get("gamma") else ""
    verdict = f" — {status['verdict']}" if status.get("verdict") else ""
    print(f"{name}: {status['seconds']:.1f} s{planes}{gamma}{verdict}", flush=True)


def _check_optics_args(optics: dict) -> None:
    """``--na``, ``--wavelength``, ``--pixel-size`` and ``--fc`` checked before any file is read: a wrong unit is a
    usage error said once, not a failure per file (the cutoff of the three, which may take the file's pixel size,
    is checked per file)."""
    from .physics.optics import check_optics, cutoff_frequency

    check_optics(**{k: v for k, v in optics.items() if k != "fc"})
    if "fc" in optics:
        cutoff_frequency(fc=optics["fc"])


def _check_family_file(args: argparse.Namespace, optics: dict) -> str:
    """``--family-file``, checked once here (each process reads it again) and made absolute; ``""`` without one."""
    if not args.family_file:
        return ""
    from pathlib import Path

    from .api.files import load_family_file
    from .methods import METHODS

    if optics:
        given = ", ".join("--" + k.replace("_", "-") for k in optics)
        raise ValueError(f"{given}: a family file has no optics to set (its PSFs are in pixels of the bead images)")
    if args.aberrations == "none":
        raise ValueError("--aberrations none needs a family with optics; a family file estimates its eigen-PSF mix")
    load_family_file(args.family_file, need_network=not METHODS[args.method].blind)
    return str(Path(args.family_file).resolve())


def _check_psf_file(args: argparse.Namespace) -> str:
    """The ``--psf`` file's absolute path (every worker reads it), read once here so that a bad file or option is
    said before any image is read; "" without one."""
    if not args.psf:
        return ""
    from pathlib import Path

    from .api.files import read_measured_psf
    from .methods import METHODS

    if METHODS[args.method].blind:
        others = ", ".join(k for k, m in METHODS.items() if not m.blind)
        raise ValueError(f"--psf: {args.method} estimates its own kernel; with a measured PSF use {others}")
    if args.aberrations != "estimate":
        raise ValueError("--psf replaces the PSF of the optics: --aberrations does not apply")
    read_measured_psf(args.psf)
    return str(Path(args.psf).resolve())


def _deblur_files(args: argparse.Namespace) -> int:
    from .batch import BatchOptions, run_batch

    tile: int | str | None = args.tile
    if tile != "auto":
        try:
            tile = int(tile)
        except ValueError:
            raise ValueError(f"--tile must be 'auto', 0 or a tile side in pixels, got {args.tile!r}") from None
    optics = {k: getattr(args, k) for k in ("na", "wavelength", "pixel_size", "fc") if getattr(args, k) is not None}
    _check_optics_args(optics)
    family_file = _check_family_file(args, optics)
    psf = _check_psf_file(args)
    options = BatchOptions(
        family="calibrated" if family_file else args.family,
        family_file=family_file,
        psf=psf,
        noise=args.noise,
        method=args.method,
        device=args.device,
        tile=tile,
        overlap=args.overlap,
        optics=optics,
        nonneg=not args.signed,
        aberrations=args.aberrations,
        prior=args.prior,
        skip_existing=args.skip_existing,
        threads=args.threads,
        volume=args.volume,
        z_step=args.z_step,
        volume_iterations=args.volume_iterations,
    )
    statuses = run_batch(
        args.inputs,
        args.output,
        options,
        workers=args.workers,
        scheduler=args.scheduler,
        log=lambda m: print(m, file=sys.stderr),
        report=_report_file,
    )
    failed = sum(not s["ok"] for s in statuses)
    done = sum(s["ok"] and not s.get("skipped") for s in statuses)
    skipped = sum(bool(s.get("skipped")) for s in statuses)
    print(f"{done} file(s) deblurred, {skipped} skipped, {failed} failed -> {args.output}")
    if not statuses:
        print("napari-deepblur: error: no image files found in the inputs", file=sys.stderr)
        return 2
    return 1 if failed else 0


def _bench_scaling(args: argparse.Namespace) -> int:
    from .bench.scaling import run_scaling

    run_scaling(tuple(args.sizes), tuple(args.modes), args.method, args.threads, args.tile, args.whole_limit_gb,
                args.out, family=args.family)  # fmt: skip
    return 0


def _bench_operators(args: argparse.Namespace) -> int:
    from .bench.operators import run

    print(run(args.size, args.repeats, args.device, args.out))
    return 0


def _bench_identify(args: argparse.Namespace) -> int:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from .bench.identify import run

    print(run(args))
    return 0


def _bench_deblur(args: argparse.Namespace) -> int:
    from .bench.deblur import run

    print(run(args))
    return 0


def _bench_real(args: argparse.Namespace) -> int:
    from .bench.real import run

    print(run(args))
    return 0


def _bench_restore(args: argparse.Namespace) -> int:
    from .bench.restore import run

    print(run(args))
    return 0


def _bench_real_restore(args: argparse.Namespace) -> int:
    from .bench.real_restore import run

    print(run(args))
    return 0


def _bench_native(args: argparse.Namespace) -> int:
    from .bench.native import run

    print(run(args))
    return 0


def _bench_speed(args: argparse.Namespace) -> int:
    from .bench.deblur import run_speed

    print(run_speed(args))
    return 0


def _bench_tune(args: argparse.Namespace) -> int:
    from .bench.tune import run

    print(run(args))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .api.calibrate import calibrate_family
    from .io import read_image

    images = []
    for p in args.beads:
        try:
            images.append(read_image(Path(p))[0])
        except ValueError as exc:
            raise ValueError(f"{p}: {exc}") from None
    if args.field:
        return _calibrate_field(args, images)
    optics = {k: getattr(args, k) for k in ("na", "wavelength", "pixel_size") if getattr(args, k) is not None}
    fam = calibrate_family(
        images, psf_size=args.psf_size, energy=args.energy, n_rays=args.n_rays, optics=optics,
        provenance={"beads": [str(p) for p in args.beads], "command": " ".join(sys.argv)},
    )  # fmt: skip
    path = fam.save(args.output)
    from .training.identify import family_weights_path

    stale = family_weights_path(path)
    for p in (stale, stale.with_suffix(".md")):
        if p.exists():  # trained for the family this file held before
            p.unlink()
            print(f"warning: removed {p.name}: it was the previous family's network", file=sys.stderr)
    print(f"{path}: {fam.dim} eigen-PSFs ({100 * fam.explained_energy():.1f} % of the energy) from "
          f"{fam.provenance['n_psfs']} measured PSFs, {len(fam.kept)} rays kept")  # fmt: skip
    return 0


def _calibrate_field(args: argparse.Namespace, images: list) -> int:
    """``calibrate --field``: the PSF across the field of one bead image (Model 2.2)."""
    from .api.calibrate import calibrate_field

    if len(images) != 1 or images[0].ndim != 2:
        raise ValueError("--field takes one 2D bead image (the in-focus plane, beads spread over the field)")
    field = calibrate_field(images[0], psf_size=args.psf_size,
                            provenance={"beads": str(args.beads[0]), "command": " ".join(sys.argv)})  # fmt: skip
    path = field.save(args.output)
    print(f"{path}: the PSF across a {field.shape[0]}x{field.shape[1]} field from {len(field.positions)} beads: "
          f"{field.basis.shape[0]} eigen-PSFs, coefficient maps of degree {field.degree}")  # fmt: skip
    return 0


def _bead_stack(args: argparse.Namespace) -> int:
    """``bead-stack``: the microscope's aberrations from a through-focus bead stack (phase diversity)."""
    from pathlib import Path

    import numpy as np

    from .api.bead_stack import identify_bead_stack
    from .io import atomic_write, pixel_size_meta, read_image, write_tiff

    try:
        stack, meta = read_image(Path(args.stack))
    except ValueError as exc:
        raise ValueError(f"{args.stack}: {exc}") from None
    pixel = args.pixel_size or meta.get("pixel_size_um")
    z_step = args.z_step or meta.get("z_step_um")
    missing = [n for n, v in (("--na", args.na), ("--wavelength", args.wavelength), ("--pixel-size", pixel),
                              ("--z-step", z_step)) if v is None]  # fmt: skip
    if missing:
        raise ValueError(f"{args.stack}: give {', '.join(missing)} (the file does not state them)")
    res = identify_bead_stack(stack, float(z_step), na=args.na, wavelength=args.wavelength, pixel_size=float(pixel),
                              refractive_index=args.refractive_index, psf_size=args.psf_size)  # fmt: skip
    n = res.details["refractive_index"]
    print(f"{args.stack}: {res.details['beads']} bead(s), {len(res.defocus)} planes, z step {z_step:g}, refractive "
          f"index {n:g}{' (assumed from the NA)' if res.details['refractive_index_assumed'] else ''}")  # fmt: skip
    print(f"focus at plane {res.focus_plane:.2f} (0-based); aberrations at focus (waves):")
    for line in (p.format(float(v)) for p, v in zip(res.family.parameters, res.gamma, strict=True)):
        print(f"  {line}")
    print("defocus by plane (waves): " + " ".join(f"{k}:{v:+.3f}" for k, v in enumerate(res.defocus)))
    print("fit by plane (PSF SNR, dB): " + " ".join(f"{k}:{v:.1f}" for k, v in enumerate(res.fit_snr)))
    if args.output:
        out = Path(args.output)
        atomic_write(out, lambda tmp: write_tiff(tmp, res.psf.astype(np.float32), pixel_size_meta(float(pixel))))
        print(f"{out}: the PSF at focus ({res.psf.shape[0]}x{res.psf.shape[1]}, sums to 1)")
    return 0


def _screenshots(args: argparse.Namespace) -> int:
    from ._widgets.screenshots import take_screenshots

    for p in take_screenshots(args.out, args.method):
        print(p)
    return 0


def _add_config_options(parser: argparse.ArgumentParser, config: type, families: list[str]) -> None:
    """One ``--field-name`` option per field of the ``config`` dataclass that has a ``help`` (its default and help
    come from the dataclass, so no default is written twice)."""
    from dataclasses import MISSING, fields

    for f in fields(config):
        meta = f.metadata
        if "help" not in meta:
            continue
        default = f.default if f.default is not MISSING else f.default_factory()
        name = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            flag = meta.get("flag")
            action = "store_false" if default else "store_true"
            parser.add_argument(f"--{flag}" if flag else name, dest=f.name, action=action, help=meta["help"])
            continue
        kw: dict = {"dest": f.name, "help": meta["help"]}
        if isinstance(default, tuple):
            kw.update(nargs=meta.get("nargs", "+"), type=meta.get("type") or type(default[0]), default=list(default))
        elif "parse" in meta:
            kw.update(type=str, default=None)
        else:
            kw.update(type=type(default), default=default)
        choices = meta.get("choices")
        if choices:
            kw["choices"] = families if choices == "families" else list(choices)
        parser.add_argument(name, **kw)


def _parse_mix(text: str | None) -> dict:
    """:func:`~napari_deepblur.training.config.parse_mix` with its errors as a command-line error."""
    from .training.config import parse_mix

    try:
        return parse_mix(text)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None


def _config_from_args(config: type, args: argparse.Namespace):
    """The ``config`` dataclass filled from the options :func:`_add_config_options` added."""
    from dataclasses import fields

    values = {}
    for f in fields(config):
        if "help" not in f.metadata:
            continue
        v = getattr(args, f.name)
        if "parse" in f.metadata:
            try:
                v = f.metadata["parse"](v)
            except ValueError as exc:  # a usage error, not a traceback
                raise SystemExit(f"error: {exc}") from None
        elif isinstance(v, list):
            v = tuple(v)
        values[f.name] = v
    return config(**values)


def _train_identify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .physics import family_class
    from .resources import __file__ as resources_init
    from .training.config import IdentifyConfig
    from .training.identify import train_identify

    if not args.family_file and not family_class(args.family).trainable:
        raise SystemExit(
            f"error: the {args.family!r} family has no identification network of its own (it is identified from "
            "local estimates of the zernike network); train --family zernike instead"
        )
    cfg = _config_from_args(IdentifyConfig, args)
    default_run = f"runs/identify_{Path(args.family_file).stem if args.family_file else args.family}"
    run_dir = Path(args.run_dir or default_run)
    weights_dir = Path(args.weights_dir) if args.weights_dir else Path(resources_init).parent
    train_identify(cfg, run_dir, weights_dir)
    return 0


def _train_deblur(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .resources import __file__ as resources_init
    from .training.config import DeblurConfig
    from .training.deblur import train_deblur

    cfg = _config_from_args(DeblurConfig, args)
    run_dir = Path(args.run_dir or "runs/deblur")
    weights_dir = Path(args.weights_dir) if args.weights_dir else Path(resources_init).parent
    train_deblur(cfg, run_dir, weights_dir)
    return 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless there is none to show (None, False)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.help is None:
            return action.help
        return super()._get_help_string(action)


def _defaults_in_help(subparsers) -> None:
    """Every sub-command's ``--help`` shows the defaults."""
    add = subparsers.add_parser

    def add_parser(*args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return add(*args, **kwargs)

    subparsers.add_parser = add_parser


def build_parser() -> argparse.ArgumentParser:
    """The ``napari-deepblur`` argument parser."""
    from . import __version__
    from .api.params import NOISE_FORMS
    from .bench.protocol import ROWS, SETTINGS
    from .methods import METHODS
    from .physics.optics import DEFAULT_OPTICS
    from .physics.registry import available_families
    from .training.config import DeblurConfig, IdentifyConfig

    families = available_families()

    p = argparse.ArgumentParser(
        prog="napari-deepblur",
        description="Blind deblurring of microscope images (deep-blur).",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"napari-deepblur {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _defaults_in_help(sub)

    v = sub.add_parser("view", help="open napari with a sample image (blurred, with its true PSF and sharp image)")
    v.add_argument("--sample", choices=["zernike", "spatially-varying"], default="zernike")
    v.set_defaults(func=_view)

    d = sub.add_parser(
        "deblur",
        help="deblur image files (TIFF/PNG, 2D or stacks): <stem>_deblurred.tif, <stem>_psf.tif, <stem>.json",
    )
    d.add_argument("inputs", nargs="+", help="image files or folders (their image files)")
    d.add_argument("-o", "--output", required=True, help="output folder (created; inputs are never overwritten)")
    chosen = d.add_mutually_exclusive_group()
    chosen.add_argument("--family", default="zernike", choices=families, help="blur model")
    chosen.add_argument(
        "--family-file",
        help="a family calibrated from your beads (napari-deepblur calibrate; its identification network trained "
        "with train identify --family-file), instead of --family",
    )
    chosen.add_argument(
        "--psf",
        help="a measured PSF file (2D, or a 3D stack: its in-focus plane; e.g. from napari-deepblur bead-stack -o): "
        "deblur with it instead of a blind estimate; resampled to the image's pixels when both state a pixel size",
    )
    d.add_argument("--noise", default="auto", type=_noise_arg, help=NOISE_FORMS)
    d.add_argument(
        "--method",
        default="deepblur",
        choices=list(METHODS),
        help="; ".join(f"{k}: {m.description}" for k, m in METHODS.items()),
    )
    d.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    d.add_argument("--tile", default="auto", help="tile side in px, 'auto' (tiles above 1024x1024 pixels) or 0 (never)")
    d.add_argument("--overlap", type=int, default=None, help="margin around tiles in px (if not given: PSF size + 33)")
    d.add_argument(
        "--na", type=float, help=f"numerical aperture of the objective (if not given: {DEFAULT_OPTICS['na']:g}, warned)"
    )
    d.add_argument(
        "--wavelength",
        type=float,
        help=f"emission wavelength in µm (if not given: {DEFAULT_OPTICS['wavelength']:g}, warned)",
    )
    d.add_argument(
        "--pixel-size",
        type=float,
        help="pixel size in the sample plane, µm (if not given: the file's, when it states one in µm; else "
        f"{DEFAULT_OPTICS['pixel_size']:g}, warned)",
    )
    d.add_argument(
        "--fc", type=float, help="cutoff frequency NA*pixel/wavelength in cycles/pixel, instead of the three"
    )
    d.add_argument("--workers", type=int, default=0, help="run files on a local dask cluster of N processes")
    d.add_argument("--scheduler", help="address of an existing dask.distributed scheduler to run the files on")
    d.add_argument("--threads", type=int, default=0, help="torch threads per process (0: torch's default)")
    d.add_argument("--skip-existing", action="store_true", help="skip files whose sidecar already exists")
    d.add_argument(
        "--volume",
        action="store_true",
        help="deconvolve (Z, Y, X) stacks in 3D with the widefield 3D PSF of the optics (Richardson-Lucy 3D, "
        "accelerated; not blind); 2D files as usual",
    )
    d.add_argument("--z-step", type=float, help="with --volume: focus step between planes, µm (default: the file's)")
    d.add_argument(
        "--volume-iterations",
        type=int,
        default=0,
        help="with --volume: Richardson-Lucy 3D iterations (0: auto, fewer on noisier stacks)",
    )
    d.add_argument(
        "--aberrations",
        default="estimate",
        choices=["estimate", "none"],
        help="estimate them from each image, or none: the aberration-free PSF of the optics (optical families)",
    )
    d.add_argument(
        "--prior",
        default=PRIOR_DEFAULT,
        choices=list(PRIORS),
        help="what the blind estimate expects: " + "; ".join(f"{k}: {v}" for k, v in PRIORS.items()),
    )
    d.add_argument(
        "--signed",
        action="store_true",
        help="signed data: allow results below the image's dark level (default: fluorescence, never below it)",
    )
    d.set_defaults(func=_deblur_files)

    b = sub.add_parser("bench", help="benchmarks")
    bsub = b.add_subparsers(dest="bench", required=True)
    _defaults_in_help(bsub)
    bsc = bsub.add_parser("scaling", help="time and peak RAM vs image size, whole image vs tiles (one process each)")
    bsc.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    bsc.add_argument("--modes", nargs="+", default=["whole", "tiled"], choices=["whole", "tiled"])
    bsc.add_argument("--method", default="deepblur")
    bsc.add_argument("--family", default="zernike", choices=families)
    bsc.add_argument("--threads", type=int, default=2)
    bsc.add_argument("--tile", type=int, default=512)
    bsc.add_argument("--whole-limit-gb", type=float, default=12.0, help="address-space cap of whole-image runs")
    bsc.add_argument("--out", help="results JSON (a .md table is written beside it)")
    bsc.set_defaults(func=_bench_scaling)
    bo = bsub.add_parser("operators", help="time A, A* and the regularised inverse of each family")
    bo.add_argument("--size", type=int, default=512)
    bo.add_argument("--repeats", type=int, default=7)
    bo.add_argument("--device", default="cpu")
    bo.add_argument("--out", help="write the rows as JSON here (and a .md table beside it)")
    bo.set_defaults(func=_bench_operators)
    bi = bsub.add_parser("identify", help="PSF SNR of the identification network (paper protocol)")
    bi.add_argument("--family", default="zernike", choices=families)
    bi.add_argument("--noise", default="none", choices=["none", "medium", "high", "all"])
    bi.add_argument("--images", help="folder of test images (default: bsd68 when present, else held-out skimage)")
    bi.add_argument("--n-images", type=int, default=None)
    bi.add_argument("--n-psfs", type=int, default=100)
    bi.add_argument(
        "--setting", choices=list(SETTINGS), default="paper", help="; ".join(f"{k}: {v}" for k, v in SETTINGS.items())
    )
    bi.add_argument("--fc", type=float, default=None, help="cutoff of optical families (default: the networks' 0.2)")
    bi.add_argument("--seed", type=int, default=0)
    bi.add_argument("--device", default="cpu")
    bi.add_argument("--out", help="results JSON (a .md table is written beside it)")
    bi.add_argument("--weights", help="a weights file to score instead of the shipped one")
    bi.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    bi.add_argument("--tta", action="store_true", help="test-time augmentation (8 rotations/flips)")
    bi.set_defaults(func=_bench_identify)
    bd = bsub.add_parser("deblur", help="PSNR / SSIM / PSF SNR / time of every method (paper Table 1 protocol)")
    bd.add_argument("--family", default="zernike", choices=families)
    bd.add_argument("--noise", default="none", choices=["none", "medium", "high", "all"])
    bd.add_argument("--images", help="folder of test images (default: bsd68 when present, else held-out skimage)")
    bd.add_argument("--n-images", type=int, default=None)
    bd.add_argument("--methods", nargs="+", default=list(ROWS), choices=list(ROWS), help="rows to compute")
    bd.add_argument("--fc", type=float, default=None, help="cutoff of optical families (default: the networks' 0.2)")
    bd.add_argument("--border", type=int, default=16, help="pixels left out of PSNR/SSIM at each side")
    bd.add_argument("--seed", type=int, default=0)
    bd.add_argument("--device", default="cpu")
    bd.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    bd.add_argument("--selfdeblur-images", type=int, default=0, help="SelfDeblur on centre crops of this many images")
    bd.add_argument("--selfdeblur-iters", type=int, default=500)
    bd.add_argument("--selfdeblur-width", type=int, default=32, help="image-generator channels (paper: 128)")
    bd.add_argument("--selfdeblur-crop", type=int, default=128)
    bd.add_argument("--weights", help="a deep-blur weights file to score instead of the shipped one")
    bd.add_argument("--out", help="results JSON (a .md table is written beside it)")
    bd.set_defaults(func=_bench_deblur)

    br = bsub.add_parser(
        "real", help="identification on realistic content (aberration-free and sparse blur) and on real microscope data"
    )
    br.add_argument("--parts", nargs="+", default=["phantom", "sparse", "real"], choices=["phantom", "sparse", "real"])
    br.add_argument("--noise", default="all", choices=["none", "medium", "high", "all"])
    br.add_argument("--n-per-class", type=int, default=3, help="images per content class (phantom, sparse)")
    br.add_argument("--seed", type=int, default=0)
    br.add_argument("--device", default="cpu")
    br.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    br.add_argument("--weights", help="an identification weights file to score instead of the shipped one")
    br.add_argument("--prior", default=PRIOR_DEFAULT, choices=list(PRIORS), help="the prior identify() is given")
    br.add_argument(
        "--validation", action="store_true", help="natural content from held-out scikit-image pictures, not bsd68"
    )
    br.add_argument("--out", help="results JSON (a .md table is written beside it)")
    br.set_defaults(func=_bench_real)

    brr = bsub.add_parser(
        "real-restore", help="restore the real sets (blind, and with their measured PSF): montage and agreement"
    )
    brr.add_argument("--montage", default="resources/real_restore.png", help="montage PNG")
    brr.add_argument("--device", default="cpu")
    brr.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    brr.add_argument("--out", help="results JSON (a .md table is written beside it)")
    brr.set_defaults(func=_bench_real_restore)

    bn = bsub.add_parser(
        "native",
        help="real images at their own sampling, no ground truth: out-of-band share, sharpening, flat-region texture",
    )
    bn.add_argument("--images", nargs="*", help="only these images (names as in the table)")
    bn.add_argument(
        "--montage-dir",
        default="runs/native",
        help="folder of the montage PNGs (crops of the real images: kept out of the repository, runs/ is ignored)",
    )
    bn.add_argument("--device", default="cpu")
    bn.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    bn.add_argument("--out", help="results JSON (a .md table is written beside it)")
    bn.set_defaults(func=_bench_native)

    bre = bsub.add_parser(
        "restore", help="restoration of fluorescence and natural content: PSNR, SSIM, overshoot, edge error per method"
    )
    bre.add_argument("--noise", default="all", choices=["none", "medium", "high", "all"])
    bre.add_argument("--n-per-class", type=int, default=3, help="images per content class")
    bre.add_argument("--seed", type=int, default=0)
    bre.add_argument("--device", default="cpu")
    bre.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    bre.add_argument(
        "--validation", action="store_true", help="natural content from held-out scikit-image pictures, not bsd68"
    )
    bre.add_argument("--out", help="results JSON (a .md table is written beside it)")
    bre.set_defaults(func=_bench_restore)

    bs = bsub.add_parser("speed", help="warm time of identify + deep-blur on a 512² image; SelfDeblur per iteration")
    bs.add_argument("--size", type=int, default=512)
    bs.add_argument("--repeats", type=int, default=5)
    bs.add_argument("--families", nargs="+", default=families, choices=families)
    bs.add_argument("--device", default="cpu")
    bs.add_argument("--selfdeblur-iters", type=int, default=3, help="iterations timed (0: skip SelfDeblur)")
    bs.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    bs.add_argument("--out", help="results JSON (a .md table is written beside it)")
    bs.set_defaults(func=_bench_speed)

    bt = bsub.add_parser(
        "tune", help="tune Wiener/RL/TV regularisation (or deep-blur's λ floor) on training images, not test images"
    )
    bt.add_argument("--deepblur", action="store_true", help="tune deep-blur's λ-floor scale (blind, whole pictures)")
    bt.add_argument("--n-images", type=int, default=16)
    bt.add_argument("--n-psfs", type=int, default=2, help="--deepblur: PSFs per picture and family")
    bt.add_argument("--families", nargs="+", default=["zernike", "gaussian"], help="--deepblur: families to tune")
    bt.add_argument("--size", type=int, default=0, help="crop side (default 128; 384 with --deepblur)")
    bt.add_argument("--seed", type=int, default=0)
    bt.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    bt.add_argument("--out", help="results JSON")
    bt.set_defaults(func=_bench_tune)

    ca = sub.add_parser(
        "calibrate", help="an operator family from bead images (eigen-PSFs of the measured PSFs, Model 2.1)"
    )
    ca.add_argument("beads", nargs="+", help="bead images: 2D, or (Z, H, W) through-focus stacks")
    ca.add_argument("-o", "--output", required=True, help="the family file to write (.npz)")
    ca.add_argument("--psf-size", type=int, default=31, help="side of the PSFs (odd)")
    ca.add_argument("--energy", type=float, default=0.995, help="share of the PSFs' energy the eigen-PSFs explain")
    ca.add_argument("--n-rays", type=int, default=None, help="rays kept by the cone simplification (default: all)")
    ca.add_argument(
        "--field", action="store_true",
        help="one 2D image of beads spread over the field: the PSF across the field (Model 2.2) instead of a family",
    )  # fmt: skip
    for name in ("na", "wavelength", "pixel-size"):
        ca.add_argument(f"--{name}", type=float, help="optics, recorded in the family file")
    ca.set_defaults(func=_calibrate)

    bs_ = sub.add_parser(
        "bead-stack", help="the microscope's aberrations and PSF from a through-focus stack of beads (phase diversity)"
    )
    bs_.add_argument("stack", help="a (Z, Y, X) TIFF of beads through focus")
    bs_.add_argument("--z-step", type=float, help="focus step between planes (default: the file's ImageJ spacing)")
    bs_.add_argument("--na", type=float, help="numerical aperture (required)")
    bs_.add_argument("--wavelength", type=float, help="emission wavelength, in the unit of the steps (e.g. µm)")
    bs_.add_argument("--pixel-size", type=float, help="pixel size (default: the file's)")
    bs_.add_argument("--refractive-index", type=float, help="of the medium the focus moves in (default: from the NA)")
    bs_.add_argument("--psf-size", type=int, default=31, help="side of the PSF (odd)")
    bs_.add_argument("-o", "--output", help="write the PSF at focus to this TIFF")
    bs_.set_defaults(func=_bead_stack)

    sc = sub.add_parser("screenshots", help="run the widgets on the sample data and save GUI screenshots")
    sc.add_argument("--out", default="resources")
    sc.add_argument("--method", default="deepblur")
    sc.set_defaults(func=_screenshots)

    t = sub.add_parser("train", help="train the networks (weights + model card go to the package resources)")
    tsub = t.add_subparsers(dest="train", required=True)
    _defaults_in_help(tsub)
    ti = tsub.add_parser("identify", help="train the identification network of a family (resumable)")
    _add_config_options(ti, IdentifyConfig, families)
    ti.add_argument("--run-dir", help="checkpoints (default runs/identify_<family>); an existing one is resumed")
    ti.add_argument("--weights-dir", help="where the weights and model card go (default: the package resources)")
    ti.set_defaults(func=_train_identify)
    td = tsub.add_parser("deblur", help="train the unrolled deblurring network (one for all families; resumable)")
    _add_config_options(td, DeblurConfig, families)
    td.add_argument("--run-dir", help="checkpoints (default runs/deblur); an existing one is resumed")
    td.add_argument("--weights-dir", help="where the weights and model card go (default: the package resources)")
    td.set_defaults(func=_train_deblur)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``napari-deepblur`` command; returns the exit status (2: a usage error, said on stderr)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2), already printed by argparse
        return int(exc.code or 0)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"napari-deepblur: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
