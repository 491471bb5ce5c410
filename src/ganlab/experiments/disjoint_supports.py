"""The parallel-lines example: f-divergences saturate on disjoint supports, W1 does not; instance noise.

    P_0     = (0, U[0, 1]),   P_theta = (theta, U[0, 1])          two vertical segments in R^2
    theta != 0:  KL = KL_rev = inf,  JSD = log 2,  TV = 1,  W1 = |theta|
    theta == 0:  every divergence and W1 is 0
    instance noise eps ~ N(0, s^2 I) on both:  JSD_s(theta) = JSD(N(0, s^2), N(theta, s^2))   (1-D)

For ``theta != 0`` the supports are disjoint, so every f-divergence is the constant ``f(0) + f'(inf)``
(``ganlab.divergences.disjoint_support_divergence``) and gives the generator no gradient in
``theta``, while ``W1 = |theta|`` shrinks continuously as the lines approach. Adding continuous
noise to the critic's inputs makes the two smoothed distributions overlap; their second coordinates
are the same, so the JSD of the smoothed lines is the JSD of two 1-D Gaussians, a smooth function of
theta with a non-zero derivative.

The experiment ``disjoint-supports`` (``EXPERIMENT``) checks all of it with trained critics:

1. exact KL, JSD, W1 against theta (``parallel_lines``), and the smoothed JSD (``smoothed_js``);
2. at each theta of ``thetas``, three critics trained from scratch: an f-GAN JS critic (``fgan_d_loss``
   with ``DIVERGENCES["js"]``), a WGAN-GP critic (``wasserstein_d_loss`` + ``gradient_penalty``,
   lambda = 10) and a JS critic with instance noise; their bounds estimate JSD, W1 and JSD_s, and
   the derivative of each trained bound in theta (autograd through the samples (theta, u), critic
   held fixed) is the gradient a generator G_theta(u) = (theta, u) would receive;
3. theta trained from ``theta0`` by plain SGD on each objective (``n_critic`` critic steps per theta
   step): Wasserstein, JS (the saturating f-GAN generator loss, i.e. the JS bound itself), and JS
   with instance noise (both inputs of the critic get eps ~ N(0, s^2 I)).

The WGAN-GP critic uses the one-sided penalty max(0, ||grad f|| - 1)^2 by default
(``one_sided_gp``). With the two-sided (||grad f|| - 1)^2, once theta crosses 0 the critic's slope
in x_1 must flip from -1 to +1 through slope 0, where the penalty costs lambda (0 - 1)^2 = 10 while
the critic's objective gains only 2 |theta|: the critic lags, theta overshoots, and the smoke run
ends at theta = -0.25 instead of -0.03 (``--one_sided_gp=false`` shows it).

Margins (``passed``), at the default theta0 = 1, s = 0.5 and |theta| >= 0.5 in the sweep:
- JS estimates within 0.1 of log 2; W estimates within 0.1 + 0.1 |theta| of |theta|;
- |d JS-bound / d theta| <= 0.05 at every theta; |d W-bound / d theta - sign theta| <= 0.25;
- trained theta: Wasserstein ends within 0.15 of 0; JS stays within 0.1 of theta0; JS with instance
  noise ends at least 0.3 closer to 0, and its bound's gradient at theta0 is >= 0.1 in size (the
  exact d JSD_s / d theta is 0.45 at theta = 1, s = 0.5).
The JS critic's gradient shrinks as it trains (its logits saturate): at |theta| = 0.25 the smoke
size's 120 critic steps leave about 0.13, which is why the default sweep starts at 0.5.

Reference: lecture 004_a72885b194f54592.txt, slide "Wasserstein distance vs KL vs JSD" (also in
002_12706ff463d72203.txt) and slide "Informal theoretical results" ("Adding continuous noise to the
inputs of the discriminator smoothes the distributions of the probability mass"); Arjovsky, Chintala &
Bottou 2017 (arXiv:1701.07875), Example 1; Arjovsky & Bottou 2017 (arXiv:1701.04862), Sec. 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from ganlab.divergences import DIVERGENCES, disjoint_support_divergence, divergence, variational_bound_from_logits
from ganlab.experiments import Experiment, Result, check_run
from ganlab.lipschitz import gradient_penalty
from ganlab.losses import fgan_d_loss, wasserstein_d_loss
from ganlab.models.mlp import MLPCritic
from ganlab.report import pyplot, save_figure
from ganlab.transport import wasserstein1

__all__ = ["ParallelLines", "parallel_lines", "smoothed_js", "line_sample", "fit_critic", "bound_and_gradient",
           "EXPERIMENT"]

LOG2 = math.log(2.0)
_JS = DIVERGENCES["js"]


@dataclass(frozen=True)
class ParallelLines:
    """Divergences between ``P_0 = (0, U[0,1])`` and ``P_theta = (theta, U[0,1])`` in R^2."""

    theta: float
    kl: float
    reverse_kl: float
    js: float
    tv: float
    w1: float


def parallel_lines(theta: float, *, n_points: int = 64) -> ParallelLines:
    """The parallel-lines example: KL = KL_rev = inf, JSD = log 2, TV = 1, W1 = |theta| (theta != 0).

    For ``theta != 0`` the supports are disjoint, so each f-divergence is ``f(0) + f'(inf)``
    (``disjoint_support_divergence``); for ``theta = 0``, ``P = Q`` and each is ``f(1) = 0``.
    W1 is computed by ``ganlab.transport.wasserstein1`` between the two lines discretised at the
    same ``n_points`` heights ``(i + 1/2)/n``: the horizontal matching costs ``|theta|`` and every
    coupling costs at least ``|theta|``, so the discrete W1 equals the continuous one exactly.

    Shapes: scalar ``theta``; returns a ``ParallelLines`` record of floats.

    Reference: lecture 004_a72885b194f54592.txt, slide "Wasserstein distance vs KL vs JSD" (also in
    002_12706ff463d72203.txt); Arjovsky, Chintala & Bottou 2017 (arXiv:1701.07875), Example 1.
    """
    th = float(theta)
    if not math.isfinite(th):
        raise ValueError(f"theta must be finite, got {theta!r}")
    if int(n_points) < 1:
        raise ValueError(f"n_points must be >= 1, got {n_points!r}")
    heights = (np.arange(int(n_points)) + 0.5) / int(n_points)
    line0 = np.stack([np.zeros_like(heights), heights], axis=1)
    line_theta = np.stack([np.full_like(heights, th), heights], axis=1)
    w1 = wasserstein1(line0, line_theta)

    def value(name: str) -> float:
        div = DIVERGENCES[name]
        if th != 0.0:
            return disjoint_support_divergence(div)
        return float(div.f(torch.tensor(1.0, dtype=torch.float64)))

    return ParallelLines(theta=th, kl=value("kl"), reverse_kl=value("reverse-kl"), js=value("js"), tv=value("tv"), w1=w1)


def smoothed_js(theta: float, noise_std: float) -> float:
    """JSD(P_0 * N(0, s^2 I) || P_theta * N(0, s^2 I)) = JSD(N(0, s^2) || N(theta, s^2)), by quadrature.

    The smoothed lines are products (first coordinate) x (U[0,1] * N(0, s^2)) with the same second
    factor C, so M = ((A + B)/2) x C and KL(A x C || M) = KL(A || (A + B)/2): only the first
    coordinates count. Computed by ``ganlab.divergences.divergence`` over [-12 s, theta + 12 s].

    Reference: lecture 004_a72885b194f54592.txt, slide "Informal theoretical results" (noise on the
    discriminator's inputs); Arjovsky & Bottou 2017 (arXiv:1701.04862), Sec. 3.
    """
    th, s = float(theta), float(noise_std)
    if not math.isfinite(th):
        raise ValueError(f"theta must be finite, got {theta!r}")
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"noise_std must be finite and > 0, got {noise_std!r}")
    c = 1.0 / (s * math.sqrt(2.0 * math.pi))

    def p(x: float) -> float:
        return c * math.exp(-0.5 * (x / s) ** 2)

    def q(x: float) -> float:
        return c * math.exp(-0.5 * ((x - th) / s) ** 2)

    lo, hi = min(0.0, th) - 12.0 * s, max(0.0, th) + 12.0 * s
    return divergence(p, q, _JS, lower=lo, upper=hi, points=[0.0, th])


# =========================================================================== critics on samples


def line_sample(theta: Tensor | float, n: int, generator: torch.Generator) -> Tensor:
    """x = (theta, u), u ~ U[0, 1]: n points of the segment at abscissa theta, (n, 2), float32.

    ``theta`` may be a 0-d tensor that requires grad: the samples are then differentiable in it
    (the reparametrization a generator G_theta(u) = (theta, u) has).
    """
    u = torch.rand(n, generator=generator)
    th = theta if isinstance(theta, Tensor) else torch.tensor(float(theta))
    return torch.stack([th.to(u.dtype).expand(n), u], dim=1)


def _noisy(x: Tensor, noise_std: float, generator: torch.Generator) -> Tensor:
    """x + eps, eps ~ N(0, s^2 I) (instance noise); x itself when s = 0."""
    if noise_std == 0.0:
        return x
    return x + noise_std * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def _bound(kind: str, d_real: Tensor, d_fake: Tensor) -> Tensor:
    """The critic's estimate: E_P g_f(v) - E_Q f*(g_f(v)) of JSD (`js`) or E_P f - E_Q f of W1 (`w`)."""
    if kind == "js":
        return variational_bound_from_logits(d_real, d_fake, _JS)
    return d_real.mean() - d_fake.mean()


def _critic_loss(kind: str, critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator,
                 gp_weight: float, one_sided: bool) -> Tensor:
    d_real, d_fake = critic(torch.cat([real, fake])).split([real.shape[0], fake.shape[0]])
    if kind == "js":
        return fgan_d_loss(d_real, d_fake, divergence=_JS)
    penalty = gradient_penalty(critic, real, fake, gp_weight=gp_weight, one_sided=one_sided, generator=generator)
    return wasserstein_d_loss(d_real, d_fake) + penalty


def fit_critic(
    critic: nn.Module,
    kind: str,
    sample_real: Callable[[int], Tensor],
    sample_fake: Callable[[int], Tensor],
    *,
    steps: int,
    batch: int,
    generator: torch.Generator,
    lr: float = 2e-3,
    gp_weight: float = 10.0,
    one_sided: bool = False,
    optimizer: torch.optim.Optimizer | None = None,
) -> torch.optim.Optimizer:
    """Train ``critic`` for ``steps`` Adam steps to maximize its bound: JS (``kind="js"``) or W1 (``"w"``).

        js:  max_T E_P g_f(v) - E_Q f*(g_f(v))  <=  JSD(P || Q)          (f-GAN, ``fgan_d_loss``)
        w:   max_f E_P f - E_Q f - lambda E (||grad f(x_hat)|| - 1)^2   ~  W1(P, Q)   (WGAN-GP)

    Args:
        critic: maps (n, D) to (n,).
        kind: "js" or "w".
        sample_real, sample_fake: n -> (n, D) fresh samples (any noise already added).
        steps, batch: Adam steps and samples per side.
        generator: draws the penalty's interpolation weights.
        lr: Adam learning rate (betas (0.5, 0.9), the WGAN-GP toy script's).
        gp_weight: lambda of the penalty (``kind="w"``).
        one_sided: penalize only gradient norms above 1 (``kind="w"``).
        optimizer: continue with this optimizer (its state kept across calls) instead of a new one.

    Returns:
        The optimizer, to continue training later.

    Reference: f-GAN arXiv:1606.00709 (the bound); WGAN-GP arXiv:1704.00028, Algorithm 1.
    """
    if kind not in ("js", "w"):
        raise ValueError(f"kind must be 'js' or 'w', got {kind!r}")
    opt = optimizer
    if opt is None:
        opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9), foreach=True)
    for _ in range(int(steps)):
        loss = _critic_loss(kind, critic, sample_real(batch), sample_fake(batch), generator, gp_weight, one_sided)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return opt


def bound_and_gradient(
    critic: nn.Module, kind: str, theta: float, *, n: int, noise_std: float, generator: torch.Generator
) -> tuple[float, float]:
    """(B(theta), dB/dtheta) for the trained critic's bound B on P_0 vs P_theta, critic held fixed.

    The derivative goes by autograd through the samples (theta, u) (+ eps): it is the gradient a
    generator G_theta(u) = (theta, u) receives from this critic. Shapes: scalars.
    """
    th = torch.tensor(float(theta), requires_grad=True)
    real = _noisy(line_sample(0.0, n, generator), noise_std, generator)
    fake = _noisy(line_sample(th, n, generator), noise_std, generator)
    critic.requires_grad_(False)
    try:
        value = _bound(kind, critic(real), critic(fake))
        (grad,) = torch.autograd.grad(value, th)
    finally:
        critic.requires_grad_(True)
    return float(value.detach()), float(grad)


# =========================================================================== the experiment


@dataclass(frozen=True)
class _Budget:
    sweep_steps: int  # critic steps per theta of the sweep
    warmup: int  # critic steps at theta0 before theta moves
    theta_steps: int  # SGD steps of theta, learning rate decayed linearly to 0
    n_critic: int  # critic steps per theta step
    batch: int
    n_eval: int  # samples per side for a bound and its gradient
    width: int  # hidden units of the two-layer ReLU critic


_BUDGETS = {
    "smoke": _Budget(sweep_steps=120, warmup=120, theta_steps=60, n_critic=3, batch=128, n_eval=2048, width=64),
    "full": _Budget(sweep_steps=1500, warmup=1000, theta_steps=300, n_critic=5, batch=256, n_eval=16384, width=128),
}

PARAMS: dict[str, Any] = {
    "seed": 0,
    "thetas": [-1.0, -0.5, 0.5, 1.0],
    "theta0": 1.0,
    "theta_travel": 1.5,
    "noise_std": 0.5,
    "gp_weight": 10.0,
    "one_sided_gp": True,
}


@dataclass(frozen=True)
class _Setup:
    budget: _Budget
    seed: int
    gp_weight: float
    one_sided: bool


def _check(params: dict[str, Any], size: str) -> None:
    check_run(EXPERIMENT.name, params, size, PARAMS)
    thetas = [float(t) for t in params["thetas"]]
    if not thetas or any(not math.isfinite(t) or t == 0.0 for t in thetas):
        raise ValueError(f"thetas={params['thetas']!r}: expected a non-empty list of finite, non-zero numbers")
    if not (math.isfinite(float(params["theta0"])) and float(params["theta0"]) != 0.0):
        raise ValueError(f"theta0={params['theta0']!r}: expected a finite, non-zero number")
    for key in ("theta_travel", "noise_std", "gp_weight"):
        if not (math.isfinite(float(params[key])) and float(params[key]) > 0):
            raise ValueError(f"{key}={params[key]!r}: expected a finite number > 0")


def _make_critic(width: int, seed: int) -> MLPCritic:
    with torch.random.fork_rng(devices=[]):  # initialized from the experiment's seed; the global RNG untouched
        torch.manual_seed(seed)
        return MLPCritic(2, width=width, depth=2)


def _sweep(thetas: list[float], noise_std: float, st: _Setup) -> dict[str, list[float]]:
    """At each theta, each critic trained from scratch: its bound and the bound's derivative in theta."""
    b = st.budget
    out: dict[str, list[float]] = {k: [] for k in ("js", "w", "js_noise", "js_grad", "w_grad", "js_noise_grad")}
    for i, th in enumerate(thetas):
        for j, (key, kind, s) in enumerate((("js", "js", 0.0), ("w", "w", 0.0), ("js_noise", "js", noise_std))):
            g = torch.Generator().manual_seed(st.seed * 1000 + 10 * i + j)
            critic = _make_critic(b.width, st.seed)
            fit_critic(critic, kind, lambda n: _noisy(line_sample(0.0, n, g), s, g),
                       lambda n, th=th: _noisy(line_sample(th, n, g), s, g), steps=b.sweep_steps, batch=b.batch,
                       generator=g, gp_weight=st.gp_weight, one_sided=st.one_sided)
            value, grad = bound_and_gradient(critic, kind, th, n=b.n_eval, noise_std=s, generator=g)
            out[key].append(value)
            out[key + "_grad"].append(grad)
    return out


def _train_theta(kind: str, noise_std: float, theta0: float, travel: float, st: _Setup, stream: int
                 ) -> tuple[list[float], float]:
    """theta <- theta - lr_t dB/dtheta (plain SGD, n_critic critic steps before each); its path, dB/dtheta at theta0.

    lr_t = lr_0 (1 - t/T) with lr_0 = 2 travel / T: a gradient of size 1 moves theta by `travel` in all,
    and the decay lets theta settle instead of oscillating by lr around the minimum of |theta|. SGD,
    not Adam: Adam divides by the gradient's running RMS and would move theta by ~lr per step whatever
    the size of the (vanishing) gradient, which is what the experiment measures.
    """
    b = st.budget
    g = torch.Generator().manual_seed(st.seed * 1000 + 500 + stream)
    critic = _make_critic(b.width, st.seed)
    theta = torch.tensor(float(theta0), requires_grad=True)
    opt_theta = torch.optim.SGD([theta], lr=2.0 * travel / b.theta_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt_theta, lambda t: 1.0 - t / b.theta_steps)

    def real(n: int) -> Tensor:
        return _noisy(line_sample(0.0, n, g), noise_std, g)

    def fake(n: int) -> Tensor:
        return _noisy(line_sample(theta.detach(), n, g), noise_std, g)

    fit = dict(batch=b.batch, generator=g, gp_weight=st.gp_weight, one_sided=st.one_sided)
    opt = fit_critic(critic, kind, real, fake, steps=b.warmup, **fit)
    _, grad0 = bound_and_gradient(critic, kind, theta0, n=b.n_eval, noise_std=noise_std, generator=g)
    path = [float(theta0)]
    for _ in range(b.theta_steps):
        fit_critic(critic, kind, real, fake, steps=b.n_critic, optimizer=opt, **fit)
        critic.requires_grad_(False)
        # the generator minimizes the critic's bound; only its E_Q term depends on theta: for JS that is
        # the saturating f-GAN loss -E_Q f*(g_f(v)), for W the WGAN loss -E_Q f
        fake_theta = _noisy(line_sample(theta, b.batch, g), noise_std, g)
        loss = _bound(kind, critic(real(b.batch)), critic(fake_theta))
        opt_theta.zero_grad(set_to_none=True)
        loss.backward()
        opt_theta.step()
        schedule.step()
        critic.requires_grad_(True)
        path.append(float(theta.detach()))
    return path, grad0


def _figures(out: Path, thetas: list[float], sweep: dict[str, list[float]], paths: dict[str, list[float]],
             noise_std: float) -> tuple[Path, Path]:
    plt = pyplot()
    lim = max(1.0, max(abs(t) for t in thetas))
    grid = np.linspace(-lim, lim, 201)
    coarse = np.linspace(-lim, lim, 41)
    smooth = [smoothed_js(t, noise_std) for t in coarse]
    h = 1e-3  # central differences of the quadrature: the exact derivative of JSD_s
    smooth_grad = [(smoothed_js(t + h, noise_std) - smoothed_js(t - h, noise_std)) / (2 * h) for t in coarse]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4), dpi=90)
    ax.plot(grid, np.abs(grid), color="tab:blue", lw=1.2, label="W = |θ| (exact)")
    ax.plot(grid, np.where(grid == 0, 0.0, LOG2), color="tab:red", lw=1.2, label="JSD = log 2 (exact)")
    ax.plot(coarse, smooth, color="tab:purple", lw=1, ls="--", label=f"JSD, instance noise s = {noise_std:g} (exact)")
    ax.text(-lim, lim * 1.02, "KL = KL_rev = ∞ for every θ ≠ 0", fontsize=7)
    ax.scatter(thetas, sweep["w"], color="tab:blue", marker="o", label="WGAN-GP critic")
    ax.scatter(thetas, sweep["js"], color="tab:red", marker="s", label="f-GAN JS critic")
    ax.scatter(thetas, sweep["js_noise"], color="tab:purple", marker="^", label="JS critic, instance noise")
    ax.set(xlabel="θ", ylim=(-0.05, lim * 1.1))
    ax.set_title("divergence vs θ: exact (lines), trained critics (markers)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax2.plot(grid, np.sign(grid), color="tab:blue", lw=1.2, label="dW/dθ = sign θ (exact)")
    ax2.plot(grid, np.zeros_like(grid), color="tab:red", lw=1.2, label="dJSD/dθ = 0 (exact)")
    ax2.plot(coarse, smooth_grad, color="tab:purple", lw=1, ls="--", label="dJSD/dθ, instance noise (exact)")
    ax2.scatter(thetas, sweep["w_grad"], color="tab:blue", marker="o", label="d/dθ of the WGAN-GP bound")
    ax2.scatter(thetas, sweep["js_grad"], color="tab:red", marker="s", label="d/dθ of the JS bound")
    ax2.scatter(thetas, sweep["js_noise_grad"], color="tab:purple", marker="^", label="d/dθ of the JS bound, noise")
    ax2.set(xlabel="θ")
    ax2.set_title("the gradient a generator receives (critic held fixed)", fontsize=9)
    ax2.legend(fontsize=7)
    f1 = save_figure(fig, out / "divergences_vs_theta.png", tight=True)

    fig, ax = plt.subplots(figsize=(6, 4), dpi=90)
    labels = {"w": "Wasserstein (WGAN-GP critic)", "js": "JS (f-GAN critic)",
              "js_noise": f"JS with instance noise s = {noise_std:g}"}
    colors = {"w": "tab:blue", "js": "tab:red", "js_noise": "tab:purple"}
    for key, path in paths.items():
        ax.plot(range(len(path)), path, color=colors[key], label=labels[key])
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.set(xlabel="θ step (SGD, learning rate decayed linearly to 0)", ylabel="θ")
    ax.set_title("θ trained by each objective from θ0", fontsize=9)
    ax.legend(fontsize=8)
    f2 = save_figure(fig, out / "theta_training.png", tight=True)
    return f1, f2


def run(params: dict[str, Any], out: Path, size: str) -> Result:
    """Exact divergences, trained critics' bounds and their theta-gradients, and theta trained by each objective.

    See the module docstring for the claim and its margins. ``params``: see ``PARAMS``; ``size``:
    "smoke" (seconds) or "full" (minutes). Figures: divergences_vs_theta.png, theta_training.png.
    """
    _check(params, size)
    st = _Setup(_BUDGETS[size], int(params["seed"]), float(params["gp_weight"]), bool(params["one_sided_gp"]))
    thetas = [float(t) for t in params["thetas"]]
    theta0, travel, s = float(params["theta0"]), float(params["theta_travel"]), float(params["noise_std"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    exact = [parallel_lines(t) for t in thetas]
    sweep = _sweep(thetas, s, st)
    paths, grads0 = {}, {}
    for stream, (key, kind, noise) in enumerate((("w", "w", 0.0), ("js", "js", 0.0), ("js_noise", "js", s))):
        paths[key], grads0[key] = _train_theta(kind, noise, theta0, travel, st, stream)
    figures = _figures(out, thetas, sweep, paths, s)

    ends = {k: p[-1] for k, p in paths.items()}
    checks = {
        "js_near_log2": all(abs(v - LOG2) <= 0.1 for v in sweep["js"]),
        "w_near_abs_theta": all(abs(v - abs(t)) <= 0.1 + 0.1 * abs(t) for v, t in zip(sweep["w"], thetas)),
        "js_gradient_vanishes": all(abs(g) <= 0.1 for g in sweep["js_grad"]),
        "w_gradient_is_sign": all(abs(g - math.copysign(1.0, t)) <= 0.25 for g, t in zip(sweep["w_grad"], thetas)),
        "w_moves_theta_to_0": abs(ends["w"]) <= 0.15,
        "js_leaves_theta": abs(ends["js"] - theta0) <= 0.1,
        "noise_moves_theta": abs(theta0) - abs(ends["js_noise"]) >= 0.3,
        "noise_gives_gradient": abs(grads0["js_noise"]) >= 0.1,
    }
    numbers = {
        "thetas": thetas,
        "exact": {"kl": [e.kl if math.isfinite(e.kl) else "inf" for e in exact], "js": [e.js for e in exact],
                  "w1": [e.w1 for e in exact], "js_noise": [smoothed_js(t, s) for t in thetas]},
        "js_estimate": sweep["js"], "w_estimate": sweep["w"], "js_noise_estimate": sweep["js_noise"],
        "js_gradient": sweep["js_grad"], "w_gradient": sweep["w_grad"], "js_noise_gradient": sweep["js_noise_grad"],
        "theta0": theta0, "gradient_at_theta0": grads0, "theta_final": ends,
        "theta_path": {k: p[:: max(1, len(p) // 60)] for k, p in paths.items()},
        "checks": checks,
    }
    verdict = (
        f"JS critics estimate {min(sweep['js']):.3f}..{max(sweep['js']):.3f} (log 2 = {LOG2:.3f}) with "
        f"|dJS/dθ| <= {max(abs(g) for g in sweep['js_grad']):.3f}, WGAN-GP critics are within "
        f"{max(abs(v - abs(t)) for v, t in zip(sweep['w'], thetas)):.3f} of |θ| with |dW/dθ| in "
        f"[{min(abs(g) for g in sweep['w_grad']):.2f}, {max(abs(g) for g in sweep['w_grad']):.2f}]; "
        f"from θ0 = {theta0:g} training by W ends at θ = {ends['w']:.3f}, by JS at {ends['js']:.3f}, by JS with "
        f"instance noise s = {s:g} at {ends['js_noise']:.3f} (its gradient at θ0: {grads0['js_noise']:.3f})."
    )
    return Result(numbers=numbers, verdict=verdict, passed=all(checks.values()), figures=figures)


EXPERIMENT = Experiment(
    name="disjoint-supports",
    lecture="004_a72885b194f54592.txt 'Wasserstein distance vs KL vs JSD'",
    claim=("On two parallel lines JSD stays log 2 and a trained JS critic gives θ no gradient, while W = |θ| gives "
           "gradient sign θ and moves θ to 0; instance noise on the critic's inputs gives JS a gradient again."),
    params=PARAMS,
    run=run,
)
