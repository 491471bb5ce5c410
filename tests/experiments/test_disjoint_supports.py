"""Tests for ganlab.experiments.disjoint_supports: the parallel-lines example and the disjoint-supports experiment.

Expected values are the lecture's (KL = KL_rev = inf, JSD = log 2, W = |theta|; TV = 1), a Monte
Carlo W1 between samples of the two lines: at least |theta| for every coupling (exact), above it by
the O(1/n) vertical mismatch of two empirical uniforms; the smoothed JSD against an independent
trapezoid quadrature and its small-theta limit theta^2 / (8 s^2); the bounds of hand-built linear
critics against their closed forms; and the experiment's claim at the smoke size, with its margins.
"""

from __future__ import annotations

import math

from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.cli import main
from ganlab.experiments import get_experiment
from ganlab.experiments.disjoint_supports import (
    EXPERIMENT,
    bound_and_gradient,
    fit_critic,
    line_sample,
    parallel_lines,
    smoothed_js,
)
from ganlab.transport import wasserstein1

LOG2 = math.log(2.0)


@pytest.mark.parametrize("theta", [0.5, -2.0, 1e-3])
def test_parallel_lines_disjoint(theta):
    rec = parallel_lines(theta)
    assert rec.kl == math.inf and rec.reverse_kl == math.inf
    assert abs(rec.js - LOG2) <= 1e-15
    assert abs(rec.tv - 1.0) <= 1e-15
    assert abs(rec.w1 - abs(theta)) <= 1e-12


def test_parallel_lines_equal():
    rec = parallel_lines(0.0)
    assert (rec.kl, rec.reverse_kl, rec.js, rec.tv) == (0.0, 0.0, 0.0, 0.0)
    assert abs(rec.w1) <= 1e-15


def test_parallel_lines_monte_carlo_w1():
    rng = np.random.default_rng(3)
    theta, n = 0.7, 400
    x = np.stack([np.zeros(n), rng.uniform(size=n)], axis=1)
    y = np.stack([np.full(n, theta), rng.uniform(size=n)], axis=1)
    w = wasserstein1(x, y)
    # every coupling moves each unit of mass at least |theta| horizontally; the vertical mismatch
    # of two empirical uniforms adds ~ E[dy^2]/(2 theta) = O(1/n)
    assert abs(theta) - 1e-12 <= w <= abs(theta) + 0.01


# --------------------------------------------------------------------------- instance noise, exact


def _js_by_trapezoid(theta: float, s: float) -> float:
    """An independent reference: JSD(N(0, s^2) || N(theta, s^2)) by the trapezoid rule on a fine grid,
    (1/2) int p log(2p / (p + q)) + q log(2q / (p + q))."""
    x = np.linspace(min(0.0, theta) - 14 * s, max(0.0, theta) + 14 * s, 400_001)
    p = np.exp(-0.5 * (x / s) ** 2) / (s * math.sqrt(2 * math.pi))
    q = np.exp(-0.5 * ((x - theta) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        integrand = 0.5 * (np.where(p > 0, p * np.log(p / m), 0.0) + np.where(q > 0, q * np.log(q / m), 0.0))
    return float(np.trapezoid(integrand, x))


@pytest.mark.parametrize("theta, s", [(1.0, 0.5), (0.25, 0.5), (-0.7, 0.3), (2.0, 1.0)])
def test_smoothed_js_matches_an_independent_quadrature(theta, s):
    assert abs(smoothed_js(theta, s) - _js_by_trapezoid(theta, s)) <= 1e-7


def test_smoothed_js_limits_and_invariances():
    assert smoothed_js(0.0, 0.5) == 0.0
    assert abs(smoothed_js(30.0, 0.5) - LOG2) <= 1e-12  # no overlap left: the disjoint value
    # JSD depends on theta / s only, and is even in theta
    assert abs(smoothed_js(0.6, 0.3) - smoothed_js(2.0, 1.0)) <= 1e-9
    assert abs(smoothed_js(-0.6, 0.3) - smoothed_js(0.6, 0.3)) <= 1e-12
    # small theta: JSD ~ theta^2 / (8 s^2) (Fisher information 1/s^2, JSD ~ (1/8) I dtheta^2)
    assert abs(smoothed_js(1e-2, 1.0) / (1e-4 / 8) - 1.0) <= 1e-3


@pytest.mark.parametrize("bad", [{"theta": math.nan, "noise_std": 1.0}, {"theta": 1.0, "noise_std": 0.0},
                                 {"theta": 1.0, "noise_std": -1.0}])
def test_smoothed_js_refuses_bad_values(bad):
    with pytest.raises(ValueError, match="theta|noise_std"):
        smoothed_js(**bad)


# --------------------------------------------------------------------------- bounds of hand-built critics


class _Linear(torch.nn.Module):
    """v(x) = a + b x_1: a critic whose bounds have closed forms on the two lines."""

    def __init__(self, a: float, b: float) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))
        self.b = torch.nn.Parameter(torch.tensor(b))

    def forward(self, x):
        return self.a + self.b * x[:, 0]


def test_wasserstein_bound_and_gradient_of_f_equal_minus_x1():
    # f(x) = -x_1 is 1-Lipschitz and optimal for theta > 0: E_P f - E_Q f = theta, d/dtheta = 1
    g = torch.Generator().manual_seed(0)
    value, grad = bound_and_gradient(_Linear(0.0, -1.0), "w", 0.7, n=64, noise_std=0.0, generator=g)
    assert abs(value - 0.7) <= 1e-6 and abs(grad - 1.0) <= 1e-6


def test_js_bound_and_gradient_closed_form():
    # v = a + b x_1 is constant on each line:
    #   bound = (1/2)(log 2 + log sigmoid(a)) - (1/2)(softplus(a + b theta) - log 2)
    #   d/dtheta = -(1/2) sigmoid(a + b theta) b
    a, b, theta = 3.0, -8.0, 0.9
    g = torch.Generator().manual_seed(0)
    value, grad = bound_and_gradient(_Linear(a, b), "js", theta, n=32, noise_std=0.0, generator=g)
    vf = a + b * theta
    expected = 0.5 * (LOG2 - math.log1p(math.exp(-a))) - 0.5 * (math.log1p(math.exp(vf)) - LOG2)
    assert abs(value - expected) <= 1e-6
    assert abs(grad - (-0.5 * b / (1 + math.exp(-vf)))) <= 1e-6
    assert value <= LOG2  # a lower bound on JSD = log 2


def test_line_sample_is_differentiable_in_theta():
    g = torch.Generator().manual_seed(1)
    th = torch.tensor(0.3, requires_grad=True)
    x = line_sample(th, 500, g)
    assert x.shape == (500, 2) and torch.all(x[:, 0] == 0.3)
    assert float(x[:, 1].detach().min()) >= 0.0 and float(x[:, 1].detach().max()) <= 1.0
    (d,) = torch.autograd.grad(x[:, 0].sum(), th)
    assert float(d) == 500.0


def test_fit_critic_refuses_an_unknown_kind():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="kind must be 'js' or 'w', got 'kl'"):
        fit_critic(_Linear(0.0, 1.0), "kl", lambda n: line_sample(0.0, n, g), lambda n: line_sample(1.0, n, g),
                   steps=1, batch=4, generator=g)


# --------------------------------------------------------------------------- the experiment, smoke size


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("disjoint")
    return out, EXPERIMENT.run(dict(EXPERIMENT.params), out, "smoke")


def test_trained_critics_estimate_jsd_log2_and_w_abs_theta(smoke):
    _, result = smoke
    n = result.numbers
    assert n["thetas"] == [-1.0, -0.5, 0.5, 1.0] and n["exact"]["kl"] == ["inf"] * 4
    for t, js, w in zip(n["thetas"], n["js_estimate"], n["w_estimate"]):
        assert LOG2 - 0.1 <= js <= LOG2 + 1e-6  # a lower bound on log 2, and close to it
        assert abs(w - abs(t)) <= 0.1 + 0.1 * abs(t)
    # the JS critic with instance noise estimates the smoothed JSD (quadrature), well below log 2
    for est, exact in zip(n["js_noise_estimate"], n["exact"]["js_noise"]):
        assert abs(est - exact) <= 0.03


def test_js_gradient_vanishes_while_w_gradient_is_sign_theta(smoke):
    n = smoke[1].numbers
    for t, gjs, gw, gnoise in zip(n["thetas"], n["js_gradient"], n["w_gradient"], n["js_noise_gradient"]):
        assert abs(gjs) <= 0.05
        assert abs(gw - math.copysign(1.0, t)) <= 0.25
        assert math.copysign(1.0, gnoise) == math.copysign(1.0, t) and abs(gnoise) >= 0.15  # noise: a gradient again


def test_theta_training_w_moves_js_does_not_noise_does(smoke):
    n = smoke[1].numbers
    ends = n["theta_final"]
    assert abs(ends["w"]) <= 0.15
    assert abs(ends["js"] - 1.0) <= 0.1
    assert ends["js_noise"] <= 0.7
    assert n["theta_path"]["w"][0] == n["theta_path"]["js"][0] == 1.0
    assert abs(n["gradient_at_theta0"]["js"]) <= 0.05 <= 0.1 <= abs(n["gradient_at_theta0"]["js_noise"])
    assert smoke[1].passed is True and all(n["checks"].values())


def test_figures_are_pngs(smoke):
    out, result = smoke
    assert {p.name for p in result.figures} == {"divergences_vs_theta.png", "theta_training.png"}
    for p in result.figures:
        assert p.parent == out and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parameters_theta0_thetas_noise_are_used(tmp_path):
    torch.set_num_threads(1)
    params = {**EXPERIMENT.params, "thetas": [0.75], "theta0": -0.8, "noise_std": 0.3, "seed": 3}
    n = EXPERIMENT.run(params, tmp_path, "smoke").numbers
    assert n["thetas"] == [0.75] and n["theta0"] == -0.8
    assert abs(n["w_estimate"][0] - 0.75) <= 0.175
    assert abs(n["exact"]["js_noise"][0] - smoothed_js(0.75, 0.3)) <= 1e-12
    assert abs(n["js_noise_estimate"][0] - smoothed_js(0.75, 0.3)) <= 0.05
    assert n["theta_path"]["w"][0] == -0.8 and abs(n["theta_final"]["w"]) <= 0.15
    assert abs(n["theta_final"]["js"] + 0.8) <= 0.1
    assert n["theta_final"]["js_noise"] >= -0.5  # moved toward 0 from below


@pytest.mark.parametrize("argv, message", [
    (["--thetas=0,1"], "thetas=[0.0, 1.0]: expected a non-empty list of finite, non-zero numbers"),
    (["--theta0=0"], "theta0=0.0: expected a finite, non-zero number"),
    (["--noise_std=-1"], "noise_std=-1.0: expected a finite number > 0"),
])
def test_bad_parameters_are_refused_by_name(tmp_path, capsys, argv, message):
    assert main(["experiment", "disjoint-supports", "--size", "smoke", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_registered_with_its_lecture_slide():
    exp = get_experiment("disjoint-supports")
    assert exp is EXPERIMENT
    assert exp.lecture == "004_a72885b194f54592.txt 'Wasserstein distance vs KL vs JSD'"
    with pytest.raises(ValueError, match="size 'medium'"):
        EXPERIMENT.run(dict(EXPERIMENT.params), Path("."), "medium")
