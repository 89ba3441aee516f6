import numpy as np
import pytest
import torch

# The first torch.optim step imports torch._dynamo, which imports triton; importing triton once napari's OpenGL canvas
# exists crashes the process (so the docks train in a child process and fit with methods._optim). Import it before
# any test makes a viewer, so that the trainers' tests do not depend on running before the GUI tests.
import torch._dynamo


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)
