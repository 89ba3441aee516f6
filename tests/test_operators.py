"""Blur operators: adjoints, regularised inverses and conventions (agreement with deepinv: test_oracle.py)."""

import pytest
import torch

from napari_deepblur.physics import (
    ConvolutionOperator,
    ProductConvolutionOperator,
    conjugate_gradient,
    conv2d_fft,
    conv_transpose2d_fft,
    get_family,
    partition_of_unity,
)

FAMILY_OPTIONS = {
    "zernike": dict(fc=0.2),
    "gaussian": dict(),
    "spatially-varying": dict(fc=0.2, grid=(3, 3)),
}


def small_family(name, psf_size):
    opts = dict(FAMILY_OPTIONS[name], psf_size=psf_size)
    if name == "spatially-varying":
        opts["grid"] = (2, 2)
    return get_family(name, **opts)


@pytest.mark.parametrize("name", list(FAMILY_OPTIONS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adjoint_dot_product(name, dtype, gen):
    fam = get_family(name, **FAMILY_OPTIONS[name])
    shape = (72, 64)
    op = fam.operator(fam.sample(3, generator=gen, dtype=dtype), shape)
    x = torch.randn(3, 2, *shape, generator=gen, dtype=dtype)
    y = torch.randn(3, 2, *shape, generator=gen, dtype=dtype)
    lhs = (op.A(x) * y).sum()
    rhs = (x * op.A_adjoint(y)).sum()
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert abs(float(lhs - rhs)) <= tol * abs(float(lhs))


def dense_matrix(op, shape, dtype=torch.float64):
    n = shape[0] * shape[1]
    eye = torch.eye(n, dtype=dtype).reshape(n, 1, *shape)
    return op.A(eye).reshape(n, n).T  # column i = A e_i


@pytest.mark.parametrize("name", list(FAMILY_OPTIONS))
@pytest.mark.parametrize("lam", [1e-3, 0.1])
def test_regularized_inverse_equals_dense_solve(name, lam, gen):
    fam = small_family(name, psf_size=7)
    shape = (16, 16)
    gamma = fam.sample(1, generator=gen, dtype=torch.float64)
    op = fam.operator(gamma, shape)
    A = dense_matrix(op, shape)
    y = torch.randn(1, 1, *shape, generator=gen, dtype=torch.float64)
    ref = torch.linalg.solve(A.T @ A + lam * torch.eye(256, dtype=torch.float64), A.T @ y.flatten())
    kwargs = {} if fam.is_convolution else dict(tol=1e-12, max_iter=500)
    u = op.regularized_inverse(y, lam, **kwargs)
    torch.testing.assert_close(u.flatten(), ref, rtol=1e-7, atol=1e-7 * float(ref.abs().max()))


def test_dense_matrix_of_adjoint_is_transpose(gen):
    fam = small_family("spatially-varying", psf_size=5)
    op = fam.operator(fam.sample(1, generator=gen, dtype=torch.float64), (12, 10))
    A = dense_matrix(op, (12, 10))
    n = 120
    At = op.A_adjoint(torch.eye(n, dtype=torch.float64).reshape(n, 1, 12, 10)).reshape(n, n).T
    torch.testing.assert_close(At, A.T)


def test_fft_convolution_is_a_true_convolution():
    """A delta at p blurred by an asymmetric kernel puts the kernel (not its mirror) centred on p."""
    k = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    k[0, 0, 2, 2], k[0, 0, 2, 4], k[0, 0, 0, 2] = 1.0, 0.5, 0.25  # centre, right, up
    x = torch.zeros(1, 1, 20, 20, dtype=torch.float64)
    x[0, 0, 10, 10] = 1
    y = conv2d_fft(x, k)
    torch.testing.assert_close(y[0, 0, 8:13, 8:13], k[0, 0])
    # circular boundary: a delta at the corner wraps around
    x = torch.zeros(1, 1, 20, 20, dtype=torch.float64)
    x[0, 0, 0, 0] = 1
    y = conv2d_fft(x, k)
    assert float(y[0, 0, 0, 2]) == pytest.approx(0.5) and float(y[0, 0, -2, 0]) == pytest.approx(0.25)


def test_convolution_helpers_are_adjoint(gen):
    k = torch.rand(2, 1, 9, 9, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 3, 30, 25, generator=gen, dtype=torch.float64)
    y = torch.randn(2, 3, 30, 25, generator=gen, dtype=torch.float64)
    assert float((conv2d_fft(x, k) * y).sum()) == pytest.approx(float((x * conv_transpose2d_fft(y, k)).sum()))


@pytest.mark.parametrize("shape", [(40, 40), (37, 52)])
def test_partition_of_unity(shape):
    for grid in [(2, 2), (3, 3), (4, 3), (1, 5)]:
        maps = partition_of_unity(shape, grid, dtype=torch.float64)
        assert maps.shape == (grid[0] * grid[1], *shape)
        assert float(maps.min()) >= 0
        torch.testing.assert_close(maps.sum(0), torch.ones(shape, dtype=torch.float64))


def test_product_convolution_with_equal_psfs_is_a_convolution(gen):
    psf = torch.rand(1, 1, 7, 7, generator=gen, dtype=torch.float64)
    psf /= psf.sum()
    maps = partition_of_unity((32, 32), (3, 3), dtype=torch.float64)
    pc = ProductConvolutionOperator(psf.expand(1, 9, 7, 7), maps)
    conv = ConvolutionOperator(psf[:, 0], (32, 32))
    x = torch.randn(1, 1, 32, 32, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(pc.A(x), conv.A(x))


def test_batched_operators_match_one_by_one(gen):
    fam = get_family("spatially-varying", fc=0.2)
    gamma = fam.sample(3, generator=gen)
    x = torch.randn(3, 1, 48, 48, generator=gen)
    batched = fam.operator(gamma, (48, 48)).A(x)
    single = torch.cat([fam.operator(gamma[i : i + 1], (48, 48)).A(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)


def test_preconditioner_speeds_up_conjugate_gradient(gen):
    fam = get_family("spatially-varying", fc=0.2)
    op = fam.operator(fam.sample(1, generator=gen, dtype=torch.float64), (64, 64))
    b = torch.randn(1, 1, 64, 64, generator=gen, dtype=torch.float64)
    lam = 1e-2

    def apply(u):
        return op.normal(u) + lam * u

    _, n_plain = conjugate_gradient(apply, b, tol=1e-6, max_iter=500)
    _, n_pre = conjugate_gradient(
        apply,
        b,
        tol=1e-6,
        max_iter=500,
        precond=lambda r: ConvolutionOperator(
            (op.maps.mean(dim=(-2, -1))[0, :, None, None] * op.psfs[0]).sum(0, keepdim=True), (64, 64)
        ).solve(r, lam),
    )
    assert n_pre < n_plain


def test_per_item_lambda(gen):
    fam = get_family("gaussian")
    op = fam.operator(fam.sample(2, generator=gen, dtype=torch.float64), (32, 32))
    y = torch.randn(2, 1, 32, 32, generator=gen, dtype=torch.float64)
    lam = torch.tensor([1e-3, 1e-1], dtype=torch.float64)
    both = op.regularized_inverse(y, lam)
    for i in range(2):
        single = ConvolutionOperator(op.psf[i : i + 1], (32, 32)).regularized_inverse(y[i : i + 1], float(lam[i]))
        torch.testing.assert_close(both[i : i + 1], single)


def test_operator_rejects_wrong_shape():
    op = get_family("gaussian").operator(torch.tensor([[1.0, 2.0, 0.3]]), (32, 32))
    with pytest.raises(ValueError, match="expected images of shape"):
        op.A(torch.zeros(1, 1, 30, 32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", list(FAMILY_OPTIONS))
def test_cuda_matches_cpu(name, gen):
    fam = get_family(name, **FAMILY_OPTIONS[name])
    gamma = fam.sample(2, generator=gen)
    x = torch.rand(2, 1, 64, 64, generator=gen)
    cpu = fam.operator(gamma, (64, 64)).A(x)
    gpu = fam.operator(gamma.cuda(), (64, 64)).A(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------- volumes (3 axes)
def test_3d_fft_convolution_is_scipys_convolution(gen):
    """A (D, H, W) volume: the circular 3D convolution is scipy's linear one inside the valid region, and the
    operator's adjoint, solve and padding work over the three axes."""
    import numpy as np
    from scipy.signal import fftconvolve

    from napari_deepblur.physics import conv_fft, conv_transpose_fft, crop, pad_reflect

    x = torch.rand(1, 1, 12, 20, 18, generator=gen, dtype=torch.float64)
    h = torch.rand(1, 1, 5, 7, 3, generator=gen, dtype=torch.float64)
    ours = conv_fft(x, h, ndim=3)[0, 0].numpy()
    ref = fftconvolve(x[0, 0].numpy(), h[0, 0].numpy(), mode="same")
    inner = (slice(2, -2), slice(3, -3), slice(1, -1))  # away from the wrap-around
    np.testing.assert_allclose(ours[inner], ref[inner], rtol=1e-10, atol=1e-12)

    op = ConvolutionOperator(h[:, 0], (12, 20, 18))
    assert op.ndim == 3 and op.otf.shape[-3:] == (12, 20, 10)
    y = torch.rand_like(x)
    torch.testing.assert_close((op.A(x) * y).sum(), (x * op.A_adjoint(y)).sum())
    torch.testing.assert_close(op.A_adjoint(y), conv_transpose_fft(y, h, ndim=3))
    u = op.solve(y, 0.1)
    torch.testing.assert_close(op.normal(u) + 0.1 * u, y)
    assert op.to("cpu").A(x).shape == x.shape
    with pytest.raises(ValueError, match="expected images of shape"):
        op.A(x[..., :-1])
    padded = pad_reflect(x, 2, ndim=3)
    assert padded.shape[-3:] == (16, 24, 22)
    torch.testing.assert_close(crop(padded, 2, ndim=3), x)


def test_2d_names_are_the_n_d_functions_on_two_axes(gen):
    from napari_deepblur.physics import conv_fft

    x = torch.rand(2, 1, 32, 30, generator=gen)
    h = torch.rand(2, 1, 7, 5, generator=gen)
    assert torch.equal(conv2d_fft(x, h), conv_fft(x, h))
    assert torch.equal(conv_transpose2d_fft(x, h), ConvolutionOperator(h, (32, 30)).A_adjoint(x))
