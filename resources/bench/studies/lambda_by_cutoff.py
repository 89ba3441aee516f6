# A study (issue 20, the medium-noise tie with TV): deep-blur's λ_k all scaled by S, per cutoff, on validation
# content (held-out fluorescence, held-out scikit-image pictures, procedural scenes; never bsd68), aberration-free
# blur, the true PSF, TV with the same PSF for reference.
# [NORMALIZED=0|1] PYTHONPATH=src python resources/bench/studies/lambda_by_cutoff.py NOISE S1 S2 ...
# (First run on 2026-12-01 before the benchmarks' noise fix: the noise as drawn, NORMALIZED=0, the default, so that
# the recorded numbers reproduce; NORMALIZED=1 tells the noise in deblur's units; see by_cutoff.py.)
import os
import sys

import torch

torch.set_num_threads(1)
from by_cutoff import compare_by_cutoff  # noqa: E402

from napari_deepblur.networks.unrolled import UnrolledDR  # noqa: E402
from napari_deepblur.physics import NOISE_LEVELS  # noqa: E402

level, scales = sys.argv[1], [float(s) for s in sys.argv[2:]]
_lam = UnrolledDR.lam


def set_knob(s):
    UnrolledDR.lam = _lam if s is None else (lambda self, k, s2, fs=1.0, s=s: s * _lam(self, k, s2, fs))


compare_by_cutoff(level, *NOISE_LEVELS[level], scales, set_knob, normalized=os.environ.get("NORMALIZED", "0") == "1")
