"""Weight clipping analysis: clipped critics' gradients explode or vanish with depth and they ignore higher moments.

    generator fixed:  x_fake = x_real + eps,  eps ~ N(0, s^2 I)          (the lecture's setup, s = 1)
    clipping:         w <- clip(w, -c, c) after every RMSProp step,  c in {0.1, 0.01, 0.001}
    penalty:          L = E f(x_fake) - E f(x_real) + lambda E max(0, ||grad f(x_hat)|| - 1)^2  (Adam)
    per-layer norm:   g_l = || dL_W / d a_l ||_F,  a_l the l-th hidden activation (batch of 256 + 256),
                      L_W = E f(x_fake) - E f(x_real), measured in float64

Three measurements, as in the WGAN-GP paper's Figure 1:

1. A deep ReLU critic (12 linear layers, He initialization so that at the start a signal neither grows
   nor shrinks with depth) on ``swissroll``, trained with each clip value and with the penalty: g_l per
   layer ("the gradient either grows or decays exponentially as we move farther back in the network",
   WGAN-GP Sec. 3), reported as the ratio g_1 / g_11 of the first to the last hidden layer.
2. The weights of those critics: the fraction within 1 % of +-c (clipping piles them at the two ends of
   the box), against the penalized critic's fraction within 1 % of its own largest |w| per layer.
3. A toy critic (MLP 3 hidden layers) trained with clipping (c = 0.01) and with the penalty on each
   2-D data set against the fixed noisy generator: its value surface, and how much of W1 it attains,
   KR = (E f(real) - E f(fake)) / (L_f W1) with L_f the largest ||grad f|| over the real, fake and
   interpolated points and W1 the exact distance between the two samples (``ganlab.transport``). The
   means of real and fake are equal, so a critic must use the spread and the shape of the data (higher
   moments) to separate them; the clipped critic is a smooth bowl that does so poorly ("the critic
   ignores higher moments of the data distribution").

The penalty is one-sided by default (``one_sided_gp``): with the two-sided (||grad f|| - 1)^2 the toy
critic can lock into a bowl f ~ ||x|| of slope 1, which satisfies the penalty but ranks the fakes above
the data (E f(real) - E f(fake) = -0.19 after 300 steps, seed 2 of 0-3, 8gaussians); turning it
around means passing through slope 0, which the penalty charges. With max(0, ||grad f|| - 1)^2 seeds
0-3 all reach a positive estimate near W1. The deep critic's gradient profile is the same either way.

Budgets: RMSProp at 1e-3 for clipping (the WGAN paper's 5e-5 x 20, so that the weights reach +-c
within the smoke size's steps); Adam with betas (0.5, 0.9) for the penalty, at the paper's 1e-4 for
the deep critic (``lr_gp_deep``) and 1e-3 for the toy critics (``lr_gp``, to near the optimum within
the budget). At 1e-3 the deep penalized critic's profile tilts: g_1 / g_11 = 0.06 after 500 steps at
width 512 (0.28 at 1e-4), still within about one order of magnitude where clipping moves 8 to 22.
The smoke size draws the surfaces of ``8gaussians`` only; the full size those of all three data sets.

Margins (``passed``): g_1 / g_11 >= 100 for c = 0.1 (explodes) and <= 0.01 for c = 0.001 (vanishes)
when they are among ``clip_values``, within [0.1, 10] for the penalty (c = 0.01 is reported, not
judged); >= 30 % of the clipped weights within 1 % of +-c for every c and <= 5 % of the penalized
weights at their extremes; KR of the penalized critic >= KR of the clipped one + 0.1 on every data set
drawn.

Reference: lecture 001_b56ff7e156eb3bba.txt, slide "Wasserstein GAN with Gradient Penalty" ("The
generator distribution is fixed and equals to the real distribution + Gaussian noise. Problems with
weight clipping: the critic ignores higher moments of the data distribution; the gradient either grow
or decay exponentially"); 000_b0081a5cac0268ab.txt and 002_12706ff463d72203.txt, slide "Weight
clipping analysis". Gulrajani et al. 2017 (arXiv:1704.00028), Sec. 3 and Figure 1 (12-layer ReLU
critics on the Swiss roll, c in {0.1, 0.01, 0.001}); Petzka et al. 2018 (arXiv:1709.08894), the
one-sided penalty.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ganlab.data.toy import ToyDataset, get_toy_dataset
from ganlab.experiments import Experiment, Result, check_run
from ganlab.lipschitz import clip_weights_, gradient_penalty, interpolate
from ganlab.losses import wasserstein_d_loss
from ganlab.models.mlp import MLPCritic
from ganlab.report import critic_surface
from ganlab.report import pyplot, save_figure
from ganlab.transport import wasserstein1

__all__ = ["EXPERIMENT", "PARAMS", "layer_gradient_norms", "fraction_at_extremes", "kr_fraction_of_w1", "run"]

SURFACE_DATASETS = ("8gaussians", "25gaussians", "swissroll")


@dataclass(frozen=True)
class _Budget:
    deep_width: int
    deep_steps: int
    deep_batch: int
    surface_datasets: tuple[str, ...]
    surface_width: int
    surface_steps: int
    surface_batch: int
    n_eval: int  # real and fake points for the KR fraction and W1


_BUDGETS = {
    "smoke": _Budget(deep_width=128, deep_steps=40, deep_batch=64, surface_datasets=("8gaussians",),
                     surface_width=128, surface_steps=300, surface_batch=256, n_eval=1000),
    "full": _Budget(deep_width=512, deep_steps=500, deep_batch=64, surface_datasets=SURFACE_DATASETS,
                    surface_width=256, surface_steps=2000, surface_batch=256, n_eval=2000),
}

PARAMS: dict[str, Any] = {
    "seed": 0,
    "clip_values": [0.1, 0.01, 0.001],
    "surface_clip": 0.01,
    "layers": 12,
    "noise_std": 1.0,
    "gp_weight": 10.0,
    "one_sided_gp": True,
    "lr_clip": 1e-3,
    "lr_gp": 1e-3,
    "lr_gp_deep": 1e-4,
}


# =========================================================================== measurements


def layer_gradient_norms(critic: MLPCritic, real: Tensor, fake: Tensor) -> list[float]:
    """g_l = || d(E f(fake) - E f(real)) / d a_l ||_F for each hidden activation a_l (l = 1..depth), in float64.

    Shapes: real (N, D), fake (M, D); returns `depth` floats, first hidden layer first. The critic is
    copied to float64 so that norms down to 1e-300 do not underflow to 0.
    """
    net = copy.deepcopy(critic).double()
    x = torch.cat([real, fake]).double()
    acts = []
    for module in net.net:
        x = module(x)
        if not isinstance(module, nn.Linear):  # an activation's output: a_l
            x.retain_grad()
            acts.append(x)
    out = x.squeeze(-1)
    n = real.shape[0]
    loss = out[n:].mean() - out[:n].mean()
    loss.backward()
    return [float(a.grad.norm()) for a in acts]


def fraction_at_extremes(critic: nn.Module, clip_value: float | None, *, tol: float = 0.01) -> float:
    """The fraction of the critic's weight entries with |w| >= (1 - tol) c (or, when ``clip_value`` is None,
    >= (1 - tol) max |w| of the same layer). Biases are left out."""
    weights = [m.weight.detach() for m in critic.modules() if isinstance(m, nn.Linear)]
    hits = total = 0
    for w in weights:
        edge = clip_value if clip_value is not None else float(w.abs().max())
        hits += int((w.abs() >= (1.0 - tol) * edge).sum())
        total += w.numel()
    return hits / total


def kr_fraction_of_w1(critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator
                      ) -> dict[str, float]:
    """KR = (E f(real) - E f(fake)) / (L_f W1): the part of W1 the critic attains once scaled to 1-Lipschitz.

    L_f = max ||grad f|| over the real, fake and interpolated points (a lower estimate of the critic's
    Lipschitz constant, so KR may slightly exceed 1); W1 exact between the two samples. Shapes: (N, 2).
    """
    x = torch.cat([real, fake, interpolate(real, fake, generator=generator)]).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    lip = float(grad.norm(dim=1).max())
    with torch.no_grad():
        gap = float(critic(real).mean() - critic(fake).mean())
    w1 = wasserstein1(real.double().numpy(), fake.double().numpy())
    return {"kr_fraction": gap / (lip * w1), "gap": gap, "lipschitz": lip, "w1": w1}


# =========================================================================== training


def _he_init_(critic: nn.Module) -> None:
    """W ~ N(0, 2 / fan_in), b = 0 (He et al. 2015): a ReLU net's signal keeps its scale with depth."""
    for m in critic.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


def _critic(width: int, depth: int, seed: int, *, he: bool) -> MLPCritic:
    with torch.random.fork_rng(devices=[]):  # initialized from the experiment's seed; the global RNG untouched
        torch.manual_seed(seed)
        critic = MLPCritic(2, width=width, depth=depth)
        if he:
            _he_init_(critic)
    return critic


def _pair(data: ToyDataset, n: int, noise_std: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """A real batch and a fake one: other real points plus N(0, s^2 I) (the fixed generator)."""
    real = data.sample(n, generator=g)
    return real, data.sample(n, generator=g) + noise_std * torch.randn(n, 2, generator=g)


def _train(critic: MLPCritic, data: ToyDataset, clip_value: float | None, steps: int, batch: int,
           params: dict[str, Any], g: torch.Generator, *, lr_gp: float) -> MLPCritic:
    """WGAN critic steps against the fixed generator: clipped (RMSProp at lr_clip, then clip) or penalized (Adam)."""
    s = float(params["noise_std"])
    if clip_value is not None:
        clip_weights_(critic, clip_value)
        opt: torch.optim.Optimizer = torch.optim.RMSprop(critic.parameters(), lr=float(params["lr_clip"]), foreach=True)
    else:
        opt = torch.optim.Adam(critic.parameters(), lr=lr_gp, betas=(0.5, 0.9), foreach=True)
    for _ in range(steps):
        real, fake = _pair(data, batch, s, g)
        d_real, d_fake = critic(torch.cat([real, fake])).split(batch)
        loss = wasserstein_d_loss(d_real, d_fake)
        if clip_value is None:
            loss = loss + gradient_penalty(critic, real, fake, gp_weight=float(params["gp_weight"]),
                                           one_sided=bool(params["one_sided_gp"]), generator=g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if clip_value is not None:
            clip_weights_(critic, clip_value)
    return critic


# =========================================================================== figures


def _label(clip_value: float | None) -> str:
    return "gradient penalty" if clip_value is None else f"weight clipping c = {clip_value:g}"


def _figures(out: Path, deep: dict[str, dict[str, Any]], critics: dict[str, MLPCritic],
             surfaces: dict[str, dict[str, Any]], noise_std: float, g: torch.Generator) -> tuple[Path, ...]:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=90)
    for key, rec in deep.items():
        norms = rec["layer_gradient_norms"]
        ax.semilogy(range(1, len(norms) + 1), norms, marker="o", ms=3, label=_label(rec["clip_value"]))
    ax.set(xlabel="hidden layer l (1 = nearest the input)", ylabel="||dL/da_l|| (log scale)")
    ax.set_title("deep critics on swissroll: gradient norm per layer", fontsize=9)
    ax.legend(fontsize=7)
    f1 = save_figure(fig, out / "gradient_norms.png", tight=True)

    fig, axes = plt.subplots(1, len(critics), figsize=(3.2 * len(critics), 2.8), dpi=90, squeeze=False)
    for ax, (key, critic) in zip(axes[0], critics.items()):
        w = torch.cat([m.weight.detach().flatten() for m in critic.modules() if isinstance(m, nn.Linear)])
        ax.hist(w.numpy(), bins=60, color="tab:blue" if deep[key]["clip_value"] is not None else "tab:green")
        ax.set_title(_label(deep[key]["clip_value"]), fontsize=8)
        ax.set_xlabel("weight", fontsize=7)
        ax.locator_params(axis="x", nbins=5)
        ax.tick_params(labelsize=6)
    f2 = save_figure(fig, out / "weight_histograms.png", tight=True)

    rows = list(surfaces)
    fig, axes = plt.subplots(len(rows), 2, figsize=(7, 3.4 * len(rows)), dpi=90, squeeze=False)
    for r, name in enumerate(rows):
        data = get_toy_dataset(name)
        real = data.sample(500, generator=g)
        fake = data.sample(500, generator=g) + noise_std * torch.randn(500, 2, generator=g)
        for col, kind in enumerate(("clip", "gp")):
            ax, rec = axes[r][col], surfaces[name][kind]
            gx, gy, fv = critic_surface(rec["critic"], (-3.0, 3.0), (-3.0, 3.0), resolution=80)
            ax.contourf(gx, gy, fv, levels=20, cmap="viridis")
            ax.scatter(fake[:, 0], fake[:, 1], s=1, c="w", alpha=0.25)
            ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:orange")
            ax.set_title(f"{name}, {rec['label']}: KR/W1 = {rec['kr_fraction']:.2f}", fontsize=8)
            ax.set(xlim=(-3.0, 3.0), ylim=(-3.0, 3.0), aspect="equal")
            ax.tick_params(labelsize=6)
    f3 = save_figure(fig, out / "critic_surfaces.png", tight=True)
    return f1, f2, f3


# =========================================================================== the experiment


def _check(params: dict[str, Any], size: str) -> None:
    check_run(EXPERIMENT.name, params, size, PARAMS)
    clips = [float(c) for c in params["clip_values"]]
    if not clips or any(not (math.isfinite(c) and c > 0) for c in clips):
        raise ValueError(f"clip_values={params['clip_values']!r}: expected a non-empty list of finite numbers > 0")
    for key in ("surface_clip", "noise_std", "gp_weight", "lr_clip", "lr_gp", "lr_gp_deep"):
        if not (math.isfinite(float(params[key])) and float(params[key]) > 0):
            raise ValueError(f"{key}={params[key]!r}: expected a finite number > 0")
    if int(params["layers"]) < 3:
        raise ValueError(f"layers={params['layers']!r}: expected an integer >= 3 (linear layers of the deep critic)")


def run(params: dict[str, Any], out: Path, size: str) -> Result:
    """Per-layer gradient norms and weights of deep clipped / penalized critics, and toy critics' surfaces.

    ``params``: see ``PARAMS``; ``size``: "smoke" (seconds) or "full" (minutes). Figures:
    gradient_norms.png, weight_histograms.png, critic_surfaces.png. See the module docstring for the claim.
    """
    _check(params, size)
    b = _BUDGETS[size]
    seed = int(params["seed"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    swiss = get_toy_dataset("swissroll")
    settings: list[float | None] = [float(c) for c in params["clip_values"]] + [None]

    deep: dict[str, dict[str, Any]] = {}
    deep_critics: dict[str, MLPCritic] = {}
    for i, c in enumerate(settings):
        key = "gp" if c is None else f"clip_{c:g}"
        g = torch.Generator().manual_seed(seed * 1000 + i)
        critic = _critic(b.deep_width, int(params["layers"]) - 1, seed, he=True)
        _train(critic, swiss, c, b.deep_steps, b.deep_batch, params, g, lr_gp=float(params["lr_gp_deep"]))
        norms = layer_gradient_norms(critic, *_pair(swiss, 256, float(params["noise_std"]), g))
        deep[key] = {"clip_value": c, "layer_gradient_norms": norms, "ratio_first_last": norms[0] / norms[-1],
                     "fraction_at_extremes": fraction_at_extremes(critic, c)}
        deep_critics[key] = critic

    surfaces: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(b.surface_datasets):
        data = get_toy_dataset(name)
        surfaces[name] = {}
        for kind, c in (("clip", float(params["surface_clip"])), ("gp", None)):
            g = torch.Generator().manual_seed(seed * 1000 + 100 + 10 * j + (kind == "gp"))
            critic = _train(_critic(b.surface_width, 3, seed, he=False), data, c, b.surface_steps, b.surface_batch,
                            params, g, lr_gp=float(params["lr_gp"]))
            rec = kr_fraction_of_w1(critic, *_pair(data, b.n_eval, float(params["noise_std"]), g), g)
            surfaces[name][kind] = {**rec, "critic": critic, "label": _label(c)}

    figures = _figures(out, deep, deep_critics, surfaces, float(params["noise_std"]),
                       torch.Generator().manual_seed(seed + 17))
    by_c = {rec["clip_value"]: rec for rec in deep.values()}
    clip_keys = [k for k in deep if k != "gp"]
    kr = {name: {kind: s[kind]["kr_fraction"] for kind in ("clip", "gp")} for name, s in surfaces.items()}
    checks = {
        "explodes_at_c_0.1": 0.1 not in by_c or by_c[0.1]["ratio_first_last"] >= 100.0,
        "vanishes_at_c_0.001": 0.001 not in by_c or by_c[0.001]["ratio_first_last"] <= 0.01,
        "penalty_stable": 0.1 <= deep["gp"]["ratio_first_last"] <= 10.0,
        "clipped_weights_pile_at_c": all(deep[k]["fraction_at_extremes"] >= 0.3 for k in clip_keys),
        "penalized_weights_do_not": deep["gp"]["fraction_at_extremes"] <= 0.05,
        "penalty_attains_more_of_w1": all(v["gp"] >= v["clip"] + 0.1 for v in kr.values()),
    }
    numbers = {
        "deep_critic": {"layers": int(params["layers"]), "width": b.deep_width, "steps": b.deep_steps, **deep},
        "surfaces": {name: {kind: {k: v for k, v in rec.items() if k not in ("critic", "label")}
                            for kind, rec in s.items()} for name, s in surfaces.items()},
        "checks": checks,
    }
    ratios = ", ".join(f"{_label(rec['clip_value'])}: {rec['ratio_first_last']:.2g}" for rec in deep.values())
    piles = ", ".join(f"c = {deep[k]['clip_value']:g}: {100 * deep[k]['fraction_at_extremes']:.0f} %"
                      for k in clip_keys)
    krs = "; ".join(f"{name} {v['clip']:.2f} vs {v['gp']:.2f}" for name, v in kr.items())
    verdict = (
        f"g_1/g_{int(params['layers']) - 1} per setting ({ratios}); weights within 1 % of ±c ({piles}) against "
        f"{100 * deep['gp']['fraction_at_extremes']:.2f} % at the extremes with the penalty; fraction of W1 "
        f"attained, clipped vs penalized critic: {krs}."
    )
    return Result(numbers=numbers, verdict=verdict, passed=all(checks.values()), figures=figures)


EXPERIMENT = Experiment(
    name="weight-clipping",
    lecture="000_b0081a5cac0268ab.txt 'Weight clipping analysis'",
    claim=("With weight clipping a deep critic's gradients explode (c = 0.1) or vanish (c = 0.001) layer by layer and "
           "its weights pile at ±c, while the gradient penalty keeps them stable; a clipped toy critic is too simple "
           "to attain W1."),
    params=PARAMS,
    run=run,
)
