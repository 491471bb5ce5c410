"""Vanishing gradients: the minimax generator loss saturates when D wins, the non-saturating one does not.

    minimax:          L_G = E_z log(1 - D(G(z)))      dL/dv = -D          -> 0 as D(G(z)) -> 0
    non-saturating:   L_G = -E_z log D(G(z))          dL/dv = -(1 - D)    -> -1
    per sample:       grad_theta l_minimax = D / (1 - D) * grad_theta l_ns   (D = sigmoid(v(G(z))))

A 1-D generator G (a small MLP, ``ganlab.models.mlp.MLPGenerator``) is fixed with its samples around
``fake_mean``, away from the data N(``data_mean``, ``data_std``^2). A discriminator D = sigmoid(v)
(``MLPCritic``) is trained against it with the minimax loss, so D(G(z)) falls as D grows confident. At
log-spaced steps of D's training (the sweep) the generator's gradient ||grad_theta L_G|| over all its
parameters is measured for both losses (``ganlab.losses.minimax_g_loss``, ``ns_g_loss``) on one fixed batch of
latents, beside the mean D(G(z)) of that batch. Both gradients share the factor grad_theta v(G(z)); the
minimax one is that factor times D, the non-saturating one times 1 - D, so their ratio follows
D / (1 - D) and the minimax gradient vanishes with D(G(z)).

Passed when, at the last point of the sweep, D confidently rejects the samples (mean D(G(z)) <=
``confidence``), the minimax gradient is at most ``vanish_ratio`` times the non-saturating one, and the
non-saturating gradient keeps at least half of its largest value in the sweep (it does not vanish). (At the
first point both gradients are small: the untrained D is nearly flat.)

Reference: lecture 003_74d7f85fefbfef05.txt, slide "Main problems of standard GAN" ("Vanishing gradients
(solution: non-saturating GAN)"); lecture 000_b0081a5cac0268ab.txt, slide "Recap of previous lecture"
("Main problems": "Vanishing gradients (non-saturating GAN does not suffer of it)"); lecture
004_a72885b194f54592.txt, slide "Generative adversarial networks (GAN)" (the objective); Goodfellow et al.
2014 (arXiv:1406.2661), Sec. 3; Arjovsky & Bottou 2017 (arXiv:1701.04862), Theorem 2.4.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganlab.data.toy import mixture_1d
from ganlab.experiments import Experiment, Result, check_run
from ganlab.losses import minimax_d_loss, minimax_g_loss, ns_g_loss
from ganlab.models.mlp import MLPCritic, MLPGenerator
from ganlab.report import pyplot, save_figure

__all__ = ["EXPERIMENT", "generator_gradient_norms", "run"]

_STEPS = {"smoke": 500, "full": 10000}


def generator_gradient_norms(generator: nn.Module, critic: nn.Module, z: torch.Tensor) -> dict[str, float]:
    """||grad_theta L_G|| of the minimax and the non-saturating loss on latents z, and the mean D(G(z)).

    Shapes: z (M, latent_dim). Returns {"d_fake": mean sigmoid(v(G(z))), "minimax": ..., "ns": ...}, the
    norms over all of the generator's parameters. The generator's gradients are left zeroed.
    Reference: lecture 003_74d7f85fefbfef05.txt, slide "Main problems of standard GAN".
    """
    params = [p for p in generator.parameters() if p.requires_grad]
    out: dict[str, float] = {}
    for name, loss_fn in (("minimax", minimax_g_loss), ("ns", ns_g_loss)):
        logits = critic(generator(z))
        grads = torch.autograd.grad(loss_fn(logits), params)
        out[name] = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads))
    out["d_fake"] = float(torch.sigmoid(logits.detach().double()).mean())
    return out


def _params(params: dict[str, Any], size: str) -> dict[str, Any]:
    check_run(EXPERIMENT.name, params, size, EXPERIMENT.params)
    p = {**EXPERIMENT.params, **params}
    if not (isinstance(p["steps"], int) and p["steps"] >= 0):
        raise ValueError(f"steps must be 0 (the size's default) or a positive integer, got {p['steps']!r}")
    for key in ("points", "batch_size", "g_width", "d_width", "depth"):
        if not (isinstance(p[key], int) and p[key] >= (2 if key == "points" else 1)):
            raise ValueError(f"{key} must be an integer >= {2 if key == 'points' else 1}, got {p[key]!r}")
    for key in ("data_std", "lr", "confidence", "vanish_ratio"):
        if not (math.isfinite(float(p[key])) and float(p[key]) > 0):
            raise ValueError(f"{key} must be a positive number, got {p[key]!r}")
    for key in ("data_mean", "fake_mean"):
        if not math.isfinite(float(p[key])):
            raise ValueError(f"{key} must be a finite number, got {p[key]!r}")
    return {**p, "steps": p["steps"] or _STEPS[size]}


def _figure(path: Path, sweep: list[dict[str, float]]) -> Path:
    plt = pyplot()
    d = np.array([r["d_fake"] for r in sweep])
    mm = np.array([r["minimax"] for r in sweep])
    ns = np.array([r["ns"] for r in sweep])
    steps = np.array([r["step"] for r in sweep])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=90)
    left.loglog(d, ns, "o-", color="tab:blue", ms=3, label="non-saturating  -E log D(G(z))")
    left.loglog(d, mm, "s-", color="tab:red", ms=3, label="minimax  E log(1 - D(G(z)))")
    left.loglog(d, ns * d / (1 - d), ":", color="k", lw=1, label="ns x D/(1 - D)")
    left.invert_xaxis()
    left.set_xlabel("mean D(G(z))  (D more confident to the right)")
    left.set_ylabel("||grad_theta L_G||")
    left.legend(fontsize=7)
    left.set_title("generator gradient vs the discriminator's confidence", fontsize=9)
    right.loglog(steps, ns, "o-", color="tab:blue", ms=3, label="non-saturating")
    right.loglog(steps, mm, "s-", color="tab:red", ms=3, label="minimax")
    right.loglog(steps, d, "--", color="0.4", lw=1, label="mean D(G(z))")
    right.set_xlabel("discriminator steps (generator fixed)")
    right.legend(fontsize=7)
    right.set_title("along D's training", fontsize=9)
    return save_figure(fig, path, tight=True)


def run(params: dict[str, Any], out: Path, size: str) -> Result:
    """Train D against a fixed, misplaced G; at log-spaced steps, the generator's gradient norms of both losses.

    numbers: ``sweep`` (per point: ``step``, ``d_fake`` = mean D(G(z)), ``minimax``, ``ns`` gradient norms,
    ``ratio`` = minimax / ns, ``predicted_ratio`` = mean over z of D / (1 - D)), ``first`` and ``last``
    (the end points), ``minimax_drop`` (largest minimax norm of the sweep / the last), ``ns_retained`` (last
    ns norm / largest ns norm of the sweep), ``steps``.
    """
    p = _params(params, size)
    seed = int(p["seed"])
    torch.manual_seed(seed)
    data = mixture_1d(weights=[1.0], means=[float(p["data_mean"])], stds=[float(p["data_std"])])
    generator = MLPGenerator(1, 1, width=p["g_width"], depth=p["depth"])
    gen = torch.Generator().manual_seed(seed)
    z_eval = torch.randn(2048, 1, generator=gen)
    with torch.no_grad():  # move G's samples to fake_mean: only the last bias changes
        generator.net[-1].bias += float(p["fake_mean"]) - generator(z_eval).mean()
    critic = MLPCritic(1, width=p["d_width"], depth=p["depth"])
    opt = torch.optim.Adam(critic.parameters(), lr=float(p["lr"]), betas=(0.5, 0.999))
    steps, m = p["steps"], p["batch_size"]
    at = sorted(set(np.unique(np.round(np.logspace(0.0, math.log10(steps), p["points"])).astype(int)).tolist()))

    sweep = []
    for step in range(1, steps + 1):
        with torch.no_grad():
            fake = generator(torch.randn(m, 1, generator=gen))
        loss = minimax_d_loss(critic(data.sample(m, generator=gen)), critic(fake))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step in at:
            norms = generator_gradient_norms(generator, critic, z_eval)
            with torch.no_grad():
                d = torch.sigmoid(critic(generator(z_eval)).double())
            sweep.append({"step": step, **norms, "ratio": norms["minimax"] / norms["ns"],
                          "predicted_ratio": float((d / (1 - d)).mean())})

    first, last = sweep[0], sweep[-1]
    numbers = {
        "sweep": sweep, "first": first, "last": last, "steps": steps,
        "minimax_drop": max(r["minimax"] for r in sweep) / last["minimax"],
        "ns_retained": last["ns"] / max(r["ns"] for r in sweep),
    }
    passed = bool(last["d_fake"] <= float(p["confidence"]) and last["ratio"] <= float(p["vanish_ratio"])
                  and numbers["ns_retained"] >= 0.5)
    figures = (_figure(Path(out) / "gradient_norms.png", sweep),)
    verdict = (
        f"As D's mean D(G(z)) fell from {first['d_fake']:.2g} to {last['d_fake']:.2g} over {steps} steps, the "
        f"minimax generator gradient fell to {last['minimax']:.2g} ({numbers['minimax_drop']:.3g}x below its "
        f"peak) while the non-saturating one went from {first['ns']:.3g} to {last['ns']:.3g} (ratio "
        f"{last['ratio']:.2g}, D/(1-D) = {last['predicted_ratio']:.2g}): the minimax loss "
        f"{'saturates and the non-saturating one does not' if passed else 'did not saturate as claimed'}."
    )
    return Result(numbers=numbers, verdict=verdict, passed=passed, figures=figures)


EXPERIMENT = Experiment(
    name="saturation",
    lecture="003_74d7f85fefbfef05.txt 'Main problems of standard GAN'",
    claim=("When D confidently rejects the generator's samples, the gradient of the minimax generator loss "
           "E log(1 - D(G(z))) vanishes (as D(G(z))) while that of the non-saturating -E log D(G(z)) does not."),
    params={"seed": 0, "data_mean": 2.0, "data_std": 0.5, "fake_mean": -2.0, "steps": 0, "points": 25,
            "batch_size": 256, "g_width": 32, "d_width": 64, "depth": 2, "lr": 1e-3, "confidence": 1e-3,
            "vanish_ratio": 0.01},
    run=run,
)
