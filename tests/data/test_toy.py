"""Geometry, seeding and densities of the toy datasets (ganlab.data.toy).

Mode coordinates are written out by hand from the sources (PacGAN configs, gan_toy.py) and
compared exactly; sample statistics are compared with Monte Carlo tolerances of >= 4 standard
errors; densities are compared with scipy.stats.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from ganlab.data import TOY_DATASETS, ToyDataset, get_toy_dataset
from ganlab.data.toy import ring

MIXTURES = ["ring", "grid", "8gaussians", "25gaussians", "mixture-1d"]
ALL = ["ring", "grid", "8gaussians", "25gaussians", "swissroll", "parallel-lines", "mixture-1d"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _min_pairwise_distance(points: np.ndarray) -> float:
    d = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    d[np.diag_indices_from(d)] = np.inf
    return float(d.min())


# ----------------------------------------------------------------------------- registry


def test_registry_holds_exactly_the_documented_datasets():
    assert sorted(TOY_DATASETS) == sorted(ALL)
    for name in ALL:
        ds = get_toy_dataset(name)
        assert isinstance(ds, ToyDataset)
        assert ds.name == name
        assert ds.reference  # every dataset names its source


def test_unknown_name_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match=r"'rings'.*'25gaussians'.*'ring'"):
        get_toy_dataset("rings")


def test_unknown_parameter_is_refused_by_name():
    with pytest.raises(ValueError, match=r"\['radious'\].*'ring'.*radius"):
        get_toy_dataset("ring", radious=2.0)
    with pytest.raises(ValueError, match=r"'8gaussians'.*no parameters"):
        get_toy_dataset("8gaussians", std=0.1)


@pytest.mark.parametrize(
    "name, params, pattern",
    [
        ("ring", {"num_modes": 0}, "num_modes"),
        ("ring", {"std": -0.1}, "std"),
        ("grid", {"spacing": 0.0}, "spacing"),
        ("swissroll", {"noise": -1.0}, "noise"),
        ("parallel-lines", {"theta": float("inf")}, "theta"),
        ("mixture-1d", {"weights": (0.3, 0.3)}, r"sum to 1"),
        ("mixture-1d", {"stds": (0.5, 0.0)}, "stds must be positive"),
        ("mixture-1d", {"means": (0.0,)}, "same length"),
    ],
)
def test_bad_parameters_raise_valueerror(name, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        get_toy_dataset(name, **params)


@pytest.mark.parametrize("n", [0, -3, 2.5, True, "10"])
def test_bad_sample_count_raises(n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        get_toy_dataset("ring").sample(n)


def test_bad_dtype_and_generator_raise():
    ds = get_toy_dataset("ring")
    with pytest.raises(ValueError, match="floating-point"):
        ds.sample(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="torch.Generator"):
        ds.sample(4, generator=np.random.default_rng(0))


# ----------------------------------------------------------------------------- geometry


def test_ring_modes_are_the_eight_unit_circle_points():
    s = math.sqrt(0.5)
    expected = np.array(
        [(1, 0), (s, s), (0, 1), (-s, s), (-1, 0), (-s, -s), (0, -1), (s, -s)], dtype=np.float64
    )
    ds = get_toy_dataset("ring")
    assert ds.num_modes == 8 and ds.dim == 2
    np.testing.assert_allclose(ds.modes, expected, rtol=0, atol=1e-15)
    assert ds.std == 0.01


def test_ring_has_eight_distinct_modes_unlike_linspace():
    """The Unrolled-GAN / GDPP pitfall: linspace(0, 2 pi, 8) repeats the first centre."""
    bad_angles = np.linspace(0, 2 * np.pi, 8)
    bad = np.stack([np.cos(bad_angles), np.sin(bad_angles)], 1)
    assert len(np.unique(np.round(bad, 12), axis=0)) == 7
    assert _min_pairwise_distance(bad) < 1e-12

    modes = get_toy_dataset("ring").modes
    assert len(np.unique(np.round(modes, 12), axis=0)) == 8
    # neighbours on the unit circle 2 pi / 8 apart are a chord 2 sin(pi / 8) apart
    np.testing.assert_allclose(_min_pairwise_distance(modes), 2 * math.sin(math.pi / 8), rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(modes, axis=1), np.ones(8), rtol=0, atol=1e-15)


def test_ring_parameters_change_the_geometry():
    ds = ring(num_modes=3, radius=2.0, std=0.1)
    expected = 2.0 * np.array([(1, 0), (-0.5, math.sqrt(3) / 2), (-0.5, -math.sqrt(3) / 2)])
    np.testing.assert_allclose(ds.modes, expected, rtol=0, atol=1e-14)
    assert ds.std == 0.1


def test_grid_modes_are_the_25_points_of_minus4_to_4_squared():
    ds = get_toy_dataset("grid")
    expected = {(float(i), float(j)) for i in (-4, -2, 0, 2, 4) for j in (-4, -2, 0, 2, 4)}
    assert ds.num_modes == 25 and ds.std == 0.05
    assert {tuple(m) for m in ds.modes.tolist()} == expected


def test_8gaussians_matches_the_wgan_gp_script_after_scaling():
    r = 1.0 / math.sqrt(2.0)
    script_centres = [(1, 0), (-1, 0), (0, 1), (0, -1), (r, r), (r, -r), (-r, r), (-r, -r)]
    expected = np.array([(2 * x / 1.414, 2 * y / 1.414) for x, y in script_centres])
    ds = get_toy_dataset("8gaussians")
    np.testing.assert_allclose(ds.modes, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(ds.modes, axis=1), np.full(8, 2 / 1.414), rtol=0, atol=1e-15)
    np.testing.assert_allclose(ds.std, 0.02 / 1.414, rtol=0, atol=1e-17)
    assert len(np.unique(np.round(ds.modes, 12), axis=0)) == 8


def test_25gaussians_matches_the_wgan_gp_script_after_scaling():
    ds = get_toy_dataset("25gaussians")
    expected = {(2 * i / 2.828, 2 * j / 2.828) for i in range(-2, 3) for j in range(-2, 3)}
    got = {tuple(m) for m in ds.modes.tolist()}
    assert len(got) == 25
    for m in expected:
        assert min(math.dist(m, g) for g in got) < 1e-14
    np.testing.assert_allclose(ds.std, 0.05 / 2.828, rtol=0, atol=1e-17)


def test_mode_arrays_are_read_only():
    ds = get_toy_dataset("grid")
    with pytest.raises(ValueError):
        ds.modes[0, 0] = 100.0


@pytest.mark.parametrize("name", ["ring", "grid", "8gaussians", "25gaussians"])
def test_samples_scatter_around_their_modes_with_the_stated_std(name):
    ds = get_toy_dataset(name)
    n = 20_000
    x = ds.sample(n, generator=_gen(1), dtype=torch.float64).numpy()
    k = ds.num_modes
    d = np.linalg.norm(x[:, None, :] - ds.modes[None], axis=-1)
    nearest = d.argmin(1)
    resid = x - ds.modes[nearest]
    sigma = float(ds.std)
    # pooled per-axis std over 2n residuals: relative standard error 1 / sqrt(4n) = 0.35 %
    np.testing.assert_allclose(resid.std(axis=0), [sigma, sigma], rtol=0.02, atol=0)
    np.testing.assert_allclose(resid.mean(axis=0), [0.0, 0.0], rtol=0, atol=5 * sigma / math.sqrt(n))
    # every mode is hit with probability 1 / K: binomial standard error sqrt(p (1 - p) / n)
    freq = np.bincount(nearest, minlength=k) / n
    se = math.sqrt((1 / k) * (1 - 1 / k) / n)
    np.testing.assert_allclose(freq, np.full(k, 1 / k), rtol=0, atol=5 * se)


@pytest.mark.parametrize("name", ALL)
def test_seeding_is_reproducible_and_seeds_differ(name):
    ds = get_toy_dataset(name)
    a = ds.sample(64, generator=_gen(7))
    b = ds.sample(64, generator=_gen(7))
    c = ds.sample(64, generator=_gen(8))
    assert a.shape == (64, ds.dim) and a.dtype == torch.float32
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().max() > 1e-3
    torch.manual_seed(3)
    g1 = ds.sample(16)
    torch.manual_seed(3)
    g2 = ds.sample(16)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)


def test_dtype_is_a_cast_of_the_same_float64_draw():
    ds = get_toy_dataset("grid")
    x64 = ds.sample(100, generator=_gen(5), dtype=torch.float64)
    x32 = ds.sample(100, generator=_gen(5), dtype=torch.float32, device="cpu")
    assert x64.dtype == torch.float64 and x32.dtype == torch.float32
    torch.testing.assert_close(x32, x64.float(), rtol=0, atol=0)


def test_swissroll_lies_on_the_spiral_of_make_swiss_roll():
    """Noise-free points are (t cos t, t sin t) / 7.5 with t ~ U[1.5 pi, 4.5 pi]: E t = 3 pi."""
    ds = get_toy_dataset("swissroll")
    assert ds.modes is None and ds.std is None and ds.num_modes is None
    n = 20_000
    x = ds.sample(n, generator=_gen(2), dtype=torch.float64).numpy()
    radius = 7.5 * np.linalg.norm(x, axis=1)  # = |t + noise| up to a bias of order 0.25^2 / t
    lo, hi = 1.5 * math.pi, 4.5 * math.pi
    se = (hi - lo) / math.sqrt(12 * n)
    np.testing.assert_allclose(radius.mean(), 3 * math.pi, rtol=0, atol=5 * se + 0.01)
    np.testing.assert_allclose(radius.std(), (hi - lo) / math.sqrt(12), rtol=0.02, atol=0)
    # 0.25 noise per axis: no point further than 8 noise stds outside [lo, hi]
    assert radius.min() > lo - 2.0 and radius.max() < hi + 2.0


def test_swissroll_noise_zero_is_exactly_on_the_spiral():
    ds = get_toy_dataset("swissroll", noise=0.0)
    x = 7.5 * ds.sample(500, generator=_gen(0), dtype=torch.float64).numpy()
    t = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(x[:, 0], t * np.cos(t), rtol=0, atol=1e-9)
    np.testing.assert_allclose(x[:, 1], t * np.sin(t), rtol=0, atol=1e-9)


@pytest.mark.parametrize("theta", [0.0, 0.7, -2.0])
def test_parallel_lines_is_theta_times_uniform(theta):
    ds = get_toy_dataset("parallel-lines", theta=theta)
    n = 20_000
    x = ds.sample(n, generator=_gen(4), dtype=torch.float64).numpy()
    np.testing.assert_array_equal(x[:, 0], np.full(n, theta))
    assert x[:, 1].min() >= 0.0 and x[:, 1].max() <= 1.0
    se_mean = math.sqrt(1 / 12 / n)
    np.testing.assert_allclose(x[:, 1].mean(), 0.5, rtol=0, atol=5 * se_mean)
    np.testing.assert_allclose(x[:, 1].var(), 1 / 12, rtol=0.03, atol=0)


def test_mixture_1d_geometry_and_moments():
    w, m, s = (0.2, 0.5, 0.3), (-3.0, 0.0, 4.0), (0.5, 1.0, 0.25)
    ds = get_toy_dataset("mixture-1d", weights=w, means=m, stds=s)
    assert ds.dim == 1 and ds.num_modes == 3
    np.testing.assert_array_equal(ds.modes, np.array(m)[:, None])
    np.testing.assert_array_equal(ds.std, np.array(s))
    n = 40_000
    x = ds.sample(n, generator=_gen(9), dtype=torch.float64).numpy()[:, 0]
    mean = sum(wi * mi for wi, mi in zip(w, m))
    var = sum(wi * (si**2 + mi**2) for wi, mi, si in zip(w, m, s)) - mean**2
    np.testing.assert_allclose(x.mean(), mean, rtol=0, atol=5 * math.sqrt(var / n))
    np.testing.assert_allclose(x.var(), var, rtol=0.03, atol=0)


def test_mixture_1d_default_is_the_bimodal_mixture():
    ds = get_toy_dataset("mixture-1d")
    np.testing.assert_array_equal(ds.modes[:, 0], [-2.0, 2.0])
    np.testing.assert_array_equal(ds.std, [0.5, 0.5])
    np.testing.assert_array_equal(ds.weights, [0.5, 0.5])


# ----------------------------------------------------------------------------- densities


def test_mixture_1d_pdf_matches_scipy_and_integrates_to_one():
    w, m, s = (0.2, 0.5, 0.3), (-3.0, 0.0, 4.0), (0.5, 1.0, 0.25)
    ds = get_toy_dataset("mixture-1d", weights=w, means=m, stds=s)
    xs = np.linspace(-8, 8, 101)
    ref = sum(wi * stats.norm.pdf(xs, mi, si) for wi, mi, si in zip(w, m, s))
    np.testing.assert_allclose(ds.pdf(xs), ref, rtol=1e-12, atol=1e-300)
    total, _ = integrate.quad(lambda t: float(ds.pdf(t)), -np.inf, np.inf, points=None, limit=200)
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ds.log_pdf(xs), np.log(ref), rtol=0, atol=1e-10)


def test_log_pdf_is_finite_far_from_every_mode():
    ds = get_toy_dataset("mixture-1d")
    # naive log(sum) underflows to -inf; the log-sum-exp keeps the exact value
    expected = math.log(0.5) + stats.norm.logpdf(60.0, 2.0, 0.5) + math.log1p(math.exp(-(62.0**2 - 58.0**2) / (2 * 0.25)))
    np.testing.assert_allclose(ds.log_pdf(60.0), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["ring", "grid", "8gaussians"])
def test_2d_pdf_matches_scipy_mixture(name):
    ds = get_toy_dataset(name)
    rng = np.random.default_rng(0)
    pts = ds.modes[rng.integers(0, ds.num_modes, 50)] + rng.normal(0, 2 * float(ds.std), (50, 2))
    cov = float(ds.std) ** 2 * np.eye(2)
    ref = sum(stats.multivariate_normal(mu, cov).pdf(pts) / ds.num_modes for mu in ds.modes)
    np.testing.assert_allclose(ds.pdf(pts), ref, rtol=1e-10, atol=0)


@pytest.mark.parametrize("name", ["swissroll", "parallel-lines"])
def test_datasets_without_density_refuse_pdf(name):
    with pytest.raises(ValueError, match="no closed-form density"):
        get_toy_dataset(name).pdf(np.zeros((1, 2)))


def test_pdf_checks_the_dimension():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        get_toy_dataset("ring").pdf(np.zeros((3, 3)))
