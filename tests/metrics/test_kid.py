"""KID against an independent unbiased-MMD^2 implementation on the same subsets, and closed forms."""

import numpy as np
import pytest
import torch

from ganlab.metrics import kid
from ganlab.metrics.kid import kid_subset_indices, mmd2_unbiased


def reference_mmd2_loop(x, y, degree=3, gamma=None, coef0=1.0):
    """Unbiased MMD^2 (Gretton et al. 2012, Lemma 6) as explicit double sums, pair by pair."""
    m, d = x.shape
    g = 1.0 / d if gamma is None else gamma
    k = lambda a, b: (g * float(np.dot(a, b)) + coef0) ** degree  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / m**2


def reference_mmd2_matrix(x, y, degree=3, coef0=1.0):
    """Same estimator with numpy kernel matrices, diagonals zeroed."""
    m, d = x.shape
    kxx, kyy, kxy = ((a @ b.T / d + coef0) ** degree for a, b in ((x, x), (y, y), (x, y)))
    np.fill_diagonal(kxx, 0.0)
    np.fill_diagonal(kyy, 0.0)
    return (kxx.sum() + kyy.sum()) / (m * (m - 1)) - 2 * kxy.mean()


def test_mmd2_matches_pairwise_loop():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((15, 4)), rng.standard_normal((15, 4)) + 0.5
    np.testing.assert_allclose(mmd2_unbiased(x, y), reference_mmd2_loop(x, y), rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        mmd2_unbiased(x, y, degree=2, gamma=0.3, coef0=0.5),
        reference_mmd2_loop(x, y, degree=2, gamma=0.3, coef0=0.5),
        rtol=1e-12,
        atol=0,
    )


def test_linear_kernel_closed_form():
    # k(x, y) = x.y: unbiased MMD^2 = (|S_x|^2 - sum |x_i|^2) / (m(m-1)) + (same for y) - 2 S_x.S_y / m^2.
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((40, 6)) + 1.0, rng.standard_normal((40, 6))
    sx, sy = x.sum(axis=0), y.sum(axis=0)
    m = 40
    expected = ((sx @ sx - np.sum(x * x)) + (sy @ sy - np.sum(y * y))) / (m * (m - 1)) - 2 * sx @ sy / m**2
    np.testing.assert_allclose(mmd2_unbiased(x, y, degree=1, gamma=1.0, coef0=0.0), expected, rtol=1e-12, atol=0)


def test_kid_equals_reference_on_the_same_subsets():
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((120, 8)), rng.standard_normal((100, 8)) * 1.1 + 0.2
    r = kid(x1, x2, num_subsets=20, subset_size=50, seed=5)
    subsets = kid_subset_indices(120, 100, num_subsets=20, subset_size=50, seed=5)
    values = np.array([reference_mmd2_matrix(x1[i], x2[j]) for i, j in subsets])
    np.testing.assert_allclose(r.values, values, rtol=1e-12, atol=0)
    np.testing.assert_allclose([r.mean, r.std], [values.mean(), values.std()], rtol=1e-12, atol=0)
    assert all(len(set(i)) == 50 and len(set(j)) == 50 for i, j in subsets)  # without replacement
    assert (r.num_subsets, r.subset_size, r.n1, r.n2, r.dim, r.gamma, r.notes) == (20, 50, 120, 100, 8, 1 / 8, ())


def test_float32_input_is_computed_in_float64():
    rng = np.random.default_rng(3)
    x1 = rng.standard_normal((60, 16)).astype(np.float32)
    x2 = (rng.standard_normal((60, 16)) + 0.05).astype(np.float32)
    r = kid(torch.from_numpy(x1), torch.from_numpy(x2), num_subsets=5, subset_size=30, seed=1)
    subsets = kid_subset_indices(60, 60, num_subsets=5, subset_size=30, seed=1)
    values = [reference_mmd2_matrix(x1[i].astype(np.float64), x2[j].astype(np.float64)) for i, j in subsets]
    np.testing.assert_allclose(r.mean, np.mean(values), rtol=1e-12, atol=0)


def test_kid_same_distribution_is_near_zero_and_different_is_not():
    rng = np.random.default_rng(4)
    x1, x2 = rng.standard_normal((600, 10)), rng.standard_normal((600, 10))
    same = kid(x1, x2, num_subsets=30, subset_size=200, seed=0)
    assert abs(same.mean) < 3 * same.std
    shifted = kid(x1, x2 + 0.5, num_subsets=30, subset_size=200, seed=0)
    assert shifted.mean > 5 * shifted.std


def test_subset_size_larger_than_n_is_clamped_and_recorded():
    rng = np.random.default_rng(5)
    x1, x2 = rng.standard_normal((30, 5)), rng.standard_normal((30, 5))
    r = kid(x1, x2)  # default subset_size 1000 > 30
    assert (r.subset_size, r.subset_size_requested) == (30, 1000)
    assert "clamped" in r.notes[0]
    np.testing.assert_allclose([r.mean, r.std], [reference_mmd2_matrix(x1, x2), 0.0], rtol=1e-12, atol=1e-15)
    r2 = kid(x1, rng.standard_normal((50, 5)), num_subsets=4)
    assert r2.subset_size == 30 and len(set(r2.values)) == 4  # the larger set is still subsampled


def test_seed_makes_results_reproducible():
    rng = np.random.default_rng(6)
    x1, x2 = rng.standard_normal((80, 4)), rng.standard_normal((80, 4))
    a, b = kid(x1, x2, num_subsets=5, subset_size=20, seed=3), kid(x1, x2, num_subsets=5, subset_size=20, seed=3)
    c = kid(x1, x2, num_subsets=5, subset_size=20, seed=4)
    assert a.values == b.values and a.values != c.values


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x1=np.ones((10, 3)), x2=np.ones((10, 4))), "same feature dimension"),
        (dict(x1=np.full((10, 3), np.nan), x2=np.ones((10, 3))), "finite"),
        (dict(x1=np.ones((1, 3)), x2=np.ones((10, 3))), "at least 2 samples"),
        (dict(x1=np.ones((10, 3)), x2=np.ones((10, 3)), num_subsets=0), "num_subsets"),
        (dict(x1=np.ones((10, 3)), x2=np.ones((10, 3)), subset_size=1), "subset_size"),
        (dict(x1=np.ones((10, 3)), x2=np.ones((10, 3)), degree=0), "degree"),
        (dict(x1=np.ones((10, 3)), x2=np.ones((10, 3)), gamma=-1.0), "gamma"),
        (dict(x1=np.ones((10, 3)), x2=np.ones((10, 3)), coef0="1"), "coef0"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kid(**kwargs)
