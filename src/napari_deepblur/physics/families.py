"""Operator families ``gamma -> A(gamma)``: the base class, the blur parameters and the microscope's optics.

A *family* bundles the parameter names and ranges, a sampler, ``psf(gamma)``, and the operator ``A(gamma)`` (with
``A*`` and the regularised solve). Families are plain Python objects (torch only, no napari/Qt) that the networks,
the widgets, the CLI and the tests share. Everything a family knows about itself lives on its class (labels, whether
optics apply, the paper's benchmark range, the deblurring network's floor scale); the list of families is
:mod:`napari_deepblur.physics.registry`.

>>> from napari_deepblur.physics import get_family
>>> fam = get_family("zernike", na=1.4, wavelength=0.52, pixel_size=0.065)
>>> gamma = fam.sample(4)            # (4, 8) random aberrations in waves
>>> psf = fam.psf(gamma)             # (4, 31, 31), each sums to 1
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from .operators import BlurOperator
from .optics import DEFAULT_OPTICS, MAX_FC, cutoff_frequency, oversampling

__all__ = [
    "DEFAULT_OPTICS",
    "MAX_FC",
    "Family",
    "OpticalFamily",
    "Parameter",
    "cutoff_frequency",
]


@dataclass(frozen=True)
class Parameter:
    """One scalar blur parameter.

    Attributes
    ----------
    name : str
        Identifier (``"defocus"``).
    label : str
        Human-readable name for widgets and tables (``"defocus (Z4)"``).
    unit : str
        Unit (``"waves"``, ``"px"``, ``"rad"``).
    low, high : float
        Range covered by the sampler, the trained networks and the widget sliders.
    """

    name: str
    label: str
    unit: str
    low: float
    high: float

    def format(self, value: float) -> str:
        """``"defocus (Z4): 0.080 waves"``."""
        return f"{self.label}: {value:.3f} {self.unit}"


class Family(ABC):
    """A low-dimensional family of blur operators ``gamma -> A(gamma)``.

    Subclasses set :attr:`name`, :attr:`parameters` and implement :meth:`psf` and :meth:`operator`.
    ``gamma`` is always a tensor ``(B, dim)`` (a 1D tensor is taken as a batch of one).
    """

    name: str = ""
    #: Short name shown in the widgets' choice lists.
    label: str = ""
    description: str = ""
    parameters: tuple[Parameter, ...] = ()
    #: True when ``A(gamma)`` is a convolution (one PSF), False for space-varying families (a PSF grid).
    is_convolution: bool = True
    #: True when the PSF depends on the microscope's optics (NA, wavelength, pixel size); a Gaussian ignores them.
    uses_optics: bool = False
    #: True when ``napari-deepblur train identify`` can train this family's identification network.
    trainable: bool = True
    #: Options that give the paper's benchmark distribution of ``gamma`` (002 §3.1), e.g. a narrower Zernike range.
    benchmark_options: ClassVar[dict[str, float]] = {}
    #: Scale of the paper's benchmark range relative to the family's own (wide) sampling range.
    benchmark_scale: float = 1.0
    #: Scale of the deblurring network's learned λ floor on noise-free data when this family's blind estimate is
    #: used (1 = as trained; see :meth:`~napari_deepblur.networks.unrolled.UnrolledDR.lam`). The floor was learned on
    #: small training patches, whose blind estimates are poorer than those made from a whole image, so it
    #: over-regularises whole images. Each family's value is the best of a grid on whole training pictures (never the
    #: benchmark images): ``napari-deepblur bench tune --deepblur --out resources/bench/tune_deepblur.json``
    #: (zernike, gaussian) and ``... --families spatially-varying --n-psfs 1 --out
    #: resources/bench/tune_deepblur_sv.json``.
    floor_scale: float = 1.0
    #: What :meth:`baseline_gamma` is, for tables.
    baseline_label: str = "γ = 0"
    psf_size: int = 31

    @property
    def dim(self) -> int:
        """Number of parameters ``dim gamma``."""
        return len(self.parameters)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter identifiers in the order of the entries of ``gamma``."""
        return tuple(p.name for p in self.parameters)

    def bounds(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """``(dim, 2)`` tensor of ``(low, high)`` per parameter."""
        return torch.tensor([[p.low, p.high] for p in self.parameters], device=device, dtype=dtype)

    def default_gamma(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """The family's neutral parameter (no aberration / smallest blur), shape ``(1, dim)``."""
        return torch.zeros(1, self.dim, device=device, dtype=dtype)

    def baseline_gamma(self, dtype=torch.float32) -> torch.Tensor:
        """The answer a user takes without estimation (``(1, dim)``): :meth:`default_gamma` unless a family says
        otherwise."""
        return self.default_gamma(dtype=dtype)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device=None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Draw ``n`` parameters uniformly in the family's ranges; returns ``(n, dim)``."""
        b = self.bounds(dtype=dtype)
        u = torch.rand(n, self.dim, generator=generator, dtype=dtype)
        return (b[:, 0] + u * (b[:, 1] - b[:, 0])).to(device)

    @staticmethod
    def _batch(gamma: torch.Tensor) -> torch.Tensor:
        gamma = torch.as_tensor(gamma)
        if not gamma.is_floating_point():
            gamma = gamma.float()
        return gamma.unsqueeze(0) if gamma.ndim == 1 else gamma

    def _check_gamma(self, gamma: torch.Tensor) -> torch.Tensor:
        gamma = self._batch(gamma)
        if gamma.ndim != 2 or gamma.shape[1] != self.dim:
            raise ValueError(
                f"{self.name}: gamma must have shape (B, {self.dim}) for parameters {self.param_names}, "
                f"got {tuple(gamma.shape)}"
            )
        return gamma

    @abstractmethod
    def psf(self, gamma: torch.Tensor) -> torch.Tensor:
        """Convolution kernel(s): ``(B, h, w)`` for a convolution family, ``(B, K, h, w)`` on the grid otherwise.

        Kernels are centred at ``(h // 2, w // 2)``, non-negative and sum to 1, and used as ``y = psf * x``
        (true convolution).
        """

    @abstractmethod
    def operator(self, gamma: torch.Tensor, shape: tuple[int, int]) -> BlurOperator:
        """The blur ``A(gamma)`` on images of shape ``shape = (H, W)`` (circular boundary)."""

    def operator_from_psf(self, psf: torch.Tensor, shape: tuple[int, int]) -> BlurOperator:
        """The operator built from kernels already computed with :meth:`psf` (avoids computing them twice)."""
        from .operators import ConvolutionOperator

        return ConvolutionOperator(psf, shape)

    def named(self, gamma) -> dict[str, float]:
        """``{parameter name: value}`` for one parameter vector (a tensor, an array or a list)."""
        g = self._check_gamma(torch.as_tensor(gamma))[0].detach().cpu().tolist()
        return dict(zip(self.param_names, map(float, g), strict=True))

    def canonical_options(self) -> dict:
        """Options of the family an identification network is trained for (the optics it works at)."""
        return {}

    @property
    def optics(self) -> dict[str, float]:
        """The optical numbers the family was built with (for provenance)."""
        return {}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v:g}" for k, v in self.optics.items())
        return f"{type(self).__name__}({opts})"


class OpticalFamily(Family):
    """A family whose PSFs come from the microscope's optics, a pupil with Zernike aberrations (Noll 4–11): resolves
    ``fc`` from NA, wavelength and pixel size (or ``fc`` directly; :data:`DEFAULT_OPTICS` when nothing is given) and
    records them for provenance."""

    uses_optics = True
    noll: tuple[int, ...] = tuple(range(4, 12))
    benchmark_options: ClassVar[dict[str, float]] = {"max_zernike_amplitude": 0.15}  # U[-0.075, 0.075] waves
    benchmark_scale = 0.5
    baseline_label = "γ = 0 (diffraction-limited)"
    #: The cutoff (cycles/pixel) the identification networks are trained at; other microscopes are resampled to it
    #: at inference (the networks' own value is read from their weights).
    CANONICAL_FC = 0.2

    def _set_optics(self, na, wavelength, pixel_size, fc) -> None:
        if fc is None and na is None and wavelength is None and pixel_size is None:
            na, wavelength, pixel_size = (DEFAULT_OPTICS[k] for k in ("na", "wavelength", "pixel_size"))
        self.fc = cutoff_frequency(na, wavelength, pixel_size, fc)
        #: sub-samples per pixel and axis (1 at Nyquist or finer; PSFs of undersampled images are pixel-integrated)
        self.oversample = oversampling(self.fc)
        self._optics = {"fc": self.fc}
        if fc is None:
            self._optics.update(na=na, wavelength=wavelength, pixel_size=pixel_size)

    @property
    def optics(self) -> dict[str, float]:
        return dict(self._optics)

    def canonical_options(self) -> dict:
        return {"fc": self.CANONICAL_FC}
