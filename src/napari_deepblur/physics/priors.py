"""Priors on the aberrations γ of an optical family: what the identification expects before it reads the image.

Two priors, by name (:data:`PRIORS`, torch-free):

* ``"microscope"`` — real microscopes (the default): near the diffraction limit most of the time, with one or two
  dominant aberrations when not — defocus of the slice, spherical from a refractive-index mismatch or depth,
  astigmatism; comas and trefoils rarer. Its centre is γ = 0, the aberration-free PSF of the optics.
* ``"paper"`` — the benchmark prior of Debarnot & Weiss (journal article, §3.1.1): every term uniform in
  ``±PAPER_RANGE`` = ``±0.075`` waves. It has no centre worth shrinking to: its best image-free answer is its mean PSF
  (:func:`prior_mean_psf`), not γ = 0, and the identification leans on that mean as far as the noise asks
  (:func:`napari_deepblur.methods.evidence.blend_with_prior_mean`). Its networks were trained on a wider law, half
  the items in ``±0.15`` (the family's box; :func:`sample_prior`), to stay robust.

:func:`sample_prior` draws from either (training, benchmarks). The terms are the family's Noll indices (4–11).
"""

from __future__ import annotations

__all__ = [
    "MICROSCOPE_PRIOR",
    "PAPER_RANGE",
    "PRIORS",
    "PRIOR_DEFAULT",
    "odd_sparse_gamma",
    "odd_terms",
    "prior_mean_psf",
    "sample_prior",
    "sparse_gamma",
]

#: Prior name → what it says, in plain words (the widget's and the CLI's help).
PRIORS: dict[str, str] = {
    "microscope": "a real microscope: diffraction-limited unless the image shows otherwise, 1-2 dominant aberrations",
    "paper": "the paper's benchmark: all 8 aberrations at once, uniform in ±0.075 waves; under noise the PSF leans on "
    "that prior's mean PSF",
}
#: The prior of ``identify()`` and ``deblur()`` when none is named.
PRIOR_DEFAULT = "microscope"


#: The ``"paper"`` prior as the benchmark states it (journal article §3.1.1): every term uniform in ``±PAPER_RANGE``
#: waves. Its best image-free answer is the mean PSF over it (:func:`prior_mean_psf`).
PAPER_RANGE = 0.075
#: Draws averaged by :func:`prior_mean_psf` (a fixed generator: the same mean every time).
MEAN_PSF_DRAWS = 1024

#: The ``"microscope"`` prior, in numbers: share of aberration-free items, share of sparse items (the rest is the
#: paper's dense law), the amplitude range of a sparse term (waves RMS), and the relative frequency of each Noll term
#: among the sparse ones (defocus and spherical first, then astigmatism; comas and trefoils rarer).
MICROSCOPE_PRIOR = {
    "p_none": 0.3,
    "p_sparse": 0.5,
    "amplitude": (0.02, 0.15),
    "term_weights": {4: 3.0, 5: 1.0, 6: 1.0, 7: 0.6, 8: 0.6, 9: 0.4, 10: 0.4, 11: 2.5},
}


def odd_terms(noll) -> list[int]:
    """Positions (in a family's ``noll`` tuple) of the terms odd under a point reflection of the PSF (comas,
    trefoils: odd azimuthal order ``m``). ``h(γ)`` reflected through its centre is ``h`` of γ with these negated."""
    from .zernike import noll_to_nm

    return [i for i, j in enumerate(noll) if noll_to_nm(j)[1] % 2 != 0]


def sparse_gamma(noll, n: int, generator, amplitude=(0.05, 0.15), k_max: int = 2, weights=None, dtype=None):
    """``(n, len(noll))`` γ with 1..``k_max`` non-zero terms each (drawn with ``weights`` per Noll index, uniform by
    default), amplitudes uniform in ``amplitude`` with random signs."""
    import torch

    dtype = dtype or torch.float32
    dim = len(noll)
    w = torch.tensor([float((weights or {}).get(j, 1.0)) for j in noll], dtype=torch.float64)
    g = torch.zeros(n, dim, dtype=dtype)
    lo, hi = amplitude
    for i in range(n):
        k = int(torch.randint(1, k_max + 1, (1,), generator=generator))
        terms = torch.multinomial(w, k, replacement=False, generator=generator)
        amp = lo + (hi - lo) * torch.rand(k, generator=generator, dtype=torch.float64)
        sign = torch.where(torch.rand(k, generator=generator) < 0.5, -1.0, 1.0).double()
        g[i, terms] = (amp * sign).to(dtype)
    return g


def odd_sparse_gamma(noll, n: int, generator, amplitude=(0.02, 0.15), dtype=None):
    """``(n, len(noll))`` γ with 1–2 non-zero terms each, at least one of them a coma or trefoil
    (:func:`odd_terms`), amplitudes uniform in ``amplitude`` with random signs (the second term, if any, drawn with
    the microscope prior's term weights). Training emphasis on the odd terms (``train identify --odd-share``)."""
    import torch

    dtype = dtype or torch.float32
    odd = odd_terms(noll)
    g = sparse_gamma(noll, n, generator, amplitude, 1, MICROSCOPE_PRIOR["term_weights"], dtype)
    lo, hi = amplitude
    for i in range(n):
        k = odd[int(torch.randint(len(odd), (1,), generator=generator))]
        amp = lo + (hi - lo) * float(torch.rand(1, generator=generator))
        sign = -1.0 if float(torch.rand(1, generator=generator)) < 0.5 else 1.0
        if float(torch.rand(1, generator=generator)) < 0.5:  # a single odd term
            g[i] = 0
        g[i, k] = amp * sign
    return g


def sample_prior(family, n: int, prior: str, generator, dtype=None):
    """``(n, dim)`` γ drawn from the named prior for an optical family (``family.noll``, ``family.sample``,
    ``family.benchmark_scale``)."""
    import torch

    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}: use one of {', '.join(PRIORS)}")
    dtype = dtype or torch.float32
    dense = family.sample(n, generator=generator, dtype=dtype)
    narrow = torch.rand(n, generator=generator) < 0.5
    dense = torch.where(narrow[:, None], dense * family.benchmark_scale, dense)
    if prior == "paper":
        return dense
    p = MICROSCOPE_PRIOR
    sparse = sparse_gamma(family.noll, n, generator, p["amplitude"], 2, p["term_weights"], dtype)
    u = torch.rand(n, generator=generator)
    none = u < p["p_none"]
    is_sparse = (u >= p["p_none"]) & (u < p["p_none"] + p["p_sparse"])
    g = torch.where(is_sparse[:, None], sparse, dense * 0.5)  # the dense rest: half the paper's ranges
    return g.masked_fill(none[:, None], 0.0)


_MEAN_PSFS: dict = {}


def prior_mean_psf(family):
    """``(1, h, w)`` float64: the mean PSF of an optical family over the ``"paper"`` prior's law (every term uniform in
    ``±PAPER_RANGE``; :data:`MEAN_PSF_DRAWS` draws of a fixed generator, made symmetric under the square's rotations
    and flips as the law is), at the family's sampling — the best answer
    that ignores the image under that prior (not a family member: blurrier than any). Cached per sampling."""
    import torch

    key = (type(family).__name__, float(family.fc), family.psf_size, getattr(family, "pupil_size", None),
           tuple(family.noll), getattr(family, "oversample", 1))  # fmt: skip
    if key not in _MEAN_PSFS:
        g = torch.Generator().manual_seed(20_240_075)
        u = torch.rand(MEAN_PSF_DRAWS, family.dim, generator=g)
        draws = PAPER_RANGE * (2 * u - 1)
        with torch.no_grad():
            total = sum(family.psf(draws[i : i + 128]).sum(0, keepdim=True) for i in range(0, MEAN_PSF_DRAWS, 128))
        mean = total.double() / MEAN_PSF_DRAWS
        # the law is unchanged by the square's rotations and flips (they permute the terms and change their signs,
        # each uniform on a symmetric range), so its mean PSF is too: averaging the 8 removes most sampling noise
        turns = [torch.rot90(mean, k, dims=(-2, -1)) for k in range(4)]
        _MEAN_PSFS[key] = sum(t + torch.flip(t, dims=(-1,)) for t in turns) / 8
    return _MEAN_PSFS[key]
