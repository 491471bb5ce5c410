"""The closed-form critic step: every gradient equals autograd's double backpropagation, the penalty's
derivative its hand-computed value, the matmul FLOPs the count derived in the module docstring, and
critics outside its reach are refused."""

import functools

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from ganlab import losses
from ganlab.divergences import DIVERGENCES
from ganlab.lipschitz import apply_spectral_norm, penalty_from_outputs
from ganlab.models.mlp import MLPCritic
from ganlab.models.mlp_backward import closed_form_layers, penalized_critic_backward_, penalty_and_gradient

D_LOSSES = {
    "wasserstein": losses.wasserstein_d_loss,
    "minimax": losses.minimax_d_loss,
    "hinge": losses.hinge_d_loss,
    "fgan-kl": functools.partial(losses.fgan_d_loss, divergence=DIVERGENCES["kl"]),
}


def _batches(in_dim, sizes=(7, 5, 6), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, in_dim, generator=g, dtype=dtype) for n in sizes]


def _autograd_step(critic, real, fake, x_hat, d_loss_fn, gp_weight, one_sided):
    """The textbook form: separate forwards, torch.autograd.grad with create_graph, loss.backward()."""
    x_hat = x_hat.clone().requires_grad_(True)
    d_real, d_fake = critic(real), critic(fake)
    gp = penalty_from_outputs(x_hat, critic(x_hat), gp_weight=gp_weight, one_sided=one_sided)
    loss = d_loss_fn(d_real, d_fake) + gp
    critic.zero_grad(set_to_none=True)
    loss.backward()
    return d_real.detach(), d_fake.detach(), loss.detach(), gp.detach(), [p.grad.clone() for p in critic.parameters()]


@pytest.mark.parametrize("loss", list(D_LOSSES))
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", nn.ReLU, functools.partial(nn.LeakyReLU, 0.1)])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_gradients_equal_autograd_double_backprop(depth, activation, loss):
    torch.manual_seed(depth)
    critic = MLPCritic(3, width=16, depth=depth, activation=activation).double()
    real, fake, x_hat = _batches(3, seed=depth)
    # ∇f is linear in the output weights: scale them so that the median norm on x_hat is 1.1, with norms on
    # both sides of 1, so that the one-sided penalty is active too and no sample sits exactly at 1
    x = x_hat.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    with torch.no_grad():
        critic.net[-1].weight.mul_(1.1 / grad.norm(dim=1).median())
    for one_sided in (False, True):
        ref = _autograd_step(critic, real, fake, x_hat, D_LOSSES[loss], 2.5, one_sided)
        out = penalized_critic_backward_(critic, real, fake, x_hat, D_LOSSES[loss], gp_weight=2.5,
                                         one_sided=one_sided)
        for got, want in zip(out, ref[:4]):
            torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)
        for p, want in zip(critic.parameters(), ref[4]):
            assert p.grad.shape == p.shape
            torch.testing.assert_close(p.grad, want, atol=1e-12, rtol=1e-12)
        assert ref[3] > 0  # the penalty is active, so its gradients are part of the comparison


def test_toy_critic_in_float32_matches_autograd():
    """The WGAN-GP toy critic (512 x 3, batch 256, lambda 10) in float32: agreement to float32 rounding."""
    torch.manual_seed(0)
    critic = MLPCritic(2)
    real, fake, x_hat = _batches(2, sizes=(256, 256, 256), dtype=torch.float32)
    ref = _autograd_step(critic, real, fake, x_hat, losses.wasserstein_d_loss, 10.0, False)
    penalized_critic_backward_(critic, real, fake, x_hat, losses.wasserstein_d_loss, gp_weight=10.0)
    for p, want in zip(critic.parameters(), ref[4]):
        scale = want.abs().max().item()
        torch.testing.assert_close(p.grad, want, atol=1e-5 * scale, rtol=0)


def test_overwrites_existing_gradients():
    critic = MLPCritic(2, width=8, depth=2).double()
    real, fake, x_hat = _batches(2)
    for p in critic.parameters():
        p.grad = torch.full_like(p, 7.0)
    penalized_critic_backward_(critic, real, fake, x_hat, losses.wasserstein_d_loss, gp_weight=1.0)
    ref = _autograd_step(critic, real, fake, x_hat, losses.wasserstein_d_loss, 1.0, False)[4]
    for p, want in zip(critic.parameters(), ref):
        torch.testing.assert_close(p.grad, want, atol=1e-12, rtol=1e-12)


def test_penalty_and_gradient_by_hand():
    """g = (3, 4): ‖g‖ = 5, GP = λ (5 − 1)² / n; ∂GP/∂g = 2λ/n · 4 · (3, 4)/5. g = 0: GP term λ/n, derivative 0
    (the subgradient autograd uses). g = (0.6, 0.8): ‖g‖ = 1, no penalty, derivative 0."""
    lam = 3.0
    g = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
    gp, dg = penalty_and_gradient(g, gp_weight=lam)
    torch.testing.assert_close(gp, torch.tensor(lam * (16.0 + 1.0 + 0.0) / 3, dtype=torch.float64))
    want = torch.tensor([[2 * lam / 3 * 4 * 0.6, 2 * lam / 3 * 4 * 0.8], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(dg, want, atol=1e-15, rtol=0)
    gp1, dg1 = penalty_and_gradient(g, gp_weight=lam, one_sided=True)  # norms 0 and 1 are not above 1
    torch.testing.assert_close(gp1, torch.tensor(lam * 16.0 / 3, dtype=torch.float64))
    torch.testing.assert_close(dg1, want, atol=1e-15, rtol=0)


def test_penalty_gradient_equals_autograd():
    g = torch.randn(9, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for one_sided in (False, True):
        leaf = g.clone().requires_grad_(True)
        excess = torch.linalg.vector_norm(leaf, dim=1) - 1
        ref = 0.7 * (excess.clamp_min(0) if one_sided else excess).square().mean()
        (dref,) = torch.autograd.grad(ref, leaf)
        gp, dg = penalty_and_gradient(g, gp_weight=0.7, one_sided=one_sided)
        torch.testing.assert_close(gp, ref.detach())
        torch.testing.assert_close(dg, dref)


def _mm_flops(fn) -> int:
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        fn()
    return int(sum(e.flops for e in prof.key_averages() if e.key in ("aten::mm", "aten::addmm")))


def test_matmul_flops_are_the_closed_form_count():
    """L = 3 hidden layers of width w, input d, m rows each of real, fake, x_hat. Matmul FLOPs (2 per
    multiply-add) in the module's order: forward over 3m rows 6m(dw + 2w² + w); the chain s_3 W_3, s_2 W_2
    12mw²; gx 2mwd; W_1 6mwd, v_1 2mdw; W_2 6mw², v_2 2mw²; Q 2mw², W_3 4mw²; w 4mw. Total
    38mw² + 16mdw + 10mw, against autograd's 40mw² + ... (its penalty backward spends a second w x w matmul
    on layer 3 where Q serves both W_3 and w)."""
    w, d, m = 64, 2, 32
    torch.manual_seed(0)
    critic = MLPCritic(d, width=w, depth=3)
    real, fake, x_hat = _batches(d, sizes=(m, m, m), dtype=torch.float32)
    closed = _mm_flops(lambda: penalized_critic_backward_(critic, real, fake, x_hat, losses.wasserstein_d_loss,
                                                          gp_weight=10.0))
    assert closed == 38 * m * w * w + 16 * m * d * w + 10 * m * w
    autograd = _mm_flops(lambda: _autograd_step(critic, real, fake, x_hat, losses.wasserstein_d_loss, 10.0, False))
    assert closed < autograd and autograd - closed >= 2 * m * w * w


@pytest.mark.parametrize("make", [
    lambda: MLPCritic(2, width=8, depth=0),
    lambda: MLPCritic(2, width=8, depth=2, norm="layernorm"),
    lambda: MLPCritic(2, width=8, depth=2, activation="tanh"),
    lambda: MLPCritic(2, width=8, depth=2, activation="elu"),
    lambda: MLPCritic(2, width=8, depth=2, activation=functools.partial(nn.LeakyReLU, -0.5)),
    lambda: apply_spectral_norm(MLPCritic(2, width=8, depth=2), generator=torch.Generator().manual_seed(0)),
    lambda: nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1)),
], ids=["depth0", "layernorm", "tanh", "elu", "negative-slope", "spectral-norm", "not-an-MLPCritic"])
def test_critics_outside_the_closed_form_are_refused(make):
    critic = make()
    assert closed_form_layers(critic) is None
    real, fake, x_hat = _batches(2, dtype=torch.float32)
    with pytest.raises(ValueError, match="closed-form critic step needs an MLPCritic"):
        penalized_critic_backward_(critic, real, fake, x_hat, losses.wasserstein_d_loss, gp_weight=1.0)


def test_covered_critics_list_their_layers():
    critic = MLPCritic(2, width=8, depth=3, activation="leaky_relu")
    layers = closed_form_layers(critic)
    assert [lin.weight.shape for lin, _ in layers] == [(8, 2), (8, 8), (8, 8), (1, 8)]
    assert [slope for _, slope in layers[:-1]] == [0.2, 0.2, 0.2]


def test_mismatched_inputs_are_refused():
    critic = MLPCritic(2, width=8, depth=2)
    real, fake, _ = _batches(2, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"real \(7, 2\), fake \(5, 2\), x_hat \(6, 3\)"):
        penalized_critic_backward_(critic, real, fake, torch.zeros(6, 3), losses.wasserstein_d_loss, gp_weight=1.0)
    with pytest.raises(ValueError, match=r"real \(7,\)"):
        penalized_critic_backward_(critic, real[:, 0], fake, fake, losses.wasserstein_d_loss, gp_weight=1.0)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="gp_weight must be a finite number > 0"):
            penalized_critic_backward_(critic, real, fake, fake, losses.wasserstein_d_loss, gp_weight=bad)
