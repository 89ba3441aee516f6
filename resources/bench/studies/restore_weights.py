# A study (issue 20): `bench restore` on validation content (`--validation`: the held-out fluorescence images and
# held-out scikit-image pictures, never bsd68) with another deep-blur weights file in place of the shipped one.
# Run from the repository root: python resources/bench/studies/restore_weights.py WEIGHTS|shipped NOISE
import sys
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)
from napari_deepblur.bench import restore  # noqa: E402
from napari_deepblur.networks import weights as W  # noqa: E402

alt, noise = sys.argv[1], sys.argv[2]
_orig = W.weights_path


def weights_path(kind, family=None):
    if alt != "shipped" and kind == "deblur" and family is None:
        return Path(alt)
    return _orig(kind, family)


W.weights_path = weights_path
r = restore.run_restore_bench(noise, validation=True)
for x in r["rows"]:  # per content and cutoff (2 fluorescence images or 3 pictures each)
    if x["row"] in ("deep-blur", "TV"):
        print(f"{alt} {x['part']} {noise} {x['content'][:12]} fc {x['fc']} {x['row']}: {x['psnr']['mean']:.3f} / "
              f"{x['ssim']['mean']:.4f}", flush=True)  # fmt: skip
for part in ("phantom", "sparse"):
    for row in ("deep-blur", "TV", "Richardson-Lucy"):
        sel = [x for x in r["rows"] if x["part"] == part and x["row"] == row]
        p = np.mean([x["psnr"]["mean"] for x in sel])
        s = np.mean([x["ssim"]["mean"] for x in sel])
        print(f"{alt} {part} {noise} {row}: {p:.2f} / {s:.4f}", flush=True)
