# A study (issue 20, the medium-noise tie with TV): the noise-level map the proximal U-Nets see scaled by S (λ_k
# unchanged), per cutoff, on validation content (held-out fluorescence, held-out scikit-image pictures, procedural
# scenes; never bsd68), aberration-free blur, the true PSF, TV with the same PSF for reference.
# The noise is given in the units deblur scales the image to (NORMALIZED=0: as drawn, the mistake of the benchmarks
# before 2026-12-01).
# [DEBLUR_WEIGHTS=FILE] [NORMALIZED=0|1] PYTHONPATH=src \
#     python resources/bench/studies/sigma_map_scale.py NOISE|ALPHA,BETA S1 S2 ...
import os
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
from by_cutoff import compare_by_cutoff  # noqa: E402

from napari_deepblur.networks import weights as W  # noqa: E402
from napari_deepblur.networks.unrolled import SmallUNet  # noqa: E402
from napari_deepblur.physics import NOISE_LEVELS  # noqa: E402

_orig = W.weights_path
if os.environ.get("DEBLUR_WEIGHTS"):  # another deep-blur weights file in place of the shipped one
    W.weights_path = lambda kind, family=None: (
        Path(os.environ["DEBLUR_WEIGHTS"]) if kind == "deblur" and family is None else _orig(kind, family)
    )
level, scales = sys.argv[1], [float(s) for s in sys.argv[2:]]
alpha, beta = NOISE_LEVELS[level] if level in NOISE_LEVELS else map(float, level.split(","))
_fwd = SmallUNet.forward


def set_knob(s):
    SmallUNet.forward = _fwd if s is None else (lambda self, x, sig, s=s: _fwd(self, x, s * sig))


compare_by_cutoff(level, alpha, beta, scales, set_knob, normalized=os.environ.get("NORMALIZED", "1") == "1")
