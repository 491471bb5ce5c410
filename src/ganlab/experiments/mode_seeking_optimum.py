"""The Gaussian that minimizes a divergence to a 1-D mixture, by quadrature: the reference of ``mode-seeking``.

    D(mu, sigma) = D_f(P || N(mu, sigma^2)) = int q f(p/q) dx     (ganlab's argument order: P the data)
                 = W1(P, N(mu, sigma^2))   = int |F_P - F_Q| dx   (``"w1"``)
    theta*       = argmin_{mu, sigma} D(mu, sigma)                 (``optimal_gaussian``)
    S_eps        = {(mu, sigma) : D(mu, sigma) <= D(theta*) + eps}  (``sublevel_extent``: how far S_eps reaches)
    D < inf      for sigma in (sigma_lo, sigma_hi), from the tail exponents of f  (``finite_sigma_range``)

D is computed by the trapezoid rule on a grid of step min_k s_k / 10, wide enough for every Gaussian of the
search box, with the integrand written as q f(r) where r = p/q <= 1 and p f(r)/r where r > 1, so that
neither factor overflows (``objective_on_grid``); ``tv`` and W1, whose integrands have kinks, in closed
form between the crossings of p and q, resp. of F_P and F_Q (``exact_value``). The objective is
multimodal for mode-seeking divergences, so it is first evaluated on a coarse grid of (mu, log sigma) over
the box mu in [min m - 2 max s, max m + 2 max s], sigma in [min s / 4, 3 std(P)]; Nelder-Mead then starts
from every local minimum of that grid, and the lowest result is the optimum (all of them are reported).

Reference: lecture 004_a72885b194f54592.txt, slide "Jensen-Shannon vs Kullback-Leibler" (pi a fixed
mixture of 2 Gaussians, p = N(mu, sigma^2)); Nowozin et al. 2016 (f-GAN, arXiv:1606.00709), Sec. 2 and
its Gaussian fitted to a mixture by each divergence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.optimize
import scipy.special
import torch

from ganlab.data.toy import ToyDataset
from ganlab.divergences import DIVERGENCES, FDivergence

__all__ = ["W1", "Fit", "exact_value", "finite_sigma_range", "gaussian_log_pdf", "objective_on_grid",
           "optimal_gaussian", "quadrature_grid", "search_box", "search_ranges", "sublevel_extent", "tail_exponent"]

W1 = "w1"
#: Objectives whose integrand has kinks (|p - q|, |F_P - F_Q|): computed in closed form between the crossings.
KINKED = ("tv", W1)


@dataclass(frozen=True)
class Fit:
    """A Gaussian N(mean, std^2) and, for an optimum, the objective's value there."""

    mean: float
    std: float
    value: float = math.nan


def gaussian_log_pdf(x: np.ndarray | float, mu: np.ndarray | float, sigma: np.ndarray | float) -> np.ndarray:
    """log N(x; mu, sigma^2) = -(x - mu)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2, broadcast over the
    arguments."""
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * math.log(2 * math.pi)


def search_ranges(data: ToyDataset) -> tuple[tuple[float, float], tuple[float, float]]:
    """The search box: mu in [min m - 2 max s, max m + 2 max s], sigma in [min s / 4, 3 std(P)]."""
    m, s, w = data.modes[:, 0], data.std_per_mode(), data.weights
    mean = float(w @ m)
    spread = math.sqrt(float(w @ (s**2 + m**2)) - mean**2)
    return (float(m.min() - 2 * s.max()), float(m.max() + 2 * s.max())), (float(s.min() / 4), float(3 * spread))


def search_box(data: ToyDataset, step: float) -> tuple[tuple[float, float], tuple[float, float], np.ndarray]:
    """The search box (mu range, sigma range: ``search_ranges``) and an x grid of about ``step`` that holds every
    Gaussian of it to 8 sigma."""
    m, s = data.modes[:, 0], data.std_per_mode()
    mu_range, sigma_range = search_ranges(data)
    lo = min(mu_range[0] - 8 * sigma_range[1], float((m - 12 * s).min()))
    hi = max(mu_range[1] + 8 * sigma_range[1], float((m + 12 * s).max()))
    x = np.linspace(lo, hi, int(math.ceil((hi - lo) / step)) + 1)
    return mu_range, sigma_range, x


def quadrature_grid(data: ToyDataset) -> np.ndarray:
    """The x grid of ``search_box`` at step min_k s_k / 10 (the one every quadrature here uses)."""
    return search_box(data, float(data.std_per_mode().min()) / 10)[2]


def tail_exponent(div: FDivergence, at: str) -> float:
    """a with |f(u)| ~ u^a as u -> 0 (``at="0"``) or u -> inf (``at="inf"``), to 0.01: the slope of log|f| against
    log u between u = 1e-150 and 1e-300 (1e100 and 1e150), where a logarithmic factor moves it by < 0.01.

    E.g. Neyman (1 - u)^2 / u: -1 at 0; Pearson (u - 1)^2: 2 at inf; KL u log u: 1 at both; TV: 0 at 0, 1 at inf.
    """
    u = torch.tensor([1e-150, 1e-300] if at == "0" else [1e100, 1e150], dtype=torch.float64)
    with torch.no_grad():
        log_f = torch.log(torch.abs(div.f(u)))
    return round(float((log_f[1] - log_f[0]) / (torch.log(u[1]) - torch.log(u[0]))), 2) + 0.0  # no -0.0


def finite_sigma_range(div: FDivergence, data: ToyDataset) -> tuple[float, float]:
    """(sigma_lo, sigma_hi): D_f(P || N(mu, sigma^2)) < inf exactly for sigma in this interval (any mu).

    In P's tails the widest component s = max s_k dominates, so log r = log p - log q ~ x^2 (1/sigma^2 -
    1/s^2) / 2 and, with |f(u)| ~ u^a (``tail_exponent``; a_0 where r -> 0, i.e. sigma > s, and a_inf where
    r -> inf, sigma < s), q f(r) ~ exp(x^2 ((a - 1)/sigma^2 - a/s^2) / 2), integrable iff
    (a - 1)/sigma^2 < a/s^2:
        sigma_hi = s sqrt((1 - a_0)/(-a_0))     when a_0 < 0   (Neyman, a_0 = -1: sqrt(2) s)
        sigma_lo = s sqrt((a_inf - 1)/a_inf)    when a_inf > 1 (Pearson, alpha-2, a_inf = 2: s / sqrt(2))
    and (0, inf) otherwise.
    """
    s = float(data.std_per_mode().max())
    a_0, a_inf = tail_exponent(div, "0"), tail_exponent(div, "inf")
    hi = s * math.sqrt((1.0 - a_0) / -a_0) if a_0 < 0 else math.inf
    lo = s * math.sqrt((a_inf - 1.0) / a_inf) if a_inf > 1 else 0.0
    return lo, hi


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
    log_q = gaussian_log_pdf(x, mu, sigma)
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
    if name not in KINKED:
        return float(objective_on_grid(name, data, np.array([mu]), np.array([sigma]), x)[0])
    m, s, w = data.modes[:, 0], data.std_per_mode(), data.weights
    if name == "tv":
        def h(t: np.ndarray) -> np.ndarray:
            return data.log_pdf(t) - gaussian_log_pdf(t, mu, sigma)

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
    (mu_lo, mu_hi), (s_lo, s_hi), x = search_box(data, s_min / 10)
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


def sublevel_extent(name: str, data: ToyDataset, best: Fit, epsilon: float, *, minima: Sequence[Fit] = (),
                    grid: tuple[int, int] = (31, 41)) -> tuple[float, float]:
    """How far S_eps = {(mu, sigma) in the box : D(mu, sigma) <= D(theta*) + eps} reaches from theta*:
    (max |mu - mu*|, max |sigma - sigma*|) over S_eps, every connected part of it included.

    ``best`` is the optimum and ``minima`` the other local minima (``optimal_gaussian``'s two values),
    ``epsilon`` >= 0. A coarse grid of ``grid[0]`` x ``grid[0]`` points (sigma log-spaced) over the search box
    finds the bounding box of S_eps (grown by one cell, and holding the optimum and every local minimum with
    D <= D* + eps, whose basins may be smaller than a cell); twice, a grid of ``grid[1]`` x ``grid[1]``
    points (both linear) over the bounding box so far measures S_eps and shrinks the box to it (grown by one
    cell). The extent is resolved to about 1/(grid[1] - 1) of itself; one that reaches the search box's edge
    is a lower bound.

    Note: D is ``objective_on_grid`` here (the trapezoid rule; for ``tv`` it is within ~1e-4 of the closed
    form), so an ``epsilon`` below that error is not resolved.
    """
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon!r}")
    x = quadrature_grid(data)
    (mu_lo, mu_hi), (s_lo, s_hi) = search_ranges(data)
    level = best.value + epsilon

    def inside(mus: np.ndarray, sigmas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mg, sg = np.meshgrid(mus, sigmas, indexing="ij")
        flat_mu, flat_sigma = mg.ravel(), sg.ravel()
        values = np.concatenate([objective_on_grid(name, data, flat_mu[i : i + 256], flat_sigma[i : i + 256], x)
                                 for i in range(0, flat_mu.size, 256)])  # rows of 256: temporaries stay in cache
        return mg, sg, (values <= level).reshape(mg.shape)

    held = [best, *(g for g in minima if g.value <= level)]

    def bounds(mus: np.ndarray, sigmas: np.ndarray, mask: np.ndarray) -> tuple[float, float, float, float]:
        mask = mask.copy()
        for g in held:
            mask[int(np.abs(mus - g.mean).argmin()), int(np.abs(sigmas - g.std).argmin())] = True
        rows, cols = np.nonzero(mask)
        lo_i, hi_i = max(rows.min() - 1, 0), min(rows.max() + 1, mus.size - 1)
        lo_j, hi_j = max(cols.min() - 1, 0), min(cols.max() + 1, sigmas.size - 1)
        return mus[lo_i], mus[hi_i], sigmas[lo_j], sigmas[hi_j]

    mus = np.linspace(mu_lo, mu_hi, grid[0])
    sigmas = np.exp(np.linspace(math.log(s_lo), math.log(s_hi), grid[0]))
    box = bounds(mus, sigmas, inside(mus, sigmas)[2])
    extent = (max(abs(g.mean - best.mean) for g in held), max(abs(g.std - best.std) for g in held))
    for _ in range(2):
        mus, sigmas = np.linspace(box[0], box[1], grid[1]), np.linspace(box[2], box[3], grid[1])
        mg, sg, mask = inside(mus, sigmas)
        if mask.any():
            extent = (max(extent[0], float(np.abs(mg[mask] - best.mean).max())),
                      max(extent[1], float(np.abs(sg[mask] - best.std).max())))
        box = bounds(mus, sigmas, mask)
    return extent
