"""Mode covering vs mode seeking: one Gaussian fitted to a mixture of two, by every f-divergence and by W1.

    p(x)        = sum_k w_k N(x | m_k, s_k^2)                 the data P (pi in the lectures)
    q_theta(x)  = N(x | mu, sigma^2),   G(z) = mu + sigma z   the model Q, theta = (mu, log sigma), z ~ N(0, 1)
    optimum     theta* = argmin_theta D_f(P || Q_theta),   D_f(P || Q) = E_Q f(p/q)  (ganlab's argument order)
                theta* = argmin_theta W1(P, Q_theta)                              (W1 = int |F_P - F_Q| dx)
    trained     f-GAN: the critic v maximizes E_P g_f(v) - E_Q f*(g_f(v)) (``losses.fgan_d_loss``), the
                generator minimizes -E_Q f*(g_f(v(G(z)))) (``losses.fgan_g_loss``, saturating); W1: a WGAN-GP critic

With P the data, ``kl`` is the forward KL(P||Q) (mode covering: its minimizer over Gaussians matches the
mixture's mean and variance) and ``reverse-kl`` is KL(Q||P) (mode seeking).

Optimum. D_f(P||Q_theta) = int q f(p/q) dx by the trapezoid rule on a grid of step min_k s_k / 10, wide
enough for every Gaussian of the search box, with the integrand written as q f(r) where r = p/q <= 1 and
p f(r)/r where r > 1, so that neither factor overflows (``tv`` and W1, whose integrands have kinks, in
closed form between the crossings of p and q, resp. of F_P and F_Q: ``exact_value``). The objective is
multimodal for mode-seeking divergences, so it is first evaluated on a coarse grid of (mu, log sigma) over
the box mu in [min m - 2 max s, max m + 2 max s], sigma in [min s / 4, 3 std(P)]; Nelder-Mead then starts
from every local minimum of that grid, and the lowest result is the optimum (all of them are reported as
``local_minima``).

Trained. Every objective starts from the same Gaussian, N(mean(P), min s * max s): when max s < 2 min s
every divergence of the table is finite there (Pearson and alpha-2 need sigma^2 > max s^2 / 2, Neyman
sigma^2 < 2 max s^2). The critic is ``MLPCritic(1)`` (2 x 32 ELU), trained ``n_critic`` Adam steps per
generator step (and ``warmup`` steps first) on fresh batches; the generator's z are stratified
(z_i = Phi^-1((i + u_i)/n)), a variance reduction for the two-parameter gradient, and its learning rate
decays to 0 on a cosine. The trained (mu, sigma) is the average of the last quarter of the iterates.
W1's critic has a one-sided gradient penalty (lambda = 10; ``lipschitz.gradient_penalty(one_sided=True)``,
WGAN-GP Sec. 4): with the two-sided penalty a critic whose slope starts with the wrong sign cannot turn
over, since the penalty is 10 at slope 0 and the dual objective gains only 2 W1 < 10 (measured: 1-D ELU
critics stayed upside down and the generator ran away).

Which optima are compared (``counted``). Every optimum here is unique and finite (no divergence of the
table is infinite for every Gaussian when p has full support), but for three objectives the f-GAN's
saddle point, as reached by a neural critic, is not that minimizer; they are trained and reported, and
not counted:
  * ``tv``: T* = sign(p - q)/2 is piecewise constant, so the generator's gradient E_Q T'(G(z)) dG/dtheta
    at the optimal critic is 0 almost everywhere; the generator follows the critic's approximation error.
  * ``neyman``: D = +inf for sigma^2 >= 2 max s^2 (q^2/p is not integrable), a wall the descent path runs
    along (from the start D falls fastest by widening q), and a finite critic on finite samples sees only a
    finite estimate beyond it; where p >> q (the other mode) T* = 1 - q^2/p^2 is reached at v* -> -inf,
    where the critic's gradient d f*(g_f(v)) / dv = -e^(v/2) vanishes. Measured: one seed crossed the wall
    and stalled at N(-1.21, 0.94^2), the full run reached the heavier mode but too narrow, N(-1.48, 0.55^2),
    against the optimum N(-1.48, 0.62^2).
  * ``jeffrey``: the f-GAN activation is g_f(v) = v. Where q >> p (q's tails), T* = log r + 1 - 1/r
    runs to -q/p, but the critic's gradient there is f*'(T) = r -> 0, so the critic stays above T*, the
    generator pays too little for q's tails, and the fit comes out too wide (std +0.06 to +0.11 over
    every critic setting tried: 5 or 10 critic steps, critic lr 2e-3 or 5e-3, width 32 or 64).
    Reverse KL has the same T* = -q/p, but its g_f(v) = -e^(-v) keeps the gradient in v at 1.

Passed when (1) the forward-KL optimum is the moment match (mean and std to 1e-3) and covers both modes
(mu +- 2 sigma holds every m_k), (2) reverse KL has a minimum (global or local) that covers a single mode,
and (3) for every counted objective that was trained, |mean - mean*| and |std - std*| are at most
``margin`` (0.05 at full size; 0.15 at smoke size, which trains only ``kl`` and ``reverse-kl`` for a few
hundred steps).

Reference: lecture 004_a72885b194f54592.txt, slide "Jensen-Shannon vs Kullback-Leibler" (Mode covering vs
mode seeking: pi a fixed mixture of 2 Gaussians, p = N(mu, sigma^2)); Nowozin et al. 2016 (f-GAN,
arXiv:1606.00709), the variational divergence minimization and its Gaussian fitted to a mixture by each
divergence; Gulrajani et al. 2017 (WGAN-GP, arXiv:1704.00028).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.optimize
import scipy.special
import torch

from ganlab.data.toy import ToyDataset, mixture_1d
from ganlab.divergences import DIVERGENCES, FDivergence
from ganlab.experiments import SIZES, Experiment, Result
from ganlab.files import atomic_write
from ganlab.lipschitz import gradient_penalty
from ganlab.losses import fgan_d_loss, fgan_g_loss, wasserstein_d_loss, wasserstein_g_loss
from ganlab.models.mlp import MLPCritic
from ganlab.report import pyplot

__all__ = ["EXPERIMENT", "Fit", "exact_value", "modes_covered", "objective_on_grid", "optimal_gaussian", "run",
           "train_gaussian"]

W1 = "w1"
#: Objectives trained at smoke size (the lecture's pair).
SMOKE_OBJECTIVES = ("kl", "reverse-kl")
#: Objectives whose f-GAN saddle point is not the minimizer of D_f here (see the module docstring).
NOT_COUNTED = {
    "tv": "T* = sign(p - q)/2 is piecewise constant: the generator gets no gradient at the optimal critic",
    "neyman": ("D = +inf for sigma^2 >= 2 max s^2, a wall the descent path runs along and a sample-based critic "
               "cannot see; where p >> q the critic's gradient -e^(v/2) vanishes"),
    "jeffrey": ("g_f(v) = v: where q >> p, T* = log r + 1 - 1/r -> -q/p, but the critic's gradient there, f*'(T) = r, "
                "vanishes, so T stays above T* and q's tails look cheap: the fit comes out too wide"),
}
_KINKED = ("tv", W1)
_STEPS = {"smoke": 200, "full": 1500}
_WARMUP = {"smoke": 100, "full": 200}
_N_CRITIC = {"smoke": 3, "full": 5}
_BATCH = {"smoke": 512, "full": 2048}
_MARGIN = {"smoke": 0.15, "full": 0.05}
#: learning rates (generator, critic): the short smoke run needs larger steps
_LR = {"smoke": (0.03, 3e-3), "full": (0.02, 2e-3)}


@dataclass(frozen=True)
class Fit:
    """A Gaussian N(mean, std^2) and, for an optimum, the objective's value there."""

    mean: float
    std: float
    value: float = math.nan


# ----------------------------------------------------------------------------------------------
# The optimum by quadrature
# ----------------------------------------------------------------------------------------------
def _box(data: ToyDataset, step: float) -> tuple[tuple[float, float], tuple[float, float], np.ndarray]:
    """The search box (mu range, sigma range) and an x grid of about ``step`` that holds every Gaussian of it
    to 8 sigma."""
    m, s, w = data.modes[:, 0], data.std_per_mode(), data.weights
    mean = float(w @ m)
    spread = math.sqrt(float(w @ (s**2 + m**2)) - mean**2)
    mu_range = (float(m.min() - 2 * s.max()), float(m.max() + 2 * s.max()))
    sigma_range = (float(s.min() / 4), float(3 * spread))
    lo = min(mu_range[0] - 8 * sigma_range[1], float((m - 12 * s).min()))
    hi = max(mu_range[1] + 8 * sigma_range[1], float((m + 12 * s).max()))
    x = np.linspace(lo, hi, int(math.ceil((hi - lo) / step)) + 1)
    return mu_range, sigma_range, x


def objective_on_grid(name: str, data: ToyDataset, mu: np.ndarray, sigma: np.ndarray, x: np.ndarray) -> np.ndarray:
    """D_f(P || N(mu, sigma^2)) = int q f(p/q) dx (or W1 = int |F_P - F_Q| dx) by the trapezoid rule on x.

    Shapes: ``mu``, ``sigma`` (K,) -> (K,); ``x`` (X,) an increasing grid. ``name`` is a key of
    ``DIVERGENCES`` or ``"w1"``.

    Note: the integrand is q f(r) where r = p/q <= 1 and p (f(r)/r) where r > 1 (the larger density times a
    factor that stays finite), with log r clipped to [-700, 700]; where both densities underflow it is 0.
    A value of +inf stands for a divergence beyond float range (never at an optimum).
    """
    mu = np.asarray(mu, np.float64)[:, None]
    sigma = np.asarray(sigma, np.float64)[:, None]
    if name == W1:
        m, s, w = data.modes[:, 0], data.std_per_mode(), data.weights
        cdf_p = (w[:, None] * scipy.special.ndtr((x[None, :] - m[:, None]) / s[:, None])).sum(0)
        return np.trapezoid(np.abs(cdf_p[None, :] - scipy.special.ndtr((x - mu) / sigma)), x, axis=1)
    div = DIVERGENCES[name]
    log_p = data.log_pdf(x)[None, :]
    log_q = -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * math.log(2 * math.pi)
    log_r = np.clip(log_p - log_q, -700.0, 700.0)
    r = np.exp(log_r)
    with torch.no_grad():
        f_r = div.f(torch.from_numpy(r)).numpy()
    with np.errstate(over="ignore", invalid="ignore"):
        integrand = np.where(log_r <= 0.0, np.exp(log_q) * f_r, np.exp(log_p) * (f_r / r))
    integrand = np.where(np.maximum(log_p, log_q) < -745.0, 0.0, integrand)
    integrand = np.where(np.isnan(integrand), np.inf, integrand)
    with np.errstate(over="ignore", invalid="ignore"):
        value = np.trapezoid(integrand, x, axis=1)
    return np.where(np.isnan(value), np.inf, value)


def _crossings(h, x: np.ndarray) -> list[float]:
    """The roots of h between consecutive points of x where h changes sign (brentq to 1e-14)."""
    values = h(x)
    cells = np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[0]
    return [scipy.optimize.brentq(lambda t: float(h(np.array([t]))[0]), x[i], x[i + 1], xtol=1e-14) for i in cells]


def _psi(z: np.ndarray) -> np.ndarray:
    """psi(z) = z Phi(z) + phi(z), the antiderivative of Phi (so int Phi((x - m)/s) dx = s psi((x - m)/s))."""
    return z * scipy.special.ndtr(z) + np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def exact_value(name: str, data: ToyDataset, mu: float, sigma: float, x: np.ndarray) -> float:
    """``tv`` and ``w1`` in closed form between the crossings; every other name as ``objective_on_grid``.

    TV = (1/2) sum_I |P(I) - Q(I)| over the intervals I between the roots of p = q; W1 = sum_I |int_I (F_P -
    F_Q) dx| over the intervals between the roots of F_P = F_Q, with int Phi((x - m)/s) dx = s psi((x - m)/s).
    The roots are bracketed on ``x`` and refined by brentq.
    """
    if name not in _KINKED:
        return float(objective_on_grid(name, data, np.array([mu]), np.array([sigma]), x)[0])
    m, s, w = data.modes[:, 0], data.std_per_mode(), data.weights
    if name == "tv":
        def h(t: np.ndarray) -> np.ndarray:
            return data.log_pdf(t) + 0.5 * ((t - mu) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)

        cuts = np.array(_crossings(h, x))
        inner = (w[:, None] * scipy.special.ndtr((cuts - m[:, None]) / s[:, None])).sum(0)
        cdf_p = np.concatenate([[0.0], inner, [1.0]])
        cdf_q = np.concatenate([[0.0], scipy.special.ndtr((cuts - mu) / sigma), [1.0]])
        return float(0.5 * np.abs(np.diff(cdf_p) - np.diff(cdf_q)).sum())

    def g(t: np.ndarray) -> np.ndarray:
        cdf_p = (w[:, None] * scipy.special.ndtr((t - m[:, None]) / s[:, None])).sum(0)
        return cdf_p - scipy.special.ndtr((t - mu) / sigma)

    def antiderivative(t: np.ndarray) -> np.ndarray:
        return (w[:, None] * s[:, None] * _psi((t - m[:, None]) / s[:, None])).sum(0) - sigma * _psi((t - mu) / sigma)

    # outside [x_0, x_-1] both CDFs are 0 (left) or 1 (right) to double precision: no mass moves there
    edges = np.array([x[0], *_crossings(g, x), x[-1]])
    return float(np.abs(np.diff(antiderivative(edges))).sum())


def optimal_gaussian(name: str, data: ToyDataset, *, grid: tuple[int, int] = (31, 25)) -> tuple[Fit, list[Fit]]:
    """argmin over (mu, sigma) of ``objective_on_grid``: the global minimum and every local minimum found.

    A coarse grid of ``grid`` = (n_mu, n_sigma) points (sigma log-spaced) over the search box, then
    Nelder-Mead on (mu, log sigma) from each strict local minimum of the grid. Returns (global, locals),
    locals sorted by value (the global one first).

    Note: the x step is min s / 10 (at least 0.4 sigma for every Gaussian of the box): for smooth
    integrands the trapezoid rule converges geometrically, ~exp(-2 pi^2 sigma^2 / dx^2). The integrands of
    ``tv`` and ``w1`` have kinks where p = q (F_P = F_Q), where it is only second order and the flat
    optimum moved by 1e-3, so their Nelder-Mead runs on ``exact_value``.
    """
    s_min = float(data.std_per_mode().min())
    (mu_lo, mu_hi), (s_lo, s_hi), x = _box(data, s_min / 10)
    mus = np.linspace(mu_lo, mu_hi, grid[0])
    log_sigmas = np.linspace(math.log(s_lo), math.log(s_hi), grid[1])
    mu_grid, ls_grid = np.meshgrid(mus, log_sigmas, indexing="ij")
    values = objective_on_grid(name, data, mu_grid.ravel(), np.exp(ls_grid.ravel()), x).reshape(mu_grid.shape)
    padded = np.pad(values, 1, constant_values=np.inf)
    is_min = np.isfinite(values)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                is_min &= values < padded[1 + di : 1 + di + values.shape[0], 1 + dj : 1 + dj + values.shape[1]]
    starts = list(zip(*np.nonzero(is_min))) or [np.unravel_index(np.argmin(values), values.shape)]

    def objective(theta: np.ndarray) -> float:
        return exact_value(name, data, float(theta[0]), math.exp(float(theta[1])), x)

    found: list[Fit] = []
    for i, j in starts:
        res = scipy.optimize.minimize(objective, np.array([mus[i], log_sigmas[j]]), method="Nelder-Mead",
                                      options={"xatol": 1e-7, "fatol": 1e-13, "maxiter": 4000})
        fit = Fit(float(res.x[0]), float(math.exp(res.x[1])), float(res.fun))
        if all(abs(fit.mean - g.mean) > 1e-3 or abs(fit.std - g.std) > 1e-3 for g in found):
            found.append(fit)
    found.sort(key=lambda g: g.value)
    return found[0], found


# ----------------------------------------------------------------------------------------------
# The adversarial fit
# ----------------------------------------------------------------------------------------------
def _stratified_normal(n: int, generator: torch.Generator) -> torch.Tensor:
    """z_i = Phi^-1((i + u_i) / n), u_i ~ U[0, 1): n standard normals, one per quantile stratum. (n, 1)."""
    u = (torch.arange(n, dtype=torch.float64) + torch.rand(n, generator=generator, dtype=torch.float64)) / n
    return torch.special.ndtri(u).float()[:, None]


def train_gaussian(objective: FDivergence | str, data: ToyDataset, *, start: Fit, steps: int, n_critic: int,
                   warmup: int, batch_size: int, seed: int, g_lr: float = 0.02, d_lr: float = 2e-3,
                   width: int = 32) -> tuple[Fit, np.ndarray]:
    """The generator G(z) = mu + sigma z trained against a critic: f-GAN for an ``FDivergence``, WGAN-GP for "w1".

    Critic: ``warmup`` Adam steps, then ``n_critic`` per generator step, each on fresh batches of
    ``batch_size`` data and generated points, Adam lr ``d_lr``, betas (0.5, 0.999). Generator: Adam on (mu, log
    sigma), lr ``g_lr`` on a cosine schedule to 0, betas (0.5, 0.999). Returns the average of the last quarter
    of the iterates and the trajectory (steps, 2) of (mu, sigma).

    Reference: Nowozin et al. 2016 (f-GAN), Algorithm 1 with the saturating generator loss (whose fixed
    point is the minimizer of D_f over the model, unlike the non-saturating one when P is not in the
    model); Gulrajani et al. 2017 (WGAN-GP), Algorithm 1 with the one-sided penalty.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    critic = MLPCritic(1, width=width, depth=2, activation="elu")
    theta = torch.tensor([start.mean, math.log(start.std)], dtype=torch.float32, requires_grad=True)
    opt_d = torch.optim.Adam(critic.parameters(), lr=d_lr, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam([theta], lr=g_lr, betas=(0.5, 0.999))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt_g, steps)

    def generate() -> torch.Tensor:
        return theta[0] + theta[1].exp() * _stratified_normal(batch_size, gen)

    def critic_step() -> None:
        real, fake = data.sample(batch_size, generator=gen), generate().detach()
        if isinstance(objective, FDivergence):
            out = critic(torch.cat([real, fake]))
            loss = fgan_d_loss(out[:batch_size], out[batch_size:], divergence=objective)
        else:
            loss = wasserstein_d_loss(critic(real), critic(fake))
            loss = loss + gradient_penalty(critic, real, fake, gp_weight=10.0, one_sided=True, generator=gen)
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()

    for _ in range(warmup):
        critic_step()
    path = np.empty((steps, 2))
    for step in range(steps):
        for _ in range(n_critic):
            critic_step()
        d_fake = critic(generate())
        if isinstance(objective, FDivergence):
            g_loss = fgan_g_loss(d_fake, divergence=objective)
        else:
            g_loss = wasserstein_g_loss(d_fake)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        schedule.step()
        path[step] = (float(theta[0].detach()), math.exp(float(theta[1].detach())))
    tail = path[(3 * steps) // 4 :]
    return Fit(float(tail[:, 0].mean()), float(tail[:, 1].mean())), path


# ----------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------
def modes_covered(fit: Fit, data: ToyDataset) -> int:
    """How many component means m_k lie in [mean - 2 std, mean + 2 std]."""
    return int(np.sum(np.abs(data.modes[:, 0] - fit.mean) <= 2.0 * fit.std))


def _positive_int(params: dict[str, Any], key: str, *, zero_ok: bool) -> int:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero_ok else 1):
        expected = "0 (the size's default) or a positive integer" if zero_ok else "a positive integer"
        raise ValueError(f"{key} must be {expected}, got {value!r}")
    return value


def _params(params: dict[str, Any], size: str) -> dict[str, Any]:
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    unknown = sorted(set(params) - set(EXPERIMENT.params))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} of mode-seeking; expected {sorted(EXPERIMENT.params)}")
    p = {**EXPERIMENT.params, **params}
    try:
        p["data"] = mixture_1d(weights=p["weights"], means=p["means"], stds=p["stds"])
    except ValueError as exc:
        raise ValueError(f"weights / means / stds: {exc}") from None
    known = [*DIVERGENCES, W1]
    names = [str(n) for n in p["divergences"]]
    if names == ["all"]:
        names = list(SMOKE_OBJECTIVES) if size == "smoke" else known
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise ValueError(f"divergences: unknown name(s) {bad or names}; expected 'all' or names from {known}")
    p["divergences"] = list(dict.fromkeys(names))
    defaults = {"steps": _STEPS, "warmup": _WARMUP, "n_critic": _N_CRITIC, "batch_size": _BATCH}
    for key, default in defaults.items():
        p[key] = _positive_int(p, key, zero_ok=True) or default[size]
    p["seed"] = _positive_int(p, "seed", zero_ok=True)
    p["margin"] = float(p["margin"]) or _MARGIN[size]
    if not (math.isfinite(p["margin"]) and p["margin"] > 0):
        raise ValueError(f"margin must be 0 (the size's default) or a positive number, got {params.get('margin')!r}")
    return p


def _figure(path: Path, data: ToyDataset, names: list[str], minima: dict[str, list[Fit]],
            trained: dict[str, Fit]) -> Path:
    """p, and per objective its global minimizer (dashed), other local minima (dotted), the trained fit (solid)."""
    plt = pyplot()
    cols = min(4, len(names))
    rows = int(math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), dpi=90, squeeze=False, sharex=True)
    m, s = data.modes[:, 0], data.std_per_mode()
    x = np.linspace(float((m - 4 * s).min()) - 1.0, float((m + 4 * s).max()) + 1.0, 600)
    p = data.pdf(x)

    def normal(fit: Fit) -> np.ndarray:
        return np.exp(-0.5 * ((x - fit.mean) / fit.std) ** 2) / (fit.std * math.sqrt(2 * math.pi))

    for ax, name in zip(axes.ravel(), names):
        best = minima[name][0]
        ax.fill_between(x, p, color="tab:orange", alpha=0.3, label="p (data)")
        for other in minima[name][1:]:
            ax.plot(x, normal(other), ":", color="0.45", lw=1.0, label="local minimum")
        ax.plot(x, normal(best), "k--", lw=1.2, label="optimum")
        title = f"{name}: N({best.mean:.2f}, {best.std:.2f}²)"
        if name in trained:
            ax.plot(x, normal(trained[name]), color="tab:blue", lw=1.2, label="trained")
            title += f"\ntrained N({trained[name].mean:.2f}, {trained[name].std:.2f}²)"
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    handles = {}
    for ax in axes.ravel():
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(list(handles.values()), list(handles), fontsize=7, loc="upper center", ncol=len(handles))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.4 * rows)))
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


def run(params: dict[str, Any], out: Path, size: str) -> Result:
    """The optimum (by quadrature) and the trained fit of every objective in ``divergences`` (and the optimum of
    ``kl`` and ``reverse-kl`` always).

    numbers: ``divergences.<name>`` = {``optimum``: {mean, std, value}, ``local_minima``: [{mean, std, value}],
    ``modes_covered`` (of the optimum), ``trained``: {mean, std} or None, ``error``: {mean, std} (trained -
    optimum) or None, ``counted``, ``note``, ``within_margin``}, with W1 under ``divergences.w1``; ``moments``
    {mean, std} of P; ``start``, ``margin``, ``steps``, ``n_critic``, ``warmup``, ``batch_size``.
    """
    p = _params(params, size)
    data: ToyDataset = p["data"]
    m, s, w = data.modes[:, 0], data.std_per_mode(), data.weights
    moments = Fit(float(w @ m), math.sqrt(float(w @ (s**2 + m**2)) - float(w @ m) ** 2))
    start = Fit(moments.mean, math.sqrt(float(s.min() * s.max())))

    # the optimum of every trained objective, and always of the lecture's pair (the claim is about them)
    names = [n for n in [*DIVERGENCES, W1] if n in p["divergences"] or n in ("kl", "reverse-kl")]
    optimum: dict[str, Fit] = {}
    minima: dict[str, list[Fit]] = {}
    for name in names:
        optimum[name], minima[name] = optimal_gaussian(name, data)
    trained: dict[str, Fit] = {}
    for k, name in enumerate(p["divergences"]):
        objective = W1 if name == W1 else DIVERGENCES[name]
        g_lr, d_lr = _LR[size]
        trained[name], _ = train_gaussian(objective, data, start=start, steps=p["steps"], n_critic=p["n_critic"],
                                          warmup=p["warmup"], batch_size=p["batch_size"], seed=p["seed"] + k,
                                          g_lr=g_lr, d_lr=d_lr)

    margin = p["margin"]
    table: dict[str, Any] = {}
    for name in optimum:
        opt, fit = optimum[name], trained.get(name)
        error = None if fit is None else {"mean": fit.mean - opt.mean, "std": fit.std - opt.std}
        table[name] = {
            "optimum": {"mean": opt.mean, "std": opt.std, "value": opt.value},
            "local_minima": [{"mean": g.mean, "std": g.std, "value": g.value} for g in minima[name]],
            "modes_covered": modes_covered(opt, data),
            "trained": None if fit is None else {"mean": fit.mean, "std": fit.std},
            "error": error,
            "counted": name not in NOT_COUNTED,
            "note": NOT_COUNTED.get(name),
            "within_margin": None if error is None else bool(max(abs(error["mean"]), abs(error["std"])) <= margin),
        }

    kl, rkl = optimum["kl"], optimum["reverse-kl"]
    kl_is_moments = abs(kl.mean - moments.mean) <= 1e-3 and abs(kl.std - moments.std) <= 1e-3
    kl_covers = modes_covered(kl, data) == len(m)
    seeking = [g for g in minima["reverse-kl"] if modes_covered(g, data) == 1]
    compared = [n for n in trained if table[n]["counted"]]
    misses = [n for n in compared if not table[n]["within_margin"]]
    passed = bool(kl_is_moments and kl_covers and seeking and not misses)

    worst = max((max(abs(table[n]["error"]["mean"]), abs(table[n]["error"]["std"])) for n in compared),
                default=math.nan)
    if seeking and seeking[0] is minima["reverse-kl"][0]:
        rkl_text = f"reverse KL's global minimum N({rkl.mean:.3f}, {rkl.std:.3f}^2) sits on one mode"
    elif seeking:
        g = seeking[0]
        rkl_text = (f"reverse KL's one-mode minimum N({g.mean:.3f}, {g.std:.3f}^2) is local (D = {g.value:.4f} "
                    f"against the global {rkl.value:.4f} at N({rkl.mean:.3f}, {rkl.std:.3f}^2))")
    else:
        rkl_text = f"reverse KL has no one-mode minimum (global N({rkl.mean:.3f}, {rkl.std:.3f}^2))"
    one_mode = [n for n in optimum if table[n]["modes_covered"] == 1]
    uncounted = [n for n in trained if not table[n]["counted"]]
    uncounted_text = "; not counted: " + ", ".join(
        f"{n} (off by {max(abs(table[n]['error']['mean']), abs(table[n]['error']['std'])):.3f})" for n in uncounted
    ) if uncounted else ""
    verdict = (
        f"Forward KL's minimizer N({kl.mean:.3f}, {kl.std:.3f}^2) is the moment match and covers "
        f"{table['kl']['modes_covered']} of {len(m)} modes, {rkl_text}, the global minimizers of "
        f"{', '.join(one_mode) or 'no objective'} sit on one mode; {len(compared) - len(misses)} of {len(compared)} "
        f"counted trained fits ({', '.join(compared) or 'none'}) land within {margin:g} of the minimizer "
        f"(worst {worst:.3f}){'; missed: ' + ', '.join(misses) if misses else ''}{uncounted_text}."
    )
    figures = (_figure(Path(out) / "fits.png", data, names, minima, trained),)
    numbers = {
        "divergences": table,
        "moments": {"mean": moments.mean, "std": moments.std},
        "start": {"mean": start.mean, "std": start.std},
        "margin": margin, "steps": p["steps"], "n_critic": p["n_critic"], "warmup": p["warmup"],
        "batch_size": p["batch_size"], "trained_objectives": list(trained),
    }
    return Result(numbers=numbers, verdict=verdict, passed=passed, figures=figures)


EXPERIMENT = Experiment(
    name="mode-seeking",
    lecture="004_a72885b194f54592.txt 'Jensen-Shannon vs Kullback-Leibler'",
    claim=("Fitting one Gaussian to a mixture of two, forward KL matches the moments and covers both modes while "
           "reverse KL has a minimum on a single mode; the f-GAN of each divergence (WGAN-GP for W1) trains the "
           "two-parameter generator to that divergence's minimizer, except TV, Neyman and Jeffrey, whose saddle "
           "point with a neural critic is not the minimizer (reasons in the numbers)."),
    params={"weights": [0.6, 0.4], "means": [-1.5, 1.5], "stds": [0.6, 0.6], "divergences": ["all"], "seed": 0,
            "steps": 0, "warmup": 0, "n_critic": 0, "batch_size": 0, "margin": 0.0},
    run=run,
)
