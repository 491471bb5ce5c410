"""Tests for ganlab.experiments.spectral_norm: power iteration against the SVD, the persistent u, the product bound.

The measurements are checked on hand-built cases with closed forms: on a diagonal matrix the n-th
iterate is sigma_hat^2 = sum a_i^2 s_i^(4n) / sum a_i^2 s_i^(4n-2) for the start u_0 = a; a critic with
diagonal weights has prod sigma = prod max |d_i|; a linear critic a.x has Lipschitz constant ||a||.
The experiment's claim is checked at the smoke size with the module docstring's margins.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import ganlab.experiments.spectral_norm as sn
from ganlab.cli import main
from ganlab.experiments import get_experiment
from ganlab.experiments.spectral_norm import (
    EXPERIMENT,
    PARAMS,
    lipschitz_measured,
    power_iteration_errors,
    spectral_product,
)


def test_power_iteration_errors_on_a_diagonal_matrix():
    s = torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64)
    a = torch.randn(3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)  # the start u_0 it draws
    g = torch.Generator().manual_seed(4)
    rec = power_iteration_errors(torch.diag(s), [1, 2, 5], g)
    assert rec["sigma"] == 3.0 and rec["numpy_disagreement"] <= 1e-15
    for n, est, err in zip([1, 2, 5], rec["estimates"], rec["relative_error"]):
        expected = math.sqrt(float((a**2 * s ** (4 * n)).sum() / (a**2 * s ** (4 * n - 2)).sum()))
        assert abs(est - expected) <= 1e-12 * expected
        assert abs(err - (3.0 - expected) / 3.0) <= 1e-12


def test_spectral_product_of_diagonal_layers():
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.5, 0.0], [0.0, -3.0]]))
        net[2].weight.copy_(torch.tensor([[3.0, 4.0]]))
    assert abs(spectral_product(net) - 3.0 * 5.0) <= 1e-6


def test_lipschitz_measured_of_a_linear_critic():
    class Linear(nn.Module):
        def forward(self, x):
            return 3.0 * x[:, 0] - 4.0 * x[:, 1]

    g = torch.Generator().manual_seed(0)
    rec = lipschitz_measured(Linear(), torch.randn(2000, 2, generator=g), g)
    assert abs(rec["max_gradient_norm"] - 5.0) <= 1e-5
    assert 4.95 <= rec["max_pair_slope"] <= 5.0 + 1e-5  # |a.(x - y)| / ||x - y|| <= ||a||, near it over 2000 pairs


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("sn")
    return out, EXPERIMENT.run(dict(PARAMS), out, "smoke")


def test_power_iteration_approaches_sigma_from_below_at_rate_rho4(smoke):
    n = smoke[1].numbers
    assert len(n["power_iteration"]) == 6  # Gaussian, rho^i, 4 trained layers
    for name, rec in n["power_iteration"].items():
        assert rec["numpy_disagreement"] <= 1e-12
        assert all(e <= rec["sigma"] * (1 + 1e-12) for e in rec["estimates"]), name
        assert all(b >= a * (1 - 1e-12) for a, b in zip(rec["estimates"], rec["estimates"][1:])), name
        assert rec["relative_error"][-1] <= 1e-3, name
    assert abs(n["measured_rate"] / 0.9**4 - 1.0) <= 0.05
    # a 1-row matrix: one iteration is exact
    last = n["power_iteration"]["trained critic layer 4 (1x128)"]
    assert abs(last["relative_error"][0]) <= 1e-14


def test_persistent_u_beats_a_fresh_start(smoke):
    p = smoke[1].numbers["persistent_u"]
    pers, fresh = p["median_error_second_half"], p["fresh_u_median_error_second_half"]
    assert len(pers) == 4 and p["steps"] == 100
    assert sum(pers) / 4 <= sum(fresh) / 4 / 3
    assert max(pers) <= 0.1  # within 10 % in every layer
    assert max(pers[1:3]) <= min(fresh[1:3]) / 3  # the 128 x 128 layers: a third of the fresh start's error at most
    assert abs(pers[3]) <= 1e-6  # one row: one iteration is exact (up to the float32 buffers)
    assert min(p["weight_change"]) >= 0.01  # the weights did move


def test_product_of_spectral_norms_bounds_the_lipschitz_constant(smoke):
    lip = smoke[1].numbers["lipschitz"]
    assert set(lip) == {"WGAN-GP critic", "spectral norm", "untrained"}
    for name, v in lip.items():
        assert v["product"] >= max(v["max_gradient_norm"], v["max_pair_slope"]) * (1 - 1e-6), name
    # normalized by sigma_hat <= sigma: each layer's norm is >= 1, the product too; the critic is contractive here
    assert lip["spectral norm"]["product"] >= 1.0 - 1e-5 and lip["spectral norm"]["max_gradient_norm"] <= 1.0
    assert smoke[1].passed is True and all(smoke[1].numbers["checks"].values())


def test_figures_are_pngs(smoke):
    out, result = smoke
    assert {p.name for p in result.figures} == {"power_iteration_error.png", "persistent_u.png", "lipschitz_bound.png"}
    for p in result.figures:
        assert p.parent == out and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parameters_rho_and_n_iters_are_used(tmp_path, monkeypatch):
    monkeypatch.setitem(sn._BUDGETS, "smoke", sn._Budget(critic_steps=3, sn_steps=4, batch=32, n_points=256))
    n = EXPERIMENT.run({**PARAMS, "rho": 0.8, "n_iters": [3, 6, 9, 12]}, tmp_path, "smoke").numbers
    assert n["n_iters"] == [3, 6, 9, 12] and n["rho_to_the_4"] == pytest.approx(0.8**4, rel=1e-15)
    assert "spectrum rho^i, rho = 0.8" in n["power_iteration"]
    assert abs(n["measured_rate"] / 0.8**4 - 1.0) <= 0.05
    assert n["persistent_u"]["steps"] == 4


@pytest.mark.parametrize("argv, message", [
    (["--n_iters=5,2"], "n_iters=[5, 2]: expected increasing integers >= 1"),
    (["--rho=1"], "rho=1.0: expected a number in (0, 1)"),
    (["--sn_lr=-1"], "sn_lr=-1.0: expected a finite number > 0"),
])
def test_bad_parameters_are_refused_by_name(tmp_path, capsys, argv, message):
    assert main(["experiment", "spectral-norm", "--size", "smoke", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_registered_with_its_lecture_slide():
    assert get_experiment("spectral-norm") is EXPERIMENT
    assert EXPERIMENT.lecture == "001_b56ff7e156eb3bba.txt 'Spectral Normalization GAN'"
