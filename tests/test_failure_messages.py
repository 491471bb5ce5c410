"""Runs that go wrong say so: a classifier whose training diverges stops with one line, one that learns nothing
is written with a warning, and `ganlab eval` of constant features (identical images, a generator collapsed to
one image) warns that FID is then a mean term plus the other side's spread."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
import torch

from ganlab.cli import main
from ganlab.data.images import load_digits_split
from ganlab.evaluate import SourceStats, compare, constant_feature_warnings
from ganlab.metrics.classifier import load_digits_classifier
from ganlab.metrics.features import get_extractor

CLASSIFIER = ["classifier", "--data", "digits", "--epochs", "1"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    """A stray Python warning (e.g. torch's "converting a tensor with requires_grad=True") would be a second line."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ---- ganlab classifier


def _without_progress(err: str) -> str:
    """stderr without the classifier's progress lines ("epoch 1/1: loss ..., 0 s")."""
    return "".join(line for line in err.splitlines(keepends=True) if not re.match(r"epoch \d+/\d+: loss ", line))


def test_a_classifier_that_learns_nothing_is_written_with_a_warning(tmp_path, capsys):
    """lr 1e6: Adam's first steps throw the ReLUs dead, the loss stays finite and the accuracy stays at chance."""
    out = tmp_path / "dead.safetensors"
    assert main([*CLASSIFIER, "--lr", "1e6", "--out", str(out)]) == 0
    err = _without_progress(capsys.readouterr().err)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["test_accuracy"] < 0.2  # 10 classes: chance is 0.1, the warning fires below 2 x chance
    assert err == (f"warning: test accuracy {record['test_accuracy']:.4f} is near chance (0.10): the classifier did "
                   f"not learn (learning rate 1000000.0?); its features would make FID / IS meaningless\n")


def test_one_epoch_at_the_default_rate_learns_and_does_not_warn(tmp_path, capsys):
    out = tmp_path / "ok.safetensors"
    assert main([*CLASSIFIER, "--out", str(out)]) == 0
    assert _without_progress(capsys.readouterr().err) == ""
    assert json.loads(out.with_suffix(".json").read_text())["test_accuracy"] > 0.3


@pytest.mark.parametrize("lr, why", [
    ("1e20", "the classifier's training diverged (loss nan in epoch 1) with lr 1e+20; use a smaller learning rate"),
    ("1e38", "the classifier's training diverged (Adam's step failed in epoch 1: value cannot be converted to type "
             "float without overflow) with lr 1e+38; use a smaller learning rate"),
])
def test_a_diverging_classifier_stops_with_one_line(tmp_path, capsys, lr, why):
    """lr 1e20: the weights overflow and the loss turns NaN; lr 1e38: Adam's step size lr / (1 - 0.9) overflows
    float32 itself. Either way one line, exit 2, and no weight file."""
    out = tmp_path / "bad.safetensors"
    assert main([*CLASSIFIER, "--lr", lr, "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"ganlab classifier: error: {why}\n"
    assert not out.exists()


# ---- ganlab eval of constant features


def _stats(x: np.ndarray) -> SourceStats:
    return SourceStats(mu=x.mean(0), sigma=np.cov(x, rowvar=False, ddof=1), n=len(x), extractor="identity",
                       weights_sha256=None, features=x)


def test_constant_feature_warnings_on_hand_built_features():
    """S2 = 0 exactly (one point repeated): FID = ||mu1 - mu2||^2 + tr(S1), which the warning spells out."""
    rng = np.random.default_rng(0)
    spread = rng.standard_normal((200, 3)) * [1.0, 2.0, 3.0]
    point = np.tile([[1.0, 0.0, 0.0]], (50, 1))
    result = compare(_stats(spread), _stats(point), get_extractor("identity"))
    s1 = np.cov(spread, rowvar=False, ddof=1)
    mean_term = float(np.sum((spread.mean(0) - [1.0, 0.0, 0.0]) ** 2))
    assert result.fid == pytest.approx(mean_term + np.trace(s1), rel=1e-12)
    (warning,) = result.protocol["warnings"]
    assert warning.startswith("the second source's features are constant (tr(S) = 0, a zero and so singular")
    assert f"FID {result.fid:.6g} = mean term ||mu1 - mu2||^2 {mean_term:.6g} + the first source's tr(S) " \
           f"{np.trace(s1):.6g}" in warning
    both = compare(_stats(point), _stats(point + 1.0), get_extractor("identity"))
    assert [w[:24] for w in both.protocol["warnings"]] == ["the first source's featu", "the second source's feat"]
    assert both.fid == pytest.approx(3.0, abs=1e-12)  # ||(1, 1, 1)||^2, and nothing else
    assert compare(_stats(spread), _stats(spread[:100] + 0.5), get_extractor("identity")).protocol["warnings"] == []


def test_constant_features_tolerate_rounding_but_not_a_small_spread():
    """tr(S) <= 1e-8 times the largest of tr(S1), tr(S2), ||mu1||^2, ||mu2||^2 counts as constant."""
    rng = np.random.default_rng(1)
    ref = _stats(rng.standard_normal((100, 4)))
    fid = type("FID", (), {"fid": 1.0, "mean_term": 1.0, "trace_term": 0.0})()
    for noise, expected in ((1e-7, 1), (1e-2, 0)):  # tr(S2) ~ 4e-14 (rounding) vs ~ 4e-4 (a real, small spread)
        gen = _stats(5.0 + noise * rng.standard_normal((100, 4)))
        assert len(constant_feature_warnings(ref, gen, fid)) == expected, noise


def test_ganlab_eval_warns_when_a_folder_holds_one_image_repeated(tmp_path, capsys):
    """20 copies of one digit (a generator collapsed to one image) against the held-out digits: exit 0, FID as
    ever, and one warning on stderr whose terms are checked against the digits classifier's own features."""
    from PIL import Image

    images, _ = load_digits_split("test")
    pixel = np.round(images[0, 0].numpy() * 255).astype(np.uint8)  # one held-out digit as an 8-bit grey image
    folder = tmp_path / "collapsed"
    folder.mkdir()
    for i in range(20):
        Image.fromarray(pixel).save(folder / f"{i:02d}.png")
    out = tmp_path / "result.json"
    assert main(["eval", "digits:test", str(folder), "--no-progress", "--no-cache", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    payload = json.loads(out.read_text())
    (warning,) = payload["protocol"]["warnings"]
    assert captured.err == f"ganlab eval: warning: {warning}\n" and "FID" in captured.out
    assert warning.startswith("the second source's features are constant")

    model, _ = load_digits_classifier()  # the reference: the classifier's features, by hand, in float64
    with torch.no_grad():
        real = model.features(images).double().numpy()
        one = model.features(torch.from_numpy(pixel / 255.0).float()[None, None]).double().numpy()[0]
    mean_term = float(np.sum((real.mean(0) - one) ** 2))
    trace_s1 = float(np.trace(np.cov(real, rowvar=False, ddof=1)))
    assert payload["protocol"]["fid"]["mean_term"] == pytest.approx(mean_term, rel=1e-5)
    assert payload["fid"] == pytest.approx(mean_term + trace_s1, rel=1e-5)
    assert f"+ the first source's tr(S) {payload['protocol']['fid']['trace_term']:.6g}" in warning
