"""Offline training data: banks of sharp patches and on-the-fly synthesis of blurred, noisy batches.

Sources (nothing is downloaded):

* procedural dead-leaves images (natural-image statistics) and fluorescence-like scenes
  (:mod:`napari_deepblur.synthetic`);
* scikit-image's bundled images, the :data:`SKIMAGE_TRAIN` split only (:data:`SKIMAGE_TEST` is held out for the
  benchmarks);
* ``../shared/data/natural/train400`` (or ``$DEEPBLUR_TRAIN400``) when present — never ``bsd68``, the test set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..physics import Family, add_poisson_gaussian, conv2d_fft
from ..synthetic import dead_leaves, fluorescence_scene

__all__ = [
    "SKIMAGE_TEST",
    "SKIMAGE_TRAIN",
    "BlurBatch",
    "PatchBank",
    "find_train400",
    "load_skimage",
    "synthesize",
    "train400_split",
]

#: scikit-image images used for training (bundled with the wheel, no download).
SKIMAGE_TRAIN = (
    "brick", "grass", "gravel", "moon", "page", "text", "clock", "rocket", "hubble_deep_field",
    "immunohistochemistry", "retina", "cell",
)  # fmt: skip
#: scikit-image images held out for validation and benchmarks.
SKIMAGE_TEST = ("camera", "astronaut", "coffee", "chelsea", "coins")


def load_skimage(name: str) -> np.ndarray:
    """A bundled scikit-image picture as a ``float32`` grey image in ``[0, 1]``."""
    from skimage import color, data

    img = getattr(data, name)()
    if img.ndim == 3:
        img = color.rgb2gray(img[..., :3])
    img = np.asarray(img, dtype=np.float32)
    if img.max() > 1:
        img = img / 255.0
    return img


def find_train400() -> Path | None:
    """The train400 folder (``$DEEPBLUR_TRAIN400`` or ``../shared/data/natural/train400`` above the cwd), if any."""
    env = os.environ.get("DEEPBLUR_TRAIN400")
    candidates = [Path(env)] if env else []
    here = Path.cwd().resolve()
    candidates += [p / "shared" / "data" / "natural" / "train400" for p in (here, *here.parents)]
    for c in candidates:
        if c.is_dir() and any(c.glob("*.png")):
            return c
    return None


def train400_split(files: list[Path], holdout_every: int) -> tuple[list[Path], list[Path]]:
    """``(training files, held-out files)``: every ``holdout_every``-th file (sorted order) is held out for
    validation; ``holdout_every <= 0`` holds out nothing."""
    files = sorted(files)
    if holdout_every <= 0:
        return files, []
    held = files[::holdout_every]
    return [f for i, f in enumerate(files) if i % holdout_every], held


def _random_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray | None:
    H, W = img.shape
    if H < size or W < size:
        return None
    i, j = rng.integers(0, H - size + 1), rng.integers(0, W - size + 1)
    return img[i : i + size, j : j + size]


@dataclass
class PatchBank:
    """A tensor of sharp ``size x size`` patches in ``[0, 1]``, ``(N, 1, size, size)``, and where each came from."""

    patches: torch.Tensor
    sources: list[str]

    @classmethod
    def build(
        cls,
        n: int,
        size: int = 160,
        seed: int = 0,
        mix: dict[str, float] | None = None,
        train400: Path | str | None = "auto",
        holdout_every: int = 0,
    ) -> PatchBank:
        """Draw ``n`` patches from the training sources.

        Parameters
        ----------
        n : int
            Number of patches.
        size : int
            Patch side.
        seed : int
            Random seed.
        mix : dict, optional
            Proportions of ``"dead_leaves"``, ``"fluorescence"``, ``"skimage"``, ``"train400"`` (default 0.3, 0.3,
            0.15, 0.25; the train400 share goes to the others when the folder is absent).
        train400 : path, None or "auto"
            Folder of train400 PNGs; ``"auto"`` looks for it (:func:`find_train400`), ``None`` disables it.
        holdout_every : int
            Leave every ``holdout_every``-th train400 file out (:func:`train400_split`; they validate).
        """
        rng = np.random.default_rng(seed)
        folder = find_train400() if train400 == "auto" else (Path(train400) if train400 else None)
        mix = dict(mix or {"dead_leaves": 0.3, "fluorescence": 0.3, "skimage": 0.15, "train400": 0.25})
        files = sorted(folder.glob("*.png")) if folder is not None else []
        files = train400_split(files, holdout_every)[0]
        if not files:
            mix.pop("train400", None)
        keys = list(mix)
        probs = np.array([mix[k] for k in keys], dtype=float)
        probs /= probs.sum()
        counts = rng.multinomial(n, probs)
        sk = [load_skimage(name) for name in SKIMAGE_TRAIN]
        t400 = []
        if files:
            from skimage.io import imread

            t400 = [np.asarray(imread(f), dtype=np.float32) / 255.0 for f in files]
        out, sources = [], []
        for key, count in zip(keys, counts, strict=True):
            for _ in range(count):
                if key == "dead_leaves":
                    p = dead_leaves((size, size), rng, r_min=float(rng.uniform(0.5, 3)))
                elif key == "fluorescence":
                    p = fluorescence_scene((size, size), rng)
                else:
                    pool = sk if key == "skimage" else t400
                    p = None
                    while p is None:
                        img = pool[rng.integers(len(pool))]
                        if img.ndim == 3:
                            img = img.mean(-1)
                        p = _random_crop(img, size, rng)
                out.append(np.ascontiguousarray(p, dtype=np.float32))
                sources.append(key)
        order = rng.permutation(len(out))
        patches = torch.from_numpy(np.stack([out[i] for i in order]))[:, None]
        return cls(patches, [sources[i] for i in order])


@dataclass
class BlurBatch:
    """A synthetic training batch: observations ``y``, sharp ``x``, parameters ``gamma``, PSFs and noise levels."""

    y: torch.Tensor
    x: torch.Tensor
    gamma: torch.Tensor
    psf: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random rot90/flip of the whole batch and a random contrast/offset per item, staying inside [0, 1]."""
    B = x.shape[0]
    k = int(torch.randint(4, (1,), generator=gen))
    x = torch.rot90(x, k, dims=(-2, -1))
    if bool(torch.rand(1, generator=gen) < 0.5):
        x = torch.flip(x, dims=(-1,))
    # contrast and offset: keep the image inside [0, 1], span at least 30 % of it
    span = 0.3 + 0.7 * torch.rand(B, 1, 1, 1, generator=gen)
    lo = (1 - span) * torch.rand(B, 1, 1, 1, generator=gen)
    return lo + span * x


def synthesize(
    bank: PatchBank,
    family: Family,
    batch_size: int,
    crop: int,
    gen: torch.Generator,
    *,
    gamma: torch.Tensor | None = None,
    alpha_max: float = 0.15,
    beta_max: float = 0.3,
    p_noiseless: float = 0.15,
    gamma_scale: torch.Tensor | None = None,
    noise_dist: str = "uniform",
) -> BlurBatch:
    """Blur random bank patches with sampled ``gamma`` and add Poisson–Gaussian noise.

    The patches are larger than ``crop``; they are blurred with circular convolution and the centre ``crop x crop``
    is kept, so the crop never sees the wrapped-around border when ``(size - crop) / 2 >= psf_size // 2``.

    Parameters
    ----------
    bank : PatchBank
        Sharp patches.
    family : Family
        Operator family (a convolution family; space-varying families are synthesised on whole fields).
    batch_size, crop : int
        Batch size and output side.
    gen : torch.Generator
        Randomness.
    gamma : torch.Tensor, optional
        Parameters to use (sampled in the family's range by default).
    alpha_max, beta_max : float
        Noise levels are drawn uniformly in ``[0, alpha_max] x [0, beta_max]``.
    p_noiseless : float
        Probability of a noiseless item.
    gamma_scale : torch.Tensor, optional
        ``(batch_size,)`` factors multiplying sampled ``gamma`` (to mix narrow and wide aberration ranges).
    noise_dist : {"uniform", "mixed"}
        ``"uniform"``: ``alpha``, ``beta`` uniform in their ranges; ``"mixed"``: half the items so, the other half
        log-uniform over the top two decades of each range (more weak-noise items: ``beta < 0.05`` in 1 of 6 items
        under the uniform law, about 2 of 5 under the mixed one).
    """
    idx = torch.randint(len(bank.patches), (batch_size,), generator=gen)
    x = augment(bank.patches[idx], gen)
    if gamma is None:
        gamma = family.sample(batch_size, generator=gen)
        if gamma_scale is not None:
            gamma = gamma * gamma_scale[:, None]
    psf = family.psf(gamma)
    z = conv2d_fft(x, psf[:, None])
    size = x.shape[-1]
    o = (size - crop) // 2
    if o < family.psf_size // 2:
        raise ValueError(f"patches of {size} px leave no valid {crop} px crop for a {family.psf_size} px PSF")
    x, z = x[..., o : o + crop, o : o + crop], z[..., o : o + crop, o : o + crop]
    alpha = alpha_max * torch.rand(batch_size, generator=gen)
    beta = beta_max * torch.rand(batch_size, generator=gen)
    if noise_dist == "mixed":
        log_items = torch.rand(batch_size, generator=gen) < 0.5
        alpha = torch.where(log_items, alpha_max * 10 ** (-2 * torch.rand(batch_size, generator=gen)), alpha)
        beta = torch.where(log_items, beta_max * 10 ** (-2 * torch.rand(batch_size, generator=gen)), beta)
    elif noise_dist != "uniform":
        raise ValueError(f"unknown noise distribution {noise_dist!r}")
    clean = torch.rand(batch_size, generator=gen) < p_noiseless
    alpha, beta = alpha.masked_fill(clean, 0.0), beta.masked_fill(clean, 0.0)
    y = add_poisson_gaussian(z, alpha, beta, generator=gen)
    return BlurBatch(y=y, x=x, gamma=gamma, psf=psf, alpha=alpha, beta=beta)
