"""k-NN manifold metrics: improved precision/recall and density/coverage, with chunked float64 distances.

Both estimate each set's support by the union of balls ``B(x_i, NND_k(x_i))``, where ``NND_k(x_i)`` is the
distance from ``x_i`` to its k-th nearest neighbour in its own set (itself excluded). The two papers
differ in the ball test, and we keep each paper's: precision/recall count ``d <= r`` (Kynkaanniemi et al.
2019), density/coverage count ``d < r`` (Naeem et al. 2020).

Note: distances come from ``torch.cdist`` in float64 over row blocks of at most ``BLOCK_ENTRIES`` entries,
so 10k x 10k sets need ~32 MB at a time instead of 800 MB. cdist uses the matrix-product form
``sqrt(|x|^2 + |y|^2 - 2 x.y)`` for speed; in float64 a distance carries an absolute error of about
``1e-8 |x|``, which only matters for points lying exactly on a ball's boundary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from ganlab.metrics._checks import check_features, check_int, check_same_dim

__all__ = ["PRResult", "DCResult", "knn_radii", "precision_recall", "density_coverage"]

#: Largest number of distance entries held at once (float64: 8 bytes each -> 32 MiB).
BLOCK_ENTRIES = 1 << 22


@dataclass(frozen=True)
class PRResult:
    """Improved precision and recall with the protocol (``k``, sample counts, dim, feature network).

    There is no single main value, so no ``__float__``; use ``.precision`` / ``.recall``.
    """

    precision: float
    recall: float
    k: int
    n_real: int
    n_fake: int
    dim: int
    extractor: str | None = None
    weights_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of every field (for JSON logs)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DCResult:
    """Density and coverage with the protocol (``k``, sample counts, dim, feature network).

    There is no single main value, so no ``__float__``; use ``.density`` / ``.coverage``.
    """

    density: float
    coverage: float
    k: int
    n_real: int
    n_fake: int
    dim: int
    extractor: str | None = None
    weights_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of every field (for JSON logs)."""
        return dataclasses.asdict(self)


def _blocks(n_rows: int, n_cols: int):
    step = max(1, BLOCK_ENTRIES // max(n_cols, 1))
    for lo in range(0, n_rows, step):
        yield lo, min(lo + step, n_rows)


def _as_tensor(x: Any, name: str, min_samples: int) -> torch.Tensor:
    return torch.as_tensor(check_features(x, name, min_samples=min_samples))


def knn_radii(x: Any, *, k: int) -> torch.Tensor:
    """``NND_k(x_i) = ||x_i - x_(k)||``: distance from each row to its k-th nearest other row.

    Shapes: ``x``: ``(N, D)`` with ``N >= k + 1`` -> ``(N,)`` float64 tensor.

    The self-distance 0 is the smallest in each row, so the k-th neighbour excluding the point itself is
    the ``(k+1)``-th smallest distance including it; duplicates of ``x_i`` count as neighbours at 0.

    Reference: Kynkaanniemi et al. 2019 (arXiv:1904.06991), eq. (1)-(2); Naeem et al. 2020
    (arXiv:2002.09797), section 3.
    """
    k = check_int(k, "k", minimum=1)
    t = _as_tensor(x, "x", min_samples=1)
    return _knn_radii(t, k, "x")


def _knn_radii(t: torch.Tensor, k: int, name: str) -> torch.Tensor:
    n = t.shape[0]
    if n < k + 1:
        raise ValueError(f"{name} needs at least k + 1 = {k + 1} samples for k-NN radii, got N = {n}")
    out = torch.empty(n, dtype=torch.float64)
    for lo, hi in _blocks(n, n):
        dist = torch.cdist(t[lo:hi], t)
        out[lo:hi] = dist.topk(k + 1, dim=1, largest=False).values[:, k]
    return out


def _fraction_in_balls(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """Fraction of ``points`` with ``||p - c_i|| <= r_i`` for at least one centre ``c_i``."""
    inside = 0
    for lo, hi in _blocks(points.shape[0], centres.shape[0]):
        dist = torch.cdist(points[lo:hi], centres)
        inside += int((dist <= radii[None, :]).any(dim=1).sum())
    return inside / points.shape[0]


def precision_recall(
    real: Any, fake: Any, *, k: int = 3, extractor: str | None = None, weights_hash: str | None = None
) -> PRResult:
    """``precision = (1/M) sum_j 1[exists i: ||Y_j - X_i|| <= NND_k(X_i)]``, recall with real and fake swapped.

    ``X`` = real ``(N, D)``, ``Y`` = fake ``(M, D)``; ``NND_k`` is the distance to the k-th nearest neighbour
    in the point's own set (itself excluded). Needs ``N, M >= k + 1``. Float64.

    Reference: Kynkaanniemi, Karras, Laine, Lehtinen & Aila 2019, "Improved Precision and Recall Metric
    for Assessing Generative Models" (arXiv:1904.06991), eq. (1)-(2), k = 3 (the boundary counts: ``<=``).
    Not in the lectures; it splits the "sharpness" and "diversity" the lectures ask of samples
    (lecture 000_b0081a5cac0268ab.txt, slide "What do we want from samples?") into two numbers.
    """
    k = check_int(k, "k", minimum=1)
    x = _as_tensor(real, "real", min_samples=1)
    y = _as_tensor(fake, "fake", min_samples=1)
    check_same_dim(x, y, "real", "fake")
    r_real = _knn_radii(x, k, "real")
    r_fake = _knn_radii(y, k, "fake")
    return PRResult(
        precision=_fraction_in_balls(y, x, r_real),
        recall=_fraction_in_balls(x, y, r_fake),
        k=k,
        n_real=x.shape[0],
        n_fake=y.shape[0],
        dim=x.shape[1],
        extractor=extractor,
        weights_hash=weights_hash,
    )


def density_coverage(
    real: Any, fake: Any, *, k: int = 5, extractor: str | None = None, weights_hash: str | None = None
) -> DCResult:
    """Density and coverage of fake ``Y`` with respect to the k-NN balls of real ``X``:

        density  = (1/(kM)) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]
        coverage = (1/N) sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))]

    ``X`` = real ``(N, D)`` with ``N >= k + 1``, ``Y`` = fake ``(M, D)``; ``B(c, r) = {y: ||y - c|| < r}``
    (open ball, strict ``<``, as the paper's code). Only real-sample balls are used. Float64.

    For two large samples of the same distribution, density -> 1 and coverage -> 1 - 2^(-k).

    Reference: Naeem, Oh, Uh, Choi & Yoo 2020, "Reliable Fidelity and Diversity Metrics for Generative
    Models" (arXiv:2002.09797), eq. (3)-(4), k = 5. Not in the lectures (see ``precision_recall``).
    """
    k = check_int(k, "k", minimum=1)
    x = _as_tensor(real, "real", min_samples=1)
    y = _as_tensor(fake, "fake", min_samples=1)
    check_same_dim(x, y, "real", "fake")
    r_real = _knn_radii(x, k, "real")
    hits = 0
    for lo, hi in _blocks(y.shape[0], x.shape[0]):
        hits += int((torch.cdist(y[lo:hi], x) < r_real[None, :]).sum())
    covered = 0
    for lo, hi in _blocks(x.shape[0], y.shape[0]):
        nearest_fake = torch.cdist(x[lo:hi], y).min(dim=1).values
        covered += int((nearest_fake < r_real[lo:hi]).sum())
    return DCResult(
        density=hits / (k * y.shape[0]),
        coverage=covered / x.shape[0],
        k=k,
        n_real=x.shape[0],
        n_fake=y.shape[0],
        dim=x.shape[1],
        extractor=extractor,
        weights_hash=weights_hash,
    )
