"""Record deepinv's outputs (the physics oracle) as a test fixture: ``python tests/oracle/make_fixtures.py``.

Needs deepinv 0.5 (``pip install -e ".[oracle]"``, which brings torchvision and a multi-GB CUDA torch on Linux).
The tests compare napari-deepblur's physics with the recorded arrays, so neither users nor CI need deepinv;
``tests/test_oracle.py::test_fixture_is_what_deepinv_gives`` re-runs this and compares, where deepinv is installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

FIXTURE = Path(__file__).with_name("deepinv_oracle.npz")
FCS = (0.1, 0.15, 0.2, 0.25)
#: Options of the families compared (as in tests/test_operators.py).
OPTIONS = {"zernike": {"fc": 0.2}, "gaussian": {}, "spatially-varying": {"fc": 0.2, "grid": (3, 3)}}


def record() -> dict[str, np.ndarray]:
    """Inputs drawn with fixed seeds and deepinv's answers for them."""
    from deepinv.physics import Blur, SpaceVaryingBlur
    from deepinv.physics.generator import DiffractionBlurGenerator
    from deepinv.physics.generator.zernike import Zernike

    from napari_deepblur.physics import ZernikeFamily, get_family

    out: dict[str, np.ndarray] = {"deepinv_version": np.array(__import__("deepinv").__version__)}
    out["noll_nm"] = np.array([Zernike.index_conversion(j, convention="noll") for j in range(1, 37)])
    gen = torch.Generator().manual_seed(0)
    for name in ("zernike", "gaussian"):
        fam = get_family(name, **OPTIONS[name])
        gamma = fam.sample(1, generator=gen, dtype=torch.float64)
        x = torch.rand(1, 1, 32, 40, generator=gen, dtype=torch.float64)
        y = torch.rand(1, 1, 32, 40, generator=gen, dtype=torch.float64)
        ref = Blur(filter=fam.psf(gamma)[:, None], padding="circular", use_fft=True)
        out |= {
            f"{name}_gamma": gamma,
            f"{name}_x": x,
            f"{name}_y": y,
            f"{name}_A": ref.A(x),
            f"{name}_At": ref.A_adjoint(y),
        }
    fam = get_family("spatially-varying", **OPTIONS["spatially-varying"])
    gamma = fam.sample(1, generator=gen, dtype=torch.float64)
    shape = (32, 36)
    maps = fam.maps(shape, dtype=torch.float64)
    ref = SpaceVaryingBlur(filters=fam.psf(gamma)[:, None], multipliers=maps[None, None], padding="circular",
                           use_fft=True)  # fmt: skip
    x = torch.rand(1, 1, *shape, generator=gen, dtype=torch.float64)
    out |= {"sv_gamma": gamma, "sv_x": x, "sv_A": ref.A(x), "sv_At": ref.A_adjoint(x)}
    for fc in FCS:
        fam = ZernikeFamily(fc=fc, max_zernike_amplitude=0.3)
        gamma = fam.sample(8, generator=torch.Generator().manual_seed(1))
        psf = DiffractionBlurGenerator((31, 31), fc=fc, index_convention="noll").step(coeff=gamma)["filter"][:, 0]
        out |= {f"psf_gamma_{fc}": gamma, f"psf_{fc}": psf.float()}
    return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in out.items()}


if __name__ == "__main__":
    arrays = record()
    np.savez_compressed(FIXTURE, **arrays)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size / 1024:.0f} KiB, deepinv {arrays['deepinv_version']})")
