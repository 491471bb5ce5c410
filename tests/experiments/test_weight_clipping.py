"""Tests for ganlab.experiments.weight_clipping: clipped critics' gradients explode or vanish, weights pile at ±c.

The measurements are checked against closed forms on hand-built networks (the per-layer gradient of a
ReLU net whose units are all active is a product of its weight matrices; a critic f(x) = x_1 attains
exactly W1 between a sample and its translate), and the claim at the smoke size with the module
docstring's margins.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import ganlab.experiments.weight_clipping as wc
from ganlab.cli import main
from ganlab.experiments import get_experiment
from ganlab.experiments.weight_clipping import (
    EXPERIMENT,
    PARAMS,
    fraction_at_extremes,
    kr_fraction_of_w1,
    layer_gradient_norms,
)
from ganlab.models.mlp import MLPCritic


def _set(linear: nn.Linear, weight, bias) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        linear.bias.copy_(torch.tensor(bias, dtype=torch.float32))


def _positive_net() -> MLPCritic:
    """f(x) = w3 . relu(W2 relu(W1 x + b1) + b2) + b3 with every unit active for x in [0, 1]^2."""
    net = MLPCritic(2, width=2, depth=2)
    l1, l2, l3 = [m for m in net.net if isinstance(m, nn.Linear)]
    _set(l1, [[1.0, 2.0], [0.5, -0.25]], [1.0, 1.0])
    _set(l2, [[2.0, -1.0], [0.5, 3.0]], [5.0, 0.0])
    _set(l3, [[3.0, -4.0]], [0.0])
    return net


def test_layer_gradient_norms_closed_form():
    # dL/da_2 has rows -w3/N (real) and +w3/M (fake): ||.||_F = ||w3|| sqrt(1/N + 1/M); dL/da_1: W2^T w3 instead
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(5, 2, generator=g), torch.rand(3, 2, generator=g)
    norms = layer_gradient_norms(_positive_net(), real, fake)
    scale = math.sqrt(1 / 5 + 1 / 3)
    w3 = torch.tensor([3.0, -4.0], dtype=torch.float64)
    w2 = torch.tensor([[2.0, -1.0], [0.5, 3.0]], dtype=torch.float64)
    assert len(norms) == 2
    assert abs(norms[1] - 5.0 * scale) <= 1e-12
    assert abs(norms[0] - float(torch.linalg.vector_norm(w2.T @ w3)) * scale) <= 1e-12


def test_fraction_at_extremes_counts_weights_near_c():
    net = _positive_net()
    # 10 weight entries: 1, 2, .5, -.25 | 2, -1, .5, 3 | 3, -4
    assert fraction_at_extremes(net, 2.0) == 5 / 10  # |w| >= 1.98: 2, 2, 3, 3, -4
    assert fraction_at_extremes(net, 3.0) == 3 / 10
    # without c: per layer, |w| >= 0.99 max|w| of that layer: {2}, {3}, {-4}
    assert fraction_at_extremes(net, None) == 3 / 10


def test_kr_fraction_is_one_for_the_optimal_critic_of_a_translation():
    class X1(nn.Module):
        def forward(self, x):
            return x[:, 0] * 1.0

    g = torch.Generator().manual_seed(1)
    real = torch.randn(200, 2, generator=g, dtype=torch.float64)
    fake = real - torch.tensor([0.7, 0.0], dtype=torch.float64)
    rec = kr_fraction_of_w1(X1(), real, fake, g)
    # gap = 0.7, Lipschitz constant 1, W1 of a translation by 0.7 = 0.7
    assert abs(rec["gap"] - 0.7) <= 1e-12 and abs(rec["lipschitz"] - 1.0) <= 1e-12
    assert abs(rec["w1"] - 0.7) <= 1e-9 and abs(rec["kr_fraction"] - 1.0) <= 1e-8


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip")
    return out, EXPERIMENT.run(dict(PARAMS), out, "smoke")


def test_gradients_explode_vanish_or_stay(smoke):
    deep = smoke[1].numbers["deep_critic"]
    assert deep["layers"] == 12
    for key in ("clip_0.1", "clip_0.01", "clip_0.001", "gp"):
        assert len(deep[key]["layer_gradient_norms"]) == 11
    explode, vanish = deep["clip_0.1"]["layer_gradient_norms"], deep["clip_0.001"]["layer_gradient_norms"]
    assert deep["clip_0.1"]["ratio_first_last"] >= 100.0
    assert all(a > b for a, b in zip(explode, explode[1:]))  # grows at every step back towards the input
    assert deep["clip_0.001"]["ratio_first_last"] <= 0.01
    assert all(0 < a < b for a, b in zip(vanish, vanish[1:]))  # decays at every step back (float64: no underflow)
    assert 0.1 <= deep["gp"]["ratio_first_last"] <= 10.0
    gp = deep["gp"]["layer_gradient_norms"]
    assert max(gp) / min(gp) <= 10.0  # no layer far from the others


def test_weights_pile_at_plus_minus_c(smoke):
    deep = smoke[1].numbers["deep_critic"]
    for key in ("clip_0.1", "clip_0.01", "clip_0.001"):
        assert deep[key]["fraction_at_extremes"] >= 0.3
    assert deep["gp"]["fraction_at_extremes"] <= 0.05


def test_the_penalized_toy_critic_attains_more_of_w1(smoke):
    s = smoke[1].numbers["surfaces"]
    assert list(s) == ["8gaussians"]
    clip, gp = s["8gaussians"]["clip"], s["8gaussians"]["gp"]
    assert gp["kr_fraction"] >= clip["kr_fraction"] + 0.1
    assert clip["lipschitz"] <= 0.05  # c = 0.01 in every layer: a very flat critic
    assert 0.5 <= gp["kr_fraction"] <= 1.2  # a lower estimate of the Lipschitz constant: may pass 1 a little
    assert smoke[1].passed is True and all(smoke[1].numbers["checks"].values())


def test_figures_are_pngs(smoke):
    out, result = smoke
    assert {p.name for p in result.figures} == {"gradient_norms.png", "weight_histograms.png", "critic_surfaces.png"}
    for p in result.figures:
        assert p.parent == out and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parameters_clip_values_and_layers_are_used(tmp_path, monkeypatch):
    monkeypatch.setitem(wc._BUDGETS, "smoke", wc._Budget(deep_width=16, deep_steps=2, deep_batch=16,
                                                         surface_datasets=("25gaussians",), surface_width=16,
                                                         surface_steps=2, surface_batch=16, n_eval=64))
    n = EXPERIMENT.run({**PARAMS, "clip_values": [0.05], "layers": 5, "surface_clip": 0.02}, tmp_path, "smoke").numbers
    deep = n["deep_critic"]
    assert set(deep) == {"layers", "width", "steps", "clip_0.05", "gp"} and deep["layers"] == 5
    assert deep["clip_0.05"]["clip_value"] == 0.05 and len(deep["clip_0.05"]["layer_gradient_norms"]) == 4
    assert list(n["surfaces"]) == ["25gaussians"]
    # |grad f| <= prod_l ||W_l||_2 <= prod_l c sqrt(rows cols): layers 16x2, 16x16, 16x16, 1x16
    bound = 0.02 ** 4 * math.sqrt(32) * 16 * 16 * 4
    assert 0 < n["surfaces"]["25gaussians"]["clip"]["lipschitz"] <= bound


@pytest.mark.parametrize("argv, message", [
    (["--clip_values=0.1,0"], "clip_values=[0.1, 0.0]: expected a non-empty list of finite numbers > 0"),
    (["--layers=2"], "layers=2: expected an integer >= 3"),
    (["--noise_std=-1"], "noise_std=-1.0: expected a finite number > 0"),
])
def test_bad_parameters_are_refused_by_name(tmp_path, capsys, argv, message):
    assert main(["experiment", "weight-clipping", "--size", "smoke", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_registered_with_its_lecture_slide():
    assert get_experiment("weight-clipping") is EXPERIMENT
    assert EXPERIMENT.lecture == "000_b0081a5cac0268ab.txt 'Weight clipping analysis'"
