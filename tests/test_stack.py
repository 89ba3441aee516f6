"""One loop over the planes of a stack (widget and batch share it) and the one provenance record of a result."""

import json

import numpy as np
import pytest

from napari_deepblur._sample_data import make_sample
from napari_deepblur.api.provenance import result_record
from napari_deepblur.api.stack import Cancelled, deblur_planes

GAMMA = [0.05, -0.03, 0.02, 0.0, 0.03, -0.02, 0.01, 0.02]


@pytest.fixture(scope="module")
def planes():
    s = make_sample("zernike", GAMMA, shape=(96, 96), seed=3)
    return np.stack([s["blurred"], s["blurred"][::-1]]), s["psf"]


def test_planes_are_deblurred_in_order_with_labelled_progress(planes):
    stack, psf = planes
    stages = []
    runs = list(deblur_planes(stack, progress=lambda d, t, s: stages.append(s), psf=psf, method="rl", noise="none"))
    assert [i for i, _ in runs] == [0, 1]
    assert all(r.image.shape == (96, 96) for _, r in runs)
    assert stages and stages[0].startswith("plane 1/2: ") and stages[-1].startswith("plane 2/2: ")
    unlabelled = []
    list(deblur_planes(stack[:1], progress=lambda d, t, s: unlabelled.append(s), label_planes=False, psf=psf,
                       method="rl", noise="none"))  # fmt: skip
    assert unlabelled and not unlabelled[0].startswith("plane")


def test_cancel_between_planes_stops_before_the_next_one(planes):
    stack, psf = planes
    done = []
    runs = deblur_planes(stack, cancelled=lambda: len(done) >= 1, psf=psf, method="wiener", noise="none")
    with pytest.raises(Cancelled):
        for i, _ in runs:
            done.append(i)
    assert done == [0]


def test_result_record_names_gamma_and_is_json(planes):
    stack, _ = planes
    (_, res), = deblur_planes(stack[:1], method="wiener", noise=(0.01, 0.01))  # fmt: skip
    rec = result_record(res)
    assert rec["method"] == "wiener" and rec["family"] == "zernike" and rec["noise"]["estimated"] is False
    assert list(rec["gamma"]) == list(res.family.param_names) and rec["units"]["defocus"] == "waves"
    assert rec["gamma"] == res.named_gamma and rec["tiling"] == {}
    json.dumps(rec)  # plain values only
