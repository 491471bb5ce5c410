"""Tests for ganlab.experiments.divergence_estimation: variational f-bounds, the dual W1, Theorem 2's hierarchy.

References kept here: closed forms of every f-divergence between N(0, 1) and N(1, 1) (equal variances:
KL = Delta^2 / 2, chi^2 = e^(Delta^2) - 1, H^2 = 2 (1 - e^(-Delta^2 / 8)), TV = 2 Phi(Delta / 2) - 1,
Jeffrey = Delta^2), the quantile integral of W1 between Gaussians, the Kantorovich-Rubinstein inequality
for a hand-built critic, and the parallel lines' exact values (KL = inf, JSD = log 2, W1 = |theta|).
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
from ganlab.divergences import DIVERGENCES
from ganlab.experiments import get_experiment
from ganlab.experiments.divergence_estimation import (
    EXPERIMENT,
    LIPSCHITZ_METHODS,
    dual_w1_estimate,
    lipschitz_on_points,
    true_divergence,
    w1_gaussians_1d,
)
from ganlab.transport import wasserstein1

LOG2 = math.log(2.0)
E = math.e
H2 = 2.0 * (1.0 - math.exp(-1.0 / 8.0))  # squared Hellinger between N(0, 1) and N(1, 1)
CLOSED_FORMS = {  # D_f(N(0, 1) || N(1, 1))
    "kl": 0.5, "reverse-kl": 0.5, "pearson": E - 1.0, "neyman": E - 1.0, "hellinger": H2, "jeffrey": 1.0,
    "tv": 2.0 * scipy.stats.norm.cdf(0.5) - 1.0, "alpha-0.5": 2.0 * H2, "alpha-2": (E - 1.0) / 2.0,
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("divergence_estimation")
    return out, EXPERIMENT.run(dict(EXPERIMENT.params), out, "smoke")


def test_registered_with_its_slide():
    exp = get_experiment("divergence-estimation")
    assert exp is EXPERIMENT
    assert exp.lecture == "002_12706ff463d72203.txt 'f-divergence family'"


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_true_values_match_the_closed_forms(name):
    assert abs(true_divergence(name, 0.0, 1.0, 1.0, 1.0) - CLOSED_FORMS[name]) <= 1e-8


def test_true_values_js_gan_and_divergent_integrals():
    js = true_divergence("js", 0.0, 1.0, 1.0, 1.0)
    assert abs(true_divergence("gan", 0.0, 1.0, 1.0, 1.0) - (2 * js - math.log(4.0))) <= 1e-9
    assert 0.0 < js < LOG2
    assert true_divergence("pearson", 0.0, 1.0, 0.0, 0.7) == math.inf  # q_std^2 = 0.49 <= 1/2
    assert true_divergence("neyman", 0.0, 1.0, 0.0, 1.5) == math.inf  # q_std^2 = 2.25 >= 2
    assert math.isfinite(true_divergence("pearson", 0.0, 1.0, 0.0, 0.75))


def test_w1_between_gaussians_is_the_quantile_integral():
    for p, q in (((0.0, 1.0), (0.5, 2.0)), ((1.0, 0.3), (-2.0, 0.9))):
        ref = scipy.integrate.quad(lambda t: abs(p[0] + p[1] * scipy.stats.norm.ppf(t) - q[0]
                                                 - q[1] * scipy.stats.norm.ppf(t)), 0, 1, limit=200, points=[0.5])[0]
        assert abs(w1_gaussians_1d(*p, *q) - ref) <= 1e-7
    assert w1_gaussians_1d(0.0, 1.0, -3.0, 1.0) == 3.0


def test_lipschitz_on_points_and_the_kantorovich_rubinstein_inequality():
    x = np.array([3.0, -1.0, 0.5, 2.0])
    assert lipschitz_on_points(np.abs(x), x) == 1.0
    assert lipschitz_on_points(-3.0 * x, x) == 3.0
    gen = torch.Generator().manual_seed(0)
    x_p, x_q = torch.randn(500, 1, generator=gen), 1.0 + 1.3 * torch.randn(500, 1, generator=gen)
    critic = torch.nn.Linear(1, 1)
    with torch.no_grad():
        critic.weight.fill_(-2.0)
        critic.bias.fill_(0.3)
    est = dual_w1_estimate(critic, x_p, x_q)
    assert abs(est["lipschitz"] - 2.0) <= 1e-12
    assert abs(est["dual"] - 2.0 * float(x_q.double().mean() - x_p.double().mean())) <= 1e-12
    assert abs(est["certified"] - float(x_q.double().mean() - x_p.double().mean())) <= 1e-12
    # Kantorovich-Rubinstein: for any f, (E_P f - E_Q f) / L is a lower bound on W1 of the two samples
    assert est["certified"] <= wasserstein1(x_p.double().numpy(), x_q.double().numpy())


def test_smoke_bounds_approach_the_true_values_from_below(smoke):
    _, result = smoke
    table = result.numbers["variational"]
    assert sorted(table) == ["hellinger", "js", "kl"] and result.numbers["ns"] == [100, 1000]
    errors = {}
    for name, rec in table.items():
        assert abs(rec["true"] - true_divergence(name, 0.0, 1.0, 1.0, 1.0)) <= 1e-12
        first, last = rec["estimates"][0], rec["estimates"][-1]
        # a lower bound up to sampling error, and within the smoke margin 0.15 of the truth at n = 1000
        assert last["estimate"] <= rec["true"] + 3 * last["stderr"] + 1e-6
        assert abs(last["estimate"] - rec["true"]) <= 0.15 * max(abs(rec["true"]), 0.1)
        assert 0 < last["stderr"] < 0.03  # 10 000 fresh samples of each
        assert rec["below_true"] is True and rec["within_margin"] is True
        errors[name] = (abs(first["estimate"] - rec["true"]), abs(last["estimate"] - rec["true"]))
    assert sum(e[1] for e in errors.values()) < sum(e[0] for e in errors.values())


def test_smoke_dual_w1_is_below_and_near_exact_ot(smoke):
    _, result = smoke
    w1 = result.numbers["w1"]
    assert w1["true"] == 1.0
    last = w1["estimates"][-1]
    assert last["n"] == 1000 and abs(last["exact_ot_eval"] - 1.0) <= 0.04  # 10 000 fresh samples of each
    for method in LIPSCHITZ_METHODS:
        rec = last[method]
        assert rec["certified"] <= last["exact_ot_eval"] + 1e-9  # exact (Kantorovich-Rubinstein)
        assert abs(rec["certified"] - rec["dual"] / rec["lipschitz"]) <= 1e-12
        assert abs(rec["estimate"] - last["exact_ot_eval"]) <= 0.1 * last["exact_ot_eval"]
    assert last["clipping"]["estimate"] == last["clipping"]["certified"]  # only dual / L estimates W1 there
    assert last["gradient_penalty"]["estimate"] == last["gradient_penalty"]["dual"]
    assert last["spectral_norm"]["lipschitz"] <= 1.01  # every layer normalized, ELU 1-Lipschitz
    assert last["clipping"]["lipschitz"] < 0.05  # c = 0.01 keeps the clipped critic far below 1-Lipschitz
    assert w1["below_exact"] is True and w1["within_margin"] is True


def test_smoke_hierarchy_is_exact(smoke):
    _, result = smoke
    h = result.numbers["hierarchy"]
    assert h["exact"] is True
    for row in h["parallel_lines"]:
        if row["theta"] != 0.0:
            assert row["kl"] == math.inf and row["reverse_kl"] == math.inf and row["tv"] == 1.0
            assert abs(row["js"] - LOG2) <= 1e-15
        assert abs(row["w1"] - abs(row["theta"])) <= 1e-12
    shift = {row["theta"]: row for row in h["gaussian_shift"]}
    assert abs(shift[0.01]["js"] - 0.01**2 / 8) <= 0.01 * 0.01**2 / 8  # JSD ~ Fisher theta^2 / 8
    assert abs(shift[1.0]["tv"] - CLOSED_FORMS["tv"]) <= 1e-15 and shift[0.0]["js"] == 0.0


def test_smoke_passes_and_writes_its_figures(smoke):
    out, result = smoke
    assert result.passed is True
    assert "1000" in result.verdict and "log 2" in result.verdict
    json.dumps(result.numbers)
    names = sorted(f.name for f in result.figures)
    assert names == ["dual_w1.png", "hierarchy.png", "variational_bounds.png"]
    for f in result.figures:
        assert f.parent == out and f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parameters_reach_the_numbers_through_the_command_line(tmp_path):
    out = tmp_path / "out"
    argv = ["experiment", "divergence-estimation", "--size", "smoke", "--out", str(out), "--q_mean=2",
            "--divergences=kl", "--ns=200", "--steps=30", "--eval_n=2000", "--thetas=0.5,0"]
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    numbers = result["numbers"]
    assert numbers["q"] == {"mean": 2.0, "std": 1.0} and numbers["ns"] == [200] and numbers["steps"] == 30
    assert list(numbers["variational"]) == ["kl"] and numbers["variational"]["kl"]["true"] == 2.0  # Delta^2 / 2
    assert numbers["w1"]["true"] == 2.0
    assert [row["theta"] for row in numbers["hierarchy"]["parallel_lines"]] == [0.5, 0.0]


@pytest.mark.parametrize("argv, message", [
    (["--q_std=-1"], "q_std must be a positive finite number, got -1.0"),
    (["--divergences=kl,foo"], "divergences: unknown name(s) ['foo']"),
    (["--ns=1,100"], "ns must be [0] (the size's default) or sample sizes >= 2, got [1, 100]"),
])
def test_bad_parameters_are_named(tmp_path, capsys, argv, message):
    assert main(["experiment", "divergence-estimation", "--size", "smoke", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_all_divergences_of_the_table_are_estimated_at_full_size():
    from ganlab.experiments.divergence_estimation import _params

    assert _params({}, "full")["divergences"] == list(DIVERGENCES)
    assert _params({}, "full")["ns"] == [100, 1000, 10000]
