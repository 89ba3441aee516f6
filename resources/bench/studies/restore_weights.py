# A study (issue 20): `bench restore` on validation content (`--validation`: the held-out fluorescence images and
# held-out scikit-image pictures, never bsd68) with another deep-blur weights file in place of the shipped one.
# Run from the repository root: python resources/bench/studies/restore_weights.py WEIGHTS|shipped NOISE
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
from restore_rows import print_restore_rows  # noqa: E402

from napari_deepblur.bench import restore  # noqa: E402
from napari_deepblur.networks import weights as W  # noqa: E402

alt, noise = sys.argv[1], sys.argv[2]
_orig = W.weights_path


def weights_path(kind, family=None):
    if alt != "shipped" and kind == "deblur" and family is None:
        return Path(alt)
    return _orig(kind, family)


W.weights_path = weights_path
print_restore_rows(alt, noise, restore.run_restore_bench(noise, validation=True))
