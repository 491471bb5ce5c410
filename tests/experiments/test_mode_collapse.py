"""Tests for ganlab.experiments.mode_collapse: mode coverage over training, classic GANs vs Lipschitz critics.

The smoke size trains for tens of steps, where no recipe has learnt anything, so the claim itself cannot be
asserted there (the full size's numbers are in the experiment's report); what is asserted is that the
experiment says so (the Lipschitz runs are below 3 x the null model's high quality, so the claim is not
counted as held). Also: the measures on hand-built histograms (coverage, hopping, the claim's rule), the
null model against a closed form (the mode at the data's mean: a Rayleigh probability) and a Monte Carlo
count written here, and for a smoke run that every snapshot's numbers are those of its saved samples,
recomputed here with an independent implementation of the VEEGAN metrics (ring modes r (cos 2 pi k/8,
sin 2 pi k/8), std 0.01, high quality within 3 std), and that `passed` is the claim's rule applied to them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ganlab.cli import main
from ganlab.data.toy import get_toy_dataset, ring
from ganlab.experiments.mode_collapse import EXPERIMENT, _params, claim_holds, coverage, hopping, null_model

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
    classic = [{"coverage": 0.2, "hopping": 0.6, "final_high_quality": 0.0},
               {"coverage": 0.3, "hopping": None, "final_high_quality": 0.1}]
    lipschitz = [{"coverage": 0.9, "hopping": 0.1, "final_high_quality": 0.3},
                 {"coverage": 0.5, "hopping": 0.1, "final_high_quality": 0.1}]
    got = claim_holds(classic, lipschitz, coverage_margin=0.1, hopping_margin=0.2)
    assert got["coverage_gap"] == pytest.approx(0.45, abs=1e-15)
    assert got["hopping_gap"] == pytest.approx(0.2, abs=1e-15)  # None counts as 0: (0.6 + 0) / 2 - 0.1
    assert got["lipschitz_quality"] == pytest.approx(0.2, abs=1e-15)
    assert got["learnt"] is True and got["holds"] is True
    assert claim_holds(classic, lipschitz, coverage_margin=0.5, hopping_margin=0.3)["holds"] is False
    assert claim_holds(classic, lipschitz, coverage_margin=0.5, hopping_margin=0.15)["holds"] is True
    # the Lipschitz group's mean final high quality 0.2 against 3 x null: learnt at null 0.066, not at 0.067
    learnt = claim_holds(classic, lipschitz, coverage_margin=0.1, hopping_margin=0.2, null_quality=0.066,
                         learnt_factor=3.0)
    assert learnt["learnt"] is True and learnt["holds"] is True
    chance = claim_holds(classic, lipschitz, coverage_margin=0.1, hopping_margin=0.2, null_quality=0.067,
                         learnt_factor=3.0)
    assert chance["learnt"] is False and chance["holds"] is False
    assert chance["coverage_gap"] == learnt["coverage_gap"]  # the gaps are measured either way


def test_null_model_closed_form_and_monte_carlo():
    grid = get_toy_dataset("grid")
    s2 = 8.0 + 0.05**2  # the grid's per-axis variance: mean of {-4, -2, 0, 2, 4}^2, plus the modes' own 0.05^2
    # n = 1: E modes = E high quality = sum_k pi_k; the centre mode sits at the mean, where the Gaussian is
    # densest: pi = P(||x|| < 0.15) = 1 - exp(-0.15^2 / (2 s^2)) (Rayleigh), and every other pi_k is smaller
    one = null_model(grid, 1)
    centre = 1.0 - np.exp(-(0.15**2) / (2 * s2))
    assert one["modes"] == pytest.approx(one["high_quality"], rel=1e-12)
    assert centre < one["high_quality"] < 25 * centre
    rng = np.random.default_rng(0)
    for data, n in ((grid, 1000), (get_toy_dataset("ring"), 2500)):
        modes, std = np.asarray(data.modes), data.std_per_mode()
        var = float(np.mean((modes - modes.mean(0)) ** 2)) + std[0] ** 2  # isotropic: the mean over both axes
        x = rng.normal(size=(200_000, 2)) * np.sqrt(var)
        d = np.sqrt(((x[:, None, :] - modes[None]) ** 2).sum(-1))
        hits = (d < 3 * std).mean(0)  # the discs are disjoint: a hit is a high-quality sample of that mode
        got = null_model(data, n)
        se = np.sqrt(hits.sum() / 200_000)
        assert abs(got["high_quality"] - hits.sum()) <= 4 * se
        assert abs(got["modes"] - np.sum(1 - (1 - hits) ** n)) <= 0.3
    with pytest.raises(ValueError, match="isotropic covariance"):
        null_model(ring(num_modes=2), 1000)  # two modes on a line: variance 1 along it, 1e-4 across


def test_full_size_protocol_by_data_set():
    p = _params({}, "full")
    assert p["steps"] == {"ring": 1500, "grid": 3000}
    assert p["lr"] == {"ring": None, "grid": 1e-3}
    p = _params({"steps": 40, "lr": 5e-4}, "full")
    assert p["steps"] == {"ring": 40, "grid": 40} and p["lr"] == {"ring": 5e-4, "grid": 5e-4}
    assert _params({}, "smoke")["lr"] == {"ring": None}


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
    stale = out / "runs" / "gan-ring-s1"  # an earlier call's run folder: replaced, not resumed or refused
    stale.mkdir(parents=True)
    (stale / "summary.json").write_text("{}")
    argv = ["experiment", "mode-collapse", "--size", "smoke", "--out", str(out), "--recipes=gan,wgan-gp-toy",
            "--steps=12", "--snapshots=2", "--eval_samples=300", "--width=32", "--seed=1"]
    assert main(argv) == 0
    return out, json.loads((out / "result.json").read_text())


def test_smoke_numbers_are_those_of_the_saved_samples(smoke):
    out, res = smoke
    n = res["numbers"]
    assert n["datasets"] == ["ring"] and n["steps"] == {"ring": 12} and n["snapshots"] == 2  # smoke: first data set
    assert n["lr"] == {"ring": None}
    assert n["seeds"] == [1] and [r["seed"] for r in n["runs"]] == [1, 1]  # smoke: one seed, from --seed
    assert [r["recipe"] for r in n["runs"]] == ["gan", "wgan-gp-toy"]
    assert [r["lipschitz"] for r in n["runs"]] == [False, True]
    assert [(r["lr_g"], r["lr_d"]) for r in n["runs"]] == [(2e-4, 2e-4), (1e-4, 1e-4)]  # the recipes' own
    with np.load(out / "snapshots.npz") as arrays:
        for run in n["runs"]:
            assert [s["step"] for s in run["snapshots"]] == [6, 12]
            for snap in run["snapshots"]:
                x = arrays[f"ring__{run['recipe']}__s1__{snap['step']}"].astype(np.float64)
                assert x.shape == (300, 2)
                counts = _veegan_counts(x)
                assert snap["counts"] == counts.tolist()
                assert snap["modes"] == int((counts > 0).sum())
                assert abs(snap["high_quality"] - counts.sum() / 300) <= 1e-12
                assert snap["w1"] is not None and snap["w1"] > 0
            assert run["coverage"] == pytest.approx(np.mean([s["modes"] for s in run["snapshots"]]) / 8, abs=1e-15)
            assert run["hopping"] == hopping([s["counts"] for s in run["snapshots"]])
            summary = json.loads((out / "runs" / f"{run['recipe']}-ring-s1" / "summary.json").read_text())
            assert summary["steps"] == 12 and summary["threads"] == 1


def test_smoke_passed_is_the_claims_rule(smoke):
    _, res = smoke
    n = res["numbers"]
    gan, wgan = n["runs"]
    assert n["null"]["ring"] == null_model(get_toy_dataset("ring"), 300)
    expected = claim_holds([gan], [wgan], coverage_margin=0.1, hopping_margin=0.2,
                           null_quality=n["null"]["ring"]["high_quality"], learnt_factor=3.0)
    assert n["claim"]["ring"] == expected
    assert res["passed"] is expected["holds"]
    assert ("as claimed" in res["verdict"]) is expected["holds"]
    # 12 steps learn nothing: the Lipschitz run is below 3 x the null's 0.26 % and the verdict says so
    assert wgan["final_high_quality"] < 3 * n["null"]["ring"]["high_quality"]
    assert expected["learnt"] is False and res["passed"] is False
    assert "have not learnt the modes" in res["verdict"]


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
    ({"lr": -1e-3}, "lr must be a number >= 0, got -0.001"),
    ({"seeds": -1}, "seeds must be 0 .* or a positive integer, got -1"),
])
def test_bad_parameters_are_refused(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        EXPERIMENT.run(bad, tmp_path, "smoke")


def test_seeds_each_run_every_recipe_and_the_claim_averages_over_all_runs(tmp_path):
    res = EXPERIMENT.run({"seed": 3, "seeds": 2, "recipes": ["gan", "wgan-gp-toy"], "steps": 4, "snapshots": 2,
                          "eval_samples": 200, "width": 16}, tmp_path, "smoke")
    n = res.numbers
    assert n["seeds"] == [3, 4]
    assert [(r["seed"], r["recipe"]) for r in n["runs"]] == [(3, "gan"), (3, "wgan-gp-toy"), (4, "gan"),
                                                             (4, "wgan-gp-toy")]
    # the two seeds train differently (their samples differ), and the claim is the rule on all four runs
    with np.load(tmp_path / "snapshots.npz") as arrays:
        assert not np.array_equal(arrays["ring__gan__s3__4"], arrays["ring__gan__s4__4"])
    classic = [r for r in n["runs"] if r["recipe"] == "gan"]
    lipschitz = [r for r in n["runs"] if r["recipe"] == "wgan-gp-toy"]
    expected = claim_holds(classic, lipschitz, coverage_margin=0.1, hopping_margin=0.2,
                           null_quality=n["null"]["ring"]["high_quality"], learnt_factor=3.0)
    assert n["claim"]["ring"] == expected
    mean_gap = np.mean([r["coverage"] for r in lipschitz]) - np.mean([r["coverage"] for r in classic])
    assert expected["coverage_gap"] == pytest.approx(mean_gap, abs=1e-15)
    assert "means over seeds 3-4" in res.verdict
    for seed in (3, 4):
        assert (tmp_path / "runs" / f"gan-ring-s{seed}" / "summary.json").is_file()
