"""Frechet Inception Distance: features -> (mu, Sigma) -> W2^2 between the two Gaussians.

    FID = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^{1/2} S2 S1^{1/2})^{1/2})

Three exact paths compute the trace term, and the result records which one ran:

- ``"eigh"`` (default from statistics): Cholesky + symmetric eigenvalues, ``ganlab.linalg.trace_sqrt_product``;
  real by construction, exact for singular covariances, ~15x faster than ``sqrtm`` at d = 2048 on one
  thread (docs/BENCHMARKS.md, section fid_speed).
- ``"sample-nuclear"`` (default from features when N <= D, so a covariance is singular): the nuclear norm
  of ``X1c X2c^T / sqrt((n1-1)(n2-1))``, ``ganlab.linalg.trace_sqrt_product_from_samples``; no ``eps * I``.
- ``"legacy-sqrtm"``: the TTUR / pytorch-fid computation (``scipy.linalg.sqrtm(S1 @ S2)``, ``1e-6 I``
  retry, imaginary-part check, real part), kept to reproduce numbers published with those tools.

Reference: lecture 003_74d7f85fefbfef05.txt, slides "Frechet Inception Distance (FID)" (W2 theorem and FID);
lecture 000_b0081a5cac0268ab.txt, slide "Frechet Inception Distance"; Heusel et al. 2017 (arXiv:1706.08500).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

from ganlab.linalg import check_symmetric_psd, trace_sqrt_product_from_samples, trace_sqrt_product_unchecked
from ganlab.metrics._checks import check_features, check_mean_vector, check_same_dim

__all__ = [
    "FIDResult",
    "StreamingStatistics",
    "feature_statistics",
    "fid_from_stats",
    "fid_from_features",
]

#: Offset the reference tools add to both covariances when sqrtm(S1 S2) is not finite.
LEGACY_EPS = 1e-6
#: The reference tools raise when max |Im diag(sqrtm(S1 S2))| exceeds this.
LEGACY_IMAG_ATOL = 1e-3

_STATS_METHODS = ("eigh", "legacy")
_FEATURE_METHODS = ("auto", "eigh", "sample-nuclear", "legacy")


@dataclass(frozen=True)
class FIDResult:
    """An FID value with the protocol that produced it; ``float(result)`` is the FID.

    Fields: ``fid = mean_term + trace_term``; ``mean_term = ||mu1 - mu2||^2``;
    ``trace_term = tr(S1) + tr(S2) - 2 tr((S1^{1/2} S2 S1^{1/2})^{1/2})``; ``path`` in
    {"eigh", "sample-nuclear", "legacy-sqrtm"}; ``dim`` = D; ``n1``, ``n2`` sample counts (None when
    only statistics were given); ``extractor`` and ``weights_hash`` name the features when the caller
    gives them; ``notes`` list anything that changed the computation (e.g. the legacy eps offset).
    """

    fid: float
    mean_term: float
    trace_term: float
    path: str
    dim: int
    n1: int | None = None
    n2: int | None = None
    extractor: str | None = None
    weights_hash: str | None = None
    notes: tuple[str, ...] = ()

    def __float__(self) -> float:
        return self.fid

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of every field (for JSON logs)."""
        return dataclasses.asdict(self)


def feature_statistics(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """``mu = (1/N) sum_i x_i``, ``Sigma = (1/(N-1)) sum_i (x_i - mu)(x_i - mu)^T`` (unbiased, ddof = 1).

    Shapes: ``x``: ``(N, D)`` with ``N >= 2`` -> ``mu``: ``(D,)``, ``Sigma``: ``(D, D)``, float64.

    Reference: Heusel et al. 2017 (arXiv:1706.08500) and its TTUR code (``np.cov(..., rowvar=False)``);
    lecture 000_b0081a5cac0268ab.txt, slide "Frechet Inception Distance" (m and C of the features).
    """
    a = check_features(x, "x")
    mu = a.mean(axis=0)
    xc = a - mu
    sigma = xc.T @ xc / (a.shape[0] - 1)
    return mu, 0.5 * (sigma + sigma.T)


class StreamingStatistics:
    """Running mean and unbiased covariance of feature batches, merged exactly (Chan et al. 1979).

    State in float64: ``n``, ``mean`` ``(D,)`` and ``m2 = sum_i (x_i - mean)(x_i - mean)^T`` ``(D, D)``.
    Merging sets A and B with ``delta = mean_B - mean_A``:

        n = n_A + n_B,  mean = mean_A + delta n_B / n,  m2 = m2_A + m2_B + delta delta^T n_A n_B / n

    and ``covariance = m2 / (n - 1)``. Memory is O(D^2) whatever the number of samples, and the
    result equals ``feature_statistics`` of the concatenated batches up to rounding.

    Note: the centred form avoids the cancellation of ``sum x x^T - n mu mu^T`` (used by some peers),
    which loses digits when features have a large common offset.

    Reference: Chan, Golub & LeVeque 1979, "Updating formulae and a pairwise algorithm for computing
    sample variances".
    """

    def __init__(self, dim: int | None = None) -> None:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1):
            raise ValueError(f"dim must be a positive integer or None, got {dim!r}")
        self.dim: int | None = None if dim is None else int(dim)
        self.n = 0
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def update(self, batch: Any) -> "StreamingStatistics":
        """Add a ``(B, D)`` batch (numpy or torch, any float dtype); returns ``self``."""
        b = check_features(batch, "batch", min_samples=1)
        mean_b = b.mean(axis=0)
        bc = b - mean_b
        self._merge(b.shape[0], mean_b, bc.T @ bc)
        return self

    def merge(self, other: "StreamingStatistics") -> "StreamingStatistics":
        """Fold another accumulator (e.g. from another process) into this one; returns ``self``."""
        if not isinstance(other, StreamingStatistics):
            raise ValueError(f"other must be a StreamingStatistics, got {type(other).__name__}")
        if other.n > 0:
            self._merge(other.n, other._mean, other._m2)
        return self

    def _merge(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        d = mean_b.shape[0]
        if self.dim is None:
            self.dim = d
        elif d != self.dim:
            raise ValueError(f"batch has feature dimension D = {d}, expected D = {self.dim} like earlier batches")
        if self.n == 0:
            self.n, self._mean, self._m2 = int(n_b), mean_b.copy(), m2_b.copy()
            return
        n_a = self.n
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 = self._m2 + m2_b + np.outer(delta, delta) * (n_a * n_b / n)
        self.n = n

    @property
    def mean(self) -> np.ndarray:
        """``(D,)`` running mean; ValueError before any sample."""
        if self.n < 1:
            raise ValueError("no samples accumulated yet: call update() with a (B, D) batch first")
        return self._mean.copy()

    @property
    def covariance(self) -> np.ndarray:
        """``(D, D)`` unbiased covariance ``m2 / (n - 1)``; ValueError with fewer than 2 samples."""
        if self.n < 2:
            raise ValueError(f"the covariance needs at least 2 samples, got n = {self.n}")
        sigma = self._m2 / (self.n - 1)
        return 0.5 * (sigma + sigma.T)

    def compute(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, Sigma)`` as ``feature_statistics`` would return for all samples seen."""
        return self.mean, self.covariance


def _legacy_trace_sqrt(s1: np.ndarray, s2: np.ndarray) -> tuple[float, tuple[str, ...]]:
    """tr(sqrtm(S1 S2)) exactly as TTUR / pytorch-fid compute it (without the ``disp`` argument scipy 1.18 removed)."""
    notes: list[str] = []
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if isinstance(covmean, tuple):  # pragma: no cover - only older scipy with disp=False returns a tuple
        covmean = covmean[0]
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(s1.shape[0]) * LEGACY_EPS
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
        notes.append(
            f"sqrtm(S1 S2) was not finite; added {LEGACY_EPS:g} * I to both covariances (reference tools' retry)"
        )
    if np.iscomplexobj(covmean):
        imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if imag > LEGACY_IMAG_ATOL:
            raise ValueError(
                f"legacy sqrtm(S1 S2) has an imaginary diagonal component {imag:.3g} > {LEGACY_IMAG_ATOL:g}; "
                "use method='eigh', which is real by construction"
            )
        covmean = covmean.real
    return float(np.trace(covmean)), tuple(notes)


def fid_from_stats(
    mu1: Any,
    sigma1: Any,
    mu2: Any,
    sigma2: Any,
    *,
    method: str = "eigh",
    n1: int | None = None,
    n2: int | None = None,
    extractor: str | None = None,
    weights_hash: str | None = None,
) -> FIDResult:
    """``FID = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^{1/2} S2 S1^{1/2})^{1/2})``.

    Shapes: ``mu1``, ``mu2``: ``(D,)``; ``sigma1``, ``sigma2``: ``(D, D)`` symmetric PSD; float64.

    ``method="eigh"`` (default) uses ``ganlab.linalg.trace_sqrt_product`` (symmetric eigenproblems; exact
    for singular covariances). ``method="legacy"`` reproduces TTUR / pytorch-fid: ``sqrtm(S1 @ S2)``; if not
    finite, retry with ``1e-6 I`` added to both; raise if ``max |Im diag| > 1e-3``; take the real part.
    ``n1``, ``n2``, ``extractor``, ``weights_hash`` are only recorded in the result.

    Reference: lecture 003_74d7f85fefbfef05.txt, slide "Frechet Inception Distance (FID)"; Heusel et
    al. 2017 (arXiv:1706.08500).

    Note: the value is not clamped at 0; identical statistics give 0 up to rounding (~1e-12 * tr(S)).
    """
    if method not in _STATS_METHODS:
        raise ValueError(f"method must be one of {_STATS_METHODS}, got {method!r}")
    s1 = check_symmetric_psd(sigma1, "sigma1")
    s2 = check_symmetric_psd(sigma2, "sigma2")
    if s1.shape != s2.shape:
        raise ValueError(f"sigma1 and sigma2 must have the same shape, got {s1.shape} and {s2.shape}")
    d = s1.shape[0]
    m1 = check_mean_vector(mu1, "mu1", d)
    m2 = check_mean_vector(mu2, "mu2", d)
    diff = m1 - m2
    mean_term = float(diff @ diff)
    if method == "legacy":
        tr_sqrt, notes = _legacy_trace_sqrt(s1, s2)
        path = "legacy-sqrtm"
    else:
        tr_sqrt, notes, path = trace_sqrt_product_unchecked(s1, s2), (), "eigh"
    trace_term = float(np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)
    return FIDResult(
        fid=mean_term + trace_term,
        mean_term=mean_term,
        trace_term=trace_term,
        path=path,
        dim=d,
        n1=n1,
        n2=n2,
        extractor=extractor,
        weights_hash=weights_hash,
        notes=notes,
    )


def fid_from_features(
    x1: Any,
    x2: Any,
    *,
    method: str = "auto",
    extractor: str | None = None,
    weights_hash: str | None = None,
) -> FIDResult:
    """FID between the Gaussians fitted (unbiased covariances) to two feature sets.

    Shapes: ``x1``: ``(N1, D)``, ``x2``: ``(N2, D)``, ``N1, N2 >= 2``; float64 internally.

    ``method``: ``"auto"`` (default) runs ``"sample-nuclear"`` when ``min(N1, N2) <= D`` (a covariance of
    rank ``<= N - 1 < D`` is singular) and ``"eigh"`` otherwise; ``"sample-nuclear"`` computes

        tr((S1^{1/2} S2 S1^{1/2})^{1/2}) = ||X1c X2c^T||_* / sqrt((N1 - 1)(N2 - 1)),
        tr(S_k) = ||Xkc||_F^2 / (N_k - 1)

    from the centred features without forming ``D x D`` matrices; ``"eigh"`` and ``"legacy"`` go through
    ``feature_statistics`` and ``fid_from_stats``.

    Reference: lecture 003_74d7f85fefbfef05.txt, slide "Frechet Inception Distance (FID)"; Heusel et
    al. 2017 (arXiv:1706.08500).

    Note: no ``eps * I`` offset is ever added on the default paths, so a small-sample FID is the exact
    FID of the sample statistics (which is itself biased upwards for small N; see Chong & Forsyth 2020).
    """
    if method not in _FEATURE_METHODS:
        raise ValueError(f"method must be one of {_FEATURE_METHODS}, got {method!r}")
    a = check_features(x1, "x1")
    b = check_features(x2, "x2")
    check_same_dim(a, b, "x1", "x2")
    n1, n2, d = a.shape[0], b.shape[0], a.shape[1]
    if method == "auto":
        method = "sample-nuclear" if min(n1, n2) <= d else "eigh"
    if method != "sample-nuclear":
        mu1, s1 = feature_statistics(a)
        mu2, s2 = feature_statistics(b)
        return fid_from_stats(
            mu1, s1, mu2, s2, method=method, n1=n1, n2=n2, extractor=extractor, weights_hash=weights_hash
        )
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    diff = mu1 - mu2
    mean_term = float(diff @ diff)
    tr1 = float(np.sum((a - mu1) ** 2) / (n1 - 1))
    tr2 = float(np.sum((b - mu2) ** 2) / (n2 - 1))
    trace_term = tr1 + tr2 - 2.0 * trace_sqrt_product_from_samples(a, b)
    return FIDResult(
        fid=mean_term + trace_term,
        mean_term=mean_term,
        trace_term=trace_term,
        path="sample-nuclear",
        dim=d,
        n1=n1,
        n2=n2,
        extractor=extractor,
        weights_hash=weights_hash,
    )
