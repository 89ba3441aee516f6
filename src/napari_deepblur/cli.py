"""Command line: ``napari-deepblur {view, bench} ...``.

Heavy imports (torch, napari) happen inside the sub-commands so that ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _view(args: argparse.Namespace) -> int:
    import napari

    viewer = napari.Viewer(title="napari-deepblur")
    viewer.open_sample("napari-deepblur", f"cells_{args.sample.replace('-', '_')}")
    napari.run()
    return 0


def _bench_operators(args: argparse.Namespace) -> int:
    from .bench.operators import run

    print(run(args.size, args.repeats, args.device, args.out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``napari-deepblur`` argument parser."""
    from . import __version__

    p = argparse.ArgumentParser(
        prog="napari-deepblur", description="Blind deblurring of microscope images (deep-blur)."
    )
    p.add_argument("--version", action="version", version=f"napari-deepblur {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("view", help="open napari with a sample image (blurred, with its true PSF and sharp image)")
    v.add_argument("--sample", choices=["zernike", "spatially-varying"], default="zernike")
    v.set_defaults(func=_view)

    b = sub.add_parser("bench", help="benchmarks")
    bsub = b.add_subparsers(dest="bench", required=True)
    bo = bsub.add_parser("operators", help="time A, A* and the regularised inverse of each family")
    bo.add_argument("--size", type=int, default=512)
    bo.add_argument("--repeats", type=int, default=7)
    bo.add_argument("--device", default="cpu")
    bo.add_argument("--out", help="write the rows as JSON here (and a .md table beside it)")
    bo.set_defaults(func=_bench_operators)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``napari-deepblur`` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"napari-deepblur: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
