"""FID: every path against an independent scipy.linalg.sqrtm reference written here, closed forms, streaming stats."""

import numpy as np
import pytest
import scipy.linalg
import torch

import ganlab.metrics.fid as fid_module
from ganlab.metrics import StreamingStatistics, feature_statistics, fid_from_features, fid_from_stats


def reference_fid(mu1, sigma1, mu2, sigma2):
    """The published formula as the reference tools compute it: sqrtm of the product, real part."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean).real)


def random_stats(rng, d, n=None, scale=1.0):
    n = 3 * d if n is None else n
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) / np.sqrt(d) * scale
    return rng.standard_normal(d), np.cov(x, rowvar=False)


@pytest.mark.parametrize("d", [8, 64, 256])
def test_fid_from_stats_matches_sqrtm_reference(d):
    rng = np.random.default_rng(d)
    mu1, s1 = random_stats(rng, d)
    mu2, s2 = random_stats(rng, d, scale=1.5)
    got = fid_from_stats(mu1, s1, mu2, s2)
    assert got.path == "eigh"
    np.testing.assert_allclose(float(got), reference_fid(mu1, s1, mu2, s2), rtol=1e-9, atol=0)
    np.testing.assert_allclose(got.mean_term, np.sum((mu1 - mu2) ** 2), rtol=1e-14, atol=0)
    np.testing.assert_allclose(got.fid, got.mean_term + got.trace_term, rtol=1e-15, atol=0)


def test_fid_of_identical_statistics_is_zero():
    rng = np.random.default_rng(7)
    mu, s = random_stats(rng, 64)
    for method in ("eigh", "legacy"):
        np.testing.assert_allclose(float(fid_from_stats(mu, s, mu, s, method=method)), 0.0, rtol=0, atol=1e-8)


def test_fid_diagonal_closed_form():
    rng = np.random.default_rng(8)
    a, b = rng.uniform(0.1, 4.0, 32), rng.uniform(0.1, 4.0, 32)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    np.testing.assert_allclose(float(fid_from_stats(mu1, np.diag(a), mu2, np.diag(b))), expected, rtol=1e-12, atol=0)


def test_fid_one_dimensional_gaussians_is_w2_squared():
    # W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2 (lecture 003, W2 theorem).
    got = fid_from_stats(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[0.25]]))
    np.testing.assert_allclose(float(got), 9.0 + 1.5**2, rtol=1e-14, atol=0)


@pytest.mark.parametrize("n1, n2, d", [(30, 40, 64), (50, 50, 128)])
def test_sample_path_equals_eigen_path_and_reference_when_n_below_d(n1, n2, d):
    rng = np.random.default_rng(n1 + d)
    x1 = rng.standard_normal((n1, d)) + 0.5
    x2 = rng.standard_normal((n2, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
    sample = fid_from_features(x1, x2)
    assert sample.path == "sample-nuclear"
    mu1, s1 = np.mean(x1, axis=0), np.cov(x1, rowvar=False)
    mu2, s2 = np.mean(x2, axis=0), np.cov(x2, rowvar=False)
    eig = fid_from_stats(mu1, s1, mu2, s2)
    np.testing.assert_allclose(sample.fid, eig.fid, rtol=1e-10, atol=0)
    # sqrtm of a singular product is itself off by ~1e-8 relative (sqrt of O(eps) noise eigenvalues;
    # see the exact test below), so the tools' reference gets that tolerance, not ours.
    np.testing.assert_allclose(sample.fid, reference_fid(mu1, s1, mu2, s2), rtol=1e-7, atol=0)
    assert (sample.n1, sample.n2, sample.dim) == (n1, n2, d)


def _mp_covariance(mpmath, x):
    """Unbiased covariance in 40-digit arithmetic from the (exactly representable) float64 features."""
    xm = mpmath.matrix(x.tolist())
    n, d = xm.rows, xm.cols
    mu = [mpmath.fsum(xm[i, j] for i in range(n)) / n for j in range(d)]
    c = mpmath.matrix(n, d)
    for i in range(n):
        for j in range(d):
            c[i, j] = xm[i, j] - mu[j]
    return c.T * c / (n - 1), mu


def test_singular_fid_matches_high_precision_reference():
    # Exact FID of the sample statistics (n < d) from 40-digit arithmetic: eigenvalues of S1 S2 by mpmath.
    mpmath = pytest.importorskip("mpmath", reason="mpmath (a dependency of torch's sympy) gives the exact reference")
    rng = np.random.default_rng(21)
    x1, x2 = rng.standard_normal((8, 20)) + 0.3, rng.standard_normal((11, 20)) * 1.3
    with mpmath.workdps(40):
        c1, m1 = _mp_covariance(mpmath, x1)
        c2, m2 = _mp_covariance(mpmath, x2)
        eig = mpmath.eig(c1 * c2, left=False, right=False)
        tr_sqrt = mpmath.fsum(mpmath.sqrt(mpmath.re(e)) for e in eig if mpmath.re(e) > 0)
        mean = mpmath.fsum((a - b) ** 2 for a, b in zip(m1, m2))
        exact = float(mean + sum(c1[i, i] + c2[i, i] for i in range(20)) - 2 * tr_sqrt)
    for method in ("auto", "eigh"):
        np.testing.assert_allclose(fid_from_features(x1, x2, method=method).fid, exact, rtol=1e-12, atol=0)
    # For the record (scipy 1.17): the reference tools' sqrtm path is 1.7e-8 relative off the exact value here.
    np.testing.assert_allclose(fid_from_features(x1, x2, method="legacy").fid, exact, rtol=1e-6, atol=0)


def test_auto_path_selection_and_forced_paths_agree():
    rng = np.random.default_rng(11)
    x1, x2 = rng.standard_normal((200, 16)), rng.standard_normal((150, 16)) * 1.2
    results = {m: fid_from_features(x1, x2, method=m) for m in ("auto", "eigh", "sample-nuclear", "legacy")}
    assert results["auto"].path == "eigh"
    assert results["sample-nuclear"].path == "sample-nuclear"
    assert results["legacy"].path == "legacy-sqrtm"
    for r in results.values():
        np.testing.assert_allclose(r.fid, results["eigh"].fid, rtol=1e-10, atol=0)


def test_legacy_path_equals_reference():
    rng = np.random.default_rng(12)
    mu1, s1 = random_stats(rng, 48)
    mu2, s2 = random_stats(rng, 48)
    got = fid_from_stats(mu1, s1, mu2, s2, method="legacy")
    assert got.path == "legacy-sqrtm" and got.notes == ()
    np.testing.assert_allclose(float(got), reference_fid(mu1, s1, mu2, s2), rtol=1e-12, atol=0)


def test_legacy_retries_with_offset_when_sqrtm_is_not_finite(monkeypatch):
    rng = np.random.default_rng(13)
    mu1, s1 = random_stats(rng, 12)
    mu2, s2 = random_stats(rng, 12)
    real_sqrtm = scipy.linalg.sqrtm
    calls = []

    def first_call_fails(a):
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(fid_module.scipy.linalg, "sqrtm", first_call_fails)
    got = fid_from_stats(mu1, s1, mu2, s2, method="legacy")
    eps = np.eye(12) * 1e-6
    tr = np.trace(real_sqrtm((s1 + eps) @ (s2 + eps))).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr
    assert len(calls) == 2 and len(got.notes) == 1 and "1e-06" in got.notes[0]
    np.testing.assert_allclose(float(got), expected, rtol=1e-12, atol=0)


def test_legacy_raises_on_large_imaginary_component(monkeypatch):
    monkeypatch.setattr(fid_module.scipy.linalg, "sqrtm", lambda a: np.eye(a.shape[0]) * (1 + 0.01j))
    with pytest.raises(ValueError, match="imaginary"):
        fid_from_stats(np.zeros(3), np.eye(3), np.zeros(3), np.eye(3), method="legacy")


def test_feature_statistics_match_numpy():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((100, 20)) * 3 + 7
    mu, sigma = feature_statistics(torch.from_numpy(x))
    np.testing.assert_allclose(mu, x.mean(axis=0), rtol=0, atol=1e-13)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False, ddof=1), rtol=0, atol=1e-12)


def test_streaming_statistics_equal_one_shot_numpy():
    rng = np.random.default_rng(15)
    x = rng.standard_normal((257, 24)) * np.linspace(0.1, 5, 24) + 1e4  # large common offset
    acc = StreamingStatistics()
    for lo, hi in [(0, 1), (1, 64), (64, 65), (65, 200), (200, 257)]:
        acc.update(torch.from_numpy(x[lo:hi]).float() if lo == 65 else x[lo:hi])
    x_used = x.copy()
    x_used[65:200] = x[65:200].astype(np.float32)  # the batch that went in as float32
    mu, sigma = acc.compute()
    assert acc.n == 257
    np.testing.assert_allclose(mu, x_used.mean(axis=0), rtol=1e-13, atol=0)
    np.testing.assert_allclose(sigma, np.cov(x_used, rowvar=False), rtol=0, atol=1e-9)


def test_streaming_merge_equals_single_accumulator():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((90, 10))
    a, b = StreamingStatistics().update(x[:40]), StreamingStatistics(dim=10).update(x[40:])
    a.merge(b).merge(StreamingStatistics())
    np.testing.assert_allclose(a.covariance, np.cov(x, rowvar=False), rtol=0, atol=1e-13)
    np.testing.assert_allclose(a.mean, x.mean(axis=0), rtol=0, atol=1e-14)


def test_streaming_errors():
    acc = StreamingStatistics(dim=4)
    with pytest.raises(ValueError, match="no samples"):
        acc.mean
    acc.update(np.ones((1, 4)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        acc.covariance
    with pytest.raises(ValueError, match="D = 3"):
        acc.update(np.ones((2, 3)))
    with pytest.raises(ValueError, match="dim"):
        StreamingStatistics(dim=0)


def test_result_records_protocol():
    rng = np.random.default_rng(17)
    x1, x2 = rng.standard_normal((40, 8)), rng.standard_normal((30, 8))
    r = fid_from_features(x1, x2, extractor="identity", weights_hash="sha256:abc")
    assert (r.n1, r.n2, r.dim, r.extractor, r.weights_hash) == (40, 30, 8, "identity", "sha256:abc")
    assert r.as_dict()["path"] == "eigh"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fid_from_features(np.ones((5, 3)), np.ones((5, 4))), "same feature dimension"),
        (lambda: fid_from_features(np.full((5, 3), np.inf), np.ones((5, 3))), "finite"),
        (lambda: fid_from_features(np.ones((1, 3)), np.ones((5, 3))), "at least 2 samples"),
        (lambda: fid_from_features(np.ones((5, 3)), np.ones((5, 3)), method="fast"), "method"),
        (lambda: fid_from_stats(np.zeros(3), np.ones((3, 2)), np.zeros(3), np.eye(3)), "square"),
        (lambda: fid_from_stats(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2)), "symmetric"),
        (lambda: fid_from_stats(np.zeros(4), np.eye(3), np.zeros(3), np.eye(3)), r"\(3,\) vector"),
        (lambda: fid_from_stats(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4)), "same shape"),
        (lambda: fid_from_stats(np.zeros(2), np.diag([1.0, -2.0]), np.zeros(2), np.eye(2)), "semi-definite"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
