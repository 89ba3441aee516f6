"""PSF SNR metric."""

import pytest
import torch

from napari_deepblur.physics import center_to_size, get_family, psf_snr


def test_known_value():
    h = torch.zeros(1, 5, 5)
    h[0, 2, 2] = 1.0
    h_hat = h.clone()
    h_hat[0, 2, 3] = 0.1  # ||h||^2 = 1, ||h - h_hat||^2 = 0.01  ->  20 dB
    assert float(psf_snr(h, h_hat)) == pytest.approx(20.0, abs=1e-4)


def test_shift_alignment_recovers_a_shifted_estimate():
    fam = get_family("gaussian", psf_size=21)
    h = fam.psf(torch.tensor([[1.5, 2.5, 0.4]], dtype=torch.float64))
    shifted = torch.roll(h, shifts=(2, -1), dims=(-2, -1))
    assert float(psf_snr(h, shifted)) < 5
    assert float(psf_snr(h, shifted, align=True)) > 40  # only the rolled-in border differs


def test_grid_snr_uses_the_whole_grid():
    fam = get_family("spatially-varying", fc=0.2, grid=(2, 2), psf_size=15)
    g = fam.sample(2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    h = fam.psf(g)
    assert psf_snr(h, h + 1e-3 * torch.rand_like(h)).shape == (2,)
    assert float(psf_snr(h, h).min()) > 200


def test_normalize_and_size_mismatch():
    h = get_family("gaussian", psf_size=15).psf(torch.tensor([[2.0, 2.0, 0.0]]))
    big = center_to_size(3 * h, (31, 31))
    assert big.shape == (1, 31, 31)
    torch.testing.assert_close(center_to_size(big, (15, 15)), 3 * h)
    assert float(psf_snr(h, big, normalize=True)) > 100
