# What the `bench restore --validation` studies print (restore_weights.py, inner_projection.py, self_ensemble.py):
# deep-blur and TV per content and cutoff, then the means over content and cutoff per part; and the one way the
# studies put another deep-blur weights file in place of the shipped one. Not run on its own.
from pathlib import Path

import numpy as np


def use_deblur_weights(alt: str) -> None:
    """Make deep-blur load ``alt`` (a weights file) instead of the shipped network; ``"shipped"`` changes nothing."""
    from napari_deepblur.networks import weights as W

    orig = W.weights_path

    def weights_path(kind, family=None):
        if alt != "shipped" and kind == "deblur" and family is None:
            return Path(alt)
        return orig(kind, family)

    W.weights_path = weights_path


def print_restore_rows(label, noise, r, means=("deep-blur", "TV", "Richardson-Lucy")):
    """Print the rows of a `bench restore` result ``r`` prefixed by ``label``."""
    for x in r["rows"]:  # per content and cutoff (2 fluorescence images or 3 pictures each)
        if x["row"] in ("deep-blur", "TV"):
            print(f"{label} {x['part']} {noise} {x['content'][:12]} fc {x['fc']} {x['row']}: {x['psnr']['mean']:.3f} / "
                  f"{x['ssim']['mean']:.4f}", flush=True)  # fmt: skip
    for part in ("phantom", "sparse"):
        for row in means:
            sel = [x for x in r["rows"] if x["part"] == part and x["row"] == row]
            p = np.mean([x["psnr"]["mean"] for x in sel])
            s = np.mean([x["ssim"]["mean"] for x in sel])
            print(f"{label} {part} {noise} {row}: {p:.2f} / {s:.4f}", flush=True)
