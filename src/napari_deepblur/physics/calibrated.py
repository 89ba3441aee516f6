"""An operator family calibrated from the microscope's own beads (journal article 002, Model 2.1; preprint 001 §2.1).

``P`` measured PSFs ``h_p`` (beads at several depths or field positions, centred and normalised) give, by a singular
value decomposition, an eigen-PSF basis ``e_k`` (the ``K`` first right singular vectors, ``K`` chosen by the energy
they explain) and the coefficients ``γ_p`` of each measured PSF in it — the *rays* of the cone of admissible operators
(preprint 001 eq. 4). A member of the family is ``h(γ) = Σ_k γ_k e_k`` (clipped at 0, normalised to sum 1).

Sampling follows the preprint: Algorithm 1 simplifies the cone to ``N`` extreme rays (start from the cone's axis, add
greedily the ray with the largest smallest angle to those kept), Algorithm 2 draws ``α Σ_j β_j γ_{z_j}`` — ``J`` rays
(``J`` uniform in ``1..K``), ``β`` uniform on the simplex, ``α`` uniform in ``[α_min, α_max]`` — so the extreme rays are
visited and every sample stays in the cone.

The family lives in a versioned ``.npz`` file (:meth:`CalibratedFamily.save`, :meth:`CalibratedFamily.load`, read with
``allow_pickle=False``): eigen-PSFs, rays, kept rays, singular values, optics and provenance.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from .families import Family, Parameter
from .operators import BlurOperator, ConvolutionOperator

__all__ = [
    "FAMILY_FILE_VERSION",
    "CalibratedFamily",
    "eigen_psfs",
    "rim_noise",
    "sample_cone",
    "simplify_cone",
    "support",
]

#: Version of the family file layout (:meth:`CalibratedFamily.save`).
FAMILY_FILE_VERSION = 1
#: Default share of the measured PSFs' energy the eigen-PSFs explain.
DEFAULT_ENERGY = 0.995
#: Eigen-PSFs whose singular value is below this many times the largest one of pure noise are noise.
NOISE_FLOOR = 1.5


def rim_noise(psfs: np.ndarray, width: int = 3) -> float:
    """The noise standard deviation of PSFs ``(P, h, w)``, from their rims (``width`` pixels; the background)."""
    rim = np.concatenate([psfs[:, :width].ravel(), psfs[:, -width:].ravel(), psfs[:, :, :width].ravel(),
                          psfs[:, :, -width:].ravel()])  # fmt: skip
    return float(np.std(rim))


def support(psfs: np.ndarray, level: float = 3.0, grow: int = 2) -> np.ndarray:
    """Where the PSFs ``(P, h, w)`` carry light: pixels whose mean stands ``level`` noise deviations (of the mean,
    from the rims) above 0, grown by ``grow`` pixels — the background outside it is set to 0 (it holds only noise)."""
    from scipy.ndimage import binary_dilation

    mean = psfs.mean(0)
    mask = mean > level * rim_noise(psfs) / np.sqrt(len(psfs))
    return binary_dilation(mask, iterations=grow) if mask.any() else np.ones_like(mask)


def eigen_psfs(psfs: np.ndarray, energy: float = DEFAULT_ENERGY, k: int | None = None):
    """``(basis (K, h, w), coefficients (P, K), singular values)`` of ``P`` PSFs ``(P, h, w)``, outside their
    :func:`support` set to 0, by SVD (not centred:
    the first eigen-PSF is close to their mean shape). ``K`` is the smallest number of components explaining
    ``energy`` of the sum of squared singular values, and none that the noise of the PSFs' rims could make
    (:data:`NOISE_FLOOR` times the Marchenko–Pastur edge), unless ``k`` is given."""
    P, h, w = psfs.shape
    psfs = psfs * support(psfs)[None]
    u, s, vt = np.linalg.svd(psfs.reshape(P, h * w).astype(np.float64), full_matrices=False)
    if k is None:
        share = np.cumsum(s**2) / np.sum(s**2)
        k = int(np.searchsorted(share, energy) + 1)
        # noisy beads spread energy over every component: keep none below the largest singular value pure noise of
        # the rims' level would give, σ (√P + √(hw)) (the Marchenko–Pastur edge), with a margin
        edge = NOISE_FLOOR * rim_noise(psfs) * (np.sqrt(P) + np.sqrt(h * w))
        k = min(k, max(1, int(np.sum(s > edge))))
    k = max(1, min(int(k), len(s)))
    basis, coef = vt[:k], u[:, :k] * s[:k]
    sign = np.sign(basis.sum(axis=1))  # the first eigen-PSF positive; each coefficient follows its basis vector
    sign[sign == 0] = 1
    return (basis * sign[:, None]).reshape(k, h, w), coef * sign[None], s


def simplify_cone(rays: np.ndarray, n: int) -> np.ndarray:
    """Algorithm 1 of preprint 001: indices of ``n`` rays of ``rays`` ``(P, K)`` that span the cone best — starting
    from the cone's axis (here the normalised mean direction, an approximation of the circumcentre), each step adds
    the ray whose smallest angle to the rays kept is largest."""
    unit = rays / np.linalg.norm(rays, axis=1, keepdims=True).clip(1e-12)
    axis = unit.mean(0)
    axis /= max(float(np.linalg.norm(axis)), 1e-12)
    kept_dirs, kept = [axis], []
    left = list(range(len(rays)))
    for _ in range(min(n, len(rays))):
        cos = np.stack([unit[left] @ d for d in kept_dirs], axis=1)  # (left, kept)
        best = left[int(np.argmin(cos.max(axis=1)))]  # largest smallest angle = smallest largest cosine
        kept.append(best)
        kept_dirs.append(unit[best])
        left.remove(best)
    return np.asarray(kept, dtype=int)


def sample_cone(
    rays: np.ndarray, n: int, k_max: int, generator: torch.Generator, alpha: tuple[float, float] = (0.9, 1.1)
) -> torch.Tensor:
    """Algorithm 2 of preprint 001: ``n`` conic combinations ``α Σ_j β_j γ_{z_j}`` of ``J`` distinct rays (``J``
    uniform in ``1..k_max``), ``β`` uniform on the simplex, ``α`` uniform in ``alpha``; returns ``(n, K)``."""
    r = torch.as_tensor(rays, dtype=torch.float64)
    out = torch.zeros(n, r.shape[1], dtype=torch.float64)
    for i in range(n):
        j = int(torch.randint(1, min(k_max, len(r)) + 1, (1,), generator=generator))
        z = torch.randperm(len(r), generator=generator)[:j]
        beta = -torch.log(torch.rand(j, generator=generator, dtype=torch.float64))  # Dirichlet(1) = uniform simplex
        beta /= beta.sum()
        a = alpha[0] + (alpha[1] - alpha[0]) * float(torch.rand(1, generator=generator))
        out[i] = a * (beta[:, None] * r[z]).sum(0)
    return out


class CalibratedFamily(Family):
    """A convolution family spanned by eigen-PSFs measured on the user's microscope (Model 2.1).

    Parameters
    ----------
    basis : array_like
        ``(K, h, w)`` eigen-PSFs (odd sides).
    rays : array_like
        ``(P, K)`` coefficients of the measured PSFs (the cone's rays).
    kept : array_like, optional
        Indices of the rays Algorithm 1 kept (default: all).
    singular_values : array_like, optional
        Of the decomposition (provenance: the energy each eigen-PSF explains).
    optics : dict, optional
        The microscope's numbers, for the record.
    provenance : dict, optional
        Where the beads came from, when, how (JSON-serialisable).
    """

    name = "calibrated"
    label = "calibrated from beads"
    description = "the microscope's own PSFs: eigen-PSFs of measured beads (Model 2.1)"
    trainable = False
    baseline_label = "mean measured PSF"

    def __init__(self, basis, rays, kept=None, singular_values=None, optics=None, provenance=None):
        basis = np.asarray(basis, dtype=np.float64)
        rays = np.asarray(rays, dtype=np.float64)
        if basis.ndim != 3 or basis.shape[-1] % 2 == 0 or basis.shape[-2] % 2 == 0:
            raise ValueError(f"the eigen-PSFs must be (K, h, w) with odd sides, got {basis.shape}")
        if rays.ndim != 2 or rays.shape[1] != basis.shape[0]:
            raise ValueError(f"rays must be (P, {basis.shape[0]}), got {rays.shape}")
        self.basis = torch.from_numpy(basis)
        self.rays = rays
        self.kept = np.arange(len(rays)) if kept is None else np.asarray(kept, dtype=int)
        self.singular_values = np.asarray([] if singular_values is None else singular_values, dtype=np.float64)
        self._optics = dict(optics or {})
        self.provenance = dict(provenance or {})
        self.psf_size = int(basis.shape[-1])
        #: the identification network trained for this family (``train identify --family-file``), when there is one
        self.identify_weights: str | None = None
        lo, hi = rays.min(0), rays.max(0)
        pad = 0.1 * (hi - lo) + 1e-6
        self.parameters = tuple(
            Parameter(f"c{k + 1}", f"eigen-PSF {k + 1}", "", float(lo[k] - pad[k]), float(hi[k] + pad[k]))
            for k in range(basis.shape[0])
        )

    @property
    def optics(self) -> dict[str, float]:
        return dict(self._optics)

    def psf(self, gamma: torch.Tensor) -> torch.Tensor:
        gamma = self._check_gamma(gamma)
        h = torch.einsum("bk,khw->bhw", gamma.to(self.basis.dtype), self.basis).clamp_min(0)
        return (h / h.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)).to(gamma.dtype)

    def operator(self, gamma: torch.Tensor, shape: tuple[int, int]) -> BlurOperator:
        return ConvolutionOperator(self.psf(gamma), shape)

    def coefficients(self, psf) -> torch.Tensor:
        """``(1, K)`` coefficients of a measured PSF ``(h, w)`` (e.g. a bead cut out by
        :func:`~napari_deepblur.api.calibrate.extract_beads`) in the eigen-PSF basis: its projection, the family
        member closest to it in L2 before clipping."""
        flat = self.basis.reshape(self.dim, -1)
        return (flat @ torch.as_tensor(np.asarray(psf), dtype=flat.dtype).reshape(-1))[None]

    def default_gamma(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """The mean of the measured PSFs' coefficients (the centre of the measurements)."""
        return torch.as_tensor(self.rays.mean(0)[None], dtype=dtype, device=device)

    def sample(self, n: int, *, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        """Algorithm 2 on the kept rays (Algorithm 1): conic combinations of up to ``K`` measured PSFs."""
        gen = generator or torch.Generator().manual_seed(int(torch.randint(2**31, (1,))))
        return sample_cone(self.rays[self.kept], n, self.dim, gen).to(dtype=dtype, device=device)

    def explained_energy(self) -> float:
        """Share of the measured PSFs' energy the eigen-PSFs kept explain."""
        s2 = self.singular_values**2
        return float(s2[: self.dim].sum() / s2.sum()) if len(s2) else float("nan")

    def save(self, path: str | Path) -> Path:
        """Write the family file (``.npz``, no pickles)."""
        path = Path(path)
        np.savez_compressed(
            path,
            version=np.int64(FAMILY_FILE_VERSION),
            basis=self.basis.numpy(),
            rays=self.rays,
            kept=self.kept,
            singular_values=self.singular_values,
            meta=np.array(json.dumps({"optics": self._optics, "provenance": self.provenance})),
        )
        return path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")

    @classmethod
    def load(cls, path: str | Path) -> CalibratedFamily:
        """Read a family file written by :meth:`save` (``ValueError`` for another version or a damaged file)."""
        try:
            with np.load(path, allow_pickle=False) as f:
                version = int(f["version"])
                if version != FAMILY_FILE_VERSION:
                    raise ValueError(f"{path}: family file version {version}, this napari-deepblur reads "
                                     f"{FAMILY_FILE_VERSION}")  # fmt: skip
                meta = json.loads(str(f["meta"]))
                fam = cls(f["basis"], f["rays"], f["kept"], f["singular_values"], meta["optics"], meta["provenance"])
        except (KeyError, OSError, TypeError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not a napari-deepblur family file: {exc}") from exc
        except ValueError as exc:  # numpy's "pickled data" (a text or .npy file) and damaged arrays
            if "version" in str(exc):
                raise
            raise ValueError(f"{path} is not a napari-deepblur family file: {exc}") from exc
        weights = Path(path).with_name(Path(path).stem + ".identify.pt")  # `train identify --family-file`
        fam.identify_weights = str(weights) if weights.exists() else None
        return fam
