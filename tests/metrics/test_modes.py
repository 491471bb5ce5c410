"""Mode metrics (ganlab.metrics.modes) against hand-computed cases, closed forms and POT / scipy.

Hand cases put points at chosen distances (in stds) from chosen modes, so counts, modes captured,
high-quality fraction and reverse KL are known exactly. The real-data ceiling is the chi-square
probability P(chi^2_D < 9), re-derived here in closed form for D = 1, 2, 3. W1 is checked against
POT's exact `ot.emd2`, scipy's 1-D `wasserstein_distance`, and two-sided bounds that hold exactly
(a projection lower bound and the cost of an explicit transport plan as upper bound).
"""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch
from scipy import stats

from ganlab.data import get_toy_dataset
from ganlab.metrics.modes import (
    DEFAULT_REFERENCE_SEED,
    ModeMetrics,
    assign_modes,
    high_quality_ceiling,
    low_quality_profile,
    mode_counts,
    mode_metrics,
    reverse_kl_to_uniform,
    spread_of_real_data,
    standardized_distances,
    w1_to_data,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ref_rkl(counts) -> float:
    """KL(q || U_K) = sum q log(q / (1/K)), by scipy.stats.entropy(q, uniform)."""
    c = np.asarray(counts, dtype=np.float64)
    q = c / c.sum()
    return float(stats.entropy(q, np.full(c.size, 1 / c.size)))


# ----------------------------------------------------------------------------- hand cases


def test_all_mass_on_one_mode_gives_one_mode_and_reverse_kl_log_k():
    ds = get_toy_dataset("ring")
    rng = np.random.default_rng(0)
    # 100 points within 1 std of mode 3 (noise drawn inside the unit disc, in units of std)
    offsets = rng.uniform(-0.7, 0.7, (100, 2)) * ds.std
    x = torch.from_numpy(ds.modes[3] + offsets)
    m = mode_metrics(x, ds, compute_w1=False)
    assert m.modes == 1
    assert m.counts == (0, 0, 0, 100, 0, 0, 0, 0)
    np.testing.assert_allclose(m.high_quality, 1.0, rtol=0, atol=0)
    np.testing.assert_allclose(m.reverse_kl, math.log(8), rtol=0, atol=1e-14)
    assert m.n_samples == 100 and m.num_modes == 8


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_perfectly_uniform_assignment_gives_all_modes_and_zero_reverse_kl(name):
    ds = get_toy_dataset(name)
    k = ds.num_modes
    x = np.repeat(ds.modes, 7, axis=0) + 0.5 * float(ds.std)  # 0.5 * sqrt(2) < 3 stds away
    m = mode_metrics(torch.from_numpy(x), ds, compute_w1=False)
    assert m.modes == k
    assert m.counts == (7,) * k
    np.testing.assert_allclose(m.high_quality, 1.0, rtol=0, atol=0)
    np.testing.assert_allclose(m.reverse_kl, 0.0, rtol=0, atol=1e-14)


def test_far_away_samples_are_never_high_quality():
    ds = get_toy_dataset("grid")
    x = torch.full((50, 2), 100.0)
    m = mode_metrics(x, ds, compute_w1=False)
    assert m.modes == 0 and m.counts == (0,) * 25
    np.testing.assert_allclose(m.high_quality, 0.0, rtol=0, atol=0)
    # documented choice: no high-quality sample -> log K, the value of a total collapse
    np.testing.assert_allclose(m.reverse_kl, math.log(25), rtol=0, atol=1e-14)


def test_hand_made_ring_case():
    """Ring, std 0.01. By hand:
    (1, 0.02)      2.00 std from mode 0        -> HQ, mode 0
    (1, -0.0299)   2.99 std from mode 0        -> HQ, mode 0
    (1, 0.031)     3.10 std from mode 0        -> not HQ
    (0, 1)         on mode 2                   -> HQ, mode 2
    (0.5, 0.5)     ~29 std from mode 1         -> not HQ
    counts (2, 0, 1, 0, 0, 0, 0, 0): modes 2, HQ 3/5, q = (2/3, 1/3),
    reverse KL = 2/3 log(8 * 2/3) + 1/3 log(8 * 1/3).
    """
    ds = get_toy_dataset("ring")
    x = torch.tensor([[1.0, 0.02], [1.0, -0.0299], [1.0, 0.031], [0.0, 1.0], [0.5, 0.5]], dtype=torch.float64)
    d = standardized_distances(x, ds.modes, ds.std)
    np.testing.assert_allclose(d[:4, [0, 0, 0, 2]].diagonal().numpy(), [2.0, 2.99, 3.1, 0.0], rtol=0, atol=1e-9)
    m = mode_metrics(x, ds, compute_w1=False)
    assert m.counts == (2, 0, 1, 0, 0, 0, 0, 0)
    assert m.modes == 2
    np.testing.assert_allclose(m.high_quality, 0.6, rtol=0, atol=1e-15)
    expected = 2 / 3 * math.log(16 / 3) + 1 / 3 * math.log(8 / 3)
    np.testing.assert_allclose(m.reverse_kl, expected, rtol=0, atol=1e-14)
    np.testing.assert_allclose(m.reverse_kl, _ref_rkl(m.counts), rtol=0, atol=1e-14)


def test_distance_is_measured_in_each_modes_own_std():
    """Modes 0 (std 0.1) and 2 (std 1). x = 0.25 is Euclidean-closer to 0 (0.25 vs 1.75) but
    2.5 stds from mode 0 and 1.75 stds from mode 2: it belongs to mode 2. x = 1.5: 15 vs 0.5 stds."""
    ds = get_toy_dataset("mixture-1d", weights=(0.5, 0.5), means=(0.0, 2.0), stds=(0.1, 1.0))
    x = torch.tensor([[0.25], [1.5], [0.05]], dtype=torch.float64)
    nearest, hq = assign_modes(x, ds.modes, ds.std_per_mode())
    assert nearest.tolist() == [1, 1, 0]
    assert hq.tolist() == [True, True, True]
    np.testing.assert_allclose(
        standardized_distances(x, ds.modes, ds.std_per_mode()).numpy(),
        [[2.5, 1.75], [15.0, 0.5], [0.5, 1.95]],
        rtol=0,
        atol=1e-12,
    )
    assert mode_counts(x, ds.modes, ds.std_per_mode()).tolist() == [1, 2]


def test_threshold_is_strict():
    """std 1: a point exactly 3 stds from its mode is not high quality (PacGAN: `min_dis < 3`)."""
    ds = get_toy_dataset("mixture-1d", weights=(0.5, 0.5), means=(-10.0, 10.0), stds=(1.0, 1.0))
    x = torch.tensor([[7.0], [7.001], [-12.5]], dtype=torch.float64)
    m = mode_metrics(x, ds, compute_w1=False)
    assert m.counts == (1, 1)
    np.testing.assert_allclose(m.high_quality, 2 / 3, rtol=0, atol=1e-15)
    # a wider threshold admits the boundary point
    assert mode_counts(x, ds.modes, ds.std_per_mode(), threshold=3.5).tolist() == [1, 2]


def test_reverse_kl_to_uniform_against_scipy_entropy():
    rng = np.random.default_rng(3)
    for _ in range(20):
        c = rng.integers(0, 30, size=rng.integers(1, 12))
        if c.sum() == 0:
            c[0] = 1
        np.testing.assert_allclose(reverse_kl_to_uniform(c), _ref_rkl(c), rtol=0, atol=1e-12)
        # = log K - H(q)
        np.testing.assert_allclose(
            reverse_kl_to_uniform(c), math.log(c.size) - stats.entropy(c / c.sum()), rtol=0, atol=1e-12
        )
    assert reverse_kl_to_uniform([0, 0, 0, 0]) == pytest.approx(math.log(4), abs=1e-15)
    assert reverse_kl_to_uniform([5]) == 0.0
    with pytest.raises(ValueError, match="non-negative"):
        reverse_kl_to_uniform([1, -1])


def test_as_dict_has_exactly_the_table_keys():
    m = ModeMetrics(modes=3, high_quality=0.5, reverse_kl=0.1, w1=0.2, n_samples=10, num_modes=8, counts=(1,) * 8)
    assert m.as_dict() == {"modes": 3, "high_quality": 0.5, "reverse_kl": 0.1, "w1": 0.2}


# ----------------------------------------------------------------------------- real data ceiling


def test_high_quality_ceiling_closed_forms():
    # chi^2 with 2 dof: P(< t^2) = 1 - exp(-t^2 / 2)
    np.testing.assert_allclose(high_quality_ceiling(2), 1 - math.exp(-4.5), rtol=0, atol=1e-15)
    np.testing.assert_allclose(high_quality_ceiling(2), 0.98889, rtol=0, atol=5e-6)
    # 1 dof: P(|z| < 3) = erf(3 / sqrt 2)
    np.testing.assert_allclose(high_quality_ceiling(1), math.erf(3 / math.sqrt(2)), rtol=0, atol=1e-15)
    # 3 dof (Maxwell): erf(t / sqrt 2) - sqrt(2 / pi) t exp(-t^2 / 2)
    t = 2.0
    maxwell = math.erf(t / math.sqrt(2)) - math.sqrt(2 / math.pi) * t * math.exp(-t * t / 2)
    np.testing.assert_allclose(high_quality_ceiling(3, threshold=t), maxwell, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="dim"):
        high_quality_ceiling(0)


@pytest.mark.parametrize("name", ["ring", "grid", "8gaussians", "25gaussians", "mixture-1d"])
def test_real_data_captures_all_modes_at_the_3_sigma_ceiling(name):
    ds = get_toy_dataset(name)
    n = 20_000
    x = ds.sample(n, generator=_gen(11), dtype=torch.float64)
    m = mode_metrics(x, ds, compute_w1=False)
    p = 1 - math.exp(-4.5) if ds.dim == 2 else math.erf(3 / math.sqrt(2))
    se = math.sqrt(p * (1 - p) / n)
    assert m.modes == ds.num_modes
    np.testing.assert_allclose(m.high_quality, p, rtol=0, atol=5 * se)
    # multinomial counts: 2 N_hq KL ~ chi^2_{K-1}; bound at mean + 6 sd
    k = ds.num_modes
    n_hq = sum(m.counts)
    np.testing.assert_allclose(m.reverse_kl, 0.0, rtol=0, atol=((k - 1) + 6 * math.sqrt(2 * (k - 1))) / (2 * n_hq))


# ----------------------------------------------------------------------------- W1


def test_w1_matches_pot_exact_emd_with_an_explicit_reference():
    ds = get_toy_dataset("ring")
    x = ds.sample(300, generator=_gen(1), dtype=torch.float64)
    y = ds.sample(200, generator=_gen(2), dtype=torch.float64)
    m = mode_metrics(x, ds, reference=y)
    xn, yn = x.numpy(), y.numpy()
    ref = ot.emd2(np.full(300, 1 / 300), np.full(200, 1 / 200), ot.dist(xn, yn, metric="euclidean"))
    np.testing.assert_allclose(m.w1, ref, rtol=1e-9, atol=1e-12)


def test_w1_of_1d_samples_matches_scipy():
    ds = get_toy_dataset("mixture-1d")
    x = ds.sample(400, generator=_gen(1), dtype=torch.float64)
    y = ds.sample(400, generator=_gen(2), dtype=torch.float64)
    ref = stats.wasserstein_distance(x[:, 0].numpy(), y[:, 0].numpy())
    np.testing.assert_allclose(w1_to_data(x, ds, reference=y), ref, rtol=1e-9, atol=1e-12)


def test_default_reference_is_the_seeded_draw_of_n_reference_points():
    ds = get_toy_dataset("grid")
    x = ds.sample(200, generator=_gen(5), dtype=torch.float64)
    y = ds.sample(150, generator=_gen(DEFAULT_REFERENCE_SEED), dtype=torch.float64)
    ref = ot.emd2(np.full(200, 1 / 200), np.full(150, 1 / 150), ot.dist(x.numpy(), y.numpy(), metric="euclidean"))
    np.testing.assert_allclose(w1_to_data(x, ds, n_reference=150), ref, rtol=1e-9, atol=1e-12)
    # n_reference=None: same size as the samples; repeated calls agree
    a = mode_metrics(x, ds, n_reference=None).w1
    b = mode_metrics(x, ds, n_reference=None).w1
    assert a == b
    assert mode_metrics(x, ds, n_reference=None, seed=1).w1 != a


def test_w1_real_vs_real_is_small_and_a_shift_adds_the_shift():
    """W1(x + s e, y) >= |(mean x - mean y).e + s| (1-Lipschitz f = <., e>) and
    W1(x + s e, y) <= s + W1(x, y) (triangle inequality): both exact."""
    ds = get_toy_dataset("ring")
    n = 500
    x = ds.sample(n, generator=_gen(3), dtype=torch.float64)
    y = ds.sample(n, generator=_gen(4), dtype=torch.float64)
    w0 = w1_to_data(x, ds, reference=y)
    # mode imbalance of two 500-point samples moves ~ sqrt(n / 8) points per mode over chords >= 0.77
    assert 0.0 < w0 < 0.15
    s = 3.0
    e = torch.tensor([1.0, 0.0], dtype=torch.float64)
    ws = w1_to_data(x + s * e, ds, reference=y)
    lower = abs(float((x.mean(0) - y.mean(0)) @ e) + s)
    assert lower - 1e-9 <= ws <= s + w0 + 1e-9
    np.testing.assert_allclose(ws, s, rtol=0, atol=w0 + 0.05)


def test_w1_parallel_lines_is_theta():
    """Lecture: W((0, U), (theta, U)) = |theta|. Exact bounds for the samples: every unit of mass
    moves |theta| horizontally (lower); matching sorted heights is a feasible plan (upper)."""
    theta = 0.5
    x = get_toy_dataset("parallel-lines", theta=theta).sample(400, generator=_gen(6), dtype=torch.float64)
    data = get_toy_dataset("parallel-lines")
    y = data.sample(400, generator=_gen(7), dtype=torch.float64)
    w = w1_to_data(x, data, reference=y)
    dy = np.sort(x[:, 1].numpy()) - np.sort(y[:, 1].numpy())
    upper = float(np.mean(np.sqrt(theta**2 + dy**2)))
    assert theta - 1e-12 <= w <= upper + 1e-9
    np.testing.assert_allclose(w, theta, rtol=0, atol=0.01)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("name", ["swissroll", "parallel-lines"])
def test_datasets_without_modes_are_refused_with_a_pointer_to_w1(name):
    ds = get_toy_dataset(name)
    with pytest.raises(ValueError, match=r"no modes.*w1_to_data"):
        mode_metrics(torch.zeros(10, 2), ds)
    # but W1 to the data works
    assert w1_to_data(ds.sample(50, generator=_gen(0)), ds, n_reference=50) > 0.0


def test_shape_and_value_validation():
    ring = get_toy_dataset("ring")
    with pytest.raises(ValueError, match=r"shape \(N, 2\).*got \(10, 3\)"):
        mode_metrics(torch.zeros(10, 3), ring)
    with pytest.raises(ValueError, match=r"got \(0, 2\)"):
        mode_metrics(torch.zeros(0, 2), ring)
    mix = get_toy_dataset("mixture-1d")
    with pytest.raises(ValueError, match=r"shape \(N, 1\).*samples\[:, None\]"):
        mode_metrics(torch.zeros(10), mix)
    bad = torch.zeros(10, 2)
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"non-finite values \(1 of 10"):
        mode_metrics(bad, ring)
    with pytest.raises(ValueError, match="torch.Tensor or numpy.ndarray"):
        mode_metrics([[0.0, 0.0]], ring)
    with pytest.raises(ValueError, match="threshold"):
        mode_metrics(torch.zeros(3, 2), ring, threshold=-1.0, compute_w1=False)
    with pytest.raises(ValueError, match="n_reference"):
        w1_to_data(torch.zeros(3, 2), ring, n_reference=0)
    with pytest.raises(ValueError, match=r"reference must have shape \(N, 2\)"):
        w1_to_data(torch.zeros(3, 2), ring, reference=torch.zeros(4, 1))


def test_numpy_and_float32_inputs_give_the_same_counts():
    ds = get_toy_dataset("grid")
    x = ds.sample(1000, generator=_gen(8), dtype=torch.float64)
    a = mode_metrics(x, ds, compute_w1=False)
    b = mode_metrics(x.numpy(), ds, compute_w1=False)
    c = mode_metrics(x.float(), ds, compute_w1=False)
    assert a.counts == b.counts == c.counts
    assert a.high_quality == b.high_quality == c.high_quality
    assert math.isnan(a.w1)


# ----------------------------------------------------------------------------- low-quality profile


def test_low_quality_profile_hand_made_grid_case():
    """Grid, std 0.05; mode 5 i + j sits at (-4 + 2 i, -4 + 2 j): 12 at (0, 0), 13 at (0, 2), 17 at (2, 0),
    18 at (2, 2). By hand:
    (0, 0)          0 std from mode 12                     -> high quality
    (0.03, 0.04)    1 std                                  -> high quality
    (0.175, 0)      3.5 std                                -> near (3 <= d < 4)
    (0, -0.25)      5 std                                  -> mid (4 <= d < 6)
    (1, 0)          20 std from modes 12 and 17            -> far, bridge (12, 17)
    (1, 2)          20 std from modes 13 and 18            -> far, bridge (13, 18)
    (0.9, 2.1)      18.1 std from 13, 22.1 from 18         -> far, bridge (13, 18)
    (0, 0.5)        10 std from 12, then 30 from 13        -> far, bridge (12, 13)
    fractions of 8: near 1/8, mid 1/8, far 4/8; bridges (13, 18) 2/8, then (12, 13) and (12, 17) 1/8;
    spread = sqrt((0^2 + 1^2) / 2 / 2) = 0.5.
    """
    ds = get_toy_dataset("grid")
    for k, mu in ((12, (0, 0)), (13, (0, 2)), (17, (2, 0)), (18, (2, 2))):
        assert tuple(ds.modes[k]) == mu
    x = torch.tensor([[0, 0], [0.03, 0.04], [0.175, 0], [0, -0.25], [1, 0], [1, 2], [0.9, 2.1], [0, 0.5]],
                     dtype=torch.float64)
    p = low_quality_profile(x, ds)
    assert (p.near, p.mid, p.far) == (1 / 8, 1 / 8, 4 / 8)
    assert p.bridges == (((13, 18), 2 / 8), ((12, 13), 1 / 8), ((12, 17), 1 / 8))
    np.testing.assert_allclose(p.spread, 0.5, rtol=0, atol=1e-12)
    # with the bands, high quality adds up to 1
    np.testing.assert_allclose(mode_metrics(x, ds, compute_w1=False).high_quality + p.near + p.mid + p.far, 1.0)


def test_spread_of_real_data_closed_form_and_sample():
    """2-D: E[chi2_2 | chi2_2 < 9] = 2 - 9 e^-4.5 / (1 - e^-4.5) (chi2_2 is exponential with mean 2)."""
    expected = math.sqrt((2 - 9 * math.exp(-4.5) / (1 - math.exp(-4.5))) / 2)
    np.testing.assert_allclose(spread_of_real_data(2), expected, rtol=1e-14)
    # 1-D: E[Z^2 | |Z| < 3] = 1 - 2 * 3 phi(3) / (2 Phi(3) - 1)
    phi3 = math.exp(-4.5) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(spread_of_real_data(1), math.sqrt(1 - 6 * phi3 / math.erf(3 / math.sqrt(2))), rtol=1e-14)
    ds = get_toy_dataset("grid")
    x = ds.sample(100_000, generator=_gen(5), dtype=torch.float64)
    p = low_quality_profile(x, ds)
    np.testing.assert_allclose(p.spread, expected, rtol=0, atol=0.005)
    # the real data's halo: P(3 <= r < 4) = e^-4.5 - e^-8 for r^2 ~ chi2_2; modes 40 stds apart: no far mass
    np.testing.assert_allclose(p.near, math.exp(-4.5) - math.exp(-8), rtol=0, atol=5 * math.sqrt(0.0108 / 1e5))
    assert p.far == 0.0 and p.bridges == ()


def test_low_quality_profile_refuses_datasets_without_modes_and_bad_thresholds():
    with pytest.raises(ValueError, match="with modes"):
        low_quality_profile(torch.zeros(3, 2), get_toy_dataset("swissroll"))
    with pytest.raises(ValueError, match=r"\(0, 4\)"):
        low_quality_profile(torch.zeros(3, 2), get_toy_dataset("grid"), threshold=4.5)
