"""On-the-fly synthesis of blurred, noisy training batches from the banks of sharp patches of
:mod:`napari_deepblur.datasets` (its training sources only)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..datasets import PatchBank
from ..physics import Family, add_poisson_gaussian, blur
from ..physics.noise import MAX_ALPHA, MAX_BETA

__all__ = ["BlurBatch", "add_haze", "augment", "synthesize"]


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


def add_haze(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Out-of-focus haze on a share ``p`` of the items: ``(x + c G_s * x) / (1 + c)``, a broad Gaussian blur of the
    object (``s`` 4–12 px, ``c`` 0.2–1.5) added to it — the light of the planes above and below that a widefield
    image carries. Stays in [0, 1]."""
    if p <= 0:
        return x
    from ..physics import conv2d_fft, crop, gaussian_psf, pad_reflect

    B = x.shape[0]
    hazy = torch.rand(B, generator=gen) < p
    if not bool(hazy.any()):
        return x
    s = 4 + 8 * torch.rand(B, generator=gen)
    c = (0.2 + 1.3 * torch.rand(B, generator=gen)) * hazy
    k = gaussian_psf(torch.stack([s, s, torch.zeros(B)], 1).to(x.dtype), 61)
    broad = crop(conv2d_fft(pad_reflect(x, 30), k[:, None]), 30)
    c = c.to(x.dtype)[:, None, None, None]
    return (x + c * broad) / (1 + c)


def synthesize(
    bank: PatchBank,
    family: Family,
    batch_size: int,
    crop: int,
    gen: torch.Generator,
    *,
    gamma: torch.Tensor | None = None,
    alpha_max: float = MAX_ALPHA,
    beta_max: float = MAX_BETA,
    p_noiseless: float = 0.15,
    gamma_scale: torch.Tensor | None = None,
    noise_dist: str = "uniform",
    p_haze: float = 0.0,
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
        The law of the noise levels (:func:`draw_noise`).
    p_haze : float
        Share of items given out-of-focus haze (:func:`add_haze`) before the contrast and offset of :func:`augment`.
    """
    idx = torch.randint(len(bank.patches), (batch_size,), generator=gen)
    x = augment(add_haze(bank.patches[idx], p_haze, gen), gen)
    if gamma is None:
        gamma = family.sample(batch_size, generator=gen)
        if gamma_scale is not None:
            gamma = gamma * gamma_scale[:, None]
    psf = family.psf(gamma)
    z = blur(x, family, psf, boundary="valid", crop_to=crop)
    o = (x.shape[-1] - crop) // 2
    x = x[..., o : o + crop, o : o + crop]
    alpha, beta = draw_noise(batch_size, gen, alpha_max, beta_max, noise_dist, p_noiseless)
    y = add_poisson_gaussian(z, alpha, beta, generator=gen)
    return BlurBatch(y=y, x=x, gamma=gamma, psf=psf, alpha=alpha, beta=beta)


#: The training laws of the noise levels (:func:`draw_noise`) and, for the log-uniform half, the decades each range
#: spans below its maximum.
NOISE_DISTS = ("uniform", "mixed", "camera")
LOG_DECADES = {"mixed": 2, "camera": 4}


def noise_law_text(noise_dist: str) -> str:
    """What :func:`draw_noise` does beyond the uniform law, for model cards (empty for ``"uniform"``)."""
    if noise_dist in LOG_DECADES:
        n = LOG_DECADES[noise_dist]
        words = {2: "two", 3: "three", 4: "four"}[n]
        return f" for half the items, log-uniform over the top {words} decades of the same ranges for the other half"
    return ""


def draw_noise(
    batch_size: int,
    gen: torch.Generator,
    alpha_max: float = MAX_ALPHA,
    beta_max: float = MAX_BETA,
    noise_dist: str = "uniform",
    p_noiseless: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Poisson–Gaussian levels ``(alpha, beta)``, each ``(batch_size,)``, for training items.

    ``"uniform"``: ``alpha``, ``beta`` uniform in ``[0, alpha_max] x [0, beta_max]``; ``"mixed"``: half the items
    so, the other half log-uniform over the top two decades of each range (more weak-noise items: ``beta < 0.05`` in
    1 of 6 items under the uniform law, about 2 of 5 under the mixed one); ``"camera"``: the same over four decades,
    down to the noise of real camera images (``beta`` 2e-4–5e-3 of the range on the real fluorescence images of
    ``bench native``). A share ``p_noiseless`` is then set to 0.
    """
    alpha = alpha_max * torch.rand(batch_size, generator=gen)
    beta = beta_max * torch.rand(batch_size, generator=gen)
    if noise_dist in LOG_DECADES:
        n = LOG_DECADES[noise_dist]
        log_items = torch.rand(batch_size, generator=gen) < 0.5
        alpha = torch.where(log_items, alpha_max * 10 ** (-n * torch.rand(batch_size, generator=gen)), alpha)
        beta = torch.where(log_items, beta_max * 10 ** (-n * torch.rand(batch_size, generator=gen)), beta)
    elif noise_dist != "uniform":
        raise ValueError(f"unknown noise distribution {noise_dist!r}; use one of {', '.join(NOISE_DISTS)}")
    clean = torch.rand(batch_size, generator=gen) < p_noiseless
    return alpha.masked_fill(clean, 0.0), beta.masked_fill(clean, 0.0)
