# A study (issue 20, the high-noise tie with TV): deep-blur's geometric self-ensemble — the network run on the image
# and on its mirror images (the PSF mirrored with it), the answers mirrored back and averaged — on `bench restore
# --validation` (held-out fluorescence images and held-out scikit-image pictures; never bsd68).
# N: 1 (as shipped), 2 (identity and left-right mirror), 4 (and the transposes).
# Run from the repository root: N=1|2|4 python resources/bench/studies/self_ensemble.py NOISE
import os
import sys

import numpy as np
import torch

torch.set_num_threads(1)
from restore_rows import print_restore_rows  # noqa: E402

from napari_deepblur.bench import restore  # noqa: E402
from napari_deepblur.methods import deepblur as D  # noqa: E402

N = int(os.environ.get("N", "1"))
_run = D.run_unrolled
state = {"depth": 0}


def run_unrolled(x, kernel, alpha, beta, **kw):
    if state["depth"] or N == 1 or kernel.ndim == 3:
        return _run(x, kernel, alpha, beta, **kw)
    state["depth"] += 1
    try:
        views = [(lambda a: a, lambda a: a), (lambda a: a[..., ::-1], lambda a: a[..., ::-1])]
        if N == 4:
            t = lambda a: np.swapaxes(a, -1, -2)  # noqa: E731
            views += [(t, t), (lambda a: t(a)[..., ::-1], lambda a: t(a[..., ::-1]))]
        outs = [back(_run(np.ascontiguousarray(fwd(x)), np.ascontiguousarray(fwd(kernel)), alpha, beta, **kw))
                for fwd, back in views]  # fmt: skip
        return np.mean(outs, axis=0)
    finally:
        state["depth"] -= 1


D.run_unrolled = run_unrolled
noise = sys.argv[1]
print_restore_rows(f"N={N}", noise, restore.run_restore_bench(noise, validation=True), means=("deep-blur", "TV"))
