"""ganlab.diagnostics: each measurement against a closed form, each diagnostic provoked on purpose (hand-built
networks, short runs), silence on the shipped toy configs and a short default run, a run left bit-identical, and
one alarm per run across a resume."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from ganlab.build import build
from ganlab.checkpoint import load_checkpoint
from ganlab.diagnostics import (GRAD_NORM_BAND, SUSTAIN_STEPS, Diagnostics, applicable, clip_fraction, js_estimate,
                                mean_pairwise_distance, saturation_probe)
from ganlab.recipes import resolve_config
from ganlab.train import train

TINY = ["--model.g_width=16", "--model.d_width=16", "--model.g_depth=2", "--model.d_depth=2", "--batch_size=32",
        "--eval_samples=200", "--threads=1"]
LOG2 = math.log(2.0)


def _setup(tmp_path, *overrides):
    return build(resolve_config(overrides=[*TINY, f"--out={tmp_path / 'run'}", *overrides]))


class Linear(nn.Module):
    """f(x) = w · x + b on (N, D) inputs, returning (N, 1)."""

    def __init__(self, w, b=0.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float32))
        self.b = nn.Parameter(torch.tensor(float(b)))

    def forward(self, x):
        return (x @ self.w + self.b)[:, None]


class Constant(nn.Module):
    """G(z) = a for every z: one learnable point."""

    def __init__(self, a):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float32))

    def forward(self, z):
        return self.a.expand(z.shape[0], -1)


def _watch(diag, setup, steps, **row):
    """observe at each of `steps` with `row`'s fields; the findings and the rows."""
    findings, rows = [], []
    for step in steps:
        r = {"step": step, **row}
        findings += diag.observe(step, r, setup)
        rows.append(r)
    return findings, rows


# ---------------------------------------------------------------------------------------------- measurements


def test_js_estimate_at_the_optimal_critic_is_the_jensen_shannon_divergence():
    """π = δ_A, p = ½ δ_A + ½ δ_B: D* = π / (π + p) is 2/3 at A and 0 at B (v* = log(π/p) = log 2, −∞), and
    (log 4 + V(D*)) / 2 = JSD = ½ KL(π‖m) + ½ KL(p‖m) with m = ¾ δ_A + ¼ δ_B (lecture 7, "GAN optimality")."""
    v_real = torch.full((4,), LOG2)
    v_fake = torch.tensor([LOG2, LOG2, -80.0, -80.0])  # half the fakes at A, half at B
    m = (0.75, 0.25)
    jsd = 0.5 * math.log(1 / m[0]) + 0.5 * (0.5 * math.log(0.5 / m[0]) + 0.5 * math.log(0.5 / m[1]))
    assert js_estimate(v_real, v_fake) == pytest.approx(jsd, abs=1e-12)
    assert js_estimate(torch.zeros(3), torch.zeros(5)) == pytest.approx(0.0, abs=1e-15)  # D = 1/2: no information
    # a confident critic on disjoint supports: log 2 up to softplus(-40) ~ 4e-18, no log(0) on the way
    assert js_estimate(torch.full((8, 1), 40.0), torch.full((8, 1), -40.0)) == pytest.approx(LOG2, abs=1e-15)
    assert js_estimate(torch.full((2,), 1e4), torch.full((2,), -1e4)) == LOG2


def test_saturation_probe_gives_d_and_the_gradient_ratio_e_to_the_v():
    """G(z) = a, f(x) = w · x + b: D(G(z)) = σ(v) with v = w · a + b, and the two generator gradients are
    −σ(v) w (saturating) and −(1 − σ(v)) w (non-saturating), whose norms have the ratio σ(v) / (1 − σ(v)) = e^v."""
    g, d = Constant([0.5, -1.0]), Linear([2.0, 1.0], b=-9.0)
    v = 2.0 * 0.5 - 1.0 - 9.0
    d_fake, ratio = saturation_probe(g, d, torch.randn(16, 3))
    assert d_fake == pytest.approx(1 / (1 + math.exp(-v)), rel=1e-6)
    assert ratio == pytest.approx(math.exp(v), rel=1e-5)
    assert g.a.grad is None and d.w.grad is None  # no .grad written


def test_clip_fraction_counts_weights_within_one_percent_of_c():
    critic = nn.Linear(4, 2)  # 8 weights + 2 biases
    c = 0.01
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.00995, -0.00995, 0.01, -0.01], [0.0098, 0.0, -0.0098, 0.005]]))
        critic.bias.copy_(torch.tensor([-0.01, 0.0]))
    assert clip_fraction(critic, c) == pytest.approx(5 / 10)  # |w| >= 0.0099: 0.00995 counts, 0.0098 does not
    with pytest.raises(ValueError, match="clip_value"):
        clip_fraction(critic, 0.0)


def test_mean_pairwise_distance_of_the_unit_square_corners():
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert mean_pairwise_distance(corners) == pytest.approx((4 + 2 * math.sqrt(2)) / 6, rel=1e-12)
    assert mean_pairwise_distance(torch.ones(5, 1, 2, 2)) == 0.0  # images are flattened
    with pytest.raises(ValueError, match="at least 2"):
        mean_pairwise_distance(corners[:1])


def test_which_diagnostics_apply_and_bad_names(tmp_path):
    assert applicable(_setup(tmp_path, "--recipe=gan")) == ("saturation", "disjoint_supports", "mode_collapse")
    assert applicable(_setup(tmp_path, "--recipe=nsgan")) == ("disjoint_supports", "mode_collapse")
    assert applicable(_setup(tmp_path, "--recipe=fgan-js")) == ("disjoint_supports", "mode_collapse")
    assert applicable(_setup(tmp_path, "--recipe=fgan-kl")) == ("mode_collapse",)
    assert applicable(_setup(tmp_path)) == ("lipschitz_lost", "mode_collapse")  # the default: WGAN-GP
    assert applicable(_setup(tmp_path, "--recipe=wgan")) == ("clipped_weights", "mode_collapse")
    with pytest.raises(ValueError, match="'colapse'.*valid: saturation"):
        Diagnostics(_setup(tmp_path), checks=["colapse"])
    with pytest.raises(ValueError, match="clip_value"):
        Diagnostics(_setup(tmp_path), checks=["clipped_weights"])


# ---------------------------------------------------------------------------------------------- each one provoked


def test_saturation_fires_when_the_last_bias_pushes_d_of_fakes_to_zero(tmp_path):
    setup = _setup(tmp_path, "--recipe=gan")
    diag = Diagnostics(setup)
    findings, rows = _watch(diag, setup, [1])
    assert findings == [] and 0.05 < rows[0]["diag_d_fake"] < 0.95  # a fresh critic: D near 1/2
    with torch.no_grad():
        [*setup.critic.parameters()][-1].fill_(-30.0)  # the output layer's bias: D(x) ~ e^-30 everywhere
    findings, rows = _watch(diag, setup, [2, 50, 101, 102, 103])
    assert [r["diag_alarm_saturation"] for r in rows] == [0.0, 0.0, 0.0, 1.0, 1.0]  # 100 steps after step 2
    assert rows[-1]["diag_d_fake"] < 1e-12 and rows[-1]["diag_grad_ratio"] < 1e-12
    assert [f.name for f in findings] == ["saturation"] and findings[0].step == 102
    assert "003_74d7f85fefbfef05.txt" in findings[0].message and "Main problems of standard GAN" in str(findings[0])
    assert findings[0].value == rows[3]["diag_d_fake"]


def test_disjoint_supports_fires_on_the_parallel_lines_with_a_separating_critic(tmp_path):
    """Data on the line x0 = 5, a fresh generator near the origin, the critic v(x) = 20 (x0 − 2.5): D → 1 on
    the data, 0 on the fakes, JS estimate at log 2 (lecture 7, "Wasserstein distance vs KL vs JSD")."""
    setup = _setup(tmp_path, "--recipe=nsgan", "--data=parallel-lines", "--data_params.theta=5")
    setup.critic = Linear([20.0, 0.0], b=-50.0)
    diag = Diagnostics(setup)
    findings, rows = _watch(diag, setup, [1, 100, 150, 201])
    assert all(abs(r["diag_js"] - LOG2) < 1e-6 for r in rows)
    assert [r["diag_alarm_disjoint_supports"] for r in rows] == [0.0, 0.0, 0.0, 1.0]
    assert [f.name for f in findings] == ["disjoint_supports"] and "004_a72885b194f54592.txt" in findings[0].message
    # a critic that cannot tell them apart: JS estimate 0, silent
    setup.critic = Linear([0.0, 0.0], b=0.0)
    diag = Diagnostics(setup)
    findings, rows = _watch(diag, setup, [1, 101, 201, 301])
    assert findings == [] and all(r["diag_js"] == pytest.approx(0.0, abs=1e-12) for r in rows)


@pytest.mark.parametrize("norms, one_sided, fires", [
    ((3.0, 3.0, 3.0), False, True),          # too steep for 200 steps
    ((3.0, 1.0, 3.0), False, False),         # back in the band in between: the window restarts
    ((1.0, 1.0, 1.0), False, False),
    ((0.1, 0.1, 0.1), False, False),         # a flat critic that never reached the band: a fresh one, not lost
    ((1.0, 0.1, 0.1, 0.1), False, True),     # reached it, then went flat
    ((1.0, 0.1, 0.1, 0.1), True, False),     # one-sided penalty: flat is allowed
    ((2.5, 2.5, 2.5), True, True),
])
def test_lipschitz_lost_from_the_gradient_norm_on_interpolates(tmp_path, norms, one_sided, fires):
    """A linear critic f(x) = w · x has ‖∇f‖ = ‖w‖ everywhere: the measured mean is ‖w‖ exactly."""
    setup = _setup(tmp_path, f"--one_sided_gp={str(one_sided).lower()}")
    diag = Diagnostics(setup)
    findings = []
    for i, norm in enumerate(norms):
        setup.critic = Linear([0.6 * norm, 0.8 * norm])
        row = {"step": 1 + 100 * i}
        findings += diag.observe(row["step"], row, setup)
        assert row["diag_grad_norm"] == pytest.approx(norm, rel=1e-6)
    assert [f.name for f in findings] == (["lipschitz_lost"] if fires else [])
    if fires:
        assert findings[0].step == 1 + 100 * (len(norms) - 1) and "Corollary" in findings[0].message


def test_lipschitz_lost_in_a_run_whose_penalty_weight_is_zero(tmp_path, monkeypatch, capsys):
    """A real run of an unconstrained WGAN critic (gp_weight 0) with the gradient norm watched anyway: the
    critic grows steeper step by step (measured: 0.08 at step 1, past 2 by step 80, 63 at step 300) and the alarm
    fires once, 200 steps after it left the band."""
    import ganlab.train as train_mod

    monkeypatch.setattr(train_mod, "Diagnostics", lambda setup, history: Diagnostics(
        setup, checks=["lipschitz_lost"], history=history))
    config = resolve_config(overrides=[*TINY, f"--out={tmp_path / 'run'}", "--gp_weight=0", "--lr_d=3e-3",
                                       "--n_critic=1", "--steps=300", "--log_every=20", "--eval_every=0",
                                       "--ckpt_every=0"])
    summary = train(config, progress=False)
    assert summary["diagnostics"] == ["lipschitz_lost"]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    norms = {r["step"]: r["diag_grad_norm"] for r in rows}
    assert norms[1] < GRAD_NORM_BAND[0] and norms[300] > 2 * GRAD_NORM_BAND[1]
    first = min(r["step"] for r in rows if r["diag_alarm_lipschitz_lost"] == 1.0)
    entered = min(s for s, g in norms.items() if g > GRAD_NORM_BAND[1])
    assert first - entered >= SUSTAIN_STEPS["lipschitz_lost"] and first - entered < SUSTAIN_STEPS["lipschitz_lost"] + 20
    assert capsys.readouterr().err.count("lipschitz_lost") == 1


def test_clipped_weights_fire_in_a_run_with_a_tiny_c_once_across_a_resume(tmp_path, capsys):
    """WGAN with c = 1e-4: PyTorch's initial weights (up to 1/sqrt(fan_in) = 0.25) are clipped to the walls at
    once and stay there; the alarm is printed once, in the summary, and not again after a resume, which
    replays metrics.jsonl."""
    base = [*TINY, f"--out={tmp_path / 'run'}", "--recipe=wgan", "--clip_value=1e-4", "--n_critic=1",
            "--log_every=50", "--eval_every=0", "--ckpt_every=0"]
    summary = train(resolve_config(overrides=[*base, "--steps=101"]), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 50, 100, 101]
    assert all(r["diag_clip_fraction"] > 0.9 for r in rows)
    assert [r["diag_alarm_clipped_weights"] for r in rows] == [0.0, 0.0, 0.0, 1.0]  # from step 1 to 101: 100 steps
    assert summary["diagnostics"] == ["clipped_weights"]
    err = capsys.readouterr().err
    assert err.count("clipped_weights") == 1 and "step 101: clipped_weights" in err and "+-c" in err
    resumed = train(resolve_config(overrides=[*base, "--steps=151"]), resume=True, progress=False)
    assert resumed["diagnostics"] == ["clipped_weights"] and "clipped_weights" not in capsys.readouterr().err


def test_mode_collapse_from_diversity_modes_fid_and_is(tmp_path):
    setup = _setup(tmp_path)  # the ring, 8 modes
    diag = Diagnostics(setup, checks=["mode_collapse"])
    spread = setup.dataset.sample(500, generator=torch.Generator().manual_seed(123))
    row = {"step": 100}
    assert diag.observe(100, row, setup, samples=spread) == []
    assert row["diag_diversity"] == pytest.approx(1.0, abs=0.05)  # real points: the data's own spread
    row = {"step": 200}
    findings = diag.observe(200, row, setup, samples=torch.full((500, 2), 0.3))  # G(z) = constant
    assert row["diag_diversity"] == 0.0 and row["diag_alarm_mode_collapse"] == 1.0
    assert [f.name for f in findings] == ["mode_collapse"] and "Mode collapse" in findings[0].message
    # modes: a drop of 2 of 8 from the best fires, a drop of 1 does not; FID doubling, IS halving
    cases = [([{"modes": 8}, {"modes": 7}, {"modes": 8}], [0, 0, 0]),
             ([{"modes": 3}, {"modes": 8}, {"modes": 6}, {"modes": 8}], [0, 0, 1, 0]),
             ([{"fid": 100.0}, {"fid": 50.0}, {"fid": 90.0}, {"fid": 100.0}], [0, 0, 0, 1]),
             ([{"is": 5.0}, {"is": 2.6}, {"is": 2.5}], [0, 0, 1])]
    for evals, alarms in cases:
        diag = Diagnostics(setup, checks=["mode_collapse"])
        got = []
        for i, metrics in enumerate(evals):
            row = {"step": 100 * (i + 1), **metrics}
            diag.update(row["step"], row)
            got.append(row["diag_alarm_mode_collapse"])
        assert got == alarms, evals
    # the grid's 25 modes: a drop of 3 (>= 10 % of 25) fires, a drop of 2 does not
    grid = _setup(tmp_path, "--data=grid")
    for drop, alarm in ((2, 0.0), (3, 1.0)):
        diag = Diagnostics(grid, checks=["mode_collapse"])
        diag.update(100, {"modes": 25})
        row = {"modes": 25 - drop}
        diag.update(200, row)
        assert row["diag_alarm_mode_collapse"] == alarm


def test_a_resume_replays_history_so_each_diagnostic_fires_once(tmp_path):
    setup = _setup(tmp_path)
    history = tmp_path / "metrics.jsonl"
    rows = [{"step": 1, "diag_grad_norm": 3.0}, {"step": 101, "diag_grad_norm": 3.1},
            {"step": 201, "diag_grad_norm": 3.2, "modes": 8}, {"step": 202, "error": "non-finite critic loss"}]
    history.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n" + '{"step": 20')  # a torn last line
    diag = Diagnostics(setup, history=history)
    assert list(diag.fired) == ["lipschitz_lost"] and diag.fired["lipschitz_lost"].step == 201
    setup.critic = Linear([3.0, 0.0])
    row = {"step": 301}
    assert diag.observe(301, row, setup) == [] and row["diag_alarm_lipschitz_lost"] == 1.0  # on, not reported again
    row = {"step": 301, "modes": 6}
    assert [f.name for f in diag.update(301, row)] == ["mode_collapse"]  # the best, 8, came from the history
    assert Diagnostics(setup, history=tmp_path / "missing.jsonl").fired == {}


# ---------------------------------------------------------------------------------------------- silence, state


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_the_shipped_toy_configs_raise_no_alarm_in_their_first_300_steps(tmp_path, name):
    """The tuned configs (λ 0.1 on the ring, 1 on the grid) with a log line every 10 steps: no diagnostic fires,
    and the gradient norm leaves [0.5, 2] (past 2, early, while the generator is far: up to 4.7 on the ring at
    step 10) for at most 60 consecutive steps, well inside the 200 that would fire. 300 steps of 18 000 / 27 000:
    the part where the generator unfolds and false alarms would come from."""
    config = resolve_config(config_file=f"configs/toy/{name}.toml", overrides=[
        "--steps=300", "--log_every=10", "--eval_every=100", "--eval_samples=500", "--ckpt_every=0", "--threads=1",
        f"--out={tmp_path / 'run'}"])
    summary = train(config, progress=False)
    assert summary["diagnostics"] == []
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["diag_alarm_lipschitz_lost"] == 0.0 for r in rows)
    assert [r["step"] for r in rows if "diag_diversity" in r] == [100, 200, 300]
    lo, hi = GRAD_NORM_BAND
    outside, longest = None, 0
    for r in rows[1:]:  # step 1: a fresh critic
        if r["diag_grad_norm"] > hi or r["diag_grad_norm"] < lo:
            outside = r["step"] if outside is None else outside
            longest = max(longest, r["step"] - outside)
        else:
            outside = None
    assert longest <= 60, longest


def test_a_short_default_run_raises_no_alarm(tmp_path, capsys):
    config = resolve_config(overrides=["--steps=10", "--log_every=1", "--eval_every=5", "--eval_samples=500",
                                       "--ckpt_every=0", "--threads=1", f"--out={tmp_path / 'run'}"])
    summary = train(config, progress=False)
    assert summary["diagnostics"] == [] and "ganlab diagnostics" not in capsys.readouterr().err
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all("diag_grad_norm" in r and r["diag_alarm_lipschitz_lost"] == 0.0 for r in rows)


@pytest.mark.parametrize("extra", [
    ["--recipe=sngan", "--model.g_norm=batchnorm", "--ema=0.9"],  # SN's u, v and batch norm's statistics untouched
    ["--recipe=gan", "--gp_weight=0.1", "--clip_value=0.5"],  # every probe: saturation, JS, gradient norm, clipping
])
def test_the_diagnostics_leave_the_run_bit_identical(tmp_path, monkeypatch, extra):
    """Every weight, buffer (spectral norm's u, v, batch norm's statistics), EMA and optimizer state after a run
    observed at every step equals that of the same run with the diagnostics switched off."""
    import ganlab.diagnostics as diag_mod

    def run(name):
        config = resolve_config(overrides=[*TINY, *extra, "--steps=6", "--n_critic=2", "--log_every=1",
                                           "--eval_every=0", "--ckpt_every=0", f"--out={tmp_path / name}"])
        train(config, progress=False)
        return load_checkpoint(tmp_path / name / "checkpoints" / "last.safetensors")[0]

    watched = run("watched")
    monkeypatch.setattr(diag_mod.Diagnostics, "measure", lambda self, setup, samples=None: {})
    unwatched = run("unwatched")
    assert watched.keys() == unwatched.keys()
    for key in watched:
        assert torch.equal(watched[key], unwatched[key]), key
