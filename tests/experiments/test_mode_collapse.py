"""Tests for ganlab.experiments.mode_collapse: mode coverage over training, classic GANs vs Lipschitz critics.

The smoke size trains for tens of steps, where no recipe has learnt anything, so the claim itself cannot be
asserted there (the full size's numbers are in the experiment's report). What is asserted: the measures on
hand-built histograms (coverage, hopping, the claim's rule), and for a smoke run that every snapshot's
numbers are those of its saved samples, recomputed here with an independent implementation of the VEEGAN
metrics (ring modes r (cos 2 pi k/8, sin 2 pi k/8), std 0.01, high quality within 3 std), and that `passed`
is the claim's rule applied to them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ganlab.cli import main
from ganlab.experiments.mode_collapse import EXPERIMENT, claim_holds, coverage, hopping

PNG = b"\x89PNG\r\n\x1a\n"


def test_coverage_is_the_mean_fraction_of_modes():
    assert coverage([0, 4, 8], 8) == pytest.approx(0.5, abs=1e-15)
    assert coverage([25], 25) == 1.0
    with pytest.raises(ValueError, match="at least one snapshot"):
        coverage([], 8)


def test_hopping_on_hand_built_histograms():
    # mass moves from mode 0 to mode 1 and back: TV 1 twice
    assert hopping([[10, 0, 0], [0, 5, 0], [3, 0, 0]]) == pytest.approx(1.0, abs=1e-15)
    # same proportions throughout: 0 (counts differ, histograms do not)
    assert hopping([[2, 2, 0], [5, 5, 0]]) == pytest.approx(0.0, abs=1e-15)
    # half the mass moves: TV((1, 0), (1/2, 1/2)) = 1/2; an empty snapshot breaks its pairs
    assert hopping([[4, 0], [1, 1], [0, 0], [3, 3]]) == pytest.approx(0.5, abs=1e-15)
    assert hopping([[0, 0], [1, 0]]) is None and hopping([[1, 0]]) is None


def test_claim_rule():
    classic = [{"coverage": 0.2, "hopping": 0.6}, {"coverage": 0.3, "hopping": None}]
    lipschitz = [{"coverage": 0.9, "hopping": 0.1}, {"coverage": 0.5, "hopping": 0.1}]
    got = claim_holds(classic, lipschitz, coverage_margin=0.1, hopping_margin=0.2)
    assert got["coverage_gap"] == pytest.approx(0.45, abs=1e-15)
    assert got["hopping_gap"] == pytest.approx(0.2, abs=1e-15)  # None counts as 0: (0.6 + 0) / 2 - 0.1
    assert got["holds"] is True
    assert claim_holds(classic, lipschitz, coverage_margin=0.5, hopping_margin=0.3)["holds"] is False
    assert claim_holds(classic, lipschitz, coverage_margin=0.5, hopping_margin=0.15)["holds"] is True


def _veegan_counts(x: np.ndarray) -> np.ndarray:
    """Independent reference: nearest of the 8 ring modes, high quality when within 3 std = 0.03."""
    angles = 2 * np.pi * np.arange(8) / 8
    modes = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    d = np.sqrt(((x[:, None, :] - modes[None]) ** 2).sum(-1)) / 0.01
    hq = d.min(1) < 3.0
    return np.bincount(d.argmin(1)[hq], minlength=8)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("mc")
    stale = out / "runs" / "gan-ring"  # an earlier call's run folder: replaced, not resumed or refused
    stale.mkdir(parents=True)
    (stale / "summary.json").write_text("{}")
    argv = ["experiment", "mode-collapse", "--size", "smoke", "--out", str(out), "--recipes=gan,wgan-gp-toy",
            "--steps=12", "--snapshots=2", "--eval_samples=300", "--width=32", "--seed=1"]
    assert main(argv) == 0
    return out, json.loads((out / "result.json").read_text())


def test_smoke_numbers_are_those_of_the_saved_samples(smoke):
    out, res = smoke
    n = res["numbers"]
    assert n["datasets"] == ["ring"] and n["steps"] == 12 and n["snapshots"] == 2  # smoke: the first data set
    assert [r["recipe"] for r in n["runs"]] == ["gan", "wgan-gp-toy"]
    assert [r["lipschitz"] for r in n["runs"]] == [False, True]
    with np.load(out / "snapshots.npz") as arrays:
        for run in n["runs"]:
            assert [s["step"] for s in run["snapshots"]] == [6, 12]
            for snap in run["snapshots"]:
                x = arrays[f"ring__{run['recipe']}__{snap['step']}"].astype(np.float64)
                assert x.shape == (300, 2)
                counts = _veegan_counts(x)
                assert snap["counts"] == counts.tolist()
                assert snap["modes"] == int((counts > 0).sum())
                assert abs(snap["high_quality"] - counts.sum() / 300) <= 1e-12
                assert snap["w1"] is not None and snap["w1"] > 0
            assert run["coverage"] == pytest.approx(np.mean([s["modes"] for s in run["snapshots"]]) / 8, abs=1e-15)
            assert run["hopping"] == hopping([s["counts"] for s in run["snapshots"]])
            summary = json.loads((out / "runs" / f"{run['recipe']}-ring" / "summary.json").read_text())
            assert summary["steps"] == 12 and summary["threads"] == 1


def test_smoke_passed_is_the_claims_rule(smoke):
    _, res = smoke
    n = res["numbers"]
    gan, wgan = n["runs"]
    expected = claim_holds([gan], [wgan], coverage_margin=0.1, hopping_margin=0.2)
    assert n["claim"]["ring"] == expected
    assert res["passed"] is expected["holds"]
    assert ("as claimed" in res["verdict"]) is expected["holds"]


def test_smoke_figures_are_pngs(smoke):
    out, res = smoke
    assert sorted(res["figures"]) == ["modes_over_training.png", "snapshots_ring.png"]
    for name in res["figures"]:
        assert (out / name).read_bytes()[:8] == PNG


@pytest.mark.parametrize("bad, message", [
    ({"recipes": ["gan", "nsgan"]}, "must include a classic GAN .* and a Lipschitz one"),
    ({"recipes": ["gann", "sngan"]}, "unknown recipe 'gann'"),
    ({"datasets": ["swissroll"]}, "'swissroll' is not a 2-D mixture with modes"),
    ({"steps": 3, "snapshots": 4}, "snapshots=4 is more than steps=3"),
    ({"hopping_margin": -1.0}, "hopping_margin must be a number >= 0"),
])
def test_bad_parameters_are_refused(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        EXPERIMENT.run(bad, tmp_path, "smoke")
