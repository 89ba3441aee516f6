"""One loop over the planes of a stack, with progress and cancel: used by the widget and the batch runner."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

__all__ = ["Cancelled", "deblur_planes"]


class Cancelled(Exception):
    """Raised when the user cancelled (between planes, or from a progress callback)."""


def deblur_planes(
    planes: Iterable,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    n_planes: int | None = None,
    label_planes: bool = True,
    **deblur_options,
) -> Iterator[tuple[int, object]]:
    """Deblur 2D planes one after the other; yields ``(index, DeblurResult)`` as each finishes.

    Parameters
    ----------
    planes : iterable of array_like
        The planes (numpy, dask or lazily read arrays; each is read when its turn comes).
    progress : callable, optional
        ``progress(done, total, stage)`` within each plane; with ``label_planes`` the stage reads
        ``"plane i/n: <stage>"``.
    cancelled : callable, optional
        Asked before each plane; when it returns True the loop raises :class:`Cancelled`.
    n_planes : int, optional
        The number of planes, for the labels (default: ``len(planes)`` when it has one).
    **deblur_options
        Passed to :func:`napari_deepblur.deblur` for every plane.
    """
    from .deblur import deblur

    n = n_planes if n_planes is not None else (len(planes) if hasattr(planes, "__len__") else None)
    for i, plane in enumerate(planes):
        if cancelled is not None and cancelled():
            raise Cancelled
        plane_progress = progress
        if progress is not None and label_planes:

            def plane_progress(done: int, total: int, stage: str, i: int = i) -> None:
                progress(done, total, f"plane {i + 1}/{n if n is not None else '?'}: {stage}")

        yield i, deblur(np.asarray(plane), progress=plane_progress, **deblur_options)
