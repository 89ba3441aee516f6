"""The microscope's space-varying PSF calibrated from beads across the field (journal article 002, Model 2.2).

Beads spread over one image are cut out one by one (:func:`napari_deepblur.api.calibrate.calibrate_field`: band-
limited, registered on the fitted field); their PSFs give eigen-PSFs ``e_k`` and each bead's coefficients
``α_k(x_p)`` at its position (:func:`.eigen_psfs`). The coefficients are interpolated over the field by low-order
polynomials of the normalised position (least squares; the number of eigen-PSFs and the degree chosen together by
leave-one-out cross-validation over the beads, :func:`choose_model`), so the PSF at any field position is
``h_x = Σ_k α_k(x) e_k``. The blur is then a product-convolution

    A u = Σ_k e_k * (α_k ⊙ u),

exactly (the response to a point at ``x`` is ``h_x``). An SVD of the coefficient maps re-expresses it with the
*eigen-space-variation* basis ``f_k`` (orthogonal maps, in decreasing energy) and matching kernels — the form of the
article's Model 2.2 — and drops the maps that carry no energy.

The calibration lives in a versioned ``.npz`` (:meth:`CalibratedField.save` / :meth:`CalibratedField.load`,
``allow_pickle=False``).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from .operators import ProductConvolutionOperator

__all__ = ["FIELD_FILE_VERSION", "CalibratedField", "choose_model", "monomials", "space_variation_basis"]

#: Version of the field file layout.
FIELD_FILE_VERSION = 1
#: Highest polynomial degree of the coefficient maps tried by :func:`choose_degree`.
MAX_DEGREE = 4
#: Nodes of the product-convolution :func:`napari_deepblur.deblur` builds from a field (:meth:`grid_family`).
DEBLUR_GRID = (5, 5)
#: Most eigen-PSFs :func:`choose_model` tries.
MAX_COMPONENTS = 16
#: Share of the coefficient maps' energy the eigen-space-variation basis keeps.
MAP_ENERGY = 0.99999


def normalised_positions(positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixel positions ``(n, 2)`` ``(row, col)`` → ``(u, v)`` in ``[-1, 1]`` (``u`` along columns, 0 at the centre)."""
    p = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    H, W = shape
    return np.stack([(p[:, 1] - (W - 1) / 2) / max((W - 1) / 2, 1), (p[:, 0] - (H - 1) / 2) / max((H - 1) / 2, 1)], 1)


def monomials(uv: np.ndarray, degree: int) -> np.ndarray:
    """``(n, M)`` monomials ``u^i v^j`` with ``i + j <= degree`` of positions ``uv`` ``(n, 2)``."""
    u, v = uv[:, 0], uv[:, 1]
    return np.stack([u**i * v ** (d - i) for d in range(degree + 1) for i in range(d + 1)], axis=1)


def _loo_error(X: np.ndarray, Y: np.ndarray) -> float:
    """Leave-one-out squared error of the least-squares fit ``X b ≈ Y`` (the hat-matrix shortcut)."""
    pinv = np.linalg.pinv(X)
    hat = np.einsum("ij,ji->i", X, pinv)
    if np.any(hat > 1 - 1e-9):
        return np.inf
    resid = Y - X @ (pinv @ Y)
    return float(np.sum((resid / (1 - hat)[:, None]) ** 2))


def choose_model(
    uv: np.ndarray, coef: np.ndarray, max_degree: int = MAX_DEGREE, max_components: int = MAX_COMPONENTS
) -> tuple[int, int, dict[str, float]]:
    """``(K, degree, errors)``: the number of eigen-PSFs and the polynomial degree of their coefficient maps with the
    smallest leave-one-out error over the beads, and the error of each pair tried.

    ``coef`` ``(n, P)`` holds every bead's coefficients on all the eigen-PSFs (orthonormal), so a bead's squared PSF
    error is the leave-one-out error of its first ``K`` coefficients plus the energy of the others. The measured PSFs
    are noisy, but a bead left out is independent of the fit, so the noise adds the same amount to every pair: the
    pair with the smallest error predicts the true PSF best. Degrees with more monomials than beads minus 2 are not
    tried."""
    errors = {}
    tail = np.cumsum((coef**2).sum(0)[::-1])[::-1]  # tail[k] = energy of coefficients k, k+1, ...
    for d in range(max_degree + 1):
        X = monomials(uv, d)
        if X.shape[1] > len(uv) - 2:
            break
        for k in range(1, min(max_components, coef.shape[1]) + 1):
            rest = float(tail[k]) if k < coef.shape[1] else 0.0
            errors[f"K={k},degree={d}"] = _loo_error(X, coef[:, :k]) + rest
    best = min(errors, key=errors.get)
    k, d = (int(part.split("=")[1]) for part in best.split(","))
    return k, d, errors


def space_variation_basis(maps: torch.Tensor, kernels: torch.Tensor, energy: float = MAP_ENERGY):
    """``(f, e, s)``: the product-convolution ``Σ_k kernels_k * (maps_k ⊙ u)`` rewritten with orthogonal maps ``f``
    ``(K', H, W)`` (the eigen-space-variation basis, by SVD of the maps) and kernels ``e`` ``(K', h, w)``; the maps
    carrying the last ``1 - energy`` of the energy dropped; ``s`` the singular values."""
    K, H, W = maps.shape
    u, s, vt = torch.linalg.svd(maps.reshape(K, H * W).double(), full_matrices=False)  # maps = u diag(s) vt
    share = torch.cumsum(s**2, 0) / torch.sum(s**2).clamp_min(1e-300)
    k = int(torch.searchsorted(share, torch.tensor(energy, dtype=share.dtype))) + 1
    k = max(1, min(k, K))
    f = (s[:k, None] * vt[:k]).reshape(k, H, W)
    e = torch.einsum("kj,khw->jhw", u[:, :k], kernels.double())  # Σ_k e_k ⊙ maps_k = Σ_j (Σ_k u_kj e_k) f_j
    return f, e, s


class CalibratedField:
    """The PSF over the field of one microscope image, calibrated from beads (Model 2.2).

    Parameters
    ----------
    basis : array_like
        ``(K, h, w)`` eigen-PSFs (odd sides).
    polynomial : array_like
        ``(M, K)`` coefficients of the maps ``α_k`` in the monomials of :func:`monomials` of degree ``degree``.
    degree : int
        Polynomial degree of the maps.
    shape : tuple of int
        ``(H, W)`` of the calibration image (field positions are normalised by it).
    positions, rays : array_like
        ``(n, 2)`` bead positions (pixels) and ``(n, K)`` their measured coefficients.
    provenance : dict, optional
        Where the beads came from and how the field was fitted (JSON-serialisable).
    """

    def __init__(self, basis, polynomial, degree, shape, positions, rays, provenance=None):
        self.basis = torch.as_tensor(np.asarray(basis, dtype=np.float64))
        self.polynomial = np.asarray(polynomial, dtype=np.float64)
        self.degree = int(degree)
        self.shape = (int(shape[0]), int(shape[1]))
        self.positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        self.rays = np.asarray(rays, dtype=np.float64)
        self.provenance = dict(provenance or {})
        if self.basis.ndim != 3 or self.basis.shape[-1] % 2 == 0 or self.basis.shape[-2] % 2 == 0:
            raise ValueError(f"the eigen-PSFs must be (K, h, w) with odd sides, got {tuple(self.basis.shape)}")
        if self.polynomial.shape != (monomials(np.zeros((1, 2)), self.degree).shape[1], self.basis.shape[0]):
            raise ValueError(f"polynomial must be (monomials of degree {self.degree}, K), got {self.polynomial.shape}")

    @property
    def psf_size(self) -> int:
        return int(self.basis.shape[-1])

    def coefficients_at(self, positions) -> np.ndarray:
        """``(m, K)`` eigen-PSF coefficients at pixel positions ``(m, 2)`` of the calibration image."""
        return monomials(normalised_positions(positions, self.shape), self.degree) @ self.polynomial

    def psf_at(self, positions) -> torch.Tensor:
        """``(m, h, w)`` PSFs at pixel positions ``(m, 2)``: clipped at 0, normalised to sum 1."""
        a = torch.from_numpy(self.coefficients_at(positions))
        h = torch.einsum("mk,khw->mhw", a, self.basis).clamp_min(0)
        return h / h.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)

    def maps(self, shape: tuple[int, int] | None = None) -> torch.Tensor:
        """``(K, H, W)`` coefficient maps ``α_k`` over an image of ``shape`` (default: the calibration's; another
        shape is taken as the same field of view, resampled)."""
        H, W = shape or self.shape
        rows = np.linspace(0, self.shape[0] - 1, H)
        cols = np.linspace(0, self.shape[1] - 1, W)
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        a = self.coefficients_at(np.stack([rr.ravel(), cc.ravel()], 1))
        return torch.from_numpy(a.T.reshape(-1, H, W).copy())

    def operator(self, shape: tuple[int, int] | None = None, energy: float = MAP_ENERGY) -> ProductConvolutionOperator:
        """The product-convolution ``A u = Σ_k e_k * (f_k ⊙ u)`` over an image of ``shape`` (the calibration's by
        default), with the eigen-space-variation basis (:func:`space_variation_basis`). Its PSFs are the linear ones
        (not clipped at 0)."""
        f, e, _ = space_variation_basis(self.maps(shape), self.basis, energy)
        return ProductConvolutionOperator(e[None], f)

    def grid_psfs(self, grid: tuple[int, int], shape: tuple[int, int] | None = None) -> np.ndarray:
        """``(gy * gx, h, w)`` PSFs at the nodes of the ``spatially-varying`` family's grid (cell centres, row-major)
        — the PSF stack ``deblur(image, family="spatially-varying", psf=...)`` takes."""
        H, W = self.shape
        gy, gx = grid
        rows = (np.arange(gy) + 0.5) * H / gy - 0.5
        cols = (np.arange(gx) + 0.5) * W / gx - 0.5
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        return self.psf_at(np.stack([rr.ravel(), cc.ravel()], 1)).numpy()

    def grid_family(self, grid: tuple[int, int] = DEBLUR_GRID):
        """``(family, psfs)``: the ``spatially-varying`` family's product-convolution on a ``grid`` of nodes (smooth
        partition-of-unity maps) and this field's PSFs at its nodes — what ``deblur(image, family=..., psf=...)``
        takes; :func:`napari_deepblur.deblur` does this itself when given ``psf=field``."""
        from .spacevarying import SpaceVaryingFamily

        fam = SpaceVaryingFamily(fc=0.25, grid=grid, psf_size=self.psf_size)  # fc unused: the PSFs are given
        return fam, self.grid_psfs(grid)

    def save(self, path: str | Path) -> Path:
        """Write the field file (``.npz``, no pickles)."""
        path = Path(path)
        np.savez_compressed(
            path,
            kind=np.array("field"),
            version=np.int64(FIELD_FILE_VERSION),
            basis=self.basis.numpy(),
            polynomial=self.polynomial,
            degree=np.int64(self.degree),
            shape=np.asarray(self.shape, dtype=np.int64),
            positions=self.positions,
            rays=self.rays,
            meta=np.array(json.dumps({"provenance": self.provenance})),
        )
        return path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")

    @classmethod
    def load(cls, path: str | Path) -> CalibratedField:
        """Read a field file written by :meth:`save` (``ValueError`` for another version or another file)."""
        try:
            with np.load(path, allow_pickle=False) as f:
                if str(f["kind"]) != "field":
                    raise ValueError(f"{path} holds a {f['kind']}, not a field calibration")
                version = int(f["version"])
                if version != FIELD_FILE_VERSION:
                    raise ValueError(f"{path}: field file version {version}, this napari-deepblur reads "
                                     f"{FIELD_FILE_VERSION}")  # fmt: skip
                meta = json.loads(str(f["meta"]))
                return cls(f["basis"], f["polynomial"], int(f["degree"]), tuple(f["shape"]), f["positions"],
                           f["rays"], meta["provenance"])  # fmt: skip
        except (KeyError, OSError, TypeError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not a napari-deepblur field file: {exc}") from exc
