"""Tests for ganlab.experiments.optimal_discriminator: D* = pi/(pi+p) and V(G, D*) = 2 JSD - log 4.

Closed forms: V(G, D) for a constant logit c is -softplus(-c) - softplus(c) (both densities integrate to
1), maximal at c = 0 with -log 4; D* = 1/2 where pi = p. The JSD of the smoke run is recomputed here
independently (scipy quadrature of (1/2) KL(pi||m) + (1/2) KL(p||m), m = (pi + p)/2).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch

from ganlab.cli import main
from ganlab.experiments.optimal_discriminator import EXPERIMENT, optimal_discriminator, value_by_quadrature

PNG = b"\x89PNG\r\n\x1a\n"
XS = np.linspace(-12.0, 12.0, 24001)


def test_optimal_discriminator_closed_forms():
    pi = np.array([0.2, 0.0, 3.0, 1.0])
    p = np.array([0.2, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(optimal_discriminator(pi, p), [0.5, 0.0, 0.75, 1.0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("c", [-3.0, 0.0, 0.7, 25.0])
def test_value_of_a_constant_discriminator(c):
    pi = scipy.stats.norm(-1, 0.5).pdf(XS)
    p = scipy.stats.norm(2, 1.5).pdf(XS)
    expected = -np.logaddexp(0, -c) - np.logaddexp(0, c)  # -softplus(-c) - softplus(c)
    assert abs(value_by_quadrature(XS, pi, p, np.full_like(XS, c)) - expected) <= 1e-9
    assert expected <= -math.log(4.0) + 1e-15


def test_d_star_maximizes_the_value():
    pi = scipy.stats.norm(0, 1).pdf(XS)
    p = scipy.stats.norm(1, 1).pdf(XS)
    logit_star = scipy.stats.norm(0, 1).logpdf(XS) - scipy.stats.norm(1, 1).logpdf(XS)
    best = value_by_quadrature(XS, pi, p, logit_star)
    rng = np.random.default_rng(0)
    for _ in range(5):
        perturbed = logit_star + rng.normal(0, 0.3) + rng.normal(0, 0.3) * np.sin(XS)
        assert value_by_quadrature(XS, pi, p, perturbed) < best


def _jsd_reference(pi, p) -> float:
    def kl_to_mean(a, b):
        def f(x):
            pa, pb = a.pdf(x), b.pdf(x)
            return 0.0 if pa == 0.0 else pa * math.log(2 * pa / (pa + pb))

        return sum(scipy.integrate.quad(f, lo, hi, limit=200)[0] for lo, hi in ((-40, -2), (-2, 2), (2, 40)))

    return 0.5 * kl_to_mean(pi, p) + 0.5 * kl_to_mean(p, pi)


class _Mix:
    def __init__(self, w, m, s):
        self.parts = [(wi, scipy.stats.norm(mi, si)) for wi, mi, si in zip(w, m, s)]

    def pdf(self, x):
        return sum(w * d.pdf(x) for w, d in self.parts)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("od")
    return out, EXPERIMENT.run({}, out, "smoke")


def test_smoke_run_supports_the_claim(smoke):
    out, result = smoke
    n = result.numbers
    assert result.passed is True
    jsd = _jsd_reference(_Mix([0.5, 0.5], [-2, 2], [0.5, 0.5]), _Mix([1.0], [0.0], [1.5]))
    assert abs(n["jsd"] - jsd) <= 1e-8
    assert abs(n["optimal_value"] - (2 * jsd - math.log(4.0))) <= 1e-8
    assert abs(n["grid_check"]) <= 1e-8
    # the trained D against D*: the claim's margins
    assert n["max_abs_error"] <= 0.1 and n["mean_abs_error"] <= 0.03
    assert 0.0 <= n["value_gap"] <= 0.01
    # a Monte Carlo estimate of V(G, D) on 2 x 100 000 fresh samples agrees with the quadrature (std ~ 0.003)
    assert abs(n["value_mc"] - n["value"]) <= 0.015
    assert n["region_mass"] >= 0.95 and n["steps"] == 300
    for path in result.figures:
        assert path.parent == out and path.read_bytes()[:8] == PNG
    assert [p.name for p in result.figures] == ["discriminator.png"]


def test_equal_densities_give_one_half_and_minus_log4(tmp_path):
    out = tmp_path / "eq"
    assert main(["experiment", "optimal-discriminator", "--size", "smoke", "--out", str(out), "--pi_weights=1",
                 "--pi_means=0", "--pi_stds=1.5", "--steps=100", "--batch_size=512", "--seed=2"]) == 0
    n = json.loads((out / "result.json").read_text())["numbers"]
    assert abs(n["jsd"]) <= 1e-10 and abs(n["optimal_value"] + math.log(4.0)) <= 1e-9
    assert n["steps"] == 100 and n["batch_size"] == 512
    assert n["max_abs_error"] <= 0.1  # D ~ 1/2 everywhere
    assert -1e-6 <= n["value_gap"] <= 0.01


@pytest.mark.parametrize("bad, message", [
    ({"pi_weights": [0.5], "pi_means": [-2.0, 2.0]}, "pi_weights / pi_means / pi_stds"),
    ({"p_stds": [-1.0]}, "p_weights / p_means / p_stds"),
    ({"mass_level": 5.0}, "mass_level=5.0 is above the largest density"),
    ({"width": 0}, "width must be a positive integer"),
    ({"stepz": 3}, "unknown parameter"),
])
def test_bad_parameters_are_refused(tmp_path, bad, message):
    params = {"steps": 1, "batch_size": 8, **bad}
    with pytest.raises(ValueError, match=message):
        EXPERIMENT.run(params, tmp_path, "smoke")
