"""Operator families ``gamma -> A(gamma)`` and their registry.

A *family* bundles the parameter names and ranges, a sampler, ``psf(gamma)``, and the operator ``A(gamma)`` (with
``A*`` and the regularised solve). Families are plain Python objects (torch only, no napari/Qt) that the networks,
the widgets, the CLI and the tests share.

>>> from napari_deepblur.physics import get_family
>>> fam = get_family("zernike", na=1.4, wavelength=0.52, pixel_size=0.065)
>>> gamma = fam.sample(4)            # (4, 8) random aberrations in waves
>>> psf = fam.psf(gamma)             # (4, 31, 31), each sums to 1
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .operators import BlurOperator

__all__ = [
    "FAMILIES",
    "Family",
    "Parameter",
    "available_families",
    "cutoff_frequency",
    "get_family",
    "register_family",
]

#: Largest cutoff frequency (cycles/pixel) for which the intensity PSF is Nyquist-sampled.
MAX_FC = 0.25


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


def cutoff_frequency(
    na: float | None = None,
    wavelength: float | None = None,
    pixel_size: float | None = None,
    fc: float | None = None,
) -> float:
    """Cutoff frequency ``fc = NA * pixel_size / wavelength`` of an incoherent microscope, in cycles per pixel.

    Parameters
    ----------
    na : float
        Numerical aperture of the objective (e.g. 1.4).
    wavelength : float
        Emission wavelength, same unit as ``pixel_size`` (e.g. 0.52 µm).
    pixel_size : float
        Pixel size in the sample plane (e.g. 0.065 µm).
    fc : float, optional
        Give the cutoff directly instead of the three optical numbers.

    Returns
    -------
    float
        ``fc`` in ``(0, 0.25]``.

    Raises
    ------
    ValueError
        If the numbers are missing, non-positive, or give an undersampled PSF (``fc > 0.25``).
    """
    if fc is None:
        if na is None or wavelength is None or pixel_size is None:
            raise ValueError("give either fc, or all three of na, wavelength and pixel_size")
        for label, v in (("na", na), ("wavelength", wavelength), ("pixel_size", pixel_size)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{label} must be a positive finite number, got {v!r}")
        if na > 1.7:
            raise ValueError(f"na={na} is not a physical numerical aperture (expected 0 < NA <= 1.7)")
        fc = na * pixel_size / wavelength
    if not (isinstance(fc, (int, float)) and math.isfinite(fc) and fc > 0):
        raise ValueError(f"the cutoff frequency must be a positive finite number, got {fc!r}")
    if fc > MAX_FC + 1e-9:
        raise ValueError(
            f"cutoff frequency NA*pixel/wavelength = {fc:.3f} cycles/pixel exceeds {MAX_FC}: the image is "
            "undersampled for this model (pixels larger than the Nyquist limit); check NA, wavelength and pixel "
            "size (same unit for the last two) or bin less"
        )
    return float(fc)


class Family(ABC):
    """A low-dimensional family of blur operators ``gamma -> A(gamma)``.

    Subclasses set :attr:`name`, :attr:`parameters` and implement :meth:`psf` and :meth:`operator`.
    ``gamma`` is always a tensor ``(B, dim)`` (a 1D tensor is taken as a batch of one).
    """

    name: str = ""
    description: str = ""
    parameters: tuple[Parameter, ...] = ()
    #: True when ``A(gamma)`` is a convolution (one PSF), False for space-varying families (a PSF grid).
    is_convolution: bool = True
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

    def describe(self, gamma: torch.Tensor) -> dict[str, float]:
        """``{parameter name: value}`` for one parameter vector."""
        g = self._check_gamma(gamma)[0].detach().cpu().tolist()
        return dict(zip(self.param_names, g, strict=True))

    @property
    def optics(self) -> dict[str, float]:
        """The optical numbers the family was built with (for provenance)."""
        return {}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v:g}" for k, v in self.optics.items())
        return f"{type(self).__name__}({opts})"


FAMILIES: dict[str, Callable[..., Family]] = {}


def register_family(name: str) -> Callable[[type[Family]], type[Family]]:
    """Class decorator adding a family to the registry under ``name``."""

    def deco(cls: type[Family]) -> type[Family]:
        cls.name = name
        FAMILIES[name] = cls
        return cls

    return deco


def available_families() -> list[str]:
    """Names of the registered operator families."""
    _ensure_registered()
    return list(FAMILIES)


def get_family(name: str, **options) -> Family:
    """Build a family by name.

    Parameters
    ----------
    name : str
        ``"zernike"``, ``"gaussian"`` or ``"spatially-varying"``.
    **options
        Family options, e.g. the optical numbers ``na``, ``wavelength``, ``pixel_size`` (or ``fc``) and
        ``psf_size``.
    """
    _ensure_registered()
    key = name.lower().replace("_", "-")
    if key in ("space-varying", "spacevarying", "sv"):
        key = "spatially-varying"
    if key not in FAMILIES:
        raise ValueError(f"unknown operator family {name!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[key](**options)


def _ensure_registered() -> None:
    from . import gaussian, spacevarying, zernike  # noqa: F401  (import registers)
