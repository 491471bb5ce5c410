"""Dense linear algebra for metrics: validation of covariances, square roots, the trace term of W2 between Gaussians.

Everything here is float64, takes numpy arrays or torch tensors, and works with symmetric
factorizations only (Cholesky, ``eigh``/``eigvalsh``, SVD), so results are real by construction: no
complex parts to discard and no Schur decomposition of a non-symmetric matrix, which is what
``scipy.linalg.sqrtm(S1 @ S2)`` (the reference FID tools' path) costs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import torch

__all__ = [
    "as_float64",
    "check_gaussians",
    "check_symmetric_psd",
    "sqrtm_psd",
    "trace_sqrt_product",
    "trace_sqrt_product_from_samples",
    "trace_sqrt_product_unchecked",
]

#: Relative tolerance of the symmetry check: ``max|A - A^T| <= SYM_RTOL * max|A|``.
SYM_RTOL = 1e-6
#: Relative tolerance of the PSD check: eigenvalues below ``-PSD_RTOL * max|lambda|`` are an error;
#: eigenvalues in ``[-PSD_RTOL * max|lambda|, 0)`` are rounding noise and are clamped to 0.
PSD_RTOL = 1e-6
#: A covariance is factored by Cholesky when its smallest pivot exceeds this times its largest diagonal
#: entry (condition number below ~1e10); otherwise the eigen-decomposition path handles it exactly.
CHOL_PIVOT_RTOL = 1e-10


def as_float64(x: Any, name: str = "x") -> np.ndarray:
    """Return ``x`` (numpy array, torch tensor or nested list) as a float64 numpy array.

    Torch tensors are detached and moved to the CPU first.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array or tensor, got {type(x).__name__}") from exc


def check_symmetric_psd(a: Any, name: str = "sigma") -> np.ndarray:
    """Validate a square, finite, symmetric matrix and return it symmetrised, as float64.

    Shape ``(d, d)``. Raises ValueError naming ``name`` when the matrix is not 2-D, not square,
    not finite or not symmetric to ``SYM_RTOL`` (relative to its largest entry). Positive
    semi-definiteness is checked where the eigenvalues are computed (``sqrtm_psd``,
    ``trace_sqrt_product``), so that no extra decomposition is paid for here.
    """
    a = as_float64(a, name)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square (d, d) matrix, got shape {tuple(a.shape)}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} must be at least 1 x 1, got shape {tuple(a.shape)}")
    asym = _max_asymmetry(a)  # nan or inf iff some entry is not finite
    if not np.isfinite(asym):
        raise ValueError(f"{name} must be finite, got {int(np.sum(~np.isfinite(a)))} non-finite entries")
    scale = max(float(np.max(a)), -float(np.min(a)))  # = max|A| without an abs() temporary
    if asym > SYM_RTOL * scale:
        raise ValueError(
            f"{name} must be symmetric, got max|A - A^T| = {asym:.3g} > {SYM_RTOL:g} * max|A| = {SYM_RTOL * scale:.3g}"
        )
    return a if asym == 0.0 else _symmetrize(a)


def check_gaussians(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate two Gaussians ``N(mu1, cov1)``, ``N(mu2, cov2)`` of one dimension and return ``(m1, s1, m2, s2)``.

    Shapes: each ``mu`` a scalar (mean) or ``(d,)``, each ``cov`` a scalar (*variance*) or ``(d, d)``;
    returns float64 ``(d,)``, ``(d, d)``, ``(d,)``, ``(d, d)``, scalars promoted to ``d = 1``. Raises
    ValueError naming the argument (``mu1``, ``cov2``, ...) when a mean is not a finite vector, a
    covariance fails ``check_symmetric_psd`` or does not match its mean, or the dimensions differ.
    Positive (semi-)definiteness is left to the factorization the caller needs.

    Used by ``ganlab.divergences.kl_gaussians`` and ``ganlab.transport.w2_gaussians``.
    """
    m1, s1 = _gaussian(mu1, cov1, "1")
    m2, s2 = _gaussian(mu2, cov2, "2")
    if m1.shape != m2.shape:
        raise ValueError(f"mu1 and mu2 must have the same dimension, got {m1.shape} and {m2.shape}")
    return m1, s1, m2, s2


def _gaussian(mu: Any, cov: Any, which: str) -> tuple[np.ndarray, np.ndarray]:
    m = as_float64(mu, f"mu{which}")
    s = as_float64(cov, f"cov{which}")
    if m.ndim == 0:
        m = m.reshape(1)
    if s.ndim == 0:
        s = s.reshape(1, 1)
    if m.ndim != 1:
        raise ValueError(f"mu{which} must be a scalar or a (d,) vector, got shape {m.shape}")
    s = check_symmetric_psd(s, f"cov{which}")
    if s.shape != (m.shape[0], m.shape[0]):
        raise ValueError(f"cov{which} must be ({m.shape[0]}, {m.shape[0]}) to match mu{which}, got {s.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"mu{which} must be finite, got {m}")
    return m, s


_TILE = 256  # square tiles keep the transposed reads in cache: ~3x faster than a - a.T at d = 2048


def _tiles(d: int):
    for i in range(0, d, _TILE):
        for j in range(i, d, _TILE):
            yield slice(i, i + _TILE), slice(j, j + _TILE)


def _max_asymmetry(a: np.ndarray) -> float:
    """``max |A - A^T|`` by square tiles; non-finite (nan or inf) iff some entry of ``A`` is not finite."""
    worst = 0.0
    with np.errstate(invalid="ignore"):  # inf - inf = nan is the signal we want
        for r, c in _tiles(a.shape[0]):
            tile = float(np.max(np.abs(a[r, c] - a[c, r].T)))
            if not np.isfinite(tile):
                return tile
            worst = max(worst, tile)
    return worst


def _symmetrize(a: np.ndarray) -> np.ndarray:
    """``(A + A^T) / 2`` by square tiles, as a new array."""
    out = np.empty_like(a)
    for r, c in _tiles(a.shape[0]):
        avg = 0.5 * (a[r, c] + a[c, r].T)
        out[r, c] = avg
        out[c, r] = avg.T
    return out


def _eigh_psd(a: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a symmetric matrix checked to be PSD; negative rounding noise -> 0."""
    w, v = scipy.linalg.eigh(a, driver="evd", check_finite=False)
    _check_eigenvalues_psd(w, name)
    return np.clip(w, 0.0, None), v


def _check_eigenvalues_psd(w: np.ndarray, name: str) -> None:
    top = float(np.max(np.abs(w))) if w.size else 0.0
    low = float(np.min(w)) if w.size else 0.0
    if low < -PSD_RTOL * top:
        raise ValueError(
            f"{name} must be positive semi-definite, got eigenvalue {low:.6g} < -{PSD_RTOL:g} * max|lambda| "
            f"= {-PSD_RTOL * top:.3g}"
        )


def _rank_tol(w: np.ndarray, n: int) -> float:
    """Eigenvalues at or below this are zero to working precision (numpy's matrix_rank rule)."""
    return float(np.max(np.abs(w), initial=0.0)) * n * np.finfo(np.float64).eps


def sqrtm_psd(a: Any) -> np.ndarray:
    """Principal square root ``A^{1/2} = V diag(sqrt(max(lambda, 0))) V^T`` of a symmetric PSD matrix.

    Shapes: ``(d, d) -> (d, d)``, float64, symmetric PSD, real.

    Reference: the matrix square roots in the W2/FID formula, lecture 003_74d7f85fefbfef05.txt,
    slide "Frechet Inception Distance (FID)" (Theorem: W2 between Gaussians).

    Note: eigenvalues in ``[-PSD_RTOL * max|lambda|, 0)`` are rounding noise of a PSD matrix and
    are clamped to 0; more negative ones raise ValueError.
    """
    a = check_symmetric_psd(a, "a")
    w, v = _eigh_psd(a, "a")
    root = (v * np.sqrt(w)) @ v.T
    return 0.5 * (root + root.T)


def trace_sqrt_product(sigma1: Any, sigma2: Any) -> float:
    """``tr((S1^{1/2} S2 S1^{1/2})^{1/2})`` for symmetric PSD ``S1``, ``S2``, via one symmetric eigenvalue problem.

    For any factor ``S1 = A A^T``, the non-zero eigenvalues ``lambda`` of ``S1 S2``, of
    ``S1^{1/2} S2 S1^{1/2}`` and of the symmetric PSD matrix ``A^T S2 A`` coincide, so

        tr((S1^{1/2} S2 S1^{1/2})^{1/2}) = tr(sqrtm(S1 S2)) = sum_i sqrt(max(lambda_i(A^T S2 A), 0)).

    The factor is a Cholesky factor ``A = L`` when ``S1`` (or else ``S2``; the value is symmetric in
    the two) is numerically positive definite: one ``cholesky``, one ``L^T S2 L`` by LAPACK ``dsygst``
    (the reduction a generalized symmetric eigensolver uses, about d^3 flops) and one ``eigvalsh``
    (eigenvalues only), all real. Otherwise ``A = V_r diag(sqrt(w_r))`` from ``eigh(S1)``
    keeps only the ``r`` numerically non-zero eigenpairs, which is exact for singular ``S1``.

    Shapes: ``sigma1``, ``sigma2``: ``(d, d)``; returns a Python float (float64 arithmetic).

    Reference: lecture 003_74d7f85fefbfef05.txt, slide "Frechet Inception Distance (FID)" (the W2
    theorem for Gaussians); Heusel et al. 2017 (arXiv:1706.08500); Dowson & Landau 1982.

    Note: no ``eps * I`` offset is added (it would bias the trace). A covariance counts as positive
    definite when its smallest Cholesky pivot exceeds ``CHOL_PIVOT_RTOL`` times its largest diagonal
    entry; an eigenvalue of ``S1`` at or below ``d * eps * max(w)`` (numpy's rank rule) is zero; so is
    an eigenvalue of ``A^T S2 A`` at or below ``r * eps * max(lambda)``: such values are
    indistinguishable from zero, and their square roots (``~sqrt(eps)``) would otherwise add noise.
    Tiny negative eigenvalues of either input are rounding noise and are clamped to 0.
    """
    s1 = check_symmetric_psd(sigma1, "sigma1")
    s2 = check_symmetric_psd(sigma2, "sigma2")
    if s1.shape != s2.shape:
        raise ValueError(f"sigma1 and sigma2 must have the same shape, got {s1.shape} and {s2.shape}")
    return trace_sqrt_product_unchecked(s1, s2)


def trace_sqrt_product_unchecked(s1: np.ndarray, s2: np.ndarray) -> float:
    """``trace_sqrt_product`` for inputs already returned by ``check_symmetric_psd`` (exactly symmetric, same shape).

    For callers that validate once and must not pay for a second pass over ``d x d`` matrices
    (``ganlab.metrics.fid``). PSD-ness is still checked on the eigenvalues.
    """
    for a, b, name_b in ((s1, s2, "sigma2"), (s2, s1, "sigma1")):
        factor = _cholesky_or_none(a)
        if factor is not None:
            return _sum_sqrt_eigvals(_congruence_triangular(factor, b), name_b)
    d = s1.shape[0]
    w, v = _eigh_psd(s1, "sigma1")
    keep = w > _rank_tol(w, d)
    if not np.any(keep):
        # S1 = 0: the product is 0. Still validate S2 (PSD) so bad input never passes silently.
        _check_eigenvalues_psd(scipy.linalg.eigvalsh(s2, check_finite=False), "sigma2")
        return 0.0
    a = v[:, keep] * np.sqrt(w[keep])
    m = a.T @ s2 @ a
    return _sum_sqrt_eigvals(0.5 * (m + m.T), "sigma2")


def _cholesky_or_none(a: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor of ``a`` if it is numerically positive definite, else None."""
    try:
        factor = scipy.linalg.cholesky(a, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    pivots = np.diagonal(factor) ** 2
    if not pivots.min() > CHOL_PIVOT_RTOL * float(np.max(np.diagonal(a))):
        return None
    return factor


def _congruence_triangular(factor: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Lower triangle of ``L^T B L`` for lower-triangular ``L`` (LAPACK ``dsygst``, itype 3, ~d^3 flops)."""
    # b is exactly symmetric, so its transpose is the same matrix in the column-major order LAPACK wants.
    b_f = b.T if b.flags.c_contiguous else b
    out, info = scipy.linalg.lapack.dsygst(b_f, factor, itype=3, lower=1)
    if info != 0:  # pragma: no cover - dsygst only fails on invalid arguments
        raise ValueError(f"LAPACK dsygst failed with info = {info}")
    return out


def _sum_sqrt_eigvals(m: np.ndarray, name: str) -> float:
    """``sum sqrt(lambda)`` over the eigenvalues of the symmetric PSD ``m`` (lower triangle read), noise removed."""
    # torch's LAPACK (MKL in the official wheels) computes eigenvalues-only about 2x faster than
    # scipy's reference-style OpenBLAS syevd at d = 2048; both are the same symmetric algorithm family.
    lam = torch.linalg.eigvalsh(torch.from_numpy(m)).numpy()  # column-major input from LAPACK: no copy
    # A^T B A is congruent to B on range(A): a clearly negative eigenvalue means B is not PSD.
    _check_eigenvalues_psd(lam, f"{name} (seen through the factor of the other covariance)")
    lam = np.where(lam > _rank_tol(lam, lam.size), lam, 0.0)
    return float(np.sum(np.sqrt(lam)))


def trace_sqrt_product_from_samples(x1: Any, x2: Any) -> float:
    """``tr((S1^{1/2} S2 S1^{1/2})^{1/2}) = ||X1c X2c^T||_* / sqrt((n1 - 1)(n2 - 1))`` from samples.

    ``S1 = X1c^T X1c / (n1 - 1)`` and ``S2 = X2c^T X2c / (n2 - 1)`` are the unbiased sample
    covariances of the column-centred samples ``X1c``, ``X2c``. The non-zero eigenvalues of
    ``S1 S2`` are those of ``X1c X2c^T X2c X1c^T / ((n1-1)(n2-1))``, i.e. the squared singular values
    of ``X1c X2c^T / sqrt((n1-1)(n2-1))``, so the trace of the square root is its nuclear norm
    (sum of singular values). Exact for singular covariances (``n < d``) and costs one
    ``(n1, d) x (d, n2)`` product and one SVD of an ``n1 x n2`` matrix instead of ``d x d`` work.

    Shapes: ``x1``: ``(n1, d)``, ``x2``: ``(n2, d)``, ``n1, n2 >= 2``; returns a Python float.

    Reference: lecture 003_74d7f85fefbfef05.txt, slide "Frechet Inception Distance (FID)"; Heusel et
    al. 2017 (arXiv:1706.08500) for the unbiased covariances.

    Note: the SVD is taken of ``X1c X2c^T`` itself, not an eigendecomposition of its Gram matrix,
    which would square the condition number and cost ``~sqrt(eps)`` absolute accuracy per small
    singular value.
    """
    a = as_float64(x1, "x1")
    b = as_float64(x2, "x2")
    for name, x in (("x1", a), ("x2", b)):
        if x.ndim != 2:
            raise ValueError(f"{name} must be a 2-D (n, d) array, got shape {tuple(x.shape)}")
        if x.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 samples for a covariance, got n = {x.shape[0]}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} must be finite, got {int(np.sum(~np.isfinite(x)))} non-finite entries")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x1 and x2 must have the same feature dimension, got d = {a.shape[1]} and {b.shape[1]}")
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    cross = a @ b.T
    s = scipy.linalg.svd(cross, compute_uv=False, check_finite=False, lapack_driver="gesdd")
    return float(np.sum(s) / np.sqrt((a.shape[0] - 1) * (b.shape[0] - 1)))
