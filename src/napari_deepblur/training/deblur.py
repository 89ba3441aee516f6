"""Training of the unrolled deblurring network (``napari-deepblur train deblur``).

Pairs ``(y, x)`` are synthesised as for the identification network (sharp patches, Zernike PSFs at several cutoffs
and anisotropic Gaussian PSFs, Poisson–Gaussian noise). The network's data steps use the operator of the PSF the
image was blurred with, *perturbed* for a share of the batch (a stand-in for identification errors, so the learned
proximal maps also learn to clean up after a slightly wrong operator). With ``p_identified`` a share of items is
deblurred with the operator the shipped identification network estimates from the blurry, noisy patch itself (as in
blind use), so the priors meet that network's actual errors rather than random ones. The valid ``crop x crop``
centre of the blurry patch is reflect-padded by the PSF radius exactly as at inference
(:func:`napari_deepblur.deblur`), the network runs on it and its centre is compared with the sharp patch (L1 loss,
which favours SSIM over the L2 loss; or the RMSE, :func:`pixel_loss`).

One set of weights serves every family: the proximal maps are image priors conditioned on the noise level, and the
operator enters only through the data steps (exact Fourier solves for convolutions, conjugate gradient for
product-convolution).
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..datasets import PatchBank
from ..io import sha256_file
from ..networks.unrolled import UnrolledDR
from ..physics import (
    NOISE_LEVELS,
    GaussianFamily,
    ZernikeFamily,
    add_poisson_gaussian,
    blur,
    crop,
    pad_reflect,
    pad_width,
)
from ..physics.noise import MAX_ALPHA, MAX_BETA
from ._checkpoint import init_chain_line, init_from, load_checkpoint, save_checkpoint, warmup_cosine
from .config import DeblurConfig
from .data import augment, draw_noise, noise_law_text

__all__ = ["LOSS_TEXT", "DeblurConfig", "pixel_loss", "psnr", "train_deblur", "write_model_card"]


def ssim(x: torch.Tensor, ref: torch.Tensor, win: int = 7) -> torch.Tensor:
    """Mean SSIM of ``(B, 1, H, W)`` images with data range 1, as :func:`skimage.metrics.structural_similarity`
    computes it by default (uniform ``win x win`` window, sample covariances, K1 = 0.01, K2 = 0.03, the valid part)."""
    import torch.nn.functional as F

    def mean(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, win, stride=1)

    n = win * win
    cov = n / (n - 1)
    mx, my = mean(x), mean(ref)
    vx = cov * (mean(x * x) - mx * mx)
    vy = cov * (mean(ref * ref) - my * my)
    vxy = cov * (mean(x * ref) - mx * my)
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean()


#: How the model card names each pixel loss.
LOSS_TEXT = {"l1": "L1 loss", "rmse": "RMSE loss (root mean squared error)"}


def pixel_loss(out: torch.Tensor, ref: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """The pixel loss of a batch: ``"l1"``, the mean absolute error (its minimiser is the posterior median, which
    favours SSIM), or ``"rmse"``, the root mean squared error (the posterior mean, what PSNR scores; on the scale of
    L1, so that an SSIM weight keeps its meaning)."""
    if kind == "l1":
        return (out - ref).abs().mean()
    if kind == "rmse":
        return (out - ref).square().mean().clamp_min(1e-12).sqrt()
    raise ValueError(f"unknown loss {kind!r}; use one of {', '.join(LOSS_TEXT)}")


def psnr(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) per item for images in [0, 1]."""
    mse = (x - ref).square().mean(dim=tuple(range(1, x.ndim))).clamp_min(1e-12)
    return -10 * torch.log10(mse)


def _pad(family) -> int:
    return pad_width(family.psf_size)


def _perturbed(family, gamma: torch.Tensor, scale: float, p: float, gen: torch.Generator) -> torch.Tensor:
    """``gamma`` plus Gaussian noise of ``scale`` x the half-range for a share ``p`` of items, clipped to the box."""
    b = family.bounds(dtype=gamma.dtype)
    half = (b[:, 1] - b[:, 0]) / 2
    eps = torch.randn(gamma.shape, generator=gen, dtype=gamma.dtype) * half * scale
    mask = (torch.rand(gamma.shape[0], generator=gen) < p).to(gamma.dtype)[:, None]
    return torch.minimum(torch.maximum(gamma + mask * eps, b[:, 0]), b[:, 1])


def identification_file(family: str, folder: str = "") -> Path:
    """The identification weights that ``p_identified`` uses for ``family``: ``<folder>/identify_<family>.pt`` when
    ``folder`` holds one, else the shipped file."""
    from ..networks.weights import weights_path

    own = Path(folder) / f"identify_{family}.pt" if folder else None
    return own if own is not None and own.exists() else weights_path("identify", family)


def _identified(fam, y_full: torch.Tensor, folder: str = "") -> torch.Tensor:
    """``gamma`` ``(B, dim)`` estimated by the identification network (:func:`identification_file`) from each full
    blurry, noisy patch, read exactly as :func:`napari_deepblur.identify` reads an image (intensity scaled, borders
    dropped, resampled to the network's cutoff)."""
    from ..api.params import normalize_intensity
    from ..methods.identification import identify_normalized

    weights = str(identification_file(fam.name, folder))
    out = []
    for img in y_full[:, 0].numpy():
        x, _, _ = normalize_intensity(img.copy(), in_place=True)  # one copy (numpy() shares the tensor's memory)
        # only γ is used: the paper prior's PSF blend (a mean over 1024 PSFs per sampling) is not computed; nor the
        # low-noise reading of the comas and trefoils, which needs the item's noise (not passed here: it would take
        # every item for noise-free) and costs ~0.5 s an item in the training loop
        gamma, _ = identify_normalized(
            x, fam, torch.device("cpu"), weights=weights, prior="paper", blend=False, read_odd=False
        )
        out.append(gamma[0])
    return torch.stack(out).to(y_full.dtype)


def run_network(net: UnrolledDR, family, psf: torch.Tensor, y: torch.Tensor, alpha, beta) -> torch.Tensor:
    """Reflect-pad ``y`` by the PSF radius, deblur with the convolution by ``psf`` ``(B, h, w)``, crop back."""
    p = _pad(family)
    yp = pad_reflect(y, p)
    op = family.operator_from_psf(psf, tuple(yp.shape[-2:]))
    return crop(net(yp, op, alpha, beta), p)


def _families(cfg: DeblurConfig) -> list:
    return [ZernikeFamily(fc=fc) for fc in cfg.fcs] + [GaussianFamily()]


def _pick(cfg: DeblurConfig, fams: list, gen: torch.Generator):
    if float(torch.rand(1, generator=gen)) < cfg.p_gaussian:
        return fams[-1]
    return fams[int(torch.randint(len(fams) - 1, (1,), generator=gen))]


def _batch(cfg, bank, fams, gen, *, noise=None):
    """One batch ``(family, gamma, x, y, alpha, beta, y_full)``: ``y_full`` is the whole blurry, noisy patch (noise
    drawn on the whole patch and ``y`` its centre crop) when ``cfg.p_identified > 0``, else ``None``."""
    fam = _pick(cfg, fams, gen)
    idx = torch.randint(len(bank.patches), (cfg.batch_size,), generator=gen)
    x = augment(bank.patches[idx], gen)
    gamma = fam.sample(cfg.batch_size, generator=gen)
    full = cfg.p_identified > 0  # keep the whole blurred patch: the identification reads it
    z = blur(x, fam, fam.psf(gamma), boundary="circular" if full else "valid", crop_to=cfg.crop)
    o = (cfg.patch - cfg.crop) // 2
    x = x[..., o : o + cfg.crop, o : o + cfg.crop]
    if noise is None:
        alpha, beta = draw_noise(cfg.batch_size, gen, noise_dist=cfg.noise_dist, p_noiseless=cfg.p_noiseless)
    else:
        alpha = torch.full((cfg.batch_size,), noise[0])
        beta = torch.full((cfg.batch_size,), noise[1])
    y = add_poisson_gaussian(z, alpha, beta, generator=gen)
    if not full:
        return fam, gamma, x, y, alpha, beta, None
    return fam, gamma, x, y[..., o : o + cfg.crop, o : o + cfg.crop], alpha, beta, y


def _validation_set(cfg: DeblurConfig) -> list:
    """Fixed batches per noise level from procedural patches drawn with another seed: the true PSF, and (with
    ``p_identified``) the PSF the identification network estimates from the patch."""
    bank = PatchBank.build(
        cfg.val_size, cfg.patch, seed=10_000 + cfg.seed, mix={"dead_leaves": 0.5, "fluorescence": 0.5}
    )
    fams = _families(cfg)
    gen = torch.Generator().manual_seed(30_000 + cfg.seed)
    vcfg = DeblurConfig(**{**asdict(cfg), "batch_size": 8})
    out = []
    for level, nz in NOISE_LEVELS.items():
        for _ in range(cfg.val_size // 8):
            fam, gamma, x, y, a, b, y_full = _batch(vcfg, bank, fams, gen, noise=nz)
            blind = None if y_full is None else fam.psf(_identified(fam, y_full, cfg.identify_weights))
            out.append((level, fam, fam.psf(gamma), blind, x, y, a, b))
    return out


@torch.no_grad()
def validate(net: UnrolledDR, val: list) -> dict[str, float]:
    """Mean PSNR (dB) of the output per noise level, of the blurry input (``<level>_input``) and, when the set has
    them, of the output with the identified PSF (``<level>_blind``)."""
    net.eval()
    acc: dict[str, list] = {}
    for level, fam, psf, blind, x, y, a, b in val:
        out = run_network(net, fam, psf, y, a, b)
        acc.setdefault(level, []).append(psnr(out, x))
        acc.setdefault(level + "_input", []).append(psnr(y, x))
        if blind is not None:
            acc.setdefault(level + "_blind", []).append(psnr(run_network(net, fam, blind, y, a, b), x))
    net.train()
    return {k: float(torch.cat(v).mean()) for k, v in acc.items()}


def _model_card(cfg: DeblurConfig, meta: dict, weights: Path) -> str:
    hist = meta["validation"]
    last = hist[-1] if hist else {}
    blind = bool(hist) and "none_blind" in hist[-1]
    extra, rule = (" identified PSF: none | medium | high |", "---|---|---|") if blind else ("", "")
    table = f"| step | none | medium | high | train loss |{extra}\n|---|---|---|---|---|{rule}"
    ssim_term = f" + {cfg.ssim_weight:g} × (1 − SSIM)" if cfg.ssim_weight else ""
    loss_text = LOSS_TEXT[cfg.loss]
    mixed = noise_law_text(cfg.noise_dist)
    for h in hist:
        cols = "".join(f" {h[k + '_blind']:.2f} |" for k in NOISE_LEVELS) if blind else ""
        table += f"\n| {h['step']} | {h['none']:.2f} | {h['medium']:.2f} | {h['high']:.2f} | {h['loss']:.4f} |{cols}"
    inp = " / ".join(f"{last.get(k + '_input', float('nan')):.2f}" for k in NOISE_LEVELS)
    stopped = (
        f"\n* **Stopped early**: at step {meta['steps_done']} of a {cfg.steps}-step cosine schedule (`--stop-after`)."
        if cfg.stop_after and cfg.stop_after < cfg.steps
        else ""
    )
    used = meta.get("identification_weights", {})
    which = (
        " (" + ", ".join(f"`{f}`: `{Path(u['file']).name}` sha256 {u['sha256']}…" for f, u in used.items()) + ")"
        if used
        else ""
    )
    identified = (
        f"for {cfg.p_identified * 100:g} % of items the data steps use the γ̂ that the identification networks"
        f"{which} estimate from the item's whole blurry, noisy patch (read as `identify` reads an image); "
        if cfg.p_identified
        else ""
    )
    rest = "the other " if cfg.p_identified else ""
    blind_line = (
        "\n  With the PSF the identification networks estimate from each validation patch (blind): "
        + " / ".join(f"{last[k + '_blind']:.2f}" for k in NOISE_LEVELS)
        + " (none / medium / high)."
        if blind
        else ""
    )
    init_line = init_chain_line(meta.get("init"))
    return f"""# Model card — unrolled Douglas–Rachford deblurring network (all families)

* **File**: `{weights.name}` ({weights.stat().st_size / 1e6:.2f} MB), loaded with `torch.load(..., weights_only=True)`.
* **Task**: blurry, noisy image + blur operator + noise level (α, β) → sharp image (paper 002 Algorithm 1).
* **Architecture**: T = {cfg.iterations} Douglas–Rachford iterations; data steps = regularised inverse
  (A*A + λ_k I)⁻¹ with the given operator (exact rFFT for convolutions, ≤ 20 preconditioned CG steps for
  product-convolution); proximal steps = {cfg.iterations} DRUNet-style U-Nets (widths {list(cfg.widths)},
  {cfg.n_res} residual block(s) per scale, noise-level map as a second input channel); λ_k learned, proportional to
  the noise variance; {meta["n_params"]:,} parameters.
* **Families**: one set of weights for all — trained on Zernike PSFs at fc ∈ {list(cfg.fcs)} (γ in ±0.15 waves)
  and, for {int(cfg.p_gaussian * 100)} % of batches, anisotropic Gaussian PSFs (σ ∈ [0.5, 4] px); used for
  `spatially-varying` with its product-convolution data steps (not trained on them).
* **Operator errors**: {identified}for {int(cfg.p_perturb * 100)} % of {rest}items the data steps use γ + ε,
  ε ~ N(0, ({cfg.perturb:g} × half-range)²), so the priors learn to tolerate an imperfect blind estimate.
* **Training command** (last invocation): `{meta["command"]}`{init_line}
* **Data**: {cfg.bank_size} sharp {cfg.patch}² patches ({meta["bank_sources"]}), random rot90/flip and contrast;
  the valid {cfg.crop}² crop of the blurred patch is reflect-padded by the PSF radius (as at inference);
  Poisson–Gaussian noise α ~ U[0, {MAX_ALPHA:g}], β ~ U[0, {MAX_BETA:g}]{mixed} ({int(cfg.p_noiseless * 100)} %
  noiseless).
* **Optimisation**: Adam, lr {cfg.lr} ({10 * cfg.lr:g} for the λ scalars), warm-up and cosine decay,
  batch {cfg.batch_size}, {meta["steps_done"]} steps, seed {cfg.seed}; {loss_text}{ssim_term} on the {cfg.crop}² centre.
* **Wall time**: {meta["wall_time_s"] / 60:.1f} min on {meta["machine"]}.{stopped}
* **Validation** ({cfg.val_size} procedural patches per noise level drawn with another seed, never trained on, true
  operator; mean PSNR in dB; last row = shipped weights): none {last.get("none", float("nan")):.2f}, medium
  {last.get("medium", float("nan")):.2f}, high {last.get("high", float("nan")):.2f} (blurry input: {inp}).{blind_line}
  Test-set numbers: README, deblurring benchmark.

{table}
"""


def write_model_card(weights: Path) -> Path:
    """(Re)write the model card beside a weights file from the metadata stored in it."""
    payload = torch.load(weights, map_location="cpu", weights_only=True)
    meta = json.loads(payload["meta"])
    c = dict(meta["config"])
    for k in ("widths", "fcs"):
        c[k] = tuple(c[k])
    cfg = DeblurConfig(**{k: v for k, v in c.items() if k in DeblurConfig.__dataclass_fields__})
    card = weights.with_suffix(".md")
    card.write_text(_model_card(cfg, meta, weights))
    return card


def train_deblur(cfg: DeblurConfig, run_dir: Path, weights_dir: Path, log=print) -> Path:
    """Train (or resume) and write ``deblur.pt`` and its model card into ``weights_dir``."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    weights_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    net = UnrolledDR(cfg.iterations, tuple(cfg.widths), cfg.n_res)
    init = init_from(net, cfg.init, log)  # fine-tuning: fresh optimiser and schedule
    scalars = [net.log_scale, net.log_floor]
    convs = [p for n, p in net.named_parameters() if not n.startswith("log_")]
    opt = torch.optim.Adam([{"params": convs}, {"params": scalars, "lr": 10 * cfg.lr}], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.steps, 100, 0.02))
    gen = torch.Generator().manual_seed(cfg.seed)
    ckpt_path = run_dir / "checkpoint.pt"
    step, history, elapsed = load_checkpoint(ckpt_path, net, opt, sched, gen)
    if step:
        log(f"resumed from {ckpt_path} at step {step}")
    bank = PatchBank.build(cfg.bank_size, cfg.patch, seed=cfg.seed, mix=cfg.mix or None)
    counts = {k: bank.sources.count(k) for k in sorted(set(bank.sources))}
    log(f"patch bank: {counts}")
    fams = _families(cfg)
    val = _validation_set(cfg)

    from tqdm import tqdm

    net.train()
    t0 = time.time() - elapsed
    running = None
    bar = tqdm(total=cfg.steps, initial=step, desc="deblur", file=sys.stderr, mininterval=5)
    last = min(cfg.steps, cfg.stop_after) if cfg.stop_after else cfg.steps
    while step < last:
        fam, gamma, x, y, alpha, beta, y_full = _batch(cfg, bank, fams, gen)
        with torch.no_grad():
            gamma_op = _perturbed(fam, gamma, cfg.perturb, cfg.p_perturb, gen)
            if y_full is not None:
                pick = torch.rand(cfg.batch_size, generator=gen) < cfg.p_identified
                if pick.any():
                    gamma_op[pick] = _identified(fam, y_full[pick], cfg.identify_weights)
            psf_op = fam.psf(gamma_op)
        out = run_network(net, fam, psf_op, y, alpha, beta)
        loss = pixel_loss(out, x, cfg.loss)
        if cfg.ssim_weight:
            loss = loss + cfg.ssim_weight * (1 - ssim(out, x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5)
        opt.step()
        sched.step()
        step += 1
        lv = loss.item()
        running = lv if running is None else 0.98 * running + 0.02 * lv
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        if step % cfg.val_every == 0 or step == last:
            elapsed = time.time() - t0
            v = validate(net, val)
            history.append({"step": step, **v, "loss": running, "time_s": elapsed})
            blind = (
                f", identified PSF {v['none_blind']:.2f} / {v['medium_blind']:.2f} / {v['high_blind']:.2f}"
                if "none_blind" in v
                else ""
            )
            log(
                f"step {step}: loss {running:.4f}, val PSNR none {v['none']:.2f} / medium {v['medium']:.2f} / "
                f"high {v['high']:.2f} dB (input {v['none_input']:.2f} / {v['medium_input']:.2f} / "
                f"{v['high_input']:.2f}){blind} ({elapsed / 60:.1f} min)"
            )
            save_checkpoint(ckpt_path, net, opt, sched, gen, step, history, elapsed)
    bar.close()
    elapsed = time.time() - t0
    meta = {
        "command": "napari-deepblur " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "",
        "config": {**asdict(cfg), "widths": list(cfg.widths), "fcs": list(cfg.fcs)},
        "n_params": sum(p.numel() for p in net.parameters()),
        "bank_sources": ", ".join(f"{k}: {v}" for k, v in counts.items()),
        "steps_done": step,
        "wall_time_s": elapsed,
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "validation": history,
    }
    if init:
        meta["init"] = init
    if cfg.p_identified:
        used = {f: identification_file(f, cfg.identify_weights) for f in sorted({fam.name for fam in fams})}
        meta["identification_weights"] = {f: {"file": str(p), "sha256": sha256_file(p)[:16]} for f, p in used.items()}
    weights = weights_dir / "deblur.pt"
    payload = {
        "kind": "deblur",
        "config": dict(net.config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "meta": json.dumps(meta),
    }
    tmp = weights.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(weights)
    write_model_card(weights)
    log(f"wrote {weights}")
    return weights
