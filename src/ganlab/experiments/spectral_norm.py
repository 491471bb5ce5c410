"""Spectral norm by power iteration: its error, the persistent-u trick, and prod sigma(W_l) as a Lipschitz bound.

    power iteration   v <- W^T u / ||W^T u||,  u <- W v / ||W v||;   sigma_hat = u^T W v   (``ganlab.lipschitz``)
    its error         (sigma - sigma_hat) / sigma >= 0, non-increasing in the iterations, ~ rho^(4 n),
                      rho = sigma_2 / sigma_1 (sigma_hat^2 = sum a_i^2 s_i^(4n) / sum a_i^2 s_i^(4n-2))
    SN-GAN            ONE iteration per update, u kept from the last update (the weights move little)
    critic bound      ||f||_L <= prod_l sigma(W_l)   (ReLU is 1-Lipschitz; biases do not count)

Three measurements:

1. ``power_iteration`` against ``torch.linalg.svdvals`` and NumPy's SVD (both float64; they agree to
   ~1e-15) for ``n_iters`` iterations from one random start: a Gaussian 256 x 128 matrix, a 128 x 64
   matrix with singular values rho^i (rho = ``rho``), and the weight matrices of a trained WGAN-GP
   critic (MLP 128 x 3 on ``8gaussians`` against data + N(0, I)).
2. A critic with ``apply_spectral_norm`` (one iteration per training-mode forward, u and v persistent
   buffers) trained with Adam at ``sn_lr`` (SN-GAN's 2e-4; WGAN loss against data + N(0, I)): at every
   step the buffers'
   sigma_hat = u^T W v against the exact sigma of the same raw weights, while the weights move; beside
   it, one iteration from a fresh random u at every step, which is what forgetting u would give.
3. The product of the layers' exact spectral norms against the critic's measured Lipschitz constant:
   the largest ||grad f(x)|| over data, fake, interpolated and uniform points, and the largest
   |f(x) - f(y)| / ||x - y|| over random pairs (near and far), for the trained WGAN-GP critic, the
   spectrally normalized one (eval mode: u, v frozen) and an untrained one.

How well one iteration tracks depends on the gap and on how fast the weights turn: the layers of
these critics have sigma_2 / sigma_1 ~ 0.97, where a fixed matrix needs ~100 iterations for an error
of 1e-3 (part 1), and when two nearly equal singular values trade places the tracked u follows the one
that is now second. Over the second half of training (Adam 2e-4), in the 128 x 128 layers the
persistent u was 5.7-7.6 % low (smoke) and 4.1-5.4 % (full) where a fresh u was 26-28 % and 36-37 %
low; in the 128 x 2 first layer 3e-7 against 4e-2 (smoke) but 1.0e-2 against 0.9e-2 (full: two nearly
equal singular values, where one iteration from anywhere is about as good); the last layer (one row)
is exact after one iteration. With Adam at 1e-3 the weights turn faster (17-72 % in 100 steps) and the
persistent u was 12 % low in one layer. A sigma_hat that is low by e makes the normalized layer's
spectral norm 1 / (1 - e) > 1, so the normalized critic's prod sigma exceeds 1.

Margins (``passed``): for every matrix, every iterate is <= sigma (relative 1e-12) and the iterates
never decrease (relative 1e-12), and the error after the most iterations is <= 1e-3; on the rho^i
matrix the measured error ratio per iteration is within 5 % of rho^4; over the second half of
training the persistent u's median error is <= 0.1 in every layer and its mean over the layers at most
a third of the fresh u's; for every critic prod sigma >= both measured constants (relative 1e-6).

Reference: lecture 001_b56ff7e156eb3bba.txt, slides "Spectral Normalization GAN" (Fact 1, Fact 2,
"Critic spectral norm" ||f||_L <= prod sigma(W_k), "Power iteration", Algorithm 1); lecture
000_b0081a5cac0268ab.txt, "Critic spectral norm", "Power iteration", "Algorithm 1 SGD with spectral
normalization". Miyato et al. 2018 (arXiv:1802.05957), Sec. 2.1 and Appendix A; Golub & Van Loan,
Matrix Computations, Sec. 8.2 (power method rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ganlab.data.toy import get_toy_dataset
from ganlab.experiments import Experiment, Result, check_run
from ganlab.experiments.disjoint_supports import fit_critic
from ganlab.lipschitz import SpectralNorm, apply_spectral_norm, interpolate, power_iteration
from ganlab.losses import wasserstein_d_loss
from ganlab.models.mlp import MLPCritic
from ganlab.report import pyplot, save_figure

__all__ = ["EXPERIMENT", "PARAMS", "power_iteration_errors", "lipschitz_measured", "spectral_product", "run"]

_WIDTH = 128


@dataclass(frozen=True)
class _Budget:
    critic_steps: int  # WGAN-GP critic whose weights are the "real" matrices and the unnormalized critic
    sn_steps: int  # steps of the spectrally normalized critic, sigma tracked at each
    batch: int
    n_points: int  # points (and pairs) for the measured Lipschitz constants


_BUDGETS = {
    "smoke": _Budget(critic_steps=150, sn_steps=100, batch=256, n_points=4096),
    "full": _Budget(critic_steps=2000, sn_steps=2000, batch=256, n_points=65536),
}

PARAMS: dict[str, Any] = {
    "seed": 0,
    "n_iters": [1, 2, 3, 5, 10, 20, 50, 100],
    "rho": 0.9,
    "lr": 1e-3,
    "sn_lr": 2e-4,
}


# =========================================================================== measurements


def power_iteration_errors(W: Tensor, n_iters: list[int], generator: torch.Generator) -> dict[str, Any]:
    """(sigma - sigma_hat_n) / sigma for each n in ``n_iters``, all from the same random start u_0, float64.

    sigma: ``torch.linalg.svdvals``; ``numpy_disagreement``: its relative difference from
    ``numpy.linalg.svd``. Shapes: W (H, W_).
    """
    W = W.detach().to(torch.float64)
    sigma = float(torch.linalg.svdvals(W)[0])
    sigma_np = float(np.linalg.svd(W.numpy(), compute_uv=False)[0])
    u0 = torch.randn(W.shape[0], generator=generator, dtype=torch.float64)
    estimates = [float(power_iteration(W, int(n), u0)[0]) for n in n_iters]
    return {"shape": list(W.shape), "sigma": sigma, "numpy_disagreement": abs(sigma - sigma_np) / sigma,
            "estimates": estimates, "relative_error": [(sigma - e) / sigma for e in estimates]}


def spectral_product(critic: nn.Module) -> float:
    """prod_l sigma(W_l) over the critic's Linear layers, exact (``svdvals``, float64), of their current weights
    (the normalized ones for a spectrally normalized layer)."""
    out = 1.0
    for m in critic.modules():
        if isinstance(m, nn.Linear):
            out *= float(torch.linalg.svdvals(m.weight.detach().to(torch.float64))[0])
    return out


def lipschitz_measured(critic: nn.Module, points: Tensor, generator: torch.Generator) -> dict[str, float]:
    """max_x ||grad f(x)|| over ``points`` (N, 2), and max |f(x) - f(y)| / ||x - y|| over N pairs: y = x + delta,
    half of them near (delta ~ N(0, 0.05^2 I)), half far (y another point of the set)."""
    x = points.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    n = points.shape[0]
    near = points + 0.05 * torch.randn(points.shape, generator=generator)
    far = points[torch.randperm(n, generator=generator)]
    y = torch.cat([near[: n // 2], far[n // 2:]])
    with torch.no_grad():
        slope = (critic(points) - critic(y)).abs() / torch.linalg.vector_norm(points - y, dim=1).clamp_min(1e-12)
    return {"max_gradient_norm": float(grad.norm(dim=1).max()), "max_pair_slope": float(slope.max())}


# =========================================================================== the three parts


def _critic(seed: int) -> MLPCritic:
    with torch.random.fork_rng(devices=[]):  # initialized from the experiment's seed; the global RNG untouched
        torch.manual_seed(seed)
        return MLPCritic(2, width=_WIDTH, depth=3)


def _decaying(rho: float, g: torch.Generator) -> Tensor:
    """U diag(rho^0, rho^1, ...) V^T, 128 x 64, U and V random orthonormal (QR of Gaussian matrices)."""
    q1, _ = torch.linalg.qr(torch.randn(128, 64, generator=g, dtype=torch.float64))
    q2, _ = torch.linalg.qr(torch.randn(64, 64, generator=g, dtype=torch.float64))
    return q1 @ torch.diag(rho ** torch.arange(64, dtype=torch.float64)) @ q2.T


def _error_rate(errors: list[float], n_iters: list[int]) -> float:
    """The per-iteration factor of the error, fitted in log space over the iterates with 1e-14 < error < 1e-2."""
    pts = [(n, math.log(e)) for n, e in zip(n_iters, errors) if 1e-14 < e < 1e-2]
    if len(pts) < 2:
        return float("nan")
    slope = np.polyfit([p[0] for p in pts], [p[1] for p in pts], 1)[0]
    return float(math.exp(slope))


def _track_persistent_u(critic: MLPCritic, sample: Any, b: _Budget, lr: float, g: torch.Generator
                        ) -> dict[str, Any]:
    """Train ``critic`` spectrally normalized; at each step sigma_hat = u^T W v of each layer's buffers (just refreshed
    by the step's forward) against the svdvals of the same raw weights, and one iteration from a fresh random u."""
    apply_spectral_norm(critic, generator=g)
    layers = [m for m in critic.modules() if isinstance(m, nn.Linear)]
    raw0 = [m.parametrizations.weight.original.detach().clone() for m in layers]
    opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9), foreach=True)
    persistent: list[list[float]] = [[] for _ in layers]
    fresh: list[list[float]] = [[] for _ in layers]
    for _ in range(b.sn_steps):
        real, fake = sample(b.batch)
        d_real, d_fake = critic(torch.cat([real, fake])).split(b.batch)  # refreshes u, v once (training mode)
        for i, m in enumerate(layers):
            sn: SpectralNorm = m.parametrizations.weight[0]
            W = m.parametrizations.weight.original.detach().to(torch.float64)
            sigma = float(torch.linalg.svdvals(W)[0])
            est = float(sn.u.double() @ W @ sn.v.double())
            persistent[i].append((sigma - est) / sigma)
            fresh_est = float(power_iteration(W, 1, generator=g)[0])
            fresh[i].append((sigma - fresh_est) / sigma)
        loss = wasserstein_d_loss(d_real, d_fake)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    gap = []
    for m in layers:
        s = torch.linalg.svdvals(m.parametrizations.weight.original.detach().to(torch.float64))
        gap.append(float(s[1] / s[0]) if s.numel() > 1 else 0.0)
    moved = [float(torch.linalg.matrix_norm(m.parametrizations.weight.original.detach() - w0)
                   / torch.linalg.matrix_norm(w0)) for m, w0 in zip(layers, raw0)]
    return {"persistent": persistent, "fresh": fresh, "weight_change": moved,
            "shapes": [list(w.shape) for w in raw0], "gap": gap, "critic": critic}


# =========================================================================== figures


def _figures(out: Path, n_iters: list[int], pi: dict[str, dict[str, Any]], rho: float, track: dict[str, Any],
             bounds: dict[str, dict[str, float]]) -> tuple[Path, Path, Path]:
    plt = pyplot()
    floor = 1e-17  # where an error is exactly 0 (a rank-1 matrix after one iteration)
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=90)
    for name, rec in pi.items():
        ax.semilogy(n_iters, [max(e, floor) for e in rec["relative_error"]], marker="o", ms=3, label=name)
    theory = pi[f"spectrum rho^i, rho = {rho:g}"]["relative_error"]
    ax.semilogy(n_iters, [theory[0] * rho ** (4 * (n - n_iters[0])) for n in n_iters], "k:", lw=1,
                label=f"∝ rho^(4n) = {rho ** 4:.3f}^n")
    ax.set(xlabel="power iterations n", ylabel="(σ - σ̂_n) / σ", ylim=(floor / 2, 1.5))
    ax.set_title("power iteration against the SVD (float64)", fontsize=9)
    ax.legend(fontsize=6)
    f1 = save_figure(fig, out / "power_iteration_error.png", tight=True)

    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=90)
    rounding = 1e-9  # u, v are float32 buffers: |error| below ~1e-8 is their rounding
    for i, (pers, fr) in enumerate(zip(track["persistent"], track["fresh"])):
        line, = ax.semilogy([max(abs(e), rounding) for e in pers], lw=1, label=f"layer {i + 1}, persistent u")
        ax.semilogy([max(abs(e), rounding) for e in fr], lw=0.6, ls=":", color=line.get_color(),
                    label=f"layer {i + 1}, fresh u")
    ax.set(xlabel="training step", ylabel="|σ - u^T W v| / σ (floor 1e-9)")
    ax.set_title("one power iteration per step while the critic trains", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    f2 = save_figure(fig, out / "persistent_u.png", tight=True)

    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=90)
    names = list(bounds)
    xs = np.arange(len(names))
    for k, (key, label) in enumerate((("product", "∏ σ(W_l)"), ("max_gradient_norm", "max ||∇f(x)||"),
                                      ("max_pair_slope", "max |f(x)-f(y)|/||x-y||"))):
        ax.bar(xs + (k - 1) * 0.27, [bounds[n][key] for n in names], width=0.27, label=label)
    ax.set_yscale("log")
    ax.set_xticks(xs, names, fontsize=8)
    ax.set_title("the product of spectral norms bounds the critic's Lipschitz constant", fontsize=9)
    ax.legend(fontsize=7)
    f3 = save_figure(fig, out / "lipschitz_bound.png", tight=True)
    return f1, f2, f3


# =========================================================================== the experiment


def _check(params: dict[str, Any], size: str) -> None:
    check_run(EXPERIMENT.name, params, size, PARAMS)
    n_iters = params["n_iters"]
    if not n_iters or any(int(n) != n or int(n) < 1 for n in n_iters) or list(n_iters) != sorted(set(n_iters)):
        raise ValueError(f"n_iters={n_iters!r}: expected increasing integers >= 1")
    if not (0.0 < float(params["rho"]) < 1.0):
        raise ValueError(f"rho={params['rho']!r}: expected a number in (0, 1)")
    for key in ("lr", "sn_lr"):
        if not (math.isfinite(float(params[key])) and float(params[key]) > 0):
            raise ValueError(f"{key}={params[key]!r}: expected a finite number > 0")


def run(params: dict[str, Any], out: Path, size: str) -> Result:
    """Power iteration's error, the persistent-u tracking, and the product bound; see the module docstring.

    ``params``: see ``PARAMS``; ``size``: "smoke" (seconds) or "full" (minutes). Figures:
    power_iteration_error.png, persistent_u.png, lipschitz_bound.png.
    """
    _check(params, size)
    b = _BUDGETS[size]
    seed, rho, lr = int(params["seed"]), float(params["rho"]), float(params["lr"])
    n_iters = [int(n) for n in params["n_iters"]]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    data = get_toy_dataset("8gaussians")

    def sample(n: int) -> tuple[Tensor, Tensor]:
        return data.sample(n, generator=g), data.sample(n, generator=g) + torch.randn(n, 2, generator=g)

    # 1. power iteration against the SVD
    trained = _critic(seed)
    fit_critic(trained, "w", lambda n: data.sample(n, generator=g),
               lambda n: data.sample(n, generator=g) + torch.randn(n, 2, generator=g),
               steps=b.critic_steps, batch=b.batch, generator=g, lr=lr)
    matrices = {"Gaussian 256x128": torch.randn(256, 128, generator=g, dtype=torch.float64),
                f"spectrum rho^i, rho = {rho:g}": _decaying(rho, g)}
    for i, m in enumerate(l for l in trained.modules() if isinstance(l, nn.Linear)):
        matrices[f"trained critic layer {i + 1} ({m.weight.shape[0]}x{m.weight.shape[1]})"] = m.weight
    pi = {name: power_iteration_errors(W, n_iters, g) for name, W in matrices.items()}
    rate = _error_rate(pi[f"spectrum rho^i, rho = {rho:g}"]["relative_error"], n_iters)

    # 2. one iteration per step, u persistent, while the weights move
    track = _track_persistent_u(_critic(seed + 1), sample, b, float(params["sn_lr"]), g)
    half = b.sn_steps // 2  # the second half: after the start-up from the registration's 15 iterations
    pers_median = [float(np.median(e[half:])) for e in track["persistent"]]
    fresh_median = [float(np.median(e[half:])) for e in track["fresh"]]

    # 3. the product bound against measured Lipschitz constants
    points_real, points_fake = sample(b.n_points // 4)
    points = torch.cat([points_real, points_fake, interpolate(points_real, points_fake, generator=g),
                        6.0 * torch.rand(b.n_points // 4, 2, generator=g) - 3.0])
    critics: dict[str, nn.Module] = {"WGAN-GP critic": trained, "spectral norm": track.pop("critic"),
                                     "untrained": _critic(seed + 2)}
    bounds = {}
    for name, critic in critics.items():
        critic.eval()
        bounds[name] = {"product": spectral_product(critic), **lipschitz_measured(critic, points, g)}
        bounds[name]["ratio_to_gradient"] = bounds[name]["product"] / bounds[name]["max_gradient_norm"]

    figures = _figures(out, n_iters, pi, rho, track, bounds)
    checks = {
        "estimates_below_sigma": all(e <= r["sigma"] * (1 + 1e-12) for r in pi.values() for e in r["estimates"]),
        "estimates_non_decreasing": all(b2 >= b1 * (1 - 1e-12) for r in pi.values()
                                        for b1, b2 in zip(r["estimates"], r["estimates"][1:])),
        "converged": all(r["relative_error"][-1] <= 1e-3 for r in pi.values()),
        "rate_is_rho_to_the_4": abs(rate / rho ** 4 - 1.0) <= 0.05,
        "persistent_u_within_10_percent": all(m <= 0.1 for m in pers_median),
        "persistent_beats_fresh": float(np.mean(pers_median)) <= float(np.mean(fresh_median)) / 3,
        "product_bounds_lipschitz": all(v["product"] >= max(v["max_gradient_norm"], v["max_pair_slope"]) * (1 - 1e-6)
                                        for v in bounds.values()),
    }
    numbers = {
        "n_iters": n_iters, "power_iteration": pi, "measured_rate": rate, "rho_to_the_4": rho ** 4,
        "persistent_u": {"median_error_second_half": pers_median,
                         "max_error_second_half": [float(max(e[half:])) for e in track["persistent"]],
                         "fresh_u_median_error_second_half": fresh_median, "weight_change": track["weight_change"],
                         "gap_sigma2_over_sigma1": track["gap"], "shapes": track["shapes"], "steps": b.sn_steps},
        "lipschitz": bounds, "checks": checks,
    }
    verdict = (
        f"Power iteration stays below σ and converges (error after {n_iters[-1]} iterations <= "
        f"{max(r['relative_error'][-1] for r in pi.values()):.1e}; per-iteration factor {rate:.4f} vs rho^4 = "
        f"{rho ** 4:.4f}); one iteration per step with a persistent u keeps the median error per layer at "
        + ", ".join(f"{m:.1e}" for m in pers_median) + " (fresh u: " + ", ".join(f"{m:.1e}" for m in fresh_median)
        + f") while the weights move by "
        f"{100 * min(track['weight_change']):.0f}-{100 * max(track['weight_change']):.0f} %; ∏σ / max||∇f|| = "
        + ", ".join(f"{v['ratio_to_gradient']:.2f} ({n})" for n, v in bounds.items()) + "."
    )
    return Result(numbers=numbers, verdict=verdict, passed=all(checks.values()), figures=figures)


EXPERIMENT = Experiment(
    name="spectral-norm",
    lecture="001_b56ff7e156eb3bba.txt 'Spectral Normalization GAN'",
    claim=("Power iteration approaches σ(W) from below at the rate (σ2/σ1)^(4n); one iteration per step with a "
           "persistent u tracks σ while the critic trains; ∏ σ(W_l) bounds the critic's Lipschitz constant."),
    params=PARAMS,
    run=run,
)
