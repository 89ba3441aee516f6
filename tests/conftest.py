import numpy as np
import pytest
import torch


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def deepinv_or_skip():
    """Import deepinv (the test oracle, from the test extra) or skip."""
    return pytest.importorskip("deepinv")
