"""Priors on the aberrations γ of an optical family: what the identification expects before it reads the image.

Two priors, by name (:data:`PRIORS`, torch-free):

* ``"microscope"`` — real microscopes (the default): near the diffraction limit most of the time, with one or two
  dominant aberrations when not — defocus of the slice, spherical from a refractive-index mismatch or depth,
  astigmatism; comas and trefoils rarer. Its centre is γ = 0, the aberration-free PSF of the optics.
* ``"paper"`` — the benchmark prior of Debarnot & Weiss (journal article, §4): every term uniform in ``±0.075`` waves
  (half the items; the other half ``±0.15``, the family's box). It has no centre worth shrinking to: its best
  image-free answer is the family-mean PSF, not γ = 0.

:func:`sample_prior` draws from either (training, benchmarks). The terms are the family's Noll indices (4–11).
"""

from __future__ import annotations

__all__ = [
    "MICROSCOPE_PRIOR",
    "PRIORS",
    "PRIOR_DEFAULT",
    "odd_terms",
    "sample_prior",
    "sparse_gamma",
]

#: Prior name → what it says, in plain words (the widget's and the CLI's help).
PRIORS: dict[str, str] = {
    "microscope": "a real microscope: diffraction-limited unless the image shows otherwise, 1-2 dominant aberrations",
    "paper": "the paper's benchmark: all 8 aberrations at once, uniform in ±0.075 waves (±0.15 for half the images)",
}
#: The prior of ``identify()`` and ``deblur()`` when none is named.
PRIOR_DEFAULT = "microscope"


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
