"""Tests for ganlab.experiments.likelihood_vs_samples: lecture 7's two likelihood counter-examples.

The densities are checked against independent references (scipy's Gaussian log-pdf summed by hand, a
leave-one-out loop, the naive log of the mixture); the experiment's smoke run is checked against the
claim with margins far inside what it measures (A below B in log-likelihood by thousands of nats, A's
FID a small fraction of B's, the slide's bound on every test image).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch

from ganlab.cli import main
from ganlab.experiments.likelihood_vs_samples import (
    EXPERIMENT,
    kde_log_density,
    kde_loo_log_likelihood,
    kde_sample,
    noisy_mixture_log_density,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _reference_kde(x: np.ndarray, centres: np.ndarray, eps: float) -> np.ndarray:
    """log (1/n) sum_i N(x | x_i, eps I) with scipy's multivariate normal, summed in float64 by logsumexp."""
    comps = np.stack([np.atleast_1d(scipy.stats.multivariate_normal(c, eps * np.eye(len(c))).logpdf(x))
                      for c in centres], axis=1)
    return scipy.special.logsumexp(comps, axis=1) - math.log(len(centres))


def test_kde_log_density_matches_scipy():
    rng = np.random.default_rng(0)
    centres, x = rng.uniform(size=(7, 5)), rng.uniform(size=(4, 5))
    for eps in (0.01, 0.3):
        got = kde_log_density(torch.from_numpy(x), torch.from_numpy(centres), eps).numpy()
        np.testing.assert_allclose(got, _reference_kde(x, centres, eps), rtol=1e-12, atol=1e-10)


def test_kde_single_centre_is_the_gaussian_closed_form():
    x = torch.tensor([[1.0, 2.0, 2.0]], dtype=torch.float64)  # ||x - 0||^2 = 9
    eps = 0.5
    expected = -9.0 / (2 * eps) - 1.5 * math.log(2 * math.pi * eps)
    assert abs(float(kde_log_density(x, torch.zeros(1, 3, dtype=torch.float64), eps)[0]) - expected) <= 1e-12


def test_loo_log_likelihood_matches_a_loop():
    rng = np.random.default_rng(1)
    c = rng.uniform(size=(6, 3))
    eps = 0.05
    ref = np.mean([_reference_kde(c[j:j + 1], np.delete(c, j, axis=0), eps)[0] for j in range(6)])
    assert abs(kde_loo_log_likelihood(torch.from_numpy(c), eps) - ref) <= 1e-10


def test_kde_sample_is_centre_plus_scaled_noise():
    centres = torch.tensor([[0.0, 0.0], [10.0, 10.0]], dtype=torch.float64)
    x = kde_sample(centres, 1e-4, 4000, generator=torch.Generator().manual_seed(0))
    nearest = torch.cdist(x, centres).argmin(dim=1)
    resid = x - centres[nearest]
    assert abs(float((nearest == 1).double().mean()) - 0.5) < 0.03  # uniform over centres (std 0.008)
    assert abs(float(resid.std()) - 0.01) < 0.0005  # sqrt(eps) = 0.01 per coordinate


def test_noisy_mixture_matches_naive_form_and_the_slides_bound():
    log_p = torch.tensor([-50.0, -2.0, 0.0, 3.0, 40.0], dtype=torch.float64)
    log_q = torch.tensor([0.0, 0.0, -1.0, 0.0, 0.0], dtype=torch.float64)
    got = noisy_mixture_log_density(log_p, log_q, weight=0.01)
    naive = torch.log(0.01 * log_p.exp() + 0.99 * log_q.exp())
    torch.testing.assert_close(got, naive, rtol=1e-12, atol=1e-12)
    assert bool((got >= log_p - math.log(100.0) - 1e-12).all())
    # where p >> noise, the bound is tight: log p_2 -> log p - log 100
    assert abs(float(got[-1]) - (40.0 - math.log(100.0))) <= 1e-12
    with pytest.raises(ValueError, match="weight must lie in"):
        noisy_mixture_log_density(log_p, log_q, weight=1.0)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("lvs")
    return out, EXPERIMENT.run(dict(EXPERIMENT.params), out, "smoke")


def test_smoke_run_supports_the_claim(smoke):
    out, result = smoke
    n = result.numbers
    a, good, b = n["A"], n["p"], n["B"]
    assert result.passed is True
    # likelihood: A is thousands of nats per image below B; B within log 100 of p (the slide's bound)
    assert b["test_ll"] - a["test_ll"] > 1000.0
    assert n["bound_min_slack"] >= -1e-9
    assert abs(n["log_inverse_weight"] - math.log(100.0)) <= 1e-12
    assert good["test_ll"] - math.log(100.0) - 1e-9 <= b["test_ll"] <= good["test_ll"]
    # p's variance was chosen by leave-one-out on the train split: the grid's maximum
    loo = n["loo_log_likelihood"]
    assert max(loo, key=loo.get) == f"{good['eps']:g}"
    # samples: A copies training images (distance ~ sqrt(64 eps) = 0.08), B is mostly noise
    assert abs(a["nn_distance"] - math.sqrt(64 * 1e-4)) < 0.01
    assert b["nn_distance"] > 2.0 * n["test_nn_distance"]
    assert a["fid"] < 0.1 * b["fid"]
    assert 0.97 <= b["noise_fraction"] <= 1.0
    # the recorded test log-likelihood of A is the density's own, recomputed here
    from ganlab.data.images import load_digits_split

    train = load_digits_split("train")[0].reshape(-1, 64).double()
    test = load_digits_split("test")[0].reshape(-1, 64).double()
    assert abs(a["test_ll"] - float(kde_log_density(test, train, 1e-4).mean())) <= 1e-9
    assert result.verdict.endswith("disagree.")


def test_smoke_figures_are_pngs(smoke):
    out, result = smoke
    names = sorted(p.name for p in result.figures)
    assert names == ["likelihood_vs_quality.png", "samples_A.png", "samples_B.png", "samples_p.png"]
    for path in result.figures:
        assert path.parent == out and path.read_bytes()[:8] == PNG


def test_parameters_reach_the_models(tmp_path):
    out = tmp_path / "o"
    assert main(["experiment", "likelihood-vs-samples", "--size", "smoke", "--out", str(out), "--eps=0.001",
                 "--noise_weight=0.9", "--n_samples=100", "--bandwidth_grid=0.01,0.03", "--seed=3"]) == 0
    res = json.loads((out / "result.json").read_text())
    n = res["numbers"]
    assert n["A"]["eps"] == 0.001 and n["n_samples"] == 100
    assert abs(n["log_inverse_weight"] - math.log(10.0)) <= 1e-12
    assert set(n["loo_log_likelihood"]) == {"0.01", "0.03"} and n["p"]["eps"] == 0.03
    assert 0.8 <= n["B"]["noise_fraction"] <= 1.0
    assert n["B"]["test_ll"] >= n["p"]["test_ll"] - math.log(10.0) - 1e-9


@pytest.mark.parametrize("bad, message", [
    ({"eps": -1.0}, "eps"),
    ({"noise_weight": 1.5}, "noise_weight must lie in"),
    ({"bandwidth_grid": []}, "bandwidth_grid"),
    ({"epss": 1.0}, "unknown parameter"),
])
def test_bad_parameters_are_refused(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        EXPERIMENT.run({**EXPERIMENT.params, **bad}, tmp_path, "smoke")
