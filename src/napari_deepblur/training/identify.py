"""Training of the identification network (``napari-deepblur train identify``).

Adam on synthetic pairs ``(y, gamma)`` with the PSF-space loss ``||h(gamma_hat) - h(gamma)||^2 / ||h(gamma)||^2``
(paper 002 eq. 4; even aberrations are only defined up to sign, so coefficients are never compared directly).
Resumable from ``<run_dir>/checkpoint.pt``; writes the weights and a model card into the package's weights folder.
"""

from __future__ import annotations

import json
import math
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch

from ..datasets import PatchBank, find_train400, train400_split
from ..methods.identify_convolution import resample_view
from ..methods.orientation import canonical_orientation
from ..networks.identification import IdentificationNet
from ..physics import NOISE_LEVELS, add_poisson_gaussian, blur, get_family, psf_snr
from ..physics.noise import MAX_ALPHA, MAX_BETA
from ..physics.priors import odd_sparse_gamma, sample_prior
from ._checkpoint import init_chain_line, init_from, load_checkpoint, save_checkpoint, warmup_cosine
from .config import IdentifyConfig
from .data import noise_law_text, synthesize

__all__ = [
    "IdentifyConfig",
    "family_weights_path",
    "psf_loss",
    "train_identify",
    "validate",
    "write_model_card",
]


#: Floor of the relative error in the dB loss: a PSF SNR of 30 dB counts as perfect (keeps the logarithm finite).
DB_LOSS_FLOOR = 1e-3
#: PSF SNR above this counts as this (an exact γ = 0 answer to an aberration-free item would be infinite).
SNR_CAP = 30.0


def psf_loss(
    family, gamma_hat: torch.Tensor, psf_true: torch.Tensor, kind: str = "mse", reflection: bool = False
) -> torch.Tensor:
    """Relative squared PSF error ``e = ||h(gamma_hat) - h(gamma)||^2 / ||h(gamma)||^2`` (over the grid for
    space-varying families), averaged over the batch: ``mean(e)`` for ``kind="mse"``, or ``mean(10 log10(e + 1e-3))``
    for ``kind="db"`` — minus the benchmark's mean PSF SNR, which weighs a halved error the same on every item.

    With ``reflection`` the error is the smaller of the errors against ``h(gamma)`` and against its point reflection
    ``h(gamma)(-x)`` (convolution families): an image hardly tells a PSF from its reflection (comas and trefoils up to
    sign), and a loss that punishes the wrong one teaches the network to answer zero for them; the orientation is
    decided at inference (:func:`napari_deepblur.methods.orientation.orient_odd_terms`)."""
    h = family.psf(gamma_hat)
    dims = tuple(range(1, h.ndim))
    norm = psf_true.square().sum(dim=dims)
    err = (h - psf_true).square().sum(dim=dims) / norm
    if reflection:
        err = torch.minimum(err, (h - torch.flip(psf_true, dims=(-2, -1))).square().sum(dim=dims) / norm)
    if kind == "db":
        return (10 * torch.log10(err + DB_LOSS_FLOOR)).mean()
    if kind != "mse":
        raise ValueError(f"unknown loss {kind!r}: 'mse' or 'db'")
    return err.mean()


def sign_invariant_coefficient_loss(family, gamma_hat: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """``min(||g_hat - g||^2, ||g_hat + g||^2)`` in units of the parameter ranges.

    Why: for a diffraction PSF the first-order change of ``h`` under an *even* aberration vanishes at ``gamma = 0``
    (``h(gamma) = flip(h(-gamma))``), so the PSF-space loss is flat around the zero output of a fresh network and
    training stalls at the family-mean PSF. This term has a non-zero gradient there and is blind to the global sign
    ambiguity; it is faded out during training so the PSF-space loss has the last word.
    """
    width = family.bounds(dtype=gamma.dtype, device=gamma.device)[:, 1] - family.bounds(dtype=gamma.dtype)[:, 0]
    a = ((gamma_hat - gamma) / width).square().sum(dim=1)
    b = ((gamma_hat + gamma) / width).square().sum(dim=1)
    return torch.minimum(a, b).mean()


def _validation_set(cfg: IdentifyConfig, family) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Fixed validation batches, one per benchmark noise level, from patches drawn with another seed (procedural
    scenes only: train400 and scikit-image pictures stay out of it). Aberrations in the paper's narrow range."""
    bank = PatchBank.build(
        cfg.val_size, cfg.patch, seed=10_000 + cfg.seed, mix={"dead_leaves": 0.5, "fluorescence": 0.5}
    )
    gen = torch.Generator().manual_seed(20_000 + cfg.seed)
    gamma = family.sample(cfg.val_size, generator=gen) * family.benchmark_scale
    psf = family.psf(gamma)
    z = blur(bank.patches, family, psf, boundary="valid", crop_to=cfg.crop)
    out = {}
    for level, (a, b) in NOISE_LEVELS.items():
        y = add_poisson_gaussian(z, a, b, generator=gen)
        out[level] = (y, psf)
    return out


def _microscope_validation_set(cfg: IdentifyConfig, family) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Validation batches under the ``"microscope"`` prior (``cfg.prior``): procedural scenes with haze on half the
    items, γ from that prior (a third aberration-free). Empty for the paper prior."""
    if cfg.prior != "microscope":
        return {}
    from ..physics.priors import sample_prior
    from .data import add_haze

    bank = PatchBank.build(cfg.val_size, cfg.patch, seed=40_000 + cfg.seed, mix={"fluorescence": 1.0})
    gen = torch.Generator().manual_seed(50_000 + cfg.seed)
    gamma = sample_prior(family, cfg.val_size, "microscope", gen)
    psf = family.psf(gamma)
    z = blur(add_haze(bank.patches, 0.5, gen), family, psf, boundary="valid", crop_to=cfg.crop)
    return {
        f"microscope_{level}": (add_poisson_gaussian(z, a, b, generator=gen), psf)
        for level, (a, b) in NOISE_LEVELS.items()
    }


def _natural_validation_set(cfg: IdentifyConfig, family) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Validation batches from the train400 files held out of the bank (``cfg.holdout_every``): natural images, as
    in the test set, but never bsd68. Three fixed crops per image, γ in the paper's narrow range. Empty when no
    train400 folder or no hold-out."""
    folder = find_train400()
    if folder is None or cfg.holdout_every <= 0:
        return {}
    from skimage.io import imread

    held = train400_split(list(folder.glob("*.png")), cfg.holdout_every)[1]
    rng = torch.Generator().manual_seed(30_000 + cfg.seed)
    crops = []
    for f in held:
        img = torch.from_numpy(imread(f).astype("float32") / 255.0)
        if img.ndim == 3:
            img = img.mean(-1)
        H, W = img.shape
        for _ in range(3):
            i = int(torch.randint(H - cfg.patch + 1, (1,), generator=rng))
            j = int(torch.randint(W - cfg.patch + 1, (1,), generator=rng))
            crops.append(img[i : i + cfg.patch, j : j + cfg.patch])
    x = torch.stack(crops)[:, None]
    gamma = family.sample(len(x), generator=rng) * family.benchmark_scale
    psf = family.psf(gamma)
    z = blur(x, family, psf, boundary="valid", crop_to=cfg.crop)
    return {
        f"natural_{level}": (add_poisson_gaussian(z, a, b, generator=rng), psf)
        for level, (a, b) in NOISE_LEVELS.items()
    }


@torch.no_grad()
def validate(net: IdentificationNet, family, val: dict) -> dict[str, float]:
    """Mean PSF SNR (dB) per noise level on the validation batches."""
    net.eval()
    res = {}
    for level, (y, psf) in val.items():
        g = torch.cat([net(y[i : i + 64]) for i in range(0, len(y), 64)])
        res[level] = float(psf_snr(psf, family.psf(g)).clamp(max=SNR_CAP).mean())
    net.train()
    return res


def _save_weights(path: Path, net: IdentificationNet, cfg: IdentifyConfig, family, meta: dict) -> None:
    payload = {
        "kind": "identification",
        "family": "calibrated" if cfg.family_file else cfg.family,
        "family_options": family.optics if family.uses_optics else {},
        "config": dict(net.config),
        "bounds": family.bounds(),
        "param_names": list(family.param_names),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "meta": json.dumps(meta),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def _model_card(cfg: IdentifyConfig, meta: dict, weights: Path) -> str:
    hist = meta["validation"]
    last = hist[-1] if hist else {}
    natural = bool(hist) and "natural_none" in hist[-1]
    micro = bool(hist) and "microscope_none" in hist[-1]
    levels = ["none", "medium", "high"] + (["natural_none", "natural_medium", "natural_high"] if natural else [])
    levels += ["microscope_none", "microscope_medium", "microscope_high"] if micro else []
    rows = "\n".join(f"| {h['step']} | " + " | ".join(f"{h[k]:.2f}" for k in levels) + " |" for h in hist)
    header = "| step | none | medium | high |" + (" natural none | natural medium | natural high |" if natural else "")
    header += " microscope none | microscope medium | microscope high |" if micro else ""
    header += "\n|---|---|---|---|" + ("---|---|---|" if natural else "") + ("---|---|---|" if micro else "")
    natural_text = (
        f" Natural columns: crops of the train400 files held out of the bank (every "
        f"{cfg.holdout_every}-th file, 3 fixed 128² crops each; never bsd68), same γ range and noise levels: none "
        f"{last['natural_none']:.2f}, medium {last['natural_medium']:.2f}, high {last['natural_high']:.2f}."
        if natural
        else ""
    )
    micro_text = (
        f" Microscope columns: {cfg.val_size} procedural fluorescence scenes (half with haze), γ from the microscope "
        f"prior, PSF SNR capped at {SNR_CAP:g} dB: none {last['microscope_none']:.2f}, medium "
        f"{last['microscope_medium']:.2f}, high {last['microscope_high']:.2f}."
        if micro
        else ""
    )
    mixed = noise_law_text(cfg.noise_dist)
    init_line = init_chain_line(meta.get("init"))
    zernike = not cfg.family_file and get_family(cfg.family).uses_optics
    optics = (
        f"{json.dumps(meta['family_options'])}; applied to other microscopes by resampling the image to this cutoff"
        if zernike
        else "none (the family's PSFs are in pixels of the bead images)"
        if cfg.family_file
        else "none (σ in pixels of the image as given)"
    )
    resampled = (
        f"; {round(100 * (1 - cfg.canonical_share))} % of batches drawn at a cutoff U[{cfg.fc_range[0]:g}, "
        f"{cfg.fc_range[1]:g}] (pixel-integrated above 0.25) and resampled to the network's cutoff exactly as "
        "identify() reads images"
        if cfg.fc_range
        else ""
    )
    gamma_text = (
        f"γ uniform in the family range (±0.15 waves), {int(cfg.narrow_fraction * 100)} % of items scaled to the "
        "paper's narrow range (±0.075 waves)"
        if zernike
        else "γ drawn in the cone of the measured PSFs (Algorithms 1 and 2 of preprint 001)"
        if cfg.family_file
        else "γ uniform in the family range"
    )
    if cfg.prior == "microscope":
        from ..physics.priors import MICROSCOPE_PRIOR as P

        gamma_text = (
            f"γ from the `microscope` prior (`physics.priors`): {round(100 * P['p_none'])} % aberration-free, "
            f"{round(100 * P['p_sparse'])} % with 1–2 terms of {P['amplitude'][0]:g}–{P['amplitude'][1]:g} waves "
            f"(term weights by Noll index {P['term_weights']}), the rest all 8 terms in half the paper's ranges"
        )
    if cfg.p_haze:
        gamma_text += f"; out-of-focus haze on {round(100 * cfg.p_haze)} % of the items (`training.data.add_haze`)"
    val_range = "the paper's narrow range ±0.075 waves" if zernike else "the family range"
    stopped = (
        f"\n* **Stopped early**: at step {meta['steps_done']} of a {cfg.steps}-step cosine schedule (`--stop-after`); "
        "the command above reruns this training (resumable; results equal up to floating-point nondeterminism)."
        if cfg.stop_after and cfg.stop_after < cfg.steps
        else ""
    )
    loss_text = (
        f"mean over the batch of 10 log10(‖h(γ̂) − h(γ)‖² / ‖h(γ)‖² + {DB_LOSS_FLOOR:g}) (minus the mean PSF SNR)"
        if cfg.loss == "db"
        else "PSF-space loss ‖h(γ̂) − h(γ)‖² / ‖h(γ)‖²"
    )
    if cfg.reflection_invariant:
        loss_text += ", the smaller of the errors against h(γ) and its point reflection (comas and trefoils up to sign)"
    if cfg.canonical_orientation:
        loss_text += (
            ", against the member of the point-reflection pair whose largest coma/trefoil is positive (the network "
            "reads the size of the odd terms; their orientation is decided at inference)"
        )
    if cfg.odd_share:
        loss_text += (
            f"; {cfg.odd_share:.0%} of the items redrawn with 1–2 aberrations including a coma or trefoil "
            "(emphasis, not the stated prior)"
        )
    coef = (
        f" plus a sign-invariant coefficient loss (weight {cfg.coef_weight}, faded out over the first "
        f"{int(cfg.coef_fade * 100)} % of steps) that gets training off the flat start of the PSF loss"
        if zernike and cfg.coef_weight > 0
        else ""
    )
    family_name = f"calibrated from beads (`{Path(cfg.family_file).name}`)" if cfg.family_file else f"`{cfg.family}`"
    return f"""# Model card — identification network, family {family_name}

* **File**: `{weights.name}` ({weights.stat().st_size / 1e6:.2f} MB), loaded with `torch.load(..., weights_only=True)`.
* **Task**: blurry, noisy image → blur parameters γ̂ ({", ".join(meta["param_names"])}).
* **Architecture**: ResNet encoder, 2×2 pixel-unshuffle stem, width {cfg.width}, blocks {list(cfg.blocks)}, global
  average pooling{" + a branch on the Welch log power spectrum (64² windows)" if cfg.spectral else ""}, MLP head,
  tanh into the parameter box; {meta["n_params"]:,} parameters.
* **Optics**: {optics}.
* **Training command** (last invocation; resumed runs repeat the same arguments): `{meta["command"]}`{init_line}
* **Data**: {cfg.bank_size} sharp {cfg.patch}² patches ({meta["bank_sources"]}), random rot90/flip and contrast,
  {cfg.crop}² valid crops after blur{resampled}; {gamma_text}; Poisson–Gaussian noise
  α ~ U[0, {MAX_ALPHA * cfg.noise_scale:g}],
  β ~ U[0, {MAX_BETA * cfg.noise_scale:g}]{mixed} ({int(cfg.p_noiseless * 100)} % noiseless).
* **Optimisation**: AdamW, lr {cfg.lr} with warm-up and cosine decay, weight decay {cfg.weight_decay}, batch
  {cfg.batch_size}, {meta["steps_done"]} steps, seed {cfg.seed}; {loss_text}{coef}.
* **Wall time**: {meta["wall_time_s"] / 60:.1f} min on {meta["machine"]}.{stopped}
* **Validation** (fixed set of {cfg.val_size} procedural images drawn with another seed, never trained on; γ in
  {val_range}; mean PSF SNR in dB at the three benchmark noise levels; last row = shipped weights): none
  {last.get("none", float("nan")):.2f}, medium {last.get("medium", float("nan")):.2f}, high
  {last.get("high", float("nan")):.2f}.{natural_text}{micro_text} Test-set numbers: README, identification benchmark.

{header}
{rows}
"""


def family_weights_path(family_file: str | Path) -> Path:
    """Where the identification weights of a calibrated family live: beside its file, ``<name>.identify.pt``."""
    p = Path(family_file)
    return p.with_name(p.stem + ".identify.pt")


def write_model_card(weights: Path) -> Path:
    """(Re)write the model card beside a weights file from the metadata stored in it."""
    payload = torch.load(weights, map_location="cpu", weights_only=True)
    meta = json.loads(payload["meta"])
    c = dict(meta["config"])
    c["blocks"] = tuple(c["blocks"])
    cfg = IdentifyConfig(**{k: v for k, v in c.items() if k in IdentifyConfig.__dataclass_fields__})
    card = weights.with_suffix(".md")
    card.write_text(_model_card(cfg, meta, weights))
    return card


def train_identify(
    cfg: IdentifyConfig,
    run_dir: Path,
    weights_dir: Path,
    log=print,
    progress: Callable[[int, int, str], None] | None = None,
    command: str | None = None,
) -> Path:
    """Train (or resume) and write ``identify_<family>.pt`` and its model card into ``weights_dir``.

    Parameters
    ----------
    cfg : IdentifyConfig
    run_dir : pathlib.Path
        Checkpoints (an existing one is resumed).
    weights_dir : pathlib.Path
        Where the weights and the model card go (a calibrated family's go beside its file).
    log : callable
        Where the progress lines go.
    progress : callable, optional
        ``progress(step, total, stage)`` before the patch bank and the validation set are built and after every step
        (the dock's progress bar); it may raise (e.g. :class:`~napari_deepblur.api.stack.Cancelled`) to stop the
        training: the exception propagates and no weights are written.
    command : str, optional
        The command recorded in the model card (default: this process's command line).

    Returns
    -------
    pathlib.Path
        The weights file.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    weights_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    if cfg.family_file:  # the user's own family; its weights go beside its file
        from ..physics.calibrated import CalibratedFamily

        if cfg.fc_range or cfg.prior != "paper":
            raise ValueError("--family-file: a calibrated family has no optics to resample and no Zernike prior")
        family = CalibratedFamily.load(cfg.family_file)
        weights_dir = Path(cfg.family_file).parent
    else:
        options = cfg.family_options or get_family(cfg.family).canonical_options()  # the cutoff networks work at
        family = get_family(cfg.family, **options)
    if not family.is_convolution:
        raise NotImplementedError("space-varying identification training is not available yet")
    net = IdentificationNet(family.dim, family.bounds(), cfg.width, tuple(cfg.blocks), spectral=cfg.spectral)
    init = init_from(net, cfg.init, log)  # fine-tuning: fresh optimiser and schedule
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.steps, 200, 0.01))
    gen = torch.Generator().manual_seed(cfg.seed)
    ckpt_path = run_dir / "checkpoint.pt"
    step, history, elapsed = load_checkpoint(ckpt_path, net, opt, sched, gen)
    if step:
        log(f"resumed from {ckpt_path} at step {step}")
    if progress is not None:
        progress(step, cfg.steps, "building the patch bank")
    t_bank = time.time()
    bank = PatchBank.build(
        cfg.bank_size, cfg.patch, seed=cfg.seed, mix=cfg.mix or None, holdout_every=cfg.holdout_every
    )
    counts = {k: bank.sources.count(k) for k in sorted(set(bank.sources))}
    log(f"patch bank: {counts} in {time.time() - t_bank:.0f} s")
    if progress is not None:
        progress(step, cfg.steps, "building the validation set")
    val = {
        **_validation_set(cfg, family),
        **_natural_validation_set(cfg, family),
        **_microscope_validation_set(cfg, family),
    }

    net.train()
    t0 = time.time() - elapsed
    running = None
    from tqdm import tqdm

    name = "calibrated" if cfg.family_file else cfg.family
    bar = tqdm(total=cfg.steps, initial=step, desc=f"identify {name}", file=sys.stderr, mininterval=5)
    last = min(cfg.steps, cfg.stop_after) if cfg.stop_after else cfg.steps
    while step < last:
        scale = torch.where(
            torch.rand(cfg.batch_size, generator=gen) < cfg.narrow_fraction,
            torch.full((cfg.batch_size,), family.benchmark_scale),
            torch.ones(cfg.batch_size),
        )
        source, zoom, crop = family, 1.0, cfg.crop
        if cfg.fc_range and float(torch.rand(1, generator=gen)) >= cfg.canonical_share:
            # another microscope: its own sampling, then read as identify() reads it
            lo, hi = cfg.fc_range
            source = get_family(cfg.family, fc=float(lo + (hi - lo) * torch.rand(1, generator=gen)))
            zoom = source.fc / family.fc
            crop = min(cfg.crop, int((cfg.patch - 2 * (family.psf_size // 2 + 1)) * zoom) // 2 * 2)
        gamma = sample_prior(family, cfg.batch_size, "microscope", gen) if cfg.prior == "microscope" else None
        if cfg.odd_share > 0:
            if gamma is None:
                gamma = family.sample(cfg.batch_size, generator=gen) * scale[:, None]
            odd_items = torch.rand(cfg.batch_size, generator=gen) < cfg.odd_share
            gamma = torch.where(odd_items[:, None], odd_sparse_gamma(family.noll, cfg.batch_size, gen), gamma)
        batch = synthesize(
            bank,
            source,
            cfg.batch_size,
            cfg.crop if source is family else min(math.ceil(crop / zoom) + 2, cfg.patch - 2 * (source.psf_size // 2)),
            gen,
            gamma=gamma,
            gamma_scale=scale,
            p_haze=cfg.p_haze,
            p_noiseless=cfg.p_noiseless,
            alpha_max=MAX_ALPHA * cfg.noise_scale,
            beta_max=MAX_BETA * cfg.noise_scale,
            noise_dist=cfg.noise_dist,
        )
        y, psf = batch.y, batch.psf
        if source is not family:
            y = resample_view(y, zoom)
            o0, o1 = (y.shape[-2] - crop) // 2, (y.shape[-1] - crop) // 2
            y = y[..., o0 : o0 + crop, o1 : o1 + crop]
            psf = family.psf(batch.gamma)  # the same aberrations, as the network's family sees them
        if cfg.canonical_orientation:  # the target: one member of the reflection pair (the network reads sizes)
            flipped = canonical_orientation(batch.gamma, family.noll)[1]
            psf = torch.where(flipped[:, None, None], torch.flip(psf, dims=(-2, -1)), psf)
        g_hat = net(y)
        loss = psf_loss(family, g_hat, psf, cfg.loss, reflection=cfg.reflection_invariant)
        w_coef = cfg.coef_weight * max(0.0, 1.0 - step / max(1.0, cfg.coef_fade * cfg.steps))
        if w_coef > 0 and family.uses_optics:  # Zernike coefficients (signs ambiguous); not Gaussian widths
            loss = loss + w_coef * sign_invariant_coefficient_loss(family, g_hat, batch.gamma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        lv = loss.item()
        running = lv if running is None else 0.98 * running + 0.02 * lv
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        if progress is not None:
            progress(step, last, f"loss {running:.4f}")
        if step % cfg.val_every == 0 or step == last:
            elapsed = time.time() - t0
            v = validate(net, family, val)
            history.append({"step": step, **v, "loss": running, "time_s": elapsed})
            nat = (
                f"; natural {v['natural_none']:.2f} / {v['natural_medium']:.2f} / {v['natural_high']:.2f}"
                if "natural_none" in v
                else ""
            )
            if "microscope_none" in v:
                nat += (
                    f"; microscope prior {v['microscope_none']:.2f} / {v['microscope_medium']:.2f} / "
                    f"{v['microscope_high']:.2f}"
                )
            log(
                f"step {step}: loss {running:.4f}, val PSF SNR none {v['none']:.2f} / medium {v['medium']:.2f} / "
                f"high {v['high']:.2f}{nat} dB ({elapsed / 60:.1f} min)"
            )
            save_checkpoint(ckpt_path, net, opt, sched, gen, step, history, elapsed)
    bar.close()
    elapsed = time.time() - t0
    if command is None:
        command = "napari-deepblur " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""
    meta = {
        "command": command,
        "config": {**asdict(cfg), "blocks": list(cfg.blocks)},
        "family_options": family.optics,
        "param_names": list(family.param_names),
        "n_params": sum(p.numel() for p in net.parameters()),
        "bank_sources": ", ".join(f"{k}: {v}" for k, v in counts.items()),
        "steps_done": step,
        "wall_time_s": elapsed,
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "validation": history,
    }
    if init:
        meta["init"] = init
    weights = family_weights_path(cfg.family_file) if cfg.family_file else weights_dir / f"identify_{cfg.family}.pt"
    _save_weights(weights, net, cfg, family, meta)
    write_model_card(weights)
    log(f"wrote {weights}")
    return weights
