"""Input validation shared by the metric modules: every failure is a ValueError naming the value and what was expected.

All checks return float64 numpy arrays (torch tensors are detached and moved to the CPU), so that the
metric code below them works on one type and one precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganlab.linalg import as_float64

__all__ = [
    "check_features",
    "check_same_dim",
    "check_mean_vector",
    "check_int",
    "check_probabilities",
    "check_logits",
]


def check_features(x: Any, name: str, *, min_samples: int = 2) -> np.ndarray:
    """``x`` as a finite float64 ``(N, D)`` array with ``N >= min_samples``; ValueError otherwise."""
    a = as_float64(x, name)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array of features, got shape {tuple(a.shape)}")
    if a.shape[1] < 1:
        raise ValueError(f"{name} must have at least 1 feature dimension, got shape {tuple(a.shape)}")
    if a.shape[0] < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} samples, got N = {a.shape[0]}")
    if not np.all(np.isfinite(a)):
        bad = int(np.sum(~np.isfinite(a)))
        raise ValueError(f"{name} must be finite, got {bad} non-finite (nan/inf) entries")
    return a


def check_same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ValueError if the last (feature) dimensions of ``a`` and ``b`` differ."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same feature dimension, got D = {a.shape[-1]} and {b.shape[-1]}"
        )


def check_mean_vector(mu: Any, name: str, dim: int) -> np.ndarray:
    """``mu`` as a finite float64 ``(D,)`` vector with ``D == dim``."""
    a = as_float64(mu, name)
    if a.ndim != 1 or a.shape[0] != dim:
        raise ValueError(f"{name} must be a ({dim},) vector to match its covariance, got shape {tuple(a.shape)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {int(np.sum(~np.isfinite(a)))} non-finite entries")
    return a


def check_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_probabilities(p: Any, name: str, *, atol: float = 1e-3) -> np.ndarray:
    """``p`` as a float64 ``(N, C)`` array of rows on the simplex: entries ``>= 0``, ``|sum - 1| <= atol``."""
    a = check_features(p, name, min_samples=1)
    if a.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 classes, got shape {tuple(a.shape)}")
    low = float(a.min())
    if low < 0.0:
        raise ValueError(
            f"{name} must be non-negative probabilities, got minimum {low:.6g} (pass from_logits=True for logits)"
        )
    sums = a.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > atol:
        raise ValueError(
            f"{name} rows must sum to 1 (tolerance {atol:g}), got row {worst} summing to {sums[worst]:.6g} "
            "(pass from_logits=True for logits)"
        )
    return a


def check_logits(z: Any, name: str) -> np.ndarray:
    """``z`` as a finite float64 ``(N, C)`` array with ``C >= 2``."""
    a = check_features(z, name, min_samples=1)
    if a.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 classes, got shape {tuple(a.shape)}")
    return a
