"""Tests for ganlab.experiments.wasserstein_vs_jsd: the WGAN critic's estimate tracks W1, a JS estimate sits at log 2.

The claim is checked at the smoke size with the margins of the module docstring (rank and linear
correlation >= 0.8; W1 and the critic's estimate fall by >= 20 % while the JS estimate is still within
0.05 of log 2), plus what holds for any run: a JS bound never exceeds log 2, the first generator (a
blob at the origin, far from the modes at radius 1.41) is almost disjoint from the data, and the first
W1 is close to the modes' radius. The parameters reach the training config (checked on the built setup).
"""

from __future__ import annotations

import math

import pytest

import ganlab.experiments.wasserstein_vs_jsd as wj
from ganlab.cli import main
from ganlab.experiments import get_experiment
from ganlab.experiments.wasserstein_vs_jsd import EXPERIMENT, PARAMS

LOG2 = math.log(2.0)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("wvj")
    return out, EXPERIMENT.run(dict(PARAMS), out, "smoke")


def test_the_critics_estimate_tracks_w1(smoke):
    n = smoke[1].numbers
    assert n["steps"] == [0, 8, 15, 30, 60, 120, 240]  # 0 and 240 / 2^k
    assert n["spearman_w_estimate_w1"] >= 0.8 and n["pearson_w_estimate_w1"] >= 0.8
    # training made progress: the samples' W1 to the data fell by more than a third
    assert n["w1"][-1] <= 0.67 * n["w1"][0]
    # the first generator is a blob at the origin; the modes are at radius 2 / 1.414: W1 ~ the radius
    assert abs(n["w1"][0] - 2 / 1.414) <= 0.1


def test_the_js_estimate_gives_no_signal_while_w1_falls(smoke):
    n = smoke[1].numbers
    assert all(v <= LOG2 + 1e-6 for v in n["js_estimate"])  # a lower bound on JSD <= log 2
    assert abs(n["js_estimate"][0] - LOG2) <= 0.01  # disjoint at the start
    flat = n["while_js_within_0.05_of_log2"]
    assert flat["snapshots"] >= 3
    assert all(abs(v - LOG2) <= 0.05 for v in n["js_estimate"][: flat["snapshots"]])
    assert flat["w1_fall"] >= 0.2 and flat["w_estimate_fall"] >= 0.2
    assert abs(flat["w1_fall"] - (1 - n["w1"][flat["snapshots"] - 1] / n["w1"][0])) <= 1e-12
    assert smoke[1].passed is True and all(n["checks"].values())


def test_figures_are_pngs(smoke):
    out, result = smoke
    assert {p.name for p in result.figures} == {"curves.png", "samples.png"}
    for p in result.figures:
        assert p.parent == out and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parameters_reach_the_training_config(tmp_path):
    setup = wj._setup({**PARAMS, "dataset": "ring", "lr_g": 2e-4, "lr_d": 5e-4, "n_critic": 3, "gp_weight": 1.0,
                       "seed": 4}, tmp_path)
    c = setup.config
    assert (c.data, c.lr_g, c.lr_d, c.n_critic, c.gp_weight, c.seed) == ("ring", 2e-4, 5e-4, 3, 1.0, 4)
    assert setup.dataset.name == "ring" and setup.closed_form  # the closed-form penalized step of ganlab train
    assert not (tmp_path / "run").exists()  # building writes nothing


def test_a_tiny_run_on_another_data_set(tmp_path, monkeypatch):
    monkeypatch.setitem(wj._BUDGETS, "smoke", wj._Budget(steps=4, snapshots=2, warmup=20, js_first=20, js_steps=5,
                                                         n_eval=256))
    n = EXPERIMENT.run({**PARAMS, "dataset": "ring"}, tmp_path, "smoke").numbers
    assert n["steps"] == [0, 4]
    assert abs(n["w1"][0] - 1.0) <= 0.1  # the blob at the origin against the unit ring


@pytest.mark.parametrize("argv, message", [
    (["--dataset=mixture-1d"], "dataset='mixture-1d': expected a 2-D toy data set, one of"),
    (["--lr_g=0"], "lr_g=0.0: expected a finite number > 0"),
    (["--n_critic=0"], "n_critic=0: expected an integer >= 1"),
])
def test_bad_parameters_are_refused_by_name(tmp_path, capsys, argv, message):
    assert main(["experiment", "wasserstein-vs-jsd", "--size", "smoke", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_registered_with_its_lecture_slide():
    assert get_experiment("wasserstein-vs-jsd") is EXPERIMENT
    assert EXPERIMENT.lecture == "002_12706ff463d72203.txt 'Wasserstein GAN'"
