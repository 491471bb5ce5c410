"""ganlab.linalg against scipy.linalg.sqrtm, closed forms and the sample (nuclear-norm) identity."""

import numpy as np
import pytest
import scipy.linalg
import torch

from ganlab.linalg import check_gaussians, sqrtm_psd, trace_sqrt_product, trace_sqrt_product_from_samples


def _random_spd(rng: np.random.Generator, d: int, n: int | None = None) -> np.ndarray:
    """Sample covariance of n Gaussian vectors with an uneven spectrum (full rank when n > d)."""
    n = 2 * d if n is None else n
    x = rng.standard_normal((n, d)) * np.linspace(0.2, 3.0, d)
    x = x - x.mean(axis=0)
    return x.T @ x / (n - 1)


def _reference_trace_sqrtm(s1: np.ndarray, s2: np.ndarray) -> float:
    """The reference tools' path: tr(sqrtm(S1 S2)), real part (independent of ganlab.linalg)."""
    return float(np.trace(scipy.linalg.sqrtm(s1 @ s2)).real)


@pytest.mark.parametrize("d", [8, 64, 256])
def test_trace_sqrt_product_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    np.testing.assert_allclose(trace_sqrt_product(s1, s2), _reference_trace_sqrtm(s1, s2), rtol=1e-10, atol=0)


def test_trace_sqrt_product_is_symmetric_in_its_arguments():
    rng = np.random.default_rng(1)
    s1, s2 = _random_spd(rng, 32), _random_spd(rng, 32)
    np.testing.assert_allclose(trace_sqrt_product(s1, s2), trace_sqrt_product(s2, s1), rtol=1e-12, atol=0)


def test_trace_sqrt_product_diagonal_closed_form():
    a = np.array([0.5, 1.0, 4.0, 9.0, 0.0])
    b = np.array([2.0, 1.0, 0.25, 4.0, 3.0])
    got = trace_sqrt_product(np.diag(a), np.diag(b))
    np.testing.assert_allclose(got, np.sum(np.sqrt(a * b)), rtol=1e-13, atol=1e-13)


def test_trace_sqrt_product_of_a_matrix_with_itself_is_its_trace():
    rng = np.random.default_rng(2)
    s = _random_spd(rng, 64)
    np.testing.assert_allclose(trace_sqrt_product(s, s), np.trace(s), rtol=1e-12, atol=0)


def test_trace_sqrt_product_singular_commuting_closed_form():
    # S1 = Q diag(w1) Q^T with half its eigenvalues exactly 0, S2 = Q diag(w2) Q^T: trace = sum sqrt(w1 w2).
    rng = np.random.default_rng(3)
    d = 40
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    w1 = np.concatenate([rng.uniform(0.5, 2.0, d // 2), np.zeros(d // 2)])
    w2 = rng.uniform(0.5, 2.0, d)
    s1, s2 = (q * w1) @ q.T, (q * w2) @ q.T
    np.testing.assert_allclose(trace_sqrt_product(s1, s2), np.sum(np.sqrt(w1 * w2)), rtol=1e-10, atol=0)
    np.testing.assert_allclose(trace_sqrt_product(s2, s1), np.sum(np.sqrt(w1 * w2)), rtol=1e-10, atol=0)


def test_trace_sqrt_product_both_singular_closed_form():
    # Neither matrix has a Cholesky factor, so the eigen-decomposition path runs; overlapping null spaces.
    rng = np.random.default_rng(7)
    d = 30
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    w1 = np.concatenate([rng.uniform(0.5, 2.0, 20), np.zeros(10)])
    w2 = np.concatenate([np.zeros(5), rng.uniform(0.5, 2.0, 20), np.zeros(5)])
    s1, s2 = (q * w1) @ q.T, (q * w2) @ q.T
    np.testing.assert_allclose(trace_sqrt_product(s1, s2), np.sum(np.sqrt(w1 * w2)), rtol=1e-10, atol=0)


def test_cholesky_and_eigen_paths_agree_on_full_rank_input(monkeypatch):
    import ganlab.linalg as linalg

    rng = np.random.default_rng(8)
    s1, s2 = _random_spd(rng, 48), _random_spd(rng, 48)
    fast = trace_sqrt_product(s1, s2)
    monkeypatch.setattr(linalg, "_cholesky_or_none", lambda a: None)  # force the eigh(S1) path
    np.testing.assert_allclose(trace_sqrt_product(s1, s2), fast, rtol=1e-12, atol=0)


def test_trace_sqrt_product_zero_matrix():
    s2 = _random_spd(np.random.default_rng(4), 6)
    assert trace_sqrt_product(np.zeros((6, 6)), s2) == 0.0


@pytest.mark.parametrize("n1, n2, d", [(20, 30, 64), (300, 200, 16)])
def test_sample_form_equals_eigen_form(n1, n2, d):
    rng = np.random.default_rng(n1 + d)
    x1 = rng.standard_normal((n1, d)) * np.linspace(0.5, 2.0, d) + 1.0
    x2 = rng.standard_normal((n2, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
    s1, s2 = np.cov(x1, rowvar=False, ddof=1), np.cov(x2, rowvar=False, ddof=1)
    # Independent reference for the singular case: scipy sqrtm of the symmetric S1^{1/2} S2 S1^{1/2},
    # with S1^{1/2} from scipy.linalg.sqrtm as well (real part).
    r1 = scipy.linalg.sqrtm(s1).real
    ref = float(np.trace(scipy.linalg.sqrtm(r1 @ s2 @ r1)).real)
    sample = trace_sqrt_product_from_samples(x1, x2)
    eig = trace_sqrt_product(s1, s2)
    np.testing.assert_allclose(sample, eig, rtol=1e-10, atol=0)
    np.testing.assert_allclose(sample, ref, rtol=1e-7, atol=0)


def test_sqrtm_psd_squares_back_and_matches_scipy():
    rng = np.random.default_rng(5)
    s = _random_spd(rng, 50)
    root = sqrtm_psd(s)
    np.testing.assert_allclose(root @ root, s, rtol=0, atol=1e-12 * np.abs(s).max())
    np.testing.assert_allclose(root, scipy.linalg.sqrtm(s).real, rtol=0, atol=1e-10)
    np.testing.assert_allclose(root, root.T, rtol=0, atol=0)
    assert np.linalg.eigvalsh(root).min() >= -1e-12


def test_accepts_torch_tensors():
    rng = np.random.default_rng(6)
    s1, s2 = _random_spd(rng, 16), _random_spd(rng, 16)
    got = trace_sqrt_product(torch.from_numpy(s1).float(), torch.from_numpy(s2).float())
    np.testing.assert_allclose(got, trace_sqrt_product(s1.astype(np.float32), s2.astype(np.float32)), rtol=1e-12)
    np.testing.assert_allclose(got, _reference_trace_sqrtm(s1, s2), rtol=1e-5)


@pytest.mark.parametrize(
    "s1, s2, match",
    [
        (np.eye(3), np.eye(4), "same shape"),
        (np.ones((2, 3)), np.eye(3), "square"),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), np.eye(2), "symmetric"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), np.eye(2), "finite"),
        (np.diag([1.0, -1.0]), np.eye(2), "positive semi-definite"),
        (np.eye(2), np.diag([1.0, -0.5]), "positive semi-definite"),
    ],
)
def test_bad_input_raises_value_error(s1, s2, match):
    with pytest.raises(ValueError, match=match):
        trace_sqrt_product(s1, s2)


def test_sample_form_bad_input():
    with pytest.raises(ValueError, match="at least 2 samples"):
        trace_sqrt_product_from_samples(np.ones((1, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="feature dimension"):
        trace_sqrt_product_from_samples(np.ones((4, 3)), np.ones((4, 2)))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_entry_in_any_tile_is_refused(value):
    # 300 x 300 spans several 256-wide tiles of the symmetry check; put the bad entry in the far corner.
    s = _random_spd(np.random.default_rng(9), 300)
    s[299, 0] = value
    with pytest.raises(ValueError, match="sigma1 must be finite, got 1 non-finite"):
        trace_sqrt_product(s, np.eye(300))


def test_slightly_asymmetric_input_is_symmetrised_exactly():
    from ganlab.linalg import check_symmetric_psd

    rng = np.random.default_rng(10)
    s = _random_spd(rng, 300)
    noisy = s + 1e-13 * rng.standard_normal((300, 300))
    out = check_symmetric_psd(noisy, "s")
    np.testing.assert_array_equal(out, out.T)
    np.testing.assert_allclose(out, 0.5 * (noisy + noisy.T), rtol=0, atol=0)
    assert check_symmetric_psd(s, "s") is s  # already symmetric float64: no copy


def test_check_gaussians_promotes_scalars_and_names_the_bad_argument():
    m1, s1, m2, s2 = check_gaussians(0.5, 4.0, torch.tensor([1.0]), [[2.0]])
    for got, expected in ((m1, [0.5]), (s1, [[4.0]]), (m2, [1.0]), (s2, [[2.0]])):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, np.asarray(expected))
    with pytest.raises(ValueError, match="mu1 must be a scalar or a"):
        check_gaussians(np.zeros((2, 2)), np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"cov2 must be \(2, 2\)"):
        check_gaussians(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))
    with pytest.raises(ValueError, match="cov1 must be symmetric"):
        check_gaussians(np.zeros(2), [[1.0, 1.0], [0.0, 1.0]], np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="mu2 must be finite"):
        check_gaussians(0.0, 1.0, np.nan, 1.0)
    with pytest.raises(ValueError, match="mu1 and mu2 must have the same dimension"):
        check_gaussians(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
