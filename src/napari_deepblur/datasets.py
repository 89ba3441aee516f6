"""Image sources and their splits: what trains, what validates, what tests (nothing is downloaded).

* procedural dead-leaves images (natural-image statistics) and fluorescence-like scenes
  (:mod:`napari_deepblur.synthetic`);
* scikit-image's bundled images: :data:`SKIMAGE_TRAIN` trains, :data:`SKIMAGE_TEST` is held out for validation and
  the benchmarks;
* ``../shared/data/natural/train400`` (or ``$DEEPBLUR_TRAIN400``) when present trains; ``bsd68`` beside it is the
  test set, read only by the benchmarks (:func:`default_test_images`) — never trained on;
* ``../shared/data/microscopy/`` (measured beads and samples with their PSFs, when present): :func:`measured_sets`,
  for benchmarks only;
* ``../shared/data/fluorescence/`` (real microscope images, when present): :data:`FLUORESCENCE_TRAIN` may train,
  :data:`FLUORESCENCE_VALIDATION` is kept out of every training run (the realism benchmark reads it).

Used by both ``training/`` and ``bench/`` (which import neither each other nor the batch runner).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .synthetic import bead_field, dead_leaves, fluorescence_scene

__all__ = [
    "FLUORESCENCE_TRAIN",
    "FLUORESCENCE_VALIDATION",
    "SKIMAGE_TEST",
    "SKIMAGE_TRAIN",
    "PatchBank",
    "default_test_images",
    "find_bsd68",
    "find_shared_folder",
    "find_train400",
    "load_fluorescence",
    "load_skimage",
    "measured_psf",
    "measured_sets",
    "microscopy_pool",
    "native_pool",
    "train400_split",
]

#: Real fluorescence images (``../shared/data/fluorescence/``) that training may use.
FLUORESCENCE_TRAIN = ("BPAE_actin.tif", "BPAE_nuclei.tif", "IXMtest_A02_s9.tif", "blobs.tif")
#: Real fluorescence images kept out of every training run: one of each kind of content (mitochondria network,
#: confocal plant tissue, membranes).
FLUORESCENCE_VALIDATION = ("BPAE_mito.tif", "maize_clsm.tif", "membranes_2d.tif")


def find_shared_folder(*parts: str, pattern: str = "*") -> Path | None:
    """``shared/<parts>`` in the cwd or one of its parents, when it holds something matching ``pattern``."""
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        c = p.joinpath("shared", *parts)
        if c.is_dir() and any(c.glob(pattern)):
            return c
    return None


def _find_shared(*parts: str) -> Path | None:
    return find_shared_folder(*parts, pattern="*.png")


def load_fluorescence(name: str, downsample: int = 1) -> np.ndarray | None:
    """A real fluorescence image from ``../shared/data/fluorescence/`` as a 2D ``float32`` array in its own units
    (first channel of a multichannel file), averaged over ``downsample``² blocks (content sharp relative to a
    synthetic blur); None when the folder or the file is absent."""
    folder = find_shared_folder("data", "fluorescence", pattern="*.tif")
    if folder is None or not (folder / name).exists():
        return None
    import tifffile
    from skimage.transform import downscale_local_mean

    a = np.asarray(tifffile.imread(folder / name), dtype=np.float32)
    while a.ndim > 2:
        a = a[0] if a.shape[0] <= 4 else a[..., 0]
    if downsample > 1:
        a = downscale_local_mean(a, (downsample, downsample)).astype(np.float32)
    return a


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
    if env and Path(env).is_dir() and any(Path(env).glob("*.png")):
        return Path(env)
    return _find_shared("data", "natural", "train400")


def find_bsd68() -> Path | None:
    """The bsd68 test folder (``../shared/data/natural/bsd68`` above the cwd), if any. Benchmarks only."""
    return _find_shared("data", "natural", "bsd68")


def train400_split(files: list[Path], holdout_every: int) -> tuple[list[Path], list[Path]]:
    """``(training files, held-out files)``: every ``holdout_every``-th file (sorted order) is held out for
    validation; ``holdout_every <= 0`` holds out nothing."""
    files = sorted(files)
    if holdout_every <= 0:
        return files, []
    held = files[::holdout_every]
    return [f for i, f in enumerate(files) if i % holdout_every], held


def microscopy_pool(size: int) -> list[np.ndarray]:
    """The real fluorescence images that may train (:data:`FLUORESCENCE_TRAIN`), each downsampled 2×, 3× and 4× by
    area averaging (content sharp relative to a synthetic blur; 1× for images that are already small), scaled to
    [0, 1] between their 0.1 and 99.9 percentiles, clipped; those whose sides reach ``size``. Empty without
    ``../shared/data/fluorescence/``."""
    pool = []
    for name in FLUORESCENCE_TRAIN:
        native = load_fluorescence(name)
        if native is None:
            continue
        factors = (2, 3, 4) if min(native.shape) >= 2 * size else (1,)
        for f in factors:
            a = load_fluorescence(name, downsample=f) if f > 1 else native
            if min(a.shape) < size:
                continue
            lo, hi = np.percentile(a, (0.1, 99.9))
            pool.append(np.clip((a - lo) / max(float(hi - lo), 1e-12), 0, 1).astype(np.float32))
    return pool


#: Width (px) of the Gaussian that takes the camera noise off a real image used at its native sampling as a sharp
#: training patch (:func:`native_pool`): it keeps the specimen's band limit (the optics' cutoff of a Nyquist-sampled
#: image lies near 0.5 cycles/px and above) and leaves about a third of the noise's standard deviation.
NATIVE_SMOOTHING_PX = 0.7


def native_pool(size: int) -> list[np.ndarray]:
    """The real fluorescence images that may train (:data:`FLUORESCENCE_TRAIN`) at their **native sampling**, lightly
    smoothed (:data:`NATIVE_SMOOTHING_PX`), scaled to [0, 1] between their 0.1 and 99.9 percentiles, clipped; those
    whose sides reach ``size``. A specimen seen at its own sampling is smooth at the pixel scale — band-limited by its
    microscope — which the downsampled content of :func:`microscopy_pool` and the pictures never are: trained on these
    too, the restoration learns not to draw texture where the truth has none. Empty without
    ``../shared/data/fluorescence/``."""
    from scipy.ndimage import gaussian_filter

    pool = []
    for name in FLUORESCENCE_TRAIN:
        a = load_fluorescence(name)
        if a is None or min(a.shape) < size:
            continue
        a = gaussian_filter(a, NATIVE_SMOOTHING_PX)
        lo, hi = np.percentile(a, (0.1, 99.9))
        pool.append(np.clip((a - lo) / max(float(hi - lo), 1e-12), 0, 1).astype(np.float32))
    return pool


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
            Proportions of ``"beads"`` (:func:`~napari_deepblur.synthetic.bead_field`), ``"dead_leaves"``,
            ``"fluorescence"`` (procedural scenes), ``"microscopy"`` (the real
            fluorescence images of :data:`FLUORESCENCE_TRAIN`, :func:`microscopy_pool`), ``"native"`` (the same at
            their own sampling, :func:`native_pool`), ``"skimage"``,
            ``"train400"`` (default 0.3, 0.3, 0, 0.15, 0.25; the share of a source whose folder is absent goes to
            the others).
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
        real = {
            "microscopy": microscopy_pool(size) if mix.get("microscopy") else [],
            "native": native_pool(size) if mix.get("native") else [],
        }
        missing = [k for k, pool in real.items() if mix.get(k) and not pool]
        if missing:  # the shared folder is absent: its share goes to the others
            for k in missing:
                mix.pop(k)
            keys = list(mix)
            probs = np.array([mix[k] for k in keys], dtype=float)
            counts = rng.multinomial(n, probs / probs.sum())
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
                elif key == "beads":
                    p = bead_field((size, size), rng)
                else:
                    pool = {"skimage": sk, "train400": t400, **real}[key]
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


def default_test_images(images: str | None = None, n_images: int | None = None) -> tuple[list[np.ndarray], str]:
    """Test images in ``[0, 1]``: a folder (PNG/TIF), else bsd68 when present, else the held-out scikit-image images."""
    from skimage.io import imread

    folder = Path(images) if images else find_bsd68()
    if folder is not None:
        files = sorted([*folder.glob("*.png"), *folder.glob("*.tif"), *folder.glob("*.tiff")])
        if not files:
            raise FileNotFoundError(f"no PNG/TIFF images in {folder}")
        files = files[:n_images] if n_images else files
        out = []
        for f in files:
            a = np.asarray(imread(f), dtype=np.float64)
            if a.ndim == 3:
                a = a[..., :3].mean(-1)
            out.append(((a - a.min()) / max(np.ptp(a), 1e-12)).astype(np.float32))
        return out, str(folder)
    names = SKIMAGE_TEST[:n_images] if n_images else SKIMAGE_TEST
    return [load_skimage(n) for n in names], "scikit-image held-out: " + ", ".join(names)


def measured_psf(stack: np.ndarray, plane: int | None = None, size: int = 31) -> np.ndarray:
    """A ``size``² PSF from a bead image: the plane (default: the brightest), background (the median of the border)
    subtracted, clipped at 0, cropped around the peak, normalised to sum 1."""
    a = np.asarray(stack, dtype=np.float64)
    if a.ndim == 3:
        a = a[int(np.argmax(a.reshape(a.shape[0], -1).max(1))) if plane is None else plane]
    border = np.concatenate([a[:4].ravel(), a[-4:].ravel(), a[:, :4].ravel(), a[:, -4:].ravel()])
    a = np.clip(a - np.median(border), 0, None)
    r, c = np.unravel_index(int(np.argmax(a)), a.shape)
    half = size // 2
    padded = np.pad(a, half)
    out = padded[r : r + size, c : c + size]
    return out / out.sum()


def _slice(stack: np.ndarray, plane: int | None = None) -> np.ndarray:
    a = np.asarray(stack, dtype=np.float64)
    if a.ndim == 3:
        a = a[a.shape[0] // 2 if plane is None else plane]
    return a


def measured_sets() -> list[dict]:
    """The measured sets in ``../shared/data/microscopy/`` (an empty list when absent): ``id``, ``name``, a 2D
    ``image`` (the in-focus / middle slice), the 2D ``psf`` measured on the same microscope (sums to 1), ``optics``
    (None when the data do not state them), ``note``, and for the pyotf bead its whole through-focus ``stack``,
    ``z_step`` and ``refractive_index``."""
    root = find_shared_folder("data", "microscopy")
    if root is None:
        return []
    import tifffile

    sets = []
    bead = root / "pyotf_bead" / "psf_wl520nm_z300nm_x130nm_na0.85_n1.0.tif"
    if bead.exists():
        stack = tifffile.imread(bead)
        sets.append({"id": "pyotf", "name": "pyotf bead (plane 12)", "image": _slice(stack, 12),
                     "psf": measured_psf(stack, 12), "stack": stack,
                     "optics": {"na": 0.85, "wavelength": 0.52, "pixel_size": 0.13}, "z_step": 0.3,
                     "refractive_index": 1.0,
                     "note": "optics from the file name; PSF = the bead itself, background subtracted"})  # fmt: skip
    mpi = root / "bian_beads_psf"
    if (mpi / "psf.tif").exists():
        psf = measured_psf(_slice(tifffile.imread(mpi / "psf.tif")))
        optics = {"na": 1.4, "wavelength": 0.52, "pixel_size": 0.0225}
        note = "NA 1.4 and 0.52 µm assumed (undocumented); PSF averaged from the beads"
        files = {
            "mpi_beads": ("MPI-CBG beads", "Bead_Image1_crop.tif"),
            "mpi_grid": ("MPI-CBG grid sample", "DeconvolutionSampleVerticalGrid1AU-crop.tif"),
        }
        for key, (name, file) in files.items():
            if (mpi / file).exists():
                image = _slice(tifffile.imread(mpi / file))
                sets.append({"id": key, "name": f"{name} (middle plane)", "image": image, "psf": psf,
                             "optics": optics, "note": note})  # fmt: skip
    flow = root / "flowdec_bead"
    if (flow / "data.tif").exists() and (flow / "kernel.tif").exists():
        kernel = _slice(tifffile.imread(flow / "kernel.tif"))
        sets.append({"id": "flowdec", "name": "flowdec bead (middle plane)",
                     "image": _slice(tifffile.imread(flow / "data.tif")), "psf": measured_psf(kernel), "optics": None,
                     "note": "optics not stated: no blind run"})  # fmt: skip
    return sets
