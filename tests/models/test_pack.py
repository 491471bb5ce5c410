"""PacGAN packing: the layout of a packed input, the packed critic, its penalty, and how a run builds it."""

import math

import pytest
import torch
from torch import nn

from ganlab.build import build
from ganlab.config import TrainConfig
from ganlab.diagnostics import interpolate_grad_norm
from ganlab.evaluators import _batched_mean
from ganlab.lipschitz import gradient_penalty, interpolate, penalty_from_outputs
from ganlab.models.dcgan import DCGANCritic
from ganlab.models.mlp import MLPCritic
from ganlab.models.pack import Packed, pack_samples, packed_shape, packing_of
from ganlab.recipes import resolve_config


@pytest.mark.parametrize("shape", [(2,), (3, 4, 4)])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_pack_samples_puts_k_consecutive_samples_side_by_side(shape, k):
    m = 4
    x = torch.randn(k * m, *shape)
    packed = pack_samples(x, k)
    assert packed.shape == (m, *packed_shape(shape, k)) == (m, k * shape[0], *shape[1:])
    c = shape[0]
    for i in range(m):
        for j in range(k):  # sample i·k + j sits at channels (features) j·c, ..., j·c + c − 1 of packed input i
            assert torch.equal(packed[i, j * c:(j + 1) * c], x[i * k + j])


def test_packed_critic_is_the_critic_of_the_concatenation():
    torch.manual_seed(0)
    inner = MLPCritic(4, width=8, depth=2)
    critic = Packed(inner, 2)
    x = torch.randn(6, 2)
    expected = torch.stack([inner(torch.cat([x[2 * i], x[2 * i + 1]])[None])[0] for i in range(3)])
    torch.testing.assert_close(critic(x), expected)
    assert packing_of(critic) == 2 and packing_of(inner) == 1 and "pack=2" in repr(critic)


def test_penalty_of_a_linear_packed_critic_is_the_closed_form():
    """f(y) = w·y on packed inputs y (dimension k·D): ∇ is w for every packed input, so GP = λ (‖w‖ − 1)² with the
    norm over all k·D weights; a per-sample norm would give the norms of the k pieces of w instead."""
    k, d, m, lam = 3, 2, 5, 10.0
    w = torch.tensor([0.3, -1.2, 0.5, 0.8, -0.1, 0.4], dtype=torch.float64)
    linear = nn.Linear(k * d, 1, bias=False).double()
    with torch.no_grad():
        linear.weight.copy_(w[None])
    critic = Packed(linear, k)
    x_hat = torch.randn(k * m, d, dtype=torch.float64, requires_grad=True)
    gp = penalty_from_outputs(x_hat, critic(x_hat), gp_weight=lam, pack=k)
    assert math.isclose(gp.item(), lam * (w.norm().item() - 1) ** 2, rel_tol=1e-12)
    assert math.isclose(interpolate_grad_norm(critic, torch.zeros(k * m, d, dtype=torch.float64),
                                              torch.ones(k * m, d, dtype=torch.float64),
                                              torch.rand(k * m, dtype=torch.float64)), w.norm().item(), rel_tol=1e-12)
    real, fake = torch.randn(k * m, d, dtype=torch.float64), torch.randn(k * m, d, dtype=torch.float64)
    gp = gradient_penalty(critic, real, fake, gp_weight=lam, pack=k)
    assert math.isclose(gp.item(), lam * (w.norm().item() - 1) ** 2, rel_tol=1e-12)
    with pytest.raises(ValueError, match=r"d_hat must have shape \(15,\).*got \(5, 1\)"):
        penalty_from_outputs(x_hat, critic(x_hat), gp_weight=lam)  # the pack forgotten
    with pytest.raises(ValueError, match="pack must be an integer >= 1 that divides the 15 rows"):
        penalty_from_outputs(x_hat, critic(x_hat), pack=2)


def _hand_packed(x, k):
    return torch.cat([x[j::k] for j in range(k)], dim=1)


def test_gradient_penalty_of_a_nonlinear_packed_critic_equals_the_hand_packed_one():
    """f(y) = ½‖y‖² on packed inputs: ∇f(ŷ) = ŷ, so GP = λ E (‖ŷ‖ − 1)² with ŷ = t·pack(real) + (1 − t)·pack(fake)
    and one t per packed input, drawn as `torch.rand(m)` from the same generator; one t per sample (or a
    per-sample norm) gives another value."""
    k, d, m, lam = 2, 3, 6, 10.0

    class HalfSquaredNorm(nn.Module):
        def forward(self, y):
            return 0.5 * y.pow(2).sum(dim=1)

    real = torch.randn(k * m, d, dtype=torch.float64)
    fake = torch.randn(k * m, d, dtype=torch.float64)
    gp = gradient_penalty(Packed(HalfSquaredNorm(), k), real, fake, gp_weight=lam,
                          generator=torch.Generator().manual_seed(3), pack=k)
    t = torch.rand(m, generator=torch.Generator().manual_seed(3), dtype=torch.float64)[:, None]
    y_hat = t * _hand_packed(real, k) + (1 - t) * _hand_packed(fake, k)
    expected = lam * ((y_hat.norm(dim=1) - 1) ** 2).mean()
    assert math.isclose(gp.item(), expected.item(), rel_tol=1e-12)
    # what one t per sample would give: a different value, so the comparison above has power
    t_each = torch.rand(k * m, generator=torch.Generator().manual_seed(3), dtype=torch.float64)[:, None]
    y_each = _hand_packed(t_each * real + (1 - t_each) * fake, k)
    assert not math.isclose(gp.item(), lam * ((y_each.norm(dim=1) - 1) ** 2).mean().item(), rel_tol=1e-3)


def test_diagnostic_gradient_norm_takes_one_eps_per_pack():
    """interpolate_grad_norm of f(y) = ½‖y‖² packed by 2: the mean of ‖ε_i pack(real)_i + (1 − ε_i) pack(fake)_i‖
    with ε_i the first ε of each pack."""
    k, m = 2, 5

    class HalfSquaredNorm(nn.Module):
        def forward(self, y):
            return 0.5 * y.pow(2).sum(dim=1)

    real, fake = torch.randn(k * m, 2, dtype=torch.float64), torch.randn(k * m, 2, dtype=torch.float64)
    eps = torch.rand(k * m, dtype=torch.float64)
    e = eps[0::2, None]
    expected = (e * _hand_packed(real, k) + (1 - e) * _hand_packed(fake, k)).norm(dim=1).mean()
    got = interpolate_grad_norm(Packed(HalfSquaredNorm(), k), real, fake, eps)
    assert math.isclose(got, expected.item(), rel_tol=1e-12)


def test_interpolate_draws_one_t_per_packed_input():
    k, m = 2, 4
    real, fake = torch.zeros(k * m, 3), torch.ones(k * m, 3)
    g = torch.Generator().manual_seed(0)
    x_hat = interpolate(real, fake, generator=g, pack=k)  # 1 − t in every coordinate
    t = 1 - x_hat[:, 0]
    assert torch.equal(x_hat, (1 - t)[:, None].expand(-1, 3))
    assert torch.equal(t[0::2], t[1::2]) and len(set(t[0::2].tolist())) == m  # one t per pair, the pairs differ
    torch.testing.assert_close(t[0::2], torch.rand(m, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="pack must be an integer >= 1 that divides the batch of 8, got 3"):
        interpolate(real, fake, pack=3)


@pytest.mark.parametrize("bad, message", [
    (0, "pack must be an integer >= 1"), (True, "pack must be an integer >= 1"),
])
def test_bad_pack_is_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        Packed(nn.Identity(), bad)
    with pytest.raises(ValueError, match=message):
        pack_samples(torch.zeros(4, 2), bad)


def test_a_batch_that_does_not_split_into_packs_is_refused():
    with pytest.raises(ValueError, match="a batch of 5 samples does not split into packed inputs of 2"):
        Packed(nn.Identity(), 2)(torch.zeros(5, 2))


def test_config_refuses_a_bad_pack_and_takes_any_evaluation_size():
    with pytest.raises(ValueError, match=r"'pack': expected an integer >= 1, got 0"):
        TrainConfig(pack=0)
    assert TrainConfig(pack=3).eval_samples == 2500  # PacDCGAN3 with the protocol's 2500 (and 26 000) samples


def test_batched_mean_of_a_packed_critic_is_the_mean_over_packed_inputs():
    critic = Packed(nn.Linear(4, 1, bias=False), 2)
    with torch.no_grad():
        critic.critic.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))  # reads the first sample of each pair
    x = torch.arange(20, dtype=torch.float32)[:, None].expand(-1, 2).contiguous()  # row i = (i, i)
    with torch.no_grad():
        assert _batched_mean(critic, x, batch_size=3) == pytest.approx(sum(range(0, 20, 2)) / 10)
        # 21 rows: the last one does not fill a pack and is left out
        x21 = torch.arange(21, dtype=torch.float32)[:, None].expand(-1, 2).contiguous()
        assert _batched_mean(critic, x21, batch_size=4) == pytest.approx(sum(range(0, 20, 2)) / 10)
        with pytest.raises(ValueError, match="needs at least 2 samples, got 1"):
            _batched_mean(critic, x[:1])


def test_build_packs_the_critic_for_vectors_and_images():
    setup = build(resolve_config(overrides=["--recipe=pacgan", "--data=ring", "--model.d_width=8",
                                            "--model.g_width=8", "--out=unused"]))
    assert isinstance(setup.critic, Packed) and setup.critic.pack == 2 and not setup.closed_form
    assert isinstance(setup.critic.critic, MLPCritic) and setup.critic.critic.net[0].in_features == 4
    setup = build(resolve_config(overrides=["--recipe=wgan-gp", "--pack=4", "--data=digits", "--model=dcgan",
                                            "--model.d_width=8", "--model.g_width=8", "--out=unused"]))
    inner = setup.critic.critic
    assert isinstance(inner, DCGANCritic)
    first = next(mod for mod in inner.modules() if isinstance(mod, nn.Conv2d))
    assert first.in_channels == 4  # four 1-channel digits
    x = setup.dataset.sample(8, generator=torch.Generator().manual_seed(0))
    assert setup.critic(x).shape[0] == 2
    # the generator is the unpacked one
    assert setup.generator(torch.zeros(2, setup.latent_dim)).shape == (2, 1, 8, 8)
