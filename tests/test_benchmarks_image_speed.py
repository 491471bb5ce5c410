"""benchmarks/image_speed.py: its plain script computes the same losses and gradients as ganlab's steps on the same
networks, weights and tensors (so the benchmark times one algorithm written two ways), and its tables' arithmetic."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.build import build
from ganlab.distributed import World
from ganlab.models.fold_conv import FoldConvTranspose2d
from ganlab.recipes import resolve_config
from ganlab.steps import critic_step, generator_step

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import image_speed  # noqa: E402

M = 8  # batch


def _pair(tmp_path: Path, recipe: str):
    """ganlab's Setup for `recipe` on random 28 x 28 uint8 images, and the plain script with the same weights,
    both critics' weights redrawn with std 0.1 so that outputs and penalty terms are O(1), not DCGAN's ~0."""
    pixels = np.random.default_rng(0).integers(0, 256, size=(32, 28, 28), dtype=np.uint8)
    path = tmp_path / "images.npz"
    np.savez(path, x_train=pixels)
    config = resolve_config(overrides=[f"--recipe={recipe}", "--data=npz", f"--data_params.path={path}",
                                       "--model=dcgan", f"--batch_size={M}", f"--out={tmp_path / 'run'}",
                                       "--eval_samples=8"])
    setup = build(config)
    plain = image_speed.Plain(recipe, setup.dataset.images, batch_size=M)
    # the same networks: same layers in the same order (norms included), so the weights load one to one; the
    # generator's image layer is ganlab's FoldConvTranspose2d in ganlab and torch's ConvTranspose2d in the plain script
    assert repr(plain.D) == repr(setup.critic)
    assert repr(plain.G) == repr(setup.generator).replace("FoldConvTranspose2d", "ConvTranspose2d")
    assert type(setup.generator.net[-2]) is FoldConvTranspose2d and type(plain.G.net[-2]) is torch.nn.ConvTranspose2d
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in setup.critic.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=g))
    plain.D.load_state_dict(setup.critic.state_dict())
    plain.G.load_state_dict(setup.generator.state_dict())
    # float64 throughout: the two generators' image layers (and oneDNN's algorithms) round float32 differently,
    # so only in float64 can the comparison be tight enough to catch a wrong term
    for net in (setup.critic, setup.generator, plain.D, plain.G):
        net.double()
    return setup, plain


def _batches(setup):
    g = torch.Generator().manual_seed(2)
    real = setup.dataset.sample(M, generator=g).double()
    fake = 2.0 * torch.rand(real.shape, generator=g, dtype=torch.float64) - 1.0
    return real, fake


@pytest.mark.parametrize("recipe", ["wgan-gp", "nsgan"])
def test_plain_critic_loss_and_gradients_equal_ganlab_critic_step(tmp_path, recipe):
    setup, plain = _pair(tmp_path, recipe)
    real, fake = _batches(setup)
    # the interpolation weights ganlab's step will draw: the same draw from a copy of its penalty stream
    t = torch.rand(M, generator=torch.Generator().set_state(setup.rngs["penalty"].get_state()), dtype=torch.float64)
    plain.D.zero_grad()
    loss = plain.d_loss(real, fake, alpha=t)
    loss.backward()
    out = critic_step(setup, real, fake, World("cpu"))
    torch.testing.assert_close(out.d_loss, loss.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.d_real, plain.D(real).detach(), rtol=1e-12, atol=1e-12)
    if recipe == "wgan-gp":  # both terms sizeable (the O(1) weights): neither hides in the other's rounding
        assert out.gp is not None and out.gp.item() > 0.05 and abs(loss.item() - out.gp.item()) > 0.05
    else:  # -E log σ(v(x)) - E log(1 - σ(v(G(z)))), the binary cross-entropy of the plain script
        assert out.gp is None
    for (name, p), q in zip(setup.critic.named_parameters(), plain.D.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("recipe", ["wgan-gp", "nsgan"])
def test_plain_generator_loss_and_gradients_equal_ganlab_generator_step(tmp_path, recipe):
    setup, plain = _pair(tmp_path, recipe)
    z = torch.randn(M, setup.latent_dim, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    plain.G.zero_grad()
    loss = plain.g_loss(z)
    loss.backward()
    g_loss = generator_step(setup, z, World("cpu"))
    torch.testing.assert_close(g_loss, loss.detach(), rtol=1e-12, atol=1e-12)
    for (name, p), q in zip(setup.generator.named_parameters(), plain.G.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12, msg=name)
    # ganlab freezes the critic in the generator step; the plain script computes its gradients (unused)
    assert all(p.grad is None or not p.requires_grad for p in setup.critic.parameters())
    assert all(q.grad is not None for q in plain.D.parameters())


def test_plain_fields_resolve_the_critic_norm_as_build_does():
    assert image_speed.plain_fields("wgan-gp").d_norm == "layernorm"  # a gradient penalty: WGAN-GP's layer norm
    assert image_speed.plain_fields("nsgan").d_norm == "none"


def test_timed_steps_give_every_run_the_same_critic_updates():
    assert image_speed.timed_steps("wgan-gp", 8) == 8  # n_critic 5: 40 critic updates
    assert image_speed.timed_steps("nsgan", 8) == 40  # n_critic 1: 40 critic updates


def test_bad_input_is_refused_by_name(tmp_path):
    images = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    with pytest.raises(ValueError, match="'lsgan'"):
        image_speed.Plain("lsgan", images)
    with pytest.raises(ValueError, match=r"uint8 tensor \(N, C, S, S\), got torch.float32"):
        image_speed.Plain("nsgan", images.float())
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\[\.gz\] not found in '.*empty'"):
        image_speed.fashion_train_file(tmp_path / "empty")


def test_fashion_train_file_takes_the_raw_or_gzipped_file(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    assert image_speed.fashion_train_file(tmp_path) == tmp_path / "train-images-idx3-ubyte.gz"
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"")  # the raw file first, as ganlab.data.image_sets does
    assert image_speed.fashion_train_file(tmp_path) == tmp_path / "train-images-idx3-ubyte"
    assert image_speed.data_overrides(tmp_path / "x") == ["--data=idx", f"--data_params.path={tmp_path / 'x'}"]


def test_speed_table_ratios_by_hand():
    results = {("wgan-gp", 1): {"ganlab": [2.0, 4.0, 3.0], "plain": [1.0, 2.0, 4.0]}}
    row = image_speed.speed_table(results)[-1]
    # medians 3 / 2 = 1.50x; repeat by repeat 2, 2, 0.75: median 2.00x
    assert row == "| wgan-gp | 1 | 3.00 (2.00–4.00) | 2.00 (1.00–4.00) | 1.50x | 2.00x (0.75–2.00) |"


def test_profile_table_takes_the_union_of_top_ops_with_shares():
    ganlab = {"ms": 100.0, "gflop": 1.5, "ops": {f"g{i}": 10.0 - i for i in range(10)} | {"shared": 20.0}}
    plain = {"ms": 200.0, "gflop": 1.5, "ops": {f"p{i}": 30.0 - i for i in range(10)} | {"shared": 50.0}}
    lines = image_speed.profile_table("nsgan", ganlab, plain)
    ops = [line.split("`")[1] for line in lines[2:-3]]
    assert ops[0] == "shared" and len(ops) == 15  # 8 + 8 top ops, "shared" in both
    assert "| `shared` | 20.0 (20.0 %) | 50.0 (25.0 %) |" in lines
    assert "| `g0` | 10.0 (10.0 %) | 0.0 (0.0 %) |" in lines
    assert "g7" not in ops and "p7" not in ops  # 9th of each: ranked below the top 8
    assert lines[-2:] == ["| all ops | 100.0 | 200.0 |", "| GFLOP counted by the profiler | 1.50 | 1.50 |"]


def test_convolution_row_and_bound_by_hand():
    ganlab = {"ms": 100.0, "gflop": 1.0, "ops": {"aten::convolution_backward": 40.0, "aten::mkldnn_convolution": 20.0,
                                                 "aten::_convolution": 5.0, "aten::mm": 35.0}}
    plain = {"ms": 130.0, "gflop": 1.0, "ops": {"aten::convolution_backward": 50.0, "aten::addmm": 80.0}}
    assert image_speed.convolution_ms(ganlab) == 65.0 and image_speed.convolution_ms(plain) == 50.0
    assert "| ops named `*convolution*` | 65.0 (65.0 %) | 50.0 (38.5 %) |" in image_speed.profile_table("x", ganlab, plain)
    assert image_speed.convolution_bound(ganlab, plain) == 2.0  # 130 / 65
