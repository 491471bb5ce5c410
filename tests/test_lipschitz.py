"""Tests for ganlab.lipschitz: gradient penalty, weight clipping, spectral normalization.

References used here are independent of the code under test: closed forms (linear critics, the
derivative of W/σ), per-sample loops, numpy clipping, torch.linalg.svdvals / svd, and PyTorch's own
torch.nn.utils.parametrizations.spectral_norm.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn
from torch.nn.utils import parametrizations as torch_parametrizations
from torch.nn.utils import parametrize

from ganlab.lipschitz import (
    SpectralNorm,
    apply_spectral_norm,
    clip_weights_,
    gradient_penalty,
    interpolate,
    penalty_from_outputs,
    power_iteration,
    remove_spectral_norm,
    spectral_norm,
    spectral_norm_estimate,
)

D64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class LinearCritic(nn.Module):
    """f(x) = <a, x> + b per sample, for any sample shape; ∇f = a everywhere."""

    def __init__(self, a: torch.Tensor, b: float = 0.3) -> None:
        super().__init__()
        self.a = nn.Parameter(a.clone())
        self.b = nn.Parameter(torch.tensor(b, dtype=a.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.a).flatten(1).sum(1) + self.b


# =========================================================================== interpolate


def test_interpolate_endpoints_and_per_sample_t():
    g = gen(1)
    real = torch.randn(5, 3, 4, 4, generator=g, dtype=D64)
    fake = torch.randn(5, 3, 4, 4, generator=g, dtype=D64)
    torch.testing.assert_close(interpolate(real, fake, t=torch.ones(5, dtype=D64)), real, atol=0, rtol=0)
    torch.testing.assert_close(interpolate(real, fake, t=torch.zeros(5, dtype=D64)), fake, atol=0, rtol=0)

    t = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0], dtype=D64)
    expected = np.stack([ti * r + (1 - ti) * f for ti, r, f in zip(t.numpy(), real.numpy(), fake.numpy())])
    np.testing.assert_allclose(interpolate(real, fake, t=t).numpy(), expected, atol=1e-15, rtol=0)
    np.testing.assert_allclose(interpolate(real, fake, t=t.view(5, 1, 1, 1)).numpy(), expected, atol=1e-15, rtol=0)

    # drawn t: one value per sample, in [0, 1], shared by every pixel of that sample
    x_hat = interpolate(real, fake, generator=gen(7))
    ratio = ((x_hat - fake) / (real - fake)).flatten(1)
    t_hat = ratio[:, 0]
    torch.testing.assert_close(ratio, t_hat[:, None].expand_as(ratio), atol=1e-9, rtol=0)
    assert bool(((t_hat >= 0) & (t_hat <= 1)).all())
    # and the draw is reproducible from the generator
    torch.testing.assert_close(interpolate(real, fake, generator=gen(7)), x_hat, atol=0, rtol=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(real=torch.zeros(4, 2), fake=torch.zeros(4, 3)), "same shape"),
        (dict(real=torch.zeros(4, 2), fake=torch.zeros(4, 2), t=torch.full((4,), 1.5)), r"\[0, 1\]"),
        (dict(real=torch.zeros(4, 2), fake=torch.zeros(4, 2), t=torch.zeros(3)), "shape"),
        (dict(real=torch.zeros(0, 2), fake=torch.zeros(0, 2)), "non-empty"),
    ],
)
def test_interpolate_rejects_bad_input(kwargs, match):
    real, fake = kwargs.pop("real"), kwargs.pop("fake")
    with pytest.raises(ValueError, match=match):
        interpolate(real, fake, **kwargs)


# =========================================================================== gradient penalty


@pytest.mark.parametrize("shape", [(64, 2), (6, 3, 8, 8)])
def test_gradient_penalty_zero_for_unit_linear_critic(shape):
    g = gen(2)
    a = torch.randn(shape[1:], generator=g, dtype=D64)
    critic = LinearCritic(a / torch.linalg.vector_norm(a))
    real = torch.randn(shape, generator=g, dtype=D64)
    fake = torch.randn(shape, generator=g, dtype=D64)
    for one_sided in (False, True):
        gp = gradient_penalty(critic, real, fake, one_sided=one_sided, generator=gen(3))
        torch.testing.assert_close(gp, torch.zeros((), dtype=D64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("shape", [(64, 2), (6, 3, 8, 8)])
@pytest.mark.parametrize("a_norm", [0.3, 2.5])
@pytest.mark.parametrize("gp_weight", [10.0, 0.1])
def test_gradient_penalty_linear_critic_closed_form(shape, a_norm, gp_weight):
    g = gen(4)
    a = torch.randn(shape[1:], generator=g, dtype=D64)
    critic = LinearCritic(a_norm * a / torch.linalg.vector_norm(a))
    real = torch.randn(shape, generator=g, dtype=D64)
    fake = torch.randn(shape, generator=g, dtype=D64)
    two_sided = gradient_penalty(critic, real, fake, gp_weight=gp_weight, generator=gen(5))
    one_sided = gradient_penalty(critic, real, fake, gp_weight=gp_weight, one_sided=True, generator=gen(5))
    assert math.isclose(two_sided.item(), gp_weight * (a_norm - 1.0) ** 2, rel_tol=0, abs_tol=1e-12)
    assert math.isclose(one_sided.item(), gp_weight * max(0.0, a_norm - 1.0) ** 2, rel_tol=0, abs_tol=1e-12)


def test_gradient_penalty_trains_the_critic_closed_form_gradient():
    # P(a) = λ (‖a‖ - 1)²  =>  ∂P/∂a = 2λ (‖a‖ - 1) a / ‖a‖,  ∂P/∂b = 0  (needs create_graph=True)
    g = gen(6)
    a = torch.randn(3, 4, 4, generator=g, dtype=D64)
    critic = LinearCritic(a)
    real = torch.randn(5, 3, 4, 4, generator=g, dtype=D64)
    fake = torch.randn(5, 3, 4, 4, generator=g, dtype=D64, requires_grad=True)
    gp = gradient_penalty(critic, real, fake, gp_weight=10.0, generator=gen(7))
    gp.backward()
    norm = torch.linalg.vector_norm(a)
    torch.testing.assert_close(critic.a.grad, 2 * 10.0 * (norm - 1) * a / norm, atol=1e-12, rtol=0)
    assert critic.b.grad is None or critic.b.grad.item() == 0.0  # the bias does not enter ∇f
    assert fake.grad is None  # the penalty never reaches the generator


class SmallConvCritic(nn.Module):
    """A nonlinear critic whose input gradient norm differs from sample to sample (no batch norm)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.conv(x)).flatten(1)) + 0.5 * (x**2).flatten(1).sum(1, keepdim=True)


def _per_sample_reference(critic, x_hat, gp_weight, one_sided):
    terms = []
    for i in range(x_hat.shape[0]):
        xi = x_hat[i : i + 1].detach().clone().requires_grad_(True)
        (gi,) = torch.autograd.grad(critic(xi).sum(), xi)
        excess = gi.norm() - 1.0
        terms.append(max(excess.item(), 0.0) ** 2 if one_sided else excess.item() ** 2)
    return gp_weight * float(np.mean(terms)), terms


@pytest.mark.parametrize("one_sided", [False, True])
def test_gradient_penalty_is_per_sample_on_images(one_sided):
    torch.manual_seed(8)
    critic = SmallConvCritic().double()
    g = gen(9)
    real = 0.3 * torch.randn(6, 3, 8, 8, generator=g, dtype=D64)
    fake = 0.3 * torch.randn(6, 3, 8, 8, generator=g, dtype=D64)
    gp = gradient_penalty(critic, real, fake, gp_weight=10.0, one_sided=one_sided, generator=gen(10))
    x_hat = interpolate(real, fake, generator=gen(10))
    expected, terms = _per_sample_reference(critic, x_hat, 10.0, one_sided)
    assert np.ptp(terms) > 0.1  # the norms really differ per sample, so the test can tell
    assert math.isclose(gp.item(), expected, rel_tol=0, abs_tol=1e-10)

    # a penalty on the norm over the whole batch (the peers' bug) gives a different number
    xb = x_hat.clone().requires_grad_(True)
    (gb,) = torch.autograd.grad(critic(xb).sum(), xb)
    batch_version = 10.0 * (gb.norm().item() - 1.0) ** 2
    assert abs(batch_version - expected) > 1.0


def test_penalty_from_fused_forward_equals_separate():
    torch.manual_seed(11)
    critic = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    g = gen(12)
    real = torch.randn(32, 2, generator=g, dtype=D64)
    fake = torch.randn(32, 2, generator=g, dtype=D64)

    separate = gradient_penalty(critic, real, fake, generator=gen(13))
    grads_separate = torch.autograd.grad(separate, list(critic.parameters()), materialize_grads=True)

    x_hat = interpolate(real, fake, generator=gen(13)).requires_grad_(True)
    out = critic(torch.cat([real, fake, x_hat]))
    d_real, d_fake, d_hat = out.split([32, 32, 32])
    fused = penalty_from_outputs(x_hat, d_hat)
    grads_fused = torch.autograd.grad(fused, list(critic.parameters()), materialize_grads=True)

    torch.testing.assert_close(fused, separate, atol=1e-12, rtol=0)
    for gf, gs in zip(grads_fused, grads_separate):
        torch.testing.assert_close(gf, gs, atol=1e-12, rtol=0)
    torch.testing.assert_close(d_real, critic(real), atol=1e-12, rtol=0)


def test_penalty_is_finite_when_the_critic_ignores_its_input():
    # ∇f = 0 everywhere: the two-sided penalty is λ (0 - 1)² = λ, the one-sided one is 0, gradients finite
    w = nn.Parameter(torch.tensor(2.0, dtype=D64))
    x_hat = torch.randn(4, 2, dtype=D64, requires_grad=True)
    d_hat = w * torch.ones(4, dtype=D64)
    gp = penalty_from_outputs(x_hat, d_hat, gp_weight=10.0)
    assert gp.item() == 10.0
    (gw,) = torch.autograd.grad(gp, w, allow_unused=True, materialize_grads=True)
    assert torch.isfinite(gw).all()
    d_hat = w * torch.ones(4, dtype=D64)
    assert penalty_from_outputs(x_hat, d_hat, one_sided=True).item() == 0.0


def test_penalty_from_outputs_rejects_bad_input():
    x = torch.randn(4, 2, requires_grad=True)
    critic = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="requires_grad"):
        penalty_from_outputs(x.detach(), critic(x))
    with pytest.raises(ValueError, match=r"\(4,\) or \(4, 1\)"):
        penalty_from_outputs(x, critic(x).repeat(1, 2))
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="gp_weight"):
            penalty_from_outputs(x, critic(x), gp_weight=bad)


# =========================================================================== weight clipping


def test_clip_weights_projects_every_parameter_and_nothing_else():
    torch.manual_seed(14)
    critic = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    critic(torch.randn(16, 3))  # fill BatchNorm running statistics (buffers)
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(0.05)  # some entries inside [-c, c], most outside
    before_params = [p.detach().numpy().copy() for p in critic.parameters()]
    before_buffers = [b.detach().clone() for b in critic.buffers()]
    other = nn.Linear(3, 3)
    other_before = other.weight.detach().clone()

    c = 0.01
    clip_weights_(critic, c)

    n_inside = 0
    for p, p0 in zip(critic.parameters(), before_params):
        arr = p.detach().numpy()
        assert np.abs(arr).max() <= c
        np.testing.assert_array_equal(arr, np.clip(p0, -c, c))  # exact projection; inside entries untouched
        n_inside += int((np.abs(p0) <= c).sum())
    assert n_inside > 0
    for b, b0 in zip(critic.buffers(), before_buffers):
        torch.testing.assert_close(b, b0, atol=0, rtol=0)
    torch.testing.assert_close(other.weight, other_before, atol=0, rtol=0)


@pytest.mark.parametrize("bad", [0.0, -0.01, float("nan"), float("inf"), "0.01"])
def test_clip_weights_rejects_bad_clip_value(bad):
    with pytest.raises(ValueError, match="clip_value"):
        clip_weights_(nn.Linear(2, 2), bad)


# =========================================================================== power iteration


@pytest.mark.parametrize("shape", [(20, 30), (64, 8), (8, 64), (1, 5), (7, 1)])
def test_power_iteration_matches_svdvals(shape):
    W = torch.randn(shape, generator=gen(15), dtype=D64)
    sigma, u, v = power_iteration(W, 300, generator=gen(16))
    sigma_ref = torch.linalg.svdvals(W)[0].item()
    assert abs(sigma.item() - sigma_ref) <= 1e-4 * sigma_ref
    assert math.isclose(u.norm().item(), 1.0, abs_tol=1e-12) and math.isclose(v.norm().item(), 1.0, abs_tol=1e-12)


def test_power_iteration_known_spectrum_vectors_and_gradient():
    # W = U diag(5, 3, 1, 0.5) Vᵀ: σ = 5, top singular vectors U[:, 0], V[:, 0], dσ/dW = U[:, 0] V[:, 0]ᵀ
    g = gen(17)
    U, _ = torch.linalg.qr(torch.randn(6, 4, generator=g, dtype=D64))
    V, _ = torch.linalg.qr(torch.randn(9, 4, generator=g, dtype=D64))
    W = (U * torch.tensor([5.0, 3.0, 1.0, 0.5], dtype=D64)) @ V.T
    W.requires_grad_(True)
    sigma, u, v = power_iteration(W, 60, generator=gen(18))
    assert math.isclose(sigma.item(), 5.0, abs_tol=1e-10)
    sign = torch.sign(u @ U[:, 0])
    torch.testing.assert_close(sign * u, U[:, 0], atol=1e-9, rtol=0)
    torch.testing.assert_close(sign * v, V[:, 0], atol=1e-9, rtol=0)
    (grad,) = torch.autograd.grad(sigma, W)
    torch.testing.assert_close(grad, torch.outer(U[:, 0], V[:, 0]), atol=1e-9, rtol=0)


def test_power_iteration_is_the_lecture_recursion_from_a_given_u():
    # one step from u0: v = Wᵀu0/‖Wᵀu0‖, u = Wv/‖Wv‖, σ = uᵀWv = ‖Wv‖ (written out with numpy)
    W = torch.randn(5, 3, generator=gen(19), dtype=D64)
    u0 = torch.randn(5, generator=gen(20), dtype=D64)
    sigma, u, v = power_iteration(W, 1, u0)
    Wn, u0n = W.numpy(), u0.numpy() / np.linalg.norm(u0.numpy())
    v_ref = Wn.T @ u0n / np.linalg.norm(Wn.T @ u0n)
    u_ref = Wn @ v_ref / np.linalg.norm(Wn @ v_ref)
    np.testing.assert_allclose(v.numpy(), v_ref, atol=1e-14, rtol=0)
    np.testing.assert_allclose(u.numpy(), u_ref, atol=1e-14, rtol=0)
    np.testing.assert_allclose(sigma.item(), np.linalg.norm(Wn @ v_ref), atol=1e-13, rtol=0)


def test_power_iteration_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        power_iteration(torch.randn(5), 3)
    with pytest.raises(ValueError, match="n_iter"):
        power_iteration(torch.randn(3, 2), 0)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        power_iteration(torch.randn(3, 2), 2, torch.randn(2))


def test_spectral_norm_estimate_of_tensor_and_module():
    W = torch.randn(6, 4, 3, 3, generator=gen(21), dtype=D64)
    ref = torch.linalg.svdvals(W.reshape(6, -1))[0].item()
    assert math.isclose(spectral_norm_estimate(W, 300, generator=gen(22)).item(), ref, rel_tol=1e-6)
    deconv = nn.ConvTranspose2d(4, 6, 3).double()  # weight (in=4, out=6, 3, 3): rows are the out dim
    ref = torch.linalg.svdvals(deconv.weight.detach().permute(1, 0, 2, 3).reshape(6, -1))[0].item()
    assert math.isclose(spectral_norm_estimate(deconv, 300, generator=gen(23)).item(), ref, rel_tol=1e-6)


# =========================================================================== spectral normalization


def _sn_reference_matrix(layer: nn.Module) -> torch.Tensor:
    w = layer.weight.detach()
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):
        w = w.transpose(0, 1)
    return w.reshape(w.shape[0], -1)


@pytest.mark.parametrize(
    "make, x_shape",
    [
        (lambda: nn.Linear(16, 32), (4, 16)),
        (lambda: nn.Conv2d(3, 8, 3), (2, 3, 6, 6)),
        (lambda: nn.ConvTranspose2d(8, 3, 4), (2, 8, 3, 3)),
    ],
)
def test_spectral_norm_converges_to_unit_norm(make, x_shape):
    torch.manual_seed(24)
    layer = spectral_norm(make(), generator=gen(25))
    assert isinstance(layer.parametrizations.weight[0], SpectralNorm)
    x = torch.randn(x_shape)
    for _ in range(60):
        layer(x)
    sigma = torch.linalg.svdvals(_sn_reference_matrix(layer))[0].item()
    assert abs(sigma - 1.0) <= 1e-3


def test_spectral_norm_one_training_step_and_frozen_eval():
    torch.manual_seed(26)
    layer = spectral_norm(nn.Linear(5, 7).double(), generator=gen(27))
    sn = layer.parametrizations.weight[0]
    W = layer.parametrizations.weight.original.detach()
    u0, v0 = sn.u.clone(), sn.v.clone()
    x = torch.randn(3, 5, dtype=D64)

    # training mode: exactly one refresh u = Wv/‖Wv‖, v = Wᵀu/‖Wᵀu‖, then W / uᵀWv
    out = layer(x)
    u1 = W @ v0 / torch.linalg.vector_norm(W @ v0)
    v1 = W.T @ u1 / torch.linalg.vector_norm(W.T @ u1)
    torch.testing.assert_close(sn.u, u1, atol=1e-14, rtol=0)
    torch.testing.assert_close(sn.v, v1, atol=1e-14, rtol=0)
    torch.testing.assert_close(out, x @ (W / (u1 @ W @ v1)).T + layer.bias, atol=1e-13, rtol=0)
    assert not torch.equal(u0, sn.u)

    # eval mode: buffers frozen, outputs identical call after call
    layer.eval()
    u_frozen, v_frozen = sn.u.clone(), sn.v.clone()
    outs = [layer(x) for _ in range(5)]
    assert torch.equal(sn.u, u_frozen) and torch.equal(sn.v, v_frozen)
    for o in outs[1:]:
        assert torch.equal(o, outs[0])


def test_spectral_norm_gradient_treats_u_v_as_constants():
    # L = <G, W/σ>, σ = uᵀWv with u, v fixed  =>  ∂L/∂W = G/σ - <G, W>/σ² · u vᵀ
    torch.manual_seed(28)
    layer = spectral_norm(nn.Linear(4, 6, bias=False).double(), generator=gen(29)).eval()
    sn = layer.parametrizations.weight[0]
    W = layer.parametrizations.weight.original
    G = torch.randn(6, 4, generator=gen(30), dtype=D64)
    (layer.weight * G).sum().backward()
    Wd = W.detach()
    sigma = sn.u @ Wd @ sn.v
    expected = G / sigma - (G * Wd).sum() / sigma**2 * torch.outer(sn.u, sn.v)
    torch.testing.assert_close(W.grad, expected, atol=1e-13, rtol=0)


def test_spectral_norm_state_dict_round_trip_keeps_u_and_v():
    torch.manual_seed(31)
    a = spectral_norm(nn.Conv2d(3, 4, 3), generator=gen(32))
    x = torch.randn(2, 3, 5, 5)
    for _ in range(4):
        a(x)
    state = a.state_dict()
    keys = {"parametrizations.weight.0.u", "parametrizations.weight.0.v", "parametrizations.weight.original"}
    assert keys <= set(state)

    b = spectral_norm(nn.Conv2d(3, 4, 3), generator=gen(33))  # different weights and u, v
    b.load_state_dict(st_load(st_save({k: v.contiguous() for k, v in state.items()})))  # via safetensors bytes
    c = spectral_norm(nn.Conv2d(3, 4, 3), generator=gen(34))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    c.load_state_dict(torch.load(buffer))
    sn_a = a.parametrizations.weight[0]
    for m in (b, c):
        sn_m = m.parametrizations.weight[0]
        assert torch.equal(sn_m.u, sn_a.u) and torch.equal(sn_m.v, sn_a.v)
    a.eval(), b.eval(), c.eval()
    y_a = a(x)
    torch.testing.assert_close(b(x), y_a, atol=0, rtol=0)
    torch.testing.assert_close(c(x), y_a, atol=0, rtol=0)
    a.train(), b.train()
    torch.testing.assert_close(b(x), a(x), atol=0, rtol=0)  # and the next refresh matches too


@pytest.mark.parametrize(
    "make, x_shape",
    [
        (lambda: nn.Linear(10, 6), (4, 10)),
        (lambda: nn.Conv2d(3, 5, 3), (2, 3, 7, 7)),
        (lambda: nn.ConvTranspose2d(4, 3, 3), (2, 4, 5, 5)),
        (lambda: nn.Conv1d(2, 4, 3), (3, 2, 9)),
    ],
)
def test_spectral_norm_parity_with_torch(make, x_shape):
    torch.manual_seed(35)
    ours_layer = make()
    theirs_layer = make()
    theirs_layer.load_state_dict(ours_layer.state_dict())
    spectral_norm(ours_layer)
    torch_parametrizations.spectral_norm(theirs_layer)
    ours, theirs = ours_layer.parametrizations.weight[0], theirs_layer.parametrizations.weight[0]
    with torch.no_grad():
        ours.u.copy_(theirs._u)
        ours.v.copy_(theirs._v)

    g = gen(36)
    for step in range(6):
        x = torch.randn(x_shape, generator=g)
        y_ours, y_theirs = ours_layer(x), theirs_layer(x)
        torch.testing.assert_close(y_ours, y_theirs, atol=1e-6, rtol=0)
        grad_ours = torch.autograd.grad(y_ours.square().sum(), ours_layer.parametrizations.weight.original)[0]
        grad_theirs = torch.autograd.grad(y_theirs.square().sum(), theirs_layer.parametrizations.weight.original)[0]
        torch.testing.assert_close(grad_ours, grad_theirs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.u, theirs._u, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.v, theirs._v, atol=1e-6, rtol=0)
    ours_layer.eval(), theirs_layer.eval()
    x = torch.randn(x_shape, generator=g)
    torch.testing.assert_close(ours_layer(x), theirs_layer(x), atol=1e-6, rtol=0)


def test_spectral_norm_two_forwards_before_one_backward():
    # critic(real) and critic(fake) in training mode, then one backward: works, and the gradient is
    # that of two different normalized weights W/σ1 and W/σ2 (u, v refreshed between the forwards)
    torch.manual_seed(37)
    layer = spectral_norm(nn.Linear(3, 1).double(), generator=gen(38))
    sn = layer.parametrizations.weight[0]
    W = layer.parametrizations.weight.original
    v0 = sn.v.clone()
    g = gen(39)
    real, fake = torch.randn(8, 3, generator=g, dtype=D64), torch.randn(8, 3, generator=g, dtype=D64)

    loss = layer(fake).mean() - layer(real).mean()
    loss.backward()

    Wr = W.detach().clone().requires_grad_(True)
    b = layer.bias.detach().clone().requires_grad_(True)
    with torch.no_grad():
        u1 = F.normalize(Wr @ v0, dim=0)
        v1 = F.normalize(Wr.T @ u1, dim=0)
        u2 = F.normalize(Wr @ v1, dim=0)
        v2 = F.normalize(Wr.T @ u2, dim=0)
    ref = (fake @ (Wr / (u1 @ Wr @ v1)).T + b).mean() - (real @ (Wr / (u2 @ Wr @ v2)).T + b).mean()
    ref.backward()
    torch.testing.assert_close(loss, ref, atol=1e-14, rtol=0)
    torch.testing.assert_close(W.grad, Wr.grad, atol=1e-14, rtol=0)
    torch.testing.assert_close(layer.bias.grad, b.grad, atol=1e-14, rtol=0)


def test_apply_spectral_norm_bounds_the_critic_gradient():
    # ‖f‖_L <= Π σ(W_k) = 1 for a ReLU MLP with every layer normalized (lecture "Critic spectral norm")
    torch.manual_seed(40)
    critic = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)).double()
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(5.0)
    apply_spectral_norm(critic, generator=gen(41))
    apply_spectral_norm(critic)  # idempotent: already-normalized layers are left alone
    assert all(len(m.parametrizations.weight) == 1 for m in critic if isinstance(m, nn.Linear))
    for _ in range(100):
        critic(torch.zeros(1, 2, dtype=D64))
    critic.eval()
    x = torch.randn(512, 2, generator=gen(42), dtype=D64, requires_grad=True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    assert grad.norm(dim=1).max().item() <= 1.0 + 1e-3

    convnet = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.ConvTranspose2d(2, 1, 3), nn.BatchNorm2d(1))
    apply_spectral_norm(convnet)
    assert parametrize.is_parametrized(convnet[0], "weight") and parametrize.is_parametrized(convnet[2], "weight")
    assert convnet[2].parametrizations.weight[0].dim == 1 and convnet[0].parametrizations.weight[0].dim == 0
    assert not parametrize.is_parametrized(convnet[3])


def test_remove_spectral_norm_leaves_the_normalized_weight():
    torch.manual_seed(43)
    layer = spectral_norm(nn.Linear(4, 3), generator=gen(44)).eval()
    w_sn = layer.weight.detach().clone()
    remove_spectral_norm(layer)
    assert not parametrize.is_parametrized(layer)
    assert isinstance(layer.weight, nn.Parameter)
    torch.testing.assert_close(layer.weight.detach(), w_sn, atol=0, rtol=0)
    with pytest.raises(ValueError, match="no ganlab spectral norm"):
        remove_spectral_norm(layer)


def test_spectral_norm_rejects_bad_input():
    layer = spectral_norm(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="already has a parametrization"):
        spectral_norm(layer)
    with pytest.raises(ValueError, match="no tensor parameter named 'kernel'"):
        spectral_norm(nn.Linear(3, 3), name="kernel")
    with pytest.raises(ValueError, match="n_power_iterations"):
        spectral_norm(nn.Linear(3, 3), n_power_iterations=0)
    with pytest.raises(ValueError, match=">= 2 dimensions"):
        spectral_norm(nn.Linear(3, 3), name="bias")


# =========================================================================== with the Wasserstein loss


def test_wgan_gp_objective_optimum_for_a_linear_critic():
    # 1-D, f(x) = w x + b: L(w) = w (E fake - E real) + λ (|w| - 1)², so w* = -(1 + Δ/(2λ)) and
    # min L = -(Δ + Δ²/(4λ)), Δ = E fake - E real (a GP critic may exceed slope 1 to gain Δ)
    from scipy import optimize

    from ganlab.losses import wasserstein_d_loss

    g = gen(45)
    real = torch.randn(256, 1, generator=g, dtype=D64)
    fake = 0.5 * torch.randn(256, 1, generator=g, dtype=D64) + 2.0
    delta, lam = (fake.mean() - real.mean()).item(), 10.0

    def objective(w: float) -> float:
        critic = LinearCritic(torch.tensor([w], dtype=D64))
        loss = wasserstein_d_loss(critic(real), critic(fake))
        return (loss + gradient_penalty(critic, real, fake, gp_weight=lam)).item()

    res = optimize.minimize_scalar(objective, bounds=(-5.0, 5.0), method="bounded", options={"xatol": 1e-10})
    assert math.isclose(res.x, -(1 + delta / (2 * lam)), abs_tol=1e-6)
    assert math.isclose(res.fun, -(delta + delta**2 / (4 * lam)), abs_tol=1e-9)


def test_spectrally_normalized_critic_recovers_w1_and_never_exceeds_it():
    # max over 1-Lipschitz critics of E_π f - E_p f = W1 (Kantorovich–Rubinstein); an SN critic is
    # 1-Lipschitz, so after training its estimate is W1 from below (up to the power-iteration lag)
    from scipy import stats

    from ganlab.losses import wasserstein_d_loss

    g = gen(46)
    real = torch.randn(512, 1, generator=g, dtype=D64)
    fake = 0.5 * torch.randn(512, 1, generator=g, dtype=D64) + 2.0
    w1 = stats.wasserstein_distance(real.squeeze(1).numpy(), fake.squeeze(1).numpy())
    torch.manual_seed(47)
    critic = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)).double()
    apply_spectral_norm(critic, generator=gen(48))
    opt = torch.optim.Adam(critic.parameters(), lr=3e-3, betas=(0.5, 0.9))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest and immune to oversubscription
    try:
        for _ in range(300):
            loss = wasserstein_d_loss(critic(real), critic(fake))
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    critic.eval()
    with torch.no_grad():
        estimate = -wasserstein_d_loss(critic(real), critic(fake)).item()
    assert 0.99 * w1 <= estimate <= 1.001 * w1
