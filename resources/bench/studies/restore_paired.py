# A study (issue 20): the per-case paired differences behind `bench restore` (the same cases, the same code), to say how
# far its tables resolve a difference between two methods. Run from the repository root:
# python resources/bench/studies/restore_paired.py NOISE [--validation]
import sys

import numpy as np
import torch

torch.set_num_threads(1)
import napari_deepblur.bench.restore as restore  # noqa: E402

_summary = restore.summary
restore.summary = lambda v: {**_summary(v), "values": list(v)}
noise, validation = sys.argv[1], "--validation" in sys.argv
r = restore.run_restore_bench(noise, validation=validation)
for part in ("phantom", "sparse"):
    rows = [x for x in r["rows"] if x["part"] == part]

    def values(name, metric, rows=rows):
        return np.concatenate([x[metric]["values"] for x in rows if x["row"] == name])

    for metric in ("psnr", "ssim"):
        db = values("deep-blur", metric)
        for other in ("TV", "Richardson-Lucy"):
            d = db - values(other, metric)
            print(f"{part} {noise} {metric} deep-blur - {other}: mean {d.mean():+.4f}, standard error "
                  f"{d.std(ddof=1) / np.sqrt(len(d)):.4f}, won {int((d > 0).sum())}/{len(d)}", flush=True)
