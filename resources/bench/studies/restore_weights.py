# A study (issue 20): `bench restore` on validation content (`--validation`: the held-out fluorescence images and
# held-out scikit-image pictures, never bsd68) with another deep-blur weights file in place of the shipped one.
# Run from the repository root: python resources/bench/studies/restore_weights.py WEIGHTS|shipped NOISE
import sys

import torch

torch.set_num_threads(1)
from restore_rows import print_restore_rows, use_deblur_weights  # noqa: E402

from napari_deepblur.bench import restore  # noqa: E402

alt, noise = sys.argv[1], sys.argv[2]
use_deblur_weights(alt)
print_restore_rows(alt, noise, restore.run_restore_bench(noise, validation=True))
