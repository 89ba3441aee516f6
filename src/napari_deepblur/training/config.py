"""The trainers' hyper-parameters (torch-free): each default is written here once.

``napari-deepblur train identify|deblur`` builds its options from these dataclasses (every field with a ``help`` in
its metadata is an option, ``--field-name``), so the CLI repeats no default; the model cards record every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MIX_SOURCES", "DeblurConfig", "IdentifyConfig", "parse_mix"]

#: Patch sources a ``mix`` may name (:class:`napari_deepblur.datasets.PatchBank`).
MIX_SOURCES = ("beads", "dead_leaves", "fluorescence", "microscopy", "native", "skimage", "train400")


def parse_mix(text: str | None) -> dict:
    """``"train400=0.45,dead_leaves=0.25"`` -> ``{"train400": 0.45, "dead_leaves": 0.25}``; ``ValueError`` on an
    unknown source or a malformed share."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in MIX_SOURCES:
            raise ValueError(f"--mix: unknown source {key!r} (use {', '.join(MIX_SOURCES)})")
        try:
            out[key] = float(value)
        except ValueError:
            raise ValueError(f"--mix: {part!r} is not SOURCE=SHARE") from None
    return out


def cli(help: str, **meta) -> dict:
    """Field metadata that makes a field a command-line option (``meta``: ``choices``, ``parse``, ``flag`` for
    booleans)."""
    return {"help": help, **meta}


@dataclass
class IdentifyConfig:
    """Hyper-parameters of one identification training run (all recorded in the model card)."""

    family: str = field(default="zernike", metadata=cli("the family whose network is trained", choices="families"))
    steps: int = field(default=6000, metadata=cli("optimisation steps (the learning-rate schedule spans them)"))
    seed: int = field(default=0, metadata=cli("random seed"))
    batch_size: int = field(default=32, metadata=cli("items per step"))
    crop: int = field(default=128, metadata=cli("side of the training crops the network reads"))
    patch: int = 160
    bank_size: int = field(default=6000, metadata=cli("sharp patches in the bank"))
    width: int = field(default=16, metadata=cli("channels of the first ResNet stage"))
    blocks: tuple[int, ...] = field(default=(2, 2, 2, 2), metadata=cli("residual blocks per stage"))
    spectral: bool = field(
        default=True, metadata=cli("the log-spectrum branch (--no-spectral: image branch only)", flag="no-spectral")
    )
    lr: float = field(default=1e-3, metadata=cli("learning rate"))
    weight_decay: float = 1e-4
    narrow_fraction: float = field(default=0.5, metadata=cli("share of γ drawn in the paper's range"))
    p_noiseless: float = field(default=0.25, metadata=cli("share of noiseless training images"))
    noise_scale: float = field(default=1.0, metadata=cli("scales the noise range α ≤ 0.15, β ≤ 0.3"))
    coef_weight: float = field(
        default=1.0, metadata=cli("weight of the early sign-invariant coefficient loss (0: off)")
    )
    stop_after: int = field(
        default=0, metadata=cli("stop (and write the weights) at this step; the lr schedule still spans --steps")
    )
    coef_fade: float = 0.5
    val_every: int = field(default=500, metadata=cli("validate every N steps"))
    val_size: int = 192
    threads: int = field(default=0, metadata=cli("torch threads (0: torch's default)"))
    family_options: dict = field(default_factory=dict)
    init: str = field(
        default="", metadata=cli("fine-tune: start from these weights (same architecture; fresh optimiser)")
    )
    noise_dist: str = field(
        default="uniform",
        metadata=cli(
            "noise law (mixed / camera: half log-uniform over 2 / 4 decades)", choices=("uniform", "mixed", "camera")
        ),
    )
    mix: dict = field(
        default_factory=dict,
        metadata=cli(
            "patch sources, e.g. train400=0.45,skimage=0.1,dead_leaves=0.25,fluorescence=0.2", parse=parse_mix
        ),
    )
    fc_range: tuple[float, ...] = field(
        default=(),
        metadata=cli(
            "LO HI: train on images sampled at random cutoffs in [LO, HI] (pixel-integrated above 0.25), resampled to "
            "the network's cutoff exactly as identify() reads them (not given: the network's cutoff only)",
            nargs=2,
            type=float,
        ),
    )
    canonical_share: float = field(
        default=0.3, metadata=cli("with --fc-range: share of batches still drawn at the network's own cutoff")
    )
    holdout_every: int = field(default=0, metadata=cli("hold every N-th train400 file out of training; they validate"))
    loss: str = field(
        default="mse",
        metadata=cli(
            "PSF-space loss: mean relative squared error, or its mean in dB (the benchmark's mean PSF SNR)",
            choices=("mse", "db"),
        ),
    )
    prior: str = field(
        default="paper",
        metadata=cli(
            "aberration prior of the training items (physics.priors: paper = all terms uniform, --narrow-fraction "
            "of them in the paper's range; microscope = 30 %% aberration-free, 50 %% 1-2 terms)",
            choices=("paper", "microscope"),
        ),
    )
    family_file: str = field(
        default="",
        metadata=cli(
            "train for a family calibrated from beads (napari-deepblur calibrate): operators drawn in its cone "
            "(Algorithm 2 of preprint 001), weights and card written beside the family file"
        ),
    )
    p_haze: float = field(
        default=0.0,
        metadata=cli("share of items given out-of-focus haze (a broad Gaussian blur of the object added to it)"),
    )
    reflection_invariant: bool = field(
        default=False,
        metadata=cli(
            "PSF loss blind to a point reflection of the PSF (comas and trefoils up to sign; orientation is decided "
            "at inference)",
            flag="reflection-invariant",
        ),
    )
    canonical_orientation: bool = field(
        default=False,
        metadata=cli(
            "PSF loss against one member of the point-reflection pair (the largest coma/trefoil positive: "
            "methods.orientation.canonical_orientation): the network reads the size of the odd terms, the "
            "orientation is decided at inference",
            flag="canonical-orientation",
        ),
    )
    odd_share: float = field(
        default=0.0,
        metadata=cli(
            "share of the items redrawn with 1-2 aberrations, one of them a coma or trefoil (training emphasis: "
            "physics.priors.odd_sparse_gamma; the stated prior is unchanged)"
        ),
    )


@dataclass
class DeblurConfig:
    """Hyper-parameters of one deblurring training run (all recorded in the model card)."""

    steps: int = field(default=3600, metadata=cli("optimisation steps"))
    seed: int = field(default=0, metadata=cli("random seed"))
    batch_size: int = field(default=8, metadata=cli("items per step"))
    crop: int = field(default=96, metadata=cli("side of the training crops"))
    patch: int = 160
    bank_size: int = field(default=4000, metadata=cli("sharp patches in the bank"))
    iterations: int = field(default=4, metadata=cli("unrolled iterations T"))
    widths: tuple[int, ...] = field(default=(16, 32, 64), metadata=cli("U-Net channels per scale"))
    n_res: int = field(default=1, metadata=cli("residual blocks per scale"))
    lr: float = field(default=1e-3, metadata=cli("learning rate"))
    fcs: tuple[float, ...] = field(
        default=(0.1, 0.15, 0.2, 0.25),
        metadata=cli("Zernike cutoffs trained on (above 0.25: pixel-integrated PSFs)", nargs="+", type=float),
    )
    ssim_weight: float = field(
        default=0.0, metadata=cli("weight of (1 - SSIM) added to the loss (SSIM as scikit-image computes it)")
    )
    loss: str = field(
        default="l1",
        metadata=cli(
            "pixel loss: l1 (mean absolute error) or rmse (root mean squared error: the posterior mean, what PSNR "
            "scores, on the scale of l1)",
            choices=("l1", "rmse"),
        ),
    )
    noise_dist: str = field(
        default="uniform",
        metadata=cli(
            "noise law (mixed / camera: half log-uniform over 2 / 4 decades)", choices=("uniform", "mixed", "camera")
        ),
    )
    p_gaussian: float = 0.25
    p_perturb: float = field(default=0.5, metadata=cli("share of items deblurred with a perturbed operator"))
    perturb: float = 0.2
    p_noiseless: float = field(default=0.15, metadata=cli("share of noiseless training items"))
    p_identified: float = field(
        default=0.0,
        metadata=cli(
            "share of items deblurred with the operator the shipped identification network estimates from the item"
        ),
    )
    identify_weights: str = field(
        default="",
        metadata=cli("folder holding identify_<family>.pt files for --p-identified (default: the shipped ones)"),
    )
    stop_after: int = field(default=0, metadata=cli("stop (and write the weights) at this step"))
    val_every: int = field(default=300, metadata=cli("validate every N steps"))
    val_size: int = 48
    threads: int = field(default=0, metadata=cli("torch threads (0: torch's default)"))
    init: str = field(
        default="",
        metadata=cli(
            "start from these weights (fine-tuning; fresh optimiser and schedule); they may have U-Nets with fewer "
            "scales than --widths (the larger network then starts from their function)",
        ),
    )
    families: list = field(default_factory=list)
    mix: dict = field(
        default_factory=dict,
        metadata=cli(
            "shares of the patch sources, e.g. train400=0.5,skimage=0.1,dead_leaves=0.2,fluorescence=0.2",
            parse=parse_mix,
        ),
    )
