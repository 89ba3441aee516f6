"""How each restoration method turns the noise level into its regularisation (torch-free).

Every law takes the mean noise standard deviation ``sigma`` of the image scaled to [0, 1]
(:func:`effective_sigma`, ``sigma² = alpha · mean(y) + beta²``). The constants of the classical laws were tuned on
16 train400 / scikit-image training crops with the true PSF, best mean PSNR over the three noise levels (never on the
benchmark images): ``napari-deepblur bench tune --threads 1 --out resources/bench/tune.json``; the tuning calls these
same functions with other constants.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "L1_MU",
    "RL3D_ITER",
    "RL_ITER",
    "TV_MU",
    "WIENER_BALANCE",
    "effective_sigma",
    "l1_mu",
    "rl_iterations",
    "tv_mu",
    "wiener_balance",
]

WIENER_BALANCE = (300.0, 1e-5)  # balance = c * sigma^2 + floor
RL_ITER = (0.1, 2, 250)  # n_iter = clip(round(c / sigma), lo, hi)
# 3D Richardson-Lucy, accelerated (methods/volume.py), the same law: chosen on the synthetic volumes of
# resources/bench/studies/volume_methods.py (best of 10 / 20 / 40 at 1000 and 200 photons: 0.7 / sigma), not tuned
RL3D_ITER = (0.7, 5, 50)
TV_MU = (3.0, 1e-5)  # mu = c * sigma^2 + floor
L1_MU = (0.5, 1e-3)  # mu = c * sigma + floor


def effective_sigma(y: np.ndarray, alpha: float, beta: float) -> float:
    """Average noise standard deviation ``sqrt(alpha * mean(y) + beta^2)`` of an image scaled to [0, 1]."""
    return float(math.sqrt(max(alpha * float(np.clip(y, 0, None).mean()) + beta**2, 0.0)))


def wiener_balance(sigma: float, c: float = WIENER_BALANCE[0], floor: float = WIENER_BALANCE[1]) -> float:
    """Wiener's regularisation weight ``c sigma² + floor``."""
    return c * sigma**2 + floor


def rl_iterations(sigma: float, c: float = RL_ITER[0], lo: int = RL_ITER[1], hi: int = RL_ITER[2]) -> int:
    """Richardson–Lucy's iteration count (its regularisation) ``clip(round(c / sigma), lo, hi)``."""
    return int(np.clip(round(c / max(sigma, 1e-6)), lo, hi))


def l1_mu(sigma: float, c: float = L1_MU[0], floor: float = L1_MU[1]) -> float:
    """The ℓ1 weight ``c sigma + floor`` (a soft threshold at about the noise level)."""
    return c * sigma + floor


def tv_mu(sigma: float, c: float = TV_MU[0], floor: float = TV_MU[1]) -> float:
    """The total-variation weight ``c sigma² + floor``."""
    return c * sigma**2 + floor
