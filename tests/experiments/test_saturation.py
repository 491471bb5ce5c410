"""Tests for ganlab.experiments.saturation: the minimax generator gradient vanishes with D(G(z)), the NS one not.

Reference values: for an affine generator G(z) = w z + c and a linear discriminator logit v(x) = a x + b
the generator's gradients are written out by hand (dL_minimax/dv = -D, dL_ns/dv = -(1 - D)); for one
latent the ratio of the two norms is exactly D / (1 - D).
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from ganlab.cli import main
from ganlab.experiments.saturation import EXPERIMENT, generator_gradient_norms

PNG = b"\x89PNG\r\n\x1a\n"


def _affine(weight: float, bias: float) -> nn.Linear:
    layer = nn.Linear(1, 1).double()
    with torch.no_grad():
        layer.weight.fill_(weight)
        layer.bias.fill_(bias)
    return layer


def test_gradient_norms_match_the_hand_derivation():
    w, c, a, b = 0.7, -1.5, 3.0, 0.4
    z = torch.tensor([[-1.0], [0.2], [2.0]], dtype=torch.float64)
    got = generator_gradient_norms(_affine(w, c), _affine(a, b), z)
    d = torch.sigmoid(a * (w * z[:, 0] + c) + b)
    # dL/dw = mean(dl/dv * a * z), dL/dc = mean(dl/dv * a)
    for name, dl_dv in (("minimax", -d), ("ns", -(1 - d))):
        grad_w, grad_c = float((dl_dv * a * z[:, 0]).mean()), float((dl_dv * a).mean())
        assert abs(got[name] - math.hypot(grad_w, grad_c)) <= 1e-12
    assert abs(got["d_fake"] - float(d.mean())) <= 1e-15


@pytest.mark.parametrize("logit_offset", [0.0, -5.0, -12.0])
def test_one_latent_ratio_is_d_over_one_minus_d(logit_offset):
    generator = _affine(1.3, 0.2)
    critic = _affine(2.0, logit_offset)
    got = generator_gradient_norms(generator, critic, torch.tensor([[0.5]], dtype=torch.float64))
    d = got["d_fake"]
    assert abs(got["minimax"] / got["ns"] - d / (1 - d)) <= 1e-12 * max(1.0, d / (1 - d))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("sat")
    return out, EXPERIMENT.run({}, out, "smoke")


def test_smoke_run_supports_the_claim(smoke):
    out, result = smoke
    n = result.numbers
    first, last = n["first"], n["last"]
    assert result.passed is True
    assert last["d_fake"] <= 1e-3 and first["d_fake"] >= 0.3  # D went from unsure to confident
    assert last["ratio"] <= 0.01
    assert n["minimax_drop"] >= 20.0 and n["ns_retained"] >= 0.9
    # the identity: ratio of the batch gradients ~ mean D/(1 - D) at every point of the sweep (1 % here)
    for row in n["sweep"]:
        assert abs(row["ratio"] / row["predicted_ratio"] - 1.0) <= 0.05
    assert [r["step"] for r in n["sweep"]][-1] == n["steps"] == 500
    assert [p.name for p in result.figures] == ["gradient_norms.png"]
    assert all(p.parent == out and p.read_bytes()[:8] == PNG for p in result.figures)


def test_generator_on_the_data_is_not_rejected(tmp_path):
    """fake_mean = data_mean: D cannot separate the samples, D(G(z)) stays near 1/2, the claim's test fails."""
    out = tmp_path / "o"
    assert main(["experiment", "saturation", "--size", "smoke", "--out", str(out), "--fake_mean=2.0",
                 "--steps=150", "--points=5", "--seed=1"]) == 0
    res = json.loads((out / "result.json").read_text())
    n = res["numbers"]
    assert res["passed"] is False and res["verdict"].endswith("did not saturate as claimed.")
    assert n["steps"] == 150 and len(n["sweep"]) == 5
    assert n["last"]["d_fake"] >= 0.3 and n["last"]["ratio"] >= 0.3


@pytest.mark.parametrize("bad, message", [
    ({"points": 1}, "points must be an integer >= 2"),
    ({"data_std": 0.0}, "data_std must be a positive number"),
    ({"fake_mean": math.inf}, "fake_mean must be a finite number"),
    ({"lr_d": 1.0}, "unknown parameter"),
])
def test_bad_parameters_are_refused(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        EXPERIMENT.run(bad, tmp_path, "smoke")
