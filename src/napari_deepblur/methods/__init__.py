"""How an image is restored: one registry of methods (importable without torch).

Each :class:`Method` says what the user interfaces need to know — its label, whether it is blind by itself (estimates
its own kernel, so no identification and no user PSF), whether it can run tile by tile, how the noise becomes its
regularisation — and where its code lives; :meth:`Method.run` imports that code (and torch) only when called. The
widgets' and the CLI's choice lists are built from :data:`METHODS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from .regularisation import L1_MU, RL_ITER, TV_MU, WIENER_BALANCE

__all__ = ["ABERRATIONS", "METHODS", "Method", "get_method"]

#: What ``aberrations=`` may say: estimate them from the image, or take none (the aberration-free PSF of the optics).
ABERRATIONS = ("estimate", "none")


@dataclass(frozen=True)
class Method:
    """One restoration method.

    Attributes
    ----------
    name : str
        Identifier (``deblur(..., method=name)``).
    label : str
        Short name for widgets and tables.
    description : str
        One line for ``--help`` and the docs.
    blind : bool
        True when the method estimates its own kernel (no identification, no user PSF).
    tileable : bool
        True when large images may be restored tile by tile with one operator.
    regularisation : str
        How the noise level sets its regularisation, in words.
    nonneg : str
        How the method keeps a fluorescence image non-negative (``deblur(..., nonneg=True)``), in words.
    runner : str
        ``"module:function"`` (relative to this package) called by :meth:`run`.
    options_check : str
        ``"module:function"`` that checks and completes the user's options before any work (see :meth:`prepare`).
    recorded : tuple of str
        Options recorded in the result's details (see :meth:`record`).
    band_limited : bool
        True when the result may hold no more power beyond the optics' cutoff than the input
        (:func:`~napari_deepblur.physics.spectrum.limit_out_of_band`): for a learned prior, which can invent detail
        there; the classical methods' results are left as their algorithms give them.
    """

    name: str
    label: str
    description: str
    blind: bool
    tileable: bool
    regularisation: str
    nonneg: str
    runner: str
    options_check: str = ""
    recorded: tuple[str, ...] = ()
    band_limited: bool = False

    @staticmethod
    def _load(ref: str) -> Callable:
        module, func = ref.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), func)

    def function(self) -> Callable:
        """The function that runs the method (imports it, and torch, on first use)."""
        return self._load(self.runner)

    def run(self, x, kernel, alpha: float, beta: float, **kwargs):
        """Restore ``x`` (scaled to [0, 1]) with ``kernel`` (None for a blind method, which returns its image and
        kernel); keywords: ``family``, ``device``, ``progress``, ``origin``, ``full_shape``, ``sigma`` and the
        method's own options (see the runner's docstring)."""
        return self.function()(x, kernel, alpha, beta, **kwargs)

    def prepare(self, family, options: dict) -> dict:
        """The user's ``options`` checked and completed for ``family`` (a name or a family) before any work; raises
        :class:`~napari_deepblur.errors.DeblurInputError` on a bad value."""
        return self._load(self.options_check)(family, dict(options)) if self.options_check else dict(options)

    def record(self, options: dict) -> dict:
        """The options worth keeping in a result's details (e.g. deep-blur's floor scale)."""
        return {k: options[k] for k in self.recorded if k in options}


#: name -> method, in the order the user interfaces list them (only methods that work are listed).
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "deepblur",
            "deep-blur (network)",
            "deep-blur: unrolled Douglas–Rachford network with the estimated operator",
            blind=False,
            tileable=True,
            regularisation="λ_k = s_k (σ² + ρ f): learned per-step scales s_k and floor f, ρ the family's floor scale",
            nonneg="the output projected onto x ≥ 0 (inside the iterations it cost 0.2 dB: not trained so)",
            runner="deepblur:run_unrolled",
            options_check="deepblur:prepare_options",
            recorded=("floor_scale",),
            band_limited=True,
        ),
        Method(
            "selfdeblur",
            "SelfDeblur (zero-shot, slow)",
            "SelfDeblur (zero-shot; estimates its own kernel, slow)",
            blind=True,
            tileable=False,
            regularisation="TV weight tv_weight · σ²",
            nonneg="by construction: the image generator ends in a sigmoid",
            runner="selfdeblur:run_selfdeblur",
        ),
        Method(
            "wiener",
            "Wiener",
            "Wiener deconvolution with the estimated PSF (scikit-image)",
            blind=False,
            tileable=True,
            regularisation=f"balance = {WIENER_BALANCE[0]:g} σ² + {WIENER_BALANCE[1]:g}",
            nonneg="a projection of the result onto x ≥ 0 (one linear filter: nothing inside to constrain)",
            runner="classical:run_wiener",
        ),
        Method(
            "rl",
            "Richardson–Lucy",
            "Richardson–Lucy with the estimated PSF (scikit-image)",
            blind=False,
            tileable=True,
            regularisation=f"iterations = clip({RL_ITER[0]:g} / σ, {RL_ITER[1]}, {RL_ITER[2]})",
            nonneg="by construction: multiplicative updates from a positive start (no signed variant)",
            runner="classical:run_richardson_lucy",
        ),
        Method(
            "tv",
            "total variation",
            "total-variation deconvolution with the estimated PSF",
            blind=False,
            tileable=True,
            regularisation=f"mu = {TV_MU[0]:g} σ² + {TV_MU[1]:g}",
            nonneg="inside: every primal iterate of Chambolle–Pock projected onto x ≥ 0",
            runner="classical:run_tv",
        ),
        Method(
            "l1",
            "ℓ1 (sparse samples)",
            "ℓ1-regularised deconvolution for sparse samples (beads, puncta) with the estimated PSF",
            blind=False,
            tileable=True,
            regularisation=f"mu = {L1_MU[0]:g} σ + {L1_MU[1]:g}",
            nonneg="inside: FISTA's proximal map is a one-sided soft threshold",
            runner="classical:run_l1",
        ),
    )
}


def get_method(name: str) -> Method:
    """The method called ``name``, or a ``ValueError`` naming the choices."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]
