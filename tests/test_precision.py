"""Mixed precision (`precision = "bf16"`): the networks' forwards under bfloat16 autocast, the losses, the
gradient penalty, the weights, the optimizer state, the EMA and evaluation in float32 (`ganlab.steps`)."""

import json
import math
from dataclasses import replace

import pytest
import torch

import ganlab.build as build_mod
from ganlab.build import build
from ganlab.checkpoint import load_checkpoint
from ganlab.config import TrainConfig
from ganlab.distributed import World
from ganlab.recipes import resolve_config
from ganlab.runs import CHECKPOINT_NAME, check_resumable, read_run_config
from ganlab.sampling import sample_from_run
from ganlab.steps import critic_step, generator_step
from ganlab.train import train

RING_TINY = ["--model.g_width=16", "--model.d_width=16", "--model.g_depth=2", "--model.d_depth=2", "--batch_size=32",
             "--eval_samples=200", "--threads=1", "--n_critic=2", "--ema=0.9"]
DIGITS_TINY = ["--recipe=wgan-gp", "--data=digits", "--model=dcgan", "--model.g_width=8", "--model.d_width=8",
               "--model.latent_dim=8", "--batch_size=16", "--eval_samples=100", "--threads=1"]


class _EvaluatorSpy:
    """Wraps the run's evaluator; records whether autocast was on and the samples' dtype at each call."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __call__(self, generator, critic, *, step, raw=None):
        autocast_on = torch.is_autocast_enabled("cpu")
        metrics, samples = self.inner(generator, critic, step=step, raw=raw)
        self.calls.append((autocast_on, samples.dtype))
        return metrics, samples

    def figure(self, *args, **kwargs):
        return self.inner.figure(*args, **kwargs)

    def prepare(self):
        return self.inner.prepare()


@pytest.fixture(scope="module")
def ring_bf16_run(tmp_path_factory):
    """One bf16 run of 3 generator steps on the ring (MLP, gradient penalty, EMA), its evaluator spied on."""
    run = tmp_path_factory.mktemp("bf16") / "run"
    config = resolve_config(overrides=[*RING_TINY, "--precision=bf16", "--steps=3", "--log_every=1",
                                       f"--out={run}"])
    spies = []
    real_make = build_mod.make_evaluator

    def spying_make_evaluator(*args, **kwargs):
        spies.append(_EvaluatorSpy(real_make(*args, **kwargs)))
        return spies[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(build_mod, "make_evaluator", spying_make_evaluator)
        summary = train(config, progress=False)
    return config, run, summary, spies[0]


# ----------------------------------------------------------------------------------------------
# bf16 runs finish


def test_bf16_run_on_the_ring_has_finite_losses_and_float32_state(ring_bf16_run):
    _, run, summary, _ = ring_bf16_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        for key in ("d_loss", "g_loss", "gp", "critic_gap"):
            assert math.isfinite(r[key]), (r["step"], key)
    assert summary["steps"] == 3 and math.isfinite(summary["w1"]) and summary["w1"] > 0
    # weights (critic, generator, EMA) and Adam's moments stay float32: autocast, never .half()
    tensors, _ = load_checkpoint(run / CHECKPOINT_NAME)
    floating = {k: t.dtype for k, t in tensors.items() if t.is_floating_point() and not k.startswith("rng.")}
    assert any("ema" in k for k in floating) and any("exp_avg_sq" in k for k in floating), sorted(floating)
    assert set(floating.values()) == {torch.float32}, {k: d for k, d in floating.items() if d != torch.float32}


def test_bf16_run_on_digits_with_dcgan_has_finite_losses(tmp_path):
    config = resolve_config(overrides=[*DIGITS_TINY, "--precision=bf16", "--steps=2", "--n_critic=2",
                                       "--log_every=1", f"--out={tmp_path / 'run'}"])
    summary = train(config, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        for key in ("d_loss", "g_loss", "gp", "critic_gap"):
            assert math.isfinite(r[key]), (r["step"], key)
    for key in ("fid", "kid", "is", "critic_w"):
        assert math.isfinite(summary[key]), key


# ----------------------------------------------------------------------------------------------
# one critic step: bf16 agrees with float32 to bf16's precision, and the penalty is float32


def _setup_and_batch(overrides, precision):
    """The setup of `overrides` in `precision`, and a seeded real and fake batch (the same for every precision:
    the initialization depends on the seed only)."""
    setup = build(replace(resolve_config(overrides=overrides), precision=precision))
    g = torch.Generator().manual_seed(1)
    m = setup.config.batch_size
    real = setup.dataset.sample(m, generator=g)
    with torch.no_grad():
        fake = setup.generator(torch.randn(m, setup.latent_dim, generator=g))
    return setup, real, fake


@pytest.mark.parametrize("overrides", [RING_TINY, DIGITS_TINY], ids=["ring-mlp", "digits-dcgan"])
def test_one_bf16_critic_step_is_close_to_the_float32_step(overrides):
    """Same weights, batch and penalty draws: L_D, the penalty and the critic's weight gradients agree within
    2e-2 relative (bfloat16 keeps 8 significant bits, unit roundoff 2^-8 = 3.9e-3; measured: L_D to 2e-5
    (DCGAN) and 2e-3 (MLP), gradients to 1.3e-2 (DCGAN) and 3.8e-3 (MLP))."""
    out, grads = {}, {}
    for precision in ("float32", "bf16"):
        setup, real, fake = _setup_and_batch(overrides, precision)
        out[precision] = critic_step(setup, real, fake, World("cpu"))
        grads[precision] = torch.cat([p.grad.flatten() for p in setup.critic.parameters()])
    f32, bf16 = out["float32"], out["bf16"]
    for t in bf16:
        assert t.dtype == torch.float32
    torch.testing.assert_close(bf16.d_loss, f32.d_loss, rtol=2e-2, atol=0.0)
    torch.testing.assert_close(bf16.gp, f32.gp, rtol=2e-2, atol=0.0)
    for name in ("d_real", "d_fake"):  # outputs near 0 at initialization: compared as vectors
        a, b = getattr(f32, name), getattr(bf16, name)
        assert (b - a).norm() <= 2e-2 * a.norm(), name
    assert (grads["bf16"] - grads["float32"]).norm() <= 5e-2 * grads["float32"].norm()
    assert not torch.equal(grads["bf16"], grads["float32"])  # the bf16 step really ran in bfloat16


def test_bf16_takes_the_autograd_path_instead_of_the_closed_form():
    config = resolve_config(overrides=RING_TINY)
    assert build(config).closed_form is True
    assert build(replace(config, precision="bf16")).closed_form is False


@pytest.mark.parametrize("overrides", [RING_TINY, DIGITS_TINY], ids=["ring-mlp", "digits-dcgan"])
def test_the_penalty_is_computed_in_float32_outside_autocast(monkeypatch, overrides):
    """The critic's layers run in bfloat16, while the penalty's gradient w.r.t. x̂, its norm and the returned
    gp are float32, computed with autocast off."""
    setup, real, fake = _setup_and_batch(overrides, "bf16")
    layer_dtypes = []
    first_layer = next(m for m in setup.critic.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    first_layer.register_forward_hook(lambda mod, inp, out: layer_dtypes.append(out.dtype))
    grads, norms = [], []
    real_grad, real_norm = torch.autograd.grad, torch.linalg.vector_norm

    def grad_spy(outputs, inputs, *args, **kwargs):
        result = real_grad(outputs, inputs, *args, **kwargs)
        grads.append((outputs.dtype, result[0].dtype, torch.is_autocast_enabled("cpu")))
        return result

    def norm_spy(x, *args, **kwargs):
        norms.append((x.dtype, torch.is_autocast_enabled("cpu")))
        return real_norm(x, *args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", grad_spy)
    monkeypatch.setattr(torch.linalg, "vector_norm", norm_spy)
    out = critic_step(setup, real, fake, World("cpu"))
    assert layer_dtypes == [torch.bfloat16, torch.bfloat16]  # the real/fake forward, the x̂ forward
    assert grads == [(torch.float32, torch.float32, False)]
    assert (torch.float32, False) in norms and all(dtype == torch.float32 for dtype, _ in norms)
    assert out.gp.dtype == torch.float32 and out.gp.item() > 0


def test_bf16_generator_step_has_a_float32_loss_and_float32_gradients():
    setup, _, _ = _setup_and_batch(DIGITS_TINY, "bf16")
    z = torch.randn(setup.config.batch_size, setup.latent_dim, generator=torch.Generator().manual_seed(2))
    g_loss = generator_step(setup, z, World("cpu"))
    assert g_loss.dtype == torch.float32 and math.isfinite(g_loss.item())
    assert all(p.grad.dtype == torch.float32 and bool(torch.isfinite(p.grad).all())
               for p in setup.generator.parameters())
    assert all(p.grad is None for p in setup.critic.parameters())  # frozen in the generator step


# ----------------------------------------------------------------------------------------------
# evaluation, the config, resume


def test_evaluation_runs_without_autocast_and_samples_are_float32(ring_bf16_run):
    _, run, _, spy = ring_bf16_run
    assert spy.calls == [(False, torch.float32)]  # the one evaluation, at the last step
    samples = sample_from_run(run, 50, seed=0)
    assert samples.dtype == torch.float32 and samples.shape == (50, 2)


@pytest.mark.parametrize("value", ["fp16", "bfloat16", "float64", ""])
def test_an_unknown_precision_is_refused_by_name(value):
    with pytest.raises(ValueError, match=rf"'precision': expected one of \['float32', 'bf16'\], got '{value}'"):
        resolve_config(overrides=[f"--precision={value}"])
    with pytest.raises(ValueError, match="'precision'"):
        TrainConfig(precision=value)


def test_the_precision_is_saved_and_resume_refuses_to_change_it(ring_bf16_run):
    config, run, _, _ = ring_bf16_run
    assert 'precision = "bf16"' in (run / "config.toml").read_text().splitlines()
    saved = read_run_config(run)
    assert saved.precision == "bf16"
    check_resumable(saved, replace(saved, steps=4))  # steps may change
    with pytest.raises(ValueError, match=r"precision: 'bf16' -> 'float32'"):
        check_resumable(saved, replace(saved, precision="float32"))
    with pytest.raises(ValueError, match=r"precision: 'bf16' -> 'float32'"):
        train(replace(config, precision="float32", steps=4), resume=True, progress=False)
