"""A trained discriminator reaches D* = pi / (pi + p), and its value reaches 2 JSD(pi || p) - log 4.

    V(G, D)   = E_pi log D(x) + E_p log(1 - D(x))                    (fixed generator density p)
    D*(x)     = pi(x) / (pi(x) + p(x|theta))                          argmax_D V, pointwise
    V(G, D*)  = 2 JSD(pi || p) - log 4                                and V(G, D) <= V(G, D*) for every D

In 1-D, with pi (the data) and p (a fixed generator) mixtures of Gaussians (``ganlab.data.toy.mixture_1d``),
a discriminator D = sigmoid(v), v a small ReLU MLP (``ganlab.models.mlp.MLPCritic``), is trained with the
minimax loss (``ganlab.losses.minimax_d_loss``) on fresh samples of both at every step (Adam, learning rate
decayed to 0 on a cosine so that the stochastic gradient's noise dies out at the end). Then:

* D(x) is compared with D*(x) on a grid over the *mass region*, where the density (pi + p)/2 of the
  points D is trained on is at least ``mass_level``: max and mean |D - D*| there.
* V(G, D) is integrated on a fine grid (trapezoid rule, log D = -softplus(-v) in the stable form) and set
  against 2 JSD - log 4, with JSD from ``ganlab.divergences.divergence`` (adaptive quadrature, the ``js``
  record). V(G, D*) on the same grid checks the grid: it must equal 2 JSD - log 4.

Passed when, on the mass region, max |D - D*| <= ``max_error`` and mean |D - D*| <= ``mean_error``, and the
value gap (2 JSD - log 4) - V(G, D) lies in [-1e-6, ``value_gap``] (it is >= 0 for every D up to the
quadrature error).

Note: outside the mass region D is fitted on few samples and extrapolates: in the tails D* is set by the
ratio of two tiny densities that the samples barely see. The figure shows where.

Reference: lecture 004_a72885b194f54592.txt, slide "GAN optimality" (Theorem; Proof, fixed G; Proof
continued, fixed D = D*); lecture 003_74d7f85fefbfef05.txt, slide "GAN optimality theorem"; Goodfellow et
al. 2014 (arXiv:1406.2661), Proposition 1 and Theorem 1.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import scipy.integrate
import scipy.special
import torch

from ganlab.data.toy import ToyDataset, mixture_1d
from ganlab.divergences import DIVERGENCES, divergence
from ganlab.experiments import Experiment, Result, check_run
from ganlab.losses import minimax_d_loss
from ganlab.models.mlp import MLPCritic
from ganlab.report import pyplot, save_figure

__all__ = ["EXPERIMENT", "optimal_discriminator", "value_by_quadrature", "train_discriminator", "run"]

LOG4 = math.log(4.0)
_STEPS = {"smoke": 300, "full": 3000}
_BATCH = {"smoke": 1024, "full": 2048}
_GRID_POINTS = 20001


def optimal_discriminator(pi_pdf: np.ndarray, p_pdf: np.ndarray) -> np.ndarray:
    """D*(x) = pi(x) / (pi(x) + p(x)); NaN where both densities are 0.

    Shapes: densities on the same points (N,) -> (N,).
    Reference: lecture 004_a72885b194f54592.txt, slide "GAN optimality" (Proof, fixed G).
    """
    a, b = np.asarray(pi_pdf, np.float64), np.asarray(p_pdf, np.float64)
    with np.errstate(invalid="ignore"):
        return a / (a + b)


def value_by_quadrature(xs: np.ndarray, pi_pdf: np.ndarray, p_pdf: np.ndarray, logits: np.ndarray) -> float:
    """V(G, D) = int [pi(x) log D(x) + p(x) log(1 - D(x))] dx with D = sigmoid(v), trapezoid rule on xs.

    Shapes: xs, pi_pdf, p_pdf, logits (N,) on an increasing grid. ``log D = -softplus(-v)`` and
    ``log(1 - D) = -softplus(v)``, exact for every finite logit.
    Reference: lecture 004_a72885b194f54592.txt, slide "GAN optimality" (V(G, D) as an integral).
    """
    v = np.asarray(logits, np.float64)
    integrand = -np.asarray(pi_pdf) * np.logaddexp(0.0, -v) - np.asarray(p_pdf) * np.logaddexp(0.0, v)
    return float(scipy.integrate.trapezoid(integrand, np.asarray(xs, np.float64)))


def train_discriminator(pi: ToyDataset, p: ToyDataset, *, steps: int, batch_size: int, width: int, depth: int,
                        lr: float, seed: int) -> MLPCritic:
    """D = sigmoid(v) trained by Adam on L_D = -E_pi log D - E_p log(1 - D), fresh samples every step.

    The learning rate follows lr * (1 + cos(pi t / steps)) / 2. Returns v (the logit network) in eval mode.
    Reference: Goodfellow et al. 2014, Algorithm 1 (the discriminator's ascent, generator fixed).
    """
    torch.manual_seed(seed)
    critic = MLPCritic(1, width=width, depth=depth)
    opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.999))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        loss = minimax_d_loss(critic(pi.sample(batch_size, generator=gen)), critic(p.sample(batch_size, generator=gen)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    return critic.eval()


def _mixture(prefix: str, params: dict[str, Any]) -> ToyDataset:
    try:
        return mixture_1d(weights=params[f"{prefix}_weights"], means=params[f"{prefix}_means"],
                          stds=params[f"{prefix}_stds"])
    except ValueError as exc:
        raise ValueError(f"{prefix}_weights / {prefix}_means / {prefix}_stds: {exc}") from None


def _params(params: dict[str, Any], size: str) -> dict[str, Any]:
    check_run(EXPERIMENT.name, params, size, EXPERIMENT.params)
    p = {**EXPERIMENT.params, **params}
    for key in ("steps", "batch_size"):
        if not (isinstance(p[key], int) and p[key] >= 0):
            raise ValueError(f"{key} must be 0 (the size's default) or a positive integer, got {p[key]!r}")
    for key in ("width", "depth"):
        if not (isinstance(p[key], int) and p[key] >= 1):
            raise ValueError(f"{key} must be a positive integer, got {p[key]!r}")
    for key in ("lr", "mass_level", "max_error", "mean_error", "value_gap"):
        if not (math.isfinite(float(p[key])) and float(p[key]) > 0):
            raise ValueError(f"{key} must be a positive number, got {p[key]!r}")
    return {**p, "steps": p["steps"] or _STEPS[size], "batch_size": p["batch_size"] or _BATCH[size]}


def _figure(path: Path, xs: np.ndarray, pi_pdf: np.ndarray, p_pdf: np.ndarray, d: np.ndarray, d_star: np.ndarray,
            region: np.ndarray, title: str) -> Path:
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), dpi=90, sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1.4]})
    top.plot(xs, d_star, color="k", lw=1.5, label="D*(x) = pi / (pi + p)")
    top.plot(xs, d, color="tab:red", lw=1.2, ls="--", label="trained D(x)")
    dens = top.twinx()
    dens.fill_between(xs, pi_pdf, color="tab:orange", alpha=0.25, label="pi (data)")
    dens.fill_between(xs, p_pdf, color="tab:green", alpha=0.25, label="p (generator)")
    dens.set_ylabel("density", fontsize=8)
    top.set_ylabel("D(x)")
    top.set_ylim(-0.02, 1.02)
    lines = top.get_legend_handles_labels()
    fills = dens.get_legend_handles_labels()
    top.legend(lines[0] + fills[0], lines[1] + fills[1], fontsize=7, loc="upper center", ncol=2)
    top.set_title(title, fontsize=9)
    bottom.semilogy(xs, np.maximum(np.abs(d - d_star), 1e-6), color="tab:red", lw=1)
    lo, hi = xs[region].min(), xs[region].max()
    for ax in (top, bottom):
        ax.axvspan(xs[0], lo, color="0.9", zorder=0)
        ax.axvspan(hi, xs[-1], color="0.9", zorder=0)
    shown = xs[0.5 * (pi_pdf + p_pdf) >= 1e-5]
    bottom.set_xlim(shown.min(), shown.max())
    bottom.set_ylabel("|D - D*|", fontsize=8)
    bottom.set_xlabel("x (grey: outside the mass region)")
    return save_figure(fig, path, tight=True)


def run(params: dict[str, Any], out: Path, size: str) -> Result:
    """Train D on samples of pi and p, then compare D with D* and V(G, D) with 2 JSD - log 4.

    numbers: ``max_abs_error``, ``mean_abs_error`` (on the mass region), ``region`` ([lo, hi]) and
    ``region_mass`` (the (pi + p)/2 mass inside it), ``jsd``, ``optimal_value`` (2 JSD - log 4),
    ``value`` (V(G, D) by quadrature), ``value_mc`` (the same from 2 x 100 000 fresh samples),
    ``value_gap`` (optimal_value - value), ``grid_check`` (V(G, D*) on the grid minus optimal_value),
    ``steps``, ``batch_size``.
    """
    p = _params(params, size)
    pi, gen_density = _mixture("pi", p), _mixture("p", p)
    critic = train_discriminator(pi, gen_density, steps=p["steps"], batch_size=p["batch_size"], width=p["width"],
                                 depth=p["depth"], lr=float(p["lr"]), seed=int(p["seed"]))

    centres = np.concatenate([pi.modes[:, 0], gen_density.modes[:, 0]])
    spread = 8.0 * max(pi.std_per_mode().max(), gen_density.std_per_mode().max())
    xs = np.linspace(centres.min() - spread, centres.max() + spread, _GRID_POINTS)
    with torch.no_grad():
        logits = critic(torch.from_numpy(xs).float()[:, None]).double().numpy()
    pi_pdf, p_pdf = pi.pdf(xs), gen_density.pdf(xs)
    d_star = optimal_discriminator(pi_pdf, p_pdf)
    d = scipy.special.expit(logits)
    mix = 0.5 * (pi_pdf + p_pdf)
    region = mix >= float(p["mass_level"])
    if not region.any():
        raise ValueError(f"mass_level={p['mass_level']!r} is above the largest density (pi + p)/2 = {mix.max():.3g}")
    err = np.abs(d - d_star)[region]

    jsd = divergence(pi.pdf, gen_density.pdf, DIVERGENCES["js"])
    optimal = 2.0 * jsd - LOG4
    value = value_by_quadrature(xs, pi_pdf, p_pdf, logits)
    # V(G, D*) on the same grid: D*'s logit is log pi - log p (log densities: no underflow in the tails)
    grid_check = value_by_quadrature(xs, pi_pdf, p_pdf, pi.log_pdf(xs) - gen_density.log_pdf(xs)) - optimal
    mc_gen = torch.Generator().manual_seed(int(p["seed"]) + 1)
    with torch.no_grad():
        value_mc = -float(minimax_d_loss(critic(pi.sample(100_000, generator=mc_gen)),
                                         critic(gen_density.sample(100_000, generator=mc_gen))))
    gap = optimal - value

    numbers = {
        "max_abs_error": float(err.max()), "mean_abs_error": float(err.mean()),
        "region": [float(xs[region].min()), float(xs[region].max())],
        "region_mass": float(scipy.integrate.trapezoid(np.where(region, mix, 0.0), xs)),
        "jsd": jsd, "optimal_value": optimal, "value": value, "value_mc": value_mc, "value_gap": gap,
        "grid_check": grid_check, "steps": p["steps"], "batch_size": p["batch_size"],
    }
    passed = bool(numbers["max_abs_error"] <= float(p["max_error"])
                  and numbers["mean_abs_error"] <= float(p["mean_error"])
                  and -1e-6 <= gap <= float(p["value_gap"]))
    title = (f"D after {p['steps']} steps: max |D - D*| = {numbers['max_abs_error']:.3f} on the mass region; "
             f"V = {value:.4f}, 2 JSD - log 4 = {optimal:.4f}")
    figures = (_figure(Path(out) / "discriminator.png", xs, pi_pdf, p_pdf, d, d_star, region, title),)
    verdict = (
        f"After {p['steps']} steps the trained D is within {numbers['max_abs_error']:.3f} (max) / "
        f"{numbers['mean_abs_error']:.4f} (mean) of D* = pi/(pi+p) on the region holding "
        f"{100 * numbers['region_mass']:.1f} % of the mass, and V(G, D) = {value:.4f} against 2 JSD - log 4 = "
        f"{optimal:.4f} (gap {gap:.2g}): the claim {'holds' if passed else 'does not hold'} within the margins "
        f"{float(p['max_error']):g} / {float(p['mean_error']):g} / {float(p['value_gap']):g}."
    )
    return Result(numbers=numbers, verdict=verdict, passed=passed, figures=figures)


EXPERIMENT = Experiment(
    name="optimal-discriminator",
    lecture="004_a72885b194f54592.txt 'GAN optimality'",
    claim=("For a fixed generator the discriminator trained with the minimax loss approaches D* = pi/(pi+p), "
           "and its value E_pi log D + E_p log(1 - D) approaches 2 JSD(pi||p) - log 4."),
    params={"seed": 0, "pi_weights": [0.5, 0.5], "pi_means": [-2.0, 2.0], "pi_stds": [0.5, 0.5],
            "p_weights": [1.0], "p_means": [0.0], "p_stds": [1.5], "steps": 0, "batch_size": 0, "width": 64,
            "depth": 2, "lr": 5e-3, "mass_level": 0.03, "max_error": 0.1, "mean_error": 0.03, "value_gap": 0.01},
    run=run,
)
