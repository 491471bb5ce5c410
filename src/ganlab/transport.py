"""Optimal transport: exact Wasserstein distances between samples, 1-D quantile forms, W2 between Gaussians.

Conventions (lecture 004_a72885b194f54592.txt, slides "Wasserstein distance (discrete)",
"Wasserstein distance (continuous)" and "Wasserstein metric"; the lectures write ``W_s``):

    W_s(P, Q)   = inf_{gamma in Gamma(P, Q)} (E_{(x, y) ~ gamma} ||x - y||^s)^(1/s),   W = W_1
    W_s^s(P, Q) = int_0^1 |F^-1(t) - G^-1(t)|^s dt              (1-D: F, G the CDFs of P, Q)
    W_2^2(N(m1, S1), N(m2, S2)) = ||m1 - m2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)   (= FID)

``Gamma(P, Q)`` is the set of couplings (joint distributions with marginals P and Q); between two
weighted samples it is the transport polytope and ``W_1`` is a linear program. In 1-D the optimal
coupling matches quantiles, so equal-size samples are matched in sorted order.

References: lecture 004_a72885b194f54592.txt (also 002_12706ff463d72203.txt), slides above;
lecture 003_74d7f85fefbfef05.txt, slide "Frechet Inception Distance (FID)" (Theorem: W2 between
Gaussians); Peyre & Cuturi 2019, "Computational Optimal Transport", Remark 2.30 (1-D); Dowson &
Landau 1982 (Gaussians). Exact transport is POT's network simplex (``ot.emd2``).

The sample-based functions take numpy arrays or tensors and compute in float64 (``wasserstein1``,
``w2_gaussians``: Python floats); ``w1_1d`` and ``w2_1d`` stay in torch and are differentiable.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import ot
import scipy.spatial.distance
import torch

from ganlab.linalg import as_float64, check_gaussians, trace_sqrt_product

__all__ = ["w1_1d", "w2_1d", "w2_gaussians", "wasserstein1"]


# ----------------------------------------------------------------------------------------------
# Exact W1 between sample sets (POT)
# ----------------------------------------------------------------------------------------------
def _weights(w: Any, n: int, name: str) -> np.ndarray:
    if w is None:
        return np.full(n, 1.0 / n)
    a = as_float64(w, name)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the samples, got {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0) or a.sum() <= 0:
        raise ValueError(f"{name} must be finite, >= 0 and not all 0, got min {a.min()!r}, sum {a.sum()!r}")
    return a / a.sum()


def _samples(x: Any, name: str) -> np.ndarray:
    a = as_float64(x, name)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N,) or (N, D) with N, D >= 1, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {int(np.sum(~np.isfinite(a)))} non-finite entries")
    return a


def wasserstein1(x: Any, y: Any, *, weights_x: Any = None, weights_y: Any = None) -> float:
    """Exact ``W1 = min_{gamma in Gamma(a, b)} sum_ij gamma_ij ||x_i - y_j||_2`` between sample sets.

    Shapes: ``x`` ``(N, D)`` or ``(N,)``, ``y`` ``(M, D)`` or ``(M,)``; ``weights_x`` ``(N,)``,
    ``weights_y`` ``(M,)``, non-negative, normalised to sum 1 (default uniform). Float64;
    returns a float.

    Reference: lecture 004_a72885b194f54592.txt, slides "Wasserstein distance (discrete)" and
    "(continuous)"; solved as a linear program by POT's network simplex (``ot.emd2``,
    Bonneel et al. 2011). In 1-D the exact quantile formula (``ot.wasserstein_1d``) is used.

    Note: the cost matrix is built with ``scipy.spatial.distance.cdist`` (no ``|x|^2 + |y|^2 - 2xy``
    cancellation), so ``W1(x, x) = 0`` exactly. The network simplex costs about ``O(N^3)``; a
    few thousand points per side take seconds. Raises RuntimeError if it does not converge.
    """
    xa, ya = _samples(x, "x"), _samples(y, "y")
    if xa.shape[1] != ya.shape[1]:
        raise ValueError(f"x and y must have the same dimension D, got {xa.shape[1]} and {ya.shape[1]}")
    a = _weights(weights_x, xa.shape[0], "weights_x")
    b = _weights(weights_y, ya.shape[0], "weights_y")
    if xa.shape[1] == 1:
        return float(ot.wasserstein_1d(xa[:, 0], ya[:, 0], a, b, p=1))
    cost = scipy.spatial.distance.cdist(xa, ya, metric="euclidean")
    n_iter = max(100_000, 50 * (xa.shape[0] + ya.shape[0]) ** 2)
    value, log = ot.emd2(a, b, cost, numItermax=n_iter, log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd2 did not solve the transport problem exactly: {log['warning']}")
    return float(value)


# ----------------------------------------------------------------------------------------------
# 1-D: the quantile form, differentiable
# ----------------------------------------------------------------------------------------------
def _sorted_1d(x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    xt = x if isinstance(x, torch.Tensor) else torch.as_tensor(as_float64(x, "x"))
    yt = y if isinstance(y, torch.Tensor) else torch.as_tensor(as_float64(y, "y"))
    for t, name in ((xt, "x"), (yt, "y")):
        if not torch.is_floating_point(t):
            raise ValueError(f"{name} must be floating point, got dtype {t.dtype}")
        if not (t.ndim == 1 or (t.ndim == 2 and t.shape[1] == 1)):
            raise ValueError(f"{name} must have shape (N,) or (N, 1), got {tuple(t.shape)}")
    xt, yt = xt.reshape(-1), yt.reshape(-1)
    if xt.numel() == 0 or xt.numel() != yt.numel():
        raise ValueError(f"x and y must be non-empty and of equal size, got {xt.numel()} and {yt.numel()}")
    dtype = torch.promote_types(xt.dtype, yt.dtype)
    return torch.sort(xt.to(dtype)).values, torch.sort(yt.to(dtype)).values


def w1_1d(x: Any, y: Any) -> torch.Tensor:
    """``W1 = (1/N) sum_i |x_(i) - y_(i)|`` between equal-size 1-D samples (order statistics).

    Shapes: ``x``, ``y`` ``(N,)`` or ``(N, 1)`` tensors (or arrays, taken as float64); returns a
    0-d tensor, differentiable with respect to the samples.

    Reference: the quantile form ``W_s^s = int_0^1 |F^-1(t) - G^-1(t)|^s dt`` of the Wasserstein
    metric of lecture 004_a72885b194f54592.txt, slide "Wasserstein distance (continuous) /
    Wasserstein metric"; Peyre & Cuturi 2019, Remark 2.30.
    """
    xs, ys = _sorted_1d(x, y)
    return (xs - ys).abs().mean()


def w2_1d(x: Any, y: Any) -> torch.Tensor:
    """``W2 = sqrt((1/N) sum_i (x_(i) - y_(i))^2)`` between equal-size 1-D samples (order statistics).

    Shapes: as ``w1_1d``; returns a 0-d tensor.

    Reference: as ``w1_1d``.

    Note: the gradient of ``sqrt`` is infinite at 0 (identical samples).
    """
    xs, ys = _sorted_1d(x, y)
    return ((xs - ys) ** 2).mean().sqrt()


# ----------------------------------------------------------------------------------------------
# W2 between Gaussians (the FID formula)
# ----------------------------------------------------------------------------------------------
def w2_gaussians(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> float:
    """``W2(N1, N2) = sqrt(||m1 - m2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2))`` (FID = W2^2).

    Shapes: ``mu`` ``(d,)`` with ``cov`` ``(d, d)`` (symmetric PSD, singular allowed), or scalars
    (mean, *variance*). Float64; returns a float.

    Reference: lecture 003_74d7f85fefbfef05.txt, slide "Frechet Inception Distance (FID)"
    (Theorem: W2 between Gaussians); Dowson & Landau 1982; Heusel et al. 2017 (arXiv:1706.08500).
    The trace term is ``ganlab.linalg.trace_sqrt_product``.

    Note: rounding can make ``W2^2`` slightly negative for equal inputs; it is clamped at 0.
    """
    m1, s1, m2, s2 = check_gaussians(mu1, cov1, mu2, cov2)
    d2 = float(np.sum((m1 - m2) ** 2)) + float(np.trace(s1) + np.trace(s2)) - 2.0 * trace_sqrt_product(s1, s2)
    return math.sqrt(max(d2, 0.0))
