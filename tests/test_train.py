"""The training loop: agreement with a textbook WGAN-GP step, smoke runs of every recipe, resume,
non-finite losses, evaluation, EMA and sampling."""

import json
from dataclasses import replace
import math

import pytest
import torch
from torch import nn

import ganlab.build as build_mod
import ganlab.checkpoint as ckpt
import ganlab.runs as runs_mod
import ganlab.steps as steps_mod
from ganlab.build import build, model_fields, stream_seeds
from ganlab.checkpoint import load_checkpoint
from ganlab.config import load_toml
from ganlab.data.toy import get_toy_dataset
from ganlab.losses import OBJECTIVES, Objective
from ganlab.models.mlp import MLPCritic, MLPGenerator
from ganlab.models.mlp_backward import penalized_critic_backward_
from ganlab.recipes import RECIPES, resolve_config
from ganlab.runs import evaluate_run, load_run
from ganlab.sampling import sample_from_run
from ganlab.steps import ema_update_, lr_factor
from ganlab.train import NonFiniteLossError, train

TINY = ["--model.g_width=16", "--model.d_width=16", "--model.g_depth=2", "--model.d_depth=2", "--batch_size=32",
        "--eval_samples=200", "--log_every=5", "--threads=1"]


def _config(tmp_path, *overrides, name="run"):
    return resolve_config(overrides=[*TINY, f"--out={tmp_path / name}", *overrides])


# ----------------------------------------------------------------------------------------------
# the loop computes the textbook algorithm


def _reference_nets(config):
    """The loop's initial generator and critic, rebuilt by hand in float64 with nn.ReLU. With pack = k > 1 the
    critic is built as ganlab builds it: the unpacked networks first, then the critic for k·2 inputs."""
    f, k = model_fields(config), config.pack
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seeds(config.seed)["init"])
        G = MLPGenerator(f.latent_dim, 2, width=f.g_width, depth=f.g_depth, activation=nn.ReLU)
        D = MLPCritic(2, width=f.d_width, depth=f.d_depth, activation=nn.ReLU)
        if k > 1:
            MLPGenerator(f.latent_dim, 2 * k, width=f.g_width, depth=f.g_depth, activation=nn.ReLU)
            D = MLPCritic(2 * k, width=f.d_width, depth=f.d_depth, activation=nn.ReLU)
    return G.double(), D.double(), f.latent_dim


def _reference_wgan_gp(config, steps):
    """WGAN-GP written the way the paper's Algorithm 1 reads (and the toy script does it), in float64:
    separate critic forwards for real, fake and interpolates, torch.autograd.grad for the penalty,
    nn.ReLU, one generator forward per critic step, plain SGD. Same initial weights and the same random
    draws as ganlab's loop. With pack = k (PacGAN) the critic reads k consecutive samples joined along the
    features by hand (torch.cat of every k-th row), one ε per packed input, the norm over the packed input."""
    dataset = get_toy_dataset(config.data)
    seeds = stream_seeds(config.seed)
    G, D, latent_dim = _reference_nets(config)
    k = config.pack

    def pack(x):  # (k·m, 2) -> (m, 2k): row i holds samples i·k, ..., i·k + k - 1
        return torch.cat([x[j::k] for j in range(k)], dim=1)

    opt_g = torch.optim.SGD(G.parameters(), lr=config.lr_g)
    opt_d = torch.optim.SGD(D.parameters(), lr=config.lr_d)
    g_data = torch.Generator().manual_seed(seeds["data"])
    g_latent = torch.Generator().manual_seed(seeds["latent"])
    g_pen = torch.Generator().manual_seed(seeds["penalty"])
    m, nc, lam = config.batch_size, config.n_critic, config.gp_weight
    n = k * m  # samples per update
    for _ in range(steps):
        real_all = dataset.sample(nc * n, generator=g_data, dtype=torch.float64)
        z_all = torch.randn(nc * n, latent_dim, generator=g_latent).double()
        for i in range(nc):
            real = pack(real_all[i * n:(i + 1) * n])
            fake = pack(G(z_all[i * n:(i + 1) * n]).detach())
            eps = torch.rand(m, generator=g_pen).double()[:, None]
            x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
            loss = D(fake).mean() - D(real).mean() + lam * ((grad.norm(dim=1) - 1) ** 2).mean()
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
        z = torch.randn(n, latent_dim, generator=g_latent).double()
        g_loss = -D(pack(G(z))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    return G, D


def _reference_wgan(config, steps):
    """WGAN with weight clipping as the paper's Algorithm 1 reads, in float64: separate critic forwards for
    real and fake, a fresh generator forward for each critic step, w <- clip(w, -c, c) after every critic
    update, plain SGD. Same initial weights and random draws as ganlab's loop."""
    dataset = get_toy_dataset(config.data)
    seeds = stream_seeds(config.seed)
    G, D, latent_dim = _reference_nets(config)
    opt_g = torch.optim.SGD(G.parameters(), lr=config.lr_g)
    opt_d = torch.optim.SGD(D.parameters(), lr=config.lr_d)
    g_data = torch.Generator().manual_seed(seeds["data"])
    g_latent = torch.Generator().manual_seed(seeds["latent"])
    m, nc, c = config.batch_size, config.n_critic, config.clip_value
    for _ in range(steps):
        real_all = dataset.sample(nc * m, generator=g_data, dtype=torch.float64)
        z_all = torch.randn(nc * m, latent_dim, generator=g_latent).double()
        for i in range(nc):
            loss = D(G(z_all[i * m:(i + 1) * m]).detach()).mean() - D(real_all[i * m:(i + 1) * m]).mean()
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-c, c)
        g_loss = -D(G(torch.randn(m, latent_dim, generator=g_latent).double())).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    return G, D


def _assert_checkpoint_equals(path, G_ref, D_ref, config, *, critic_prefix="critic"):
    tensors, _ = load_checkpoint(path)
    for prefix, ref in (("generator", G_ref), (critic_prefix, D_ref)):
        for name, p in ref.state_dict().items():
            torch.testing.assert_close(tensors[f"{prefix}.{name}"].double(), p, atol=1e-6, rtol=0, msg=name)
    # and the parameters did move, so the comparison is not vacuous
    init_g = build(config).generator
    moved = max((tensors[f"generator.{k}"] - v).abs().max().item() for k, v in init_g.state_dict().items())
    assert moved > 1e-3
    return tensors


@pytest.mark.parametrize("closed_form", [True, False])
def test_loop_equals_textbook_wgan_gp(tmp_path, monkeypatch, closed_form):
    """Three generator steps of `train` (batched fakes, frozen critic in the generator step; the critic step
    in closed form, or by autograd with a fused real/fake forward and masked ReLU when the closed form is
    switched off) land on the parameters of a plain float64 WGAN-GP implementation.

    Both sides use SGD for this comparison: Adam divides by sqrt(v) + 1e-8, which turns float32 rounding
    of gradients that are exactly 0 in exact arithmetic (a bias whose unit is active on every real and
    fake sample gets E 1 - E 1) into updates of +-lr; SGD keeps the update linear in the gradient."""
    monkeypatch.setattr(build_mod, "_optimizer", lambda config, params, lr: torch.optim.SGD(params, lr=lr))
    if not closed_form:
        monkeypatch.setattr(build_mod, "closed_form_layers", lambda critic: None)
    config = _config(tmp_path, "--steps=3", "--n_critic=3", "--lr_d=1e-2", "--lr_g=1e-2", "--gp_weight=10",
                     "--eval_samples=50")
    calls = []
    monkeypatch.setattr(steps_mod, "penalized_critic_backward_",
                        lambda *a, **k: calls.append(1) or penalized_critic_backward_(*a, **k))
    train(config, progress=False)
    assert len(calls) == (9 if closed_form else 0)  # 3 steps x n_critic 3
    _assert_checkpoint_equals(tmp_path / "run" / "checkpoints" / "last.safetensors",
                              *_reference_wgan_gp(config, steps=3), config)


def test_loop_equals_textbook_pacgan_with_gradient_penalty(tmp_path, monkeypatch):
    """Three generator steps of `train` with --pack=3 (a `Packed` critic: the penalty's ε per packed input and its
    norm over the packed input) land on a plain float64 PacGAN + WGAN-GP loop that packs by hand."""
    monkeypatch.setattr(build_mod, "_optimizer", lambda config, params, lr: torch.optim.SGD(params, lr=lr))
    config = _config(tmp_path, "--steps=3", "--n_critic=2", "--lr_d=1e-2", "--lr_g=1e-2", "--gp_weight=10",
                     "--pack=3", "--batch_size=8", "--eval_samples=48")
    train(config, progress=False)
    _assert_checkpoint_equals(tmp_path / "run" / "checkpoints" / "last.safetensors",
                              *_reference_wgan_gp(config, steps=3), config, critic_prefix="critic.critic")


def test_loop_equals_textbook_wgan_with_weight_clipping(tmp_path, monkeypatch):
    """Three generator steps of the `wgan` recipe (batched fakes, one real/fake forward, clipping after each
    critic step) land on a plain float64 WGAN Algorithm 1; c = 0.05 so that clipping binds (and the generator
    learns slowly through a clipped critic: lr_g = 1 so that it moves measurably); the test also
    checks that some critic weights sit exactly at +-c and that every one lies within [-c, c]."""
    monkeypatch.setattr(build_mod, "_optimizer", lambda config, params, lr: torch.optim.SGD(params, lr=lr))
    config = _config(tmp_path, "--recipe=wgan", "--steps=3", "--n_critic=3", "--lr_d=5e-2", "--lr_g=1.0",
                     "--clip_value=0.05", "--eval_samples=50")
    train(config, progress=False)
    tensors = _assert_checkpoint_equals(tmp_path / "run" / "checkpoints" / "last.safetensors",
                                        *_reference_wgan(config, steps=3), config)
    weights = torch.cat([v.flatten() for k, v in tensors.items() if k.startswith("critic.")])
    c = torch.tensor(0.05)  # in float32, as the weights
    assert weights.abs().max() <= c
    assert (weights.abs() == c).float().mean().item() > 0.01


# ----------------------------------------------------------------------------------------------
# every recipe runs


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_smoke_every_recipe(tmp_path, recipe):
    config = _config(tmp_path, f"--recipe={recipe}", "--steps=12", "--n_critic=2", "--log_every=4")
    summary = train(config, progress=False)
    run = tmp_path / "run"
    for name in ("config.toml", "metrics.jsonl", "summary.json", "checkpoints/last.safetensors",
                 "samples/step_0000012.png", "curves.png"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 4, 8, 12]
    for r in rows:
        assert math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) and math.isfinite(r["critic_gap"])
    last = rows[-1]
    assert {"modes", "high_quality", "reverse_kl", "w1", "critic_w"} <= set(last)
    assert 0 <= last["modes"] <= 8 and 0.0 <= last["high_quality"] <= 1.0
    assert 0.0 <= last["reverse_kl"] <= math.log(8) + 1e-12 and last["w1"] > 0
    saved = load_toml(run / "config.toml")  # the complete config: every model field, the run folder
    assert saved == build(config).config
    assert saved.out == str(run) and saved.model == {"family": "mlp", "latent_dim": 2, "g_width": 16, "g_depth": 2,
                                                     "d_width": 16, "d_depth": 2, "activation": "relu",
                                                     "g_norm": "none", "d_norm": "none"}
    on_disk = json.loads((run / "summary.json").read_text())
    assert on_disk["threads"] == 1 and on_disk["wall_seconds"] > 0 and on_disk["modes"] == summary["modes"]


IMAGE_TINY = ["--data=digits", "--model.g_width=8", "--model.d_width=8", "--model.latent_dim=8",
              "--batch_size=16", "--eval_samples=100", "--threads=1"]


@pytest.mark.parametrize("family", ["dcgan", "resnet"])
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_smoke_every_recipe_on_images(tmp_path, recipe, family):
    """Every recipe runs unchanged (its own n_critic, optimizer, constraint) on images (the 8x8 digits) with both
    image families, DCGAN and the SN-GAN ResNet, and is judged by FID, KID and IS against the held-out digits
    with the shipped classifier, for the EMA and the raw generator."""
    config = resolve_config(overrides=[*IMAGE_TINY, f"--model={family}", f"--recipe={recipe}", "--steps=3",
                                       "--ema=0.9", f"--out={tmp_path / 'run'}"])
    summary = train(config, progress=False)
    for key in ("fid", "kid", "is", "raw_fid", "raw_is", "critic_w", "eval_seconds"):
        assert math.isfinite(summary[key]), key
    assert summary["eval_seconds"] > 0 and summary["reference_seconds"] > 0  # the first evaluation's costs
    assert summary["fid"] > 0 and 1.0 <= summary["is"] <= 10.0 and 1.0 <= summary["raw_is"] <= 10.0
    assert summary["steps"] == 3 and (tmp_path / "run" / "samples" / "step_0000003.png").is_file()
    saved = load_toml(tmp_path / "run" / "config.toml")
    assert saved.model["family"] == family
    assert saved.model["d_norm"] == ("layernorm" if config.gp_weight > 0 else "none")


def test_time_limit_ends_the_run_at_the_step_running(tmp_path):
    config = _config(tmp_path, "--steps=1000", "--time_limit=1e-9", "--n_critic=1", "--eval_every=500")
    summary = train(config, progress=False)
    assert summary["steps"] == 1 and summary["time_limited"] is True
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1] and "modes" in rows[0]  # evaluated like a last step
    assert load_run(tmp_path / "run").step == 1  # and checkpointed
    resumed = train(replace(config, time_limit=0.0, steps=3), resume=True, progress=False)
    assert resumed["steps"] == 3 and resumed["time_limited"] is False


@pytest.mark.parametrize("data, extra", [("swissroll", []), ("parallel-lines", ["--data_params.theta=0.5"]),
                                         ("mixture-1d", []), ("grid", [])])
def test_smoke_datasets(tmp_path, data, extra):
    config = _config(tmp_path, f"--data={data}", *extra, "--steps=4", "--n_critic=1")
    summary = train(config, progress=False)
    assert math.isfinite(summary["w1"]) and summary["w1"] > 0
    assert ("modes" in summary) == (get_toy_dataset(data).modes is not None)


def test_wgan_gp_learns(tmp_path):
    """200 generator steps with the WGAN-GP toy script's settings (Adam beta1 0.5, lambda 0.1; here lr 1e-3
    and width 64 to be quick) on its 8 Gaussians: W1 to the data falls from the untrained generator's 0.95
    to below 0.6 of it (0.40 measured)."""
    config = _config(tmp_path, "--data=8gaussians", "--model.g_width=64", "--model.d_width=64", "--batch_size=64",
                     "--steps=200", "--eval_every=20", "--lr_g=1e-3", "--lr_d=1e-3", "--beta1=0.5",
                     "--gp_weight=0.1", "--eval_samples=300", "--log_every=20")
    train(config, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    w1 = [r["w1"] for r in rows if "w1" in r]
    assert len(w1) == 10 and w1[0] > 0.8
    assert w1[-1] < 0.6 * w1[0]


# ----------------------------------------------------------------------------------------------
# resume, checkpoints, failures


@pytest.mark.parametrize("recipe, extra", [("sngan", ["--ema=0.9", "--gp_weight=1.0", "--n_critic=2"]),
                                           ("sngan", ["--pack=2", "--gp_weight=1.0", "--ema=0.9"]),  # PacGAN critic
                                           ("wgan", ["--ema=0.5"]),
                                           ("wgan-gp", ["--model.activation=leaky_relu", "--ema=0.9"])])  # closed-form critic step
def test_resume_is_bit_identical(tmp_path, recipe, extra):
    """Stop at N, resume to 2N: every parameter, buffer (SN u, v), EMA weight, optimizer moment and RNG
    state equals that of an uninterrupted 2N-step run."""
    n = 6
    straight = _config(tmp_path, f"--recipe={recipe}", *extra, f"--steps={2 * n}", f"--ckpt_every={n}", name="a")
    train(straight, progress=False)
    first = _config(tmp_path, f"--recipe={recipe}", *extra, f"--steps={n}", name="b")
    train(first, progress=False)
    second = _config(tmp_path, f"--recipe={recipe}", *extra, f"--steps={2 * n}", name="b")
    train(second, resume=True, progress=False)
    ta, ma = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")
    tb, mb = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.safetensors")
    assert ma["step"] == mb["step"] == 2 * n
    assert set(ta) == set(tb)
    assert any(k.startswith("ema.") for k in ta) and any(k.startswith("opt_d.state.") for k in ta)
    assert any(k.startswith("rng.") for k in ta)
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert ma["optimizers"] == mb["optimizers"]


def test_late_linear_decay_is_constant_then_linear_to_zero(tmp_path):
    """lr_decay_start = s: factor 1 for t <= s T, then 1 - (t - 1 - s T) / (T - s T) (CycleGAN: s = 1/2);
    T = 10, s = 0.6: 1 at t = 1..6, then 0.75, 0.5, 0.25 at t = 8, 9, 10 and 1.0 at t = 7; s = 0 is WGAN-GP's."""
    cfg = _config(tmp_path, "--lr_decay=linear", "--lr_decay_start=0.6", "--steps=10")
    want = [1.0] * 6 + [1.0, 0.75, 0.5, 0.25]
    assert [lr_factor(cfg, t) for t in range(1, 11)] == pytest.approx(want, rel=1e-14)
    whole = _config(tmp_path, "--lr_decay=linear", "--steps=10")
    assert [lr_factor(whole, t) for t in range(1, 11)] == pytest.approx(
        [1 - (t - 1) / 10 for t in range(1, 11)], rel=1e-14)
    with pytest.raises(ValueError, match="lr_decay_start"):
        _config(tmp_path, "--lr_decay_start=1.0")


def test_linear_lr_decay_follows_the_schedule_and_resumes_bit_identically(tmp_path, monkeypatch):
    """lr_decay = "linear": rates lr * (1 - (t - 1) / T) (WGAN-GP's CIFAR scripts); a run interrupted after
    its step-N checkpoint and resumed with the same config ends equal to an uninterrupted run."""
    n = 5
    args = ["--recipe=wgan-gp", "--n_critic=2", "--lr_decay=linear", f"--steps={2 * n}", f"--ckpt_every={n}"]
    cfg = _config(tmp_path, *args, name="a")
    assert [lr_factor(cfg, t) for t in (1, 2, 2 * n)] == pytest.approx([1.0, 0.9, 0.1], rel=1e-14)
    train(cfg, progress=False)

    real_save = runs_mod.save_training_state

    def save_then_die(*a, **k):
        real_save(*a, **k)
        raise KeyboardInterrupt  # the user pressed Ctrl-C right after the step-N checkpoint

    monkeypatch.setattr(runs_mod, "save_training_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path, *args, name="b"), progress=False)
    monkeypatch.setattr(runs_mod, "save_training_state", real_save)
    with pytest.raises(ValueError, match="decays its learning rates over steps = 10"):
        train(_config(tmp_path, *args, "--steps=12", name="b"), resume=True, progress=False)
    train(_config(tmp_path, *args, name="b"), resume=True, progress=False)

    ta, ma = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")
    tb, mb = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.safetensors")
    assert ma["step"] == mb["step"] == 2 * n
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    last = cfg.lr_d / (2 * n)  # the rate of the final step
    assert [g["lr"] for g in ma["optimizers"]["opt_d"]["param_groups"]] == pytest.approx([last], rel=1e-12)
    assert ma["optimizers"] == mb["optimizers"]


def test_resume_refuses_changed_config_and_finished_runs(tmp_path):
    train(_config(tmp_path, "--steps=2", "--n_critic=1"), progress=False)
    with pytest.raises(ValueError, match="lr_d"):
        train(_config(tmp_path, "--steps=4", "--n_critic=1", "--lr_d=1e-3"), resume=True, progress=False)
    with pytest.raises(ValueError, match="already at step 2"):
        train(_config(tmp_path, "--steps=2", "--n_critic=1"), resume=True, progress=False)
    with pytest.raises(ValueError, match="already holds a run"):
        train(_config(tmp_path, "--steps=2", "--n_critic=1"), progress=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(_config(tmp_path, "--steps=2", name="empty"), resume=True, progress=False)


def test_crash_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_write = ckpt._write_bytes

    def flaky(path, data):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint dies half-written
            with open(path, "wb") as fh:
                fh.write(data[: len(data) // 3])
            raise OSError("power cut")
        real_write(path, data)

    monkeypatch.setattr(ckpt, "_write_bytes", flaky)
    with pytest.raises(OSError, match="power cut"):
        train(_config(tmp_path, "--steps=10", "--ckpt_every=4", "--n_critic=1"), progress=False)
    tensors, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 4
    assert all(torch.isfinite(v).all() for k, v in tensors.items() if v.is_floating_point())
    # and the run can be resumed from it
    monkeypatch.setattr(ckpt, "_write_bytes", real_write)
    summary = train(_config(tmp_path, "--steps=10", "--ckpt_every=4", "--n_critic=1"), resume=True, progress=False)
    assert summary["steps"] == 10


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    wasserstein = OBJECTIVES["wasserstein"]
    d_loss_fn = wasserstein.d_loss
    calls = {"n": 0}

    def poisoned(d_real, d_fake):  # the 7th generator step's critic loss is NaN (n_critic = 1)
        calls["n"] += 1
        loss = d_loss_fn(d_real, d_fake)
        return loss * float("nan") if calls["n"] >= 7 else loss

    monkeypatch.setitem(OBJECTIVES, "wasserstein", Objective(poisoned, wasserstein.g_loss, wasserstein.summary))
    with pytest.raises(NonFiniteLossError) as exc:
        train(_config(tmp_path, "--steps=20", "--ckpt_every=5", "--n_critic=1"), progress=False)
    msg = str(exc.value)
    assert "critic loss" in msg and "step 7" in msg and "step 5" in msg
    tensors, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 5
    assert all(torch.isfinite(v).all() for v in tensors.values() if v.is_floating_point())
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 7 and "error" in rows[-1]


# ----------------------------------------------------------------------------------------------
# evaluation, EMA, sampling


def test_evaluate_run_reproduces_the_final_evaluation(tmp_path):
    summary = train(_config(tmp_path, "--steps=5", "--n_critic=1", "--ema=0.8"), progress=False)
    again = evaluate_run(tmp_path / "run", n=200)
    assert again["step"] == 5 and again["ema"] is True
    for key in ("modes", "high_quality", "reverse_kl", "w1", "critic_w"):
        assert again[key] == pytest.approx(summary[key], abs=1e-6), key
    with pytest.raises(FileNotFoundError):
        evaluate_run(tmp_path / "nothing")


def test_ema_update_formula():
    torch.manual_seed(0)
    ema, model = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.detach().clone() for p in ema.parameters()]
    ema_update_(ema, model, 0.9)
    for p_ema, p_old, p in zip(ema.parameters(), before, model.parameters()):
        torch.testing.assert_close(p_ema, 0.9 * p_old + 0.1 * p, atol=1e-7, rtol=0)


def test_sampling(tmp_path):
    train(_config(tmp_path, "--steps=3", "--n_critic=1", "--ema=0.5"), progress=False)
    run = tmp_path / "run"
    x = sample_from_run(run, 1000, seed=3, batch_size=300)
    assert x.shape == (1000, 2) and x.dtype == torch.float32
    assert torch.equal(x, sample_from_run(run, 1000, seed=3, batch_size=300))
    assert not torch.equal(x, sample_from_run(run, 1000, seed=4, batch_size=300))
    # the EMA and the raw generator are different networks after a few steps
    assert not torch.equal(x, sample_from_run(run, 1000, seed=3, ema=False, batch_size=300))
    loaded = load_run(run)
    g, config = loaded.sampler, loaded.config
    assert g is loaded.setup.ema and not g.training and config.ema == 0.5 and loaded.step == 3
    z = torch.randn(300, loaded.setup.latent_dim, generator=torch.Generator().manual_seed(3))  # the first batch
    torch.testing.assert_close(g(z), x[:300], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="n must be"):
        sample_from_run(run, 0)
    with pytest.raises(FileNotFoundError):
        sample_from_run(tmp_path / "missing", 10)


# ----------------------------------------------------------------------------------------------
# data parallel (torchrun), two CPU processes with gloo


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world_size, port, config, same_streams, dump=None):
    import os

    import ganlab.train as train_mod

    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    if same_streams:  # every process draws what a single process would: averaging must change nothing
        seeds = build_mod.stream_seeds
        build_mod.stream_seeds = lambda seed, rank=0: seeds(seed)
    if dump:  # every process writes its networks as the run ends
        finish = train_mod._finish

        def dumping(setup, world, *args, **kwargs):
            state = {f"{name}.{k}": v for name, net in (("generator", setup.generator), ("critic", setup.critic))
                     for k, v in net.state_dict().items()}
            torch.save(state, f"{dump}/rank{world.rank}.pt")
            return finish(setup, world, *args, **kwargs)

        train_mod._finish = dumping
    train(config, progress=False)


def test_two_process_data_parallel_with_identical_streams_equals_one_process(tmp_path):
    """Two gloo processes fed the same data average two identical gradients, (g + g) / 2 = g exactly: the
    weights after training equal a single-process run bit for bit, which checks that gradients of the
    critic (penalty included) and of the generator are all-reduced and divided by the world size."""
    import torch.multiprocessing as mp

    single = _config(tmp_path, "--steps=3", "--n_critic=2", "--gp_weight=10", name="single")
    train(single, progress=False)
    ddp = _config(tmp_path, "--steps=3", "--n_critic=2", "--gp_weight=10", name="ddp")
    mp.spawn(_ddp_worker, args=(2, _free_port(), ddp, True), nprocs=2, join=True)
    ts, _ = load_checkpoint(tmp_path / "single" / "checkpoints" / "last.safetensors")
    td, md = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.safetensors")
    assert md["world_size"] == 2 and "rng.data@1" in td
    for k in ts:
        if k.startswith(("generator.", "critic.", "opt_")):
            assert torch.equal(ts[k], td[k]), k
    assert json.loads((tmp_path / "ddp" / "summary.json").read_text())["world_size"] == 2


def test_two_processes_with_their_own_data_hold_identical_networks(tmp_path):
    """Real data parallelism (each process its own data, latent and penalty streams): after training, every
    parameter and every buffer (spectral norm's u and v in the critic, the batch-norm running statistics of
    the generator, which each process updates from its own batch) is the same on both processes."""
    import torch.multiprocessing as mp

    config = _config(tmp_path, "--recipe=sngan", "--model.g_norm=batchnorm", "--steps=4", "--gp_weight=1",
                     "--n_critic=2", name="ddp")
    mp.spawn(_ddp_worker, args=(2, _free_port(), config, False, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert set(r0) == set(r1) and any("running_mean" in k for k in r0) and any(k.endswith(".u")
                                                                              for k in r0)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    moved = build(config).generator.state_dict()
    assert any(not torch.equal(moved[k[len("generator."):]], v) for k, v in r0.items()
               if k.startswith("generator.") and "running_mean" in k)  # the statistics did change


def test_torchrun_launch(tmp_path):
    """`torchrun --nproc_per_node=2 -m ganlab train ...` on the CPU: each process its own data, one run folder."""
    import subprocess
    import sys

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           "-m", "ganlab", "train", "--steps", "3", "--out", str(out), "--no-progress", *TINY, "--n_critic=1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 3
    tensors, _ = load_checkpoint(out / "checkpoints" / "last.safetensors")
    assert not torch.equal(tensors["rng.data"], tensors["rng.data@1"])  # the two processes drew different data
    assert proc.stdout.count("generator steps in") == 1  # only process 0 prints the summary
