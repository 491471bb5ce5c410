"""DCGAN family: the size rule, shapes, hand-counted parameters, the paper's initialization, an independent
functional forward, spectral norm on every layer, the gradient penalty's double backward, per-sample independence."""

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ganlab.build import _check_batch_dependence, model_fields
from ganlab.config import TrainConfig
from ganlab.lipschitz import Lipschitz, gradient_penalty, interpolate, penalty_from_outputs
from ganlab.models import MODELS
from ganlab.models.dcgan import DCGANCritic, DCGANFields, DCGANGenerator, build_dcgan, square_image_stages

#: side -> (n, s0): n stride-2 stages from s0 x s0, s0 the first side that is odd or would drop below 4.
STAGES = {8: (1, 4), 16: (2, 4), 28: (2, 7), 32: (3, 4), 64: (4, 4)}


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("side", sorted(STAGES))
def test_size_rule(side):
    assert square_image_stages((1, side, side)) == (1, side, *STAGES[side])
    assert square_image_stages((3, 12, 12)) == (3, 12, 1, 6)  # 12 = 6 * 2, 6 / 2 = 3 < 4
    assert square_image_stages((3, 40, 40)) == (3, 40, 3, 5)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("side", sorted(STAGES))
def test_shapes_range_and_stages(side, channels):
    n, s0 = STAGES[side]
    fields = DCGANFields(latent_dim=5, g_width=4, d_width=4)
    g, c = build_dcgan(fields, (channels, side, side))
    z = torch.randn(3, 5, generator=torch.Generator().manual_seed(side))
    x = g(z)
    assert x.shape == (3, channels, side, side)
    assert x.abs().max() <= 1.0
    assert c(x).shape == (3,)
    convs_t = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs_t) == n
    assert g.project.out_features == 4 * 2 ** (n - 1) * s0 * s0  # ngf * 2^(n-1) channels at s0 x s0
    assert [m.out_channels for m in convs_t] == [4 * 2 ** (n - 2 - k) for k in range(n - 1)] + [channels]
    convs = [m for m in c.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [4 * 2 ** k for k in range(n)]
    assert c.out.in_features == 4 * 2 ** (n - 1) * s0 * s0


def test_any_channel_count_is_taken():
    """Grey, RGB, and the k·C channels of a packed critic (PacGAN): the convolutions do not care."""
    for channels in (2, 4, 6):
        g, c = build_dcgan(DCGANFields(latent_dim=4, g_width=4, d_width=4), (channels, 16, 16))
        x = g(torch.zeros(2, 4))
        assert x.shape == (2, channels, 16, 16) and c(x).shape[0] == 2


@pytest.mark.parametrize("shape", [(3, 32, 16), (0, 32, 32), (3, 4, 4), (1, 6, 6), (1, 7, 7),
                                   (1, 9, 9), (32, 32), (3, 32, 32, 1)])
def test_bad_shapes_named_in_value_error(shape):
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        build_dcgan(DCGANFields(), shape)
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        MODELS["dcgan"].build(DCGANFields(), shape)


@pytest.mark.parametrize("kwargs", [{"latent_dim": 0}, {"g_width": 2.5}, {"d_width": True}, {"max_width": -1},
                                    {"g_norm": "layernorm"}, {"d_norm": "groupnorm"}])
def test_bad_fields(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        DCGANFields(**kwargs)


def test_canonical_64x64x3_parameter_counts():
    """ngf = ndf = 64, z of 100: the PyTorch DCGAN example's nets (3 576 704 / 2 765 568 parameters, no
    biases) plus the biases of the layers no batch norm follows (G's output; D's input conv and output)."""
    g, c_bn = build_dcgan(DCGANFields(d_norm="batchnorm"), (3, 64, 64))
    g_expected = (100 * 512 * 16 + 2 * 512            # Linear z -> 512x4x4 (no bias: BN follows), BN
                  + 512 * 256 * 16 + 2 * 256          # ConvT 4x4 -> 8x8, BN
                  + 256 * 128 * 16 + 2 * 128          # -> 16x16
                  + 128 * 64 * 16 + 2 * 64            # -> 32x32
                  + 64 * 3 * 16 + 3)                  # -> 64x64, with bias
    assert g_expected == 3_576_704 + 3
    assert _n_params(g) == g_expected
    d_bn = (3 * 64 * 16 + 64                          # 64 -> 32, bias, no norm
            + 64 * 128 * 16 + 2 * 128                 # -> 16, BN
            + 128 * 256 * 16 + 2 * 256                # -> 8
            + 256 * 512 * 16 + 2 * 512                # -> 4
            + 512 * 16 + 1)                           # Linear -> 1
    assert d_bn == 2_765_568 + 64 + 1
    assert _n_params(c_bn) == d_bn
    _, c_ln = build_dcgan(DCGANFields(d_norm="layernorm"), (3, 64, 64))
    assert _n_params(c_ln) == d_bn + 128 + 256 + 512  # conv biases back: layer norm does not remove them
    _, c_none = build_dcgan(DCGANFields(d_norm="none"), (3, 64, 64))
    assert _n_params(c_none) == d_bn - 2 * (128 + 256 + 512) + (128 + 256 + 512)
    g_none = DCGANGenerator(100, (3, 64, 64), norm="none")
    assert _n_params(g_none) == g_expected - 2 * (512 + 256 + 128 + 64) + (512 * 16 + 256 + 128 + 64)


def test_max_width_caps_channels():
    g = DCGANGenerator(10, (1, 64, 64), width=64, max_width=128)
    c = DCGANCritic((1, 64, 64), width=64, max_width=128)
    assert g.project.out_features == 128 * 16
    assert [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)] == [128, 128, 64, 1]
    assert [m.out_channels for m in c.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 128, 128]


def test_dcgan_initialization():
    """Radford et al. Sec. 4: weights ~ N(0, 0.02^2); BN scales ~ N(1, 0.02^2), shifts 0; biases 0."""
    torch.manual_seed(0)
    g, c = build_dcgan(DCGANFields(d_norm="batchnorm"), (3, 32, 32))
    big = g.net[2].weight  # ConvT 256 -> 128: 524 288 draws, std of the estimate ~2e-5
    assert isinstance(g.net[2], nn.ConvTranspose2d) and big.shape == (256, 128, 4, 4)
    torch.testing.assert_close(big.std().item(), 0.02, atol=2e-4, rtol=0)
    torch.testing.assert_close(big.mean().item(), 0.0, atol=1e-4, rtol=0)
    scales = torch.cat([m.weight for m in [*g.modules(), *c.modules()] if isinstance(m, nn.BatchNorm2d)])
    assert scales.numel() == (256 + 128 + 64) + (128 + 256)  # G's and D's BN channels
    torch.testing.assert_close(scales.mean().item(), 1.0, atol=3e-3, rtol=0)  # 832 draws: se 7e-4
    torch.testing.assert_close(scales.std().item(), 0.02, atol=2e-3, rtol=0)
    for m in [*g.modules(), *c.modules()]:
        if getattr(m, "bias", None) is not None:
            assert torch.count_nonzero(m.bias) == 0


def _reference_generator(g: DCGANGenerator, z: torch.Tensor) -> torch.Tensor:
    """The DCGAN generator written out with torch.nn.functional from the module's parameters."""
    convs = [m for m in g.net if isinstance(m, nn.ConvTranspose2d)]
    bns = [m for m in g.net if isinstance(m, nn.BatchNorm2d)]
    h = F.linear(z, g.project.weight).reshape(z.shape[0], -1, g.s0, g.s0)
    for conv, bn in zip([None, *convs[:-1]], bns):
        if conv is not None:
            h = F.conv_transpose2d(h, conv.weight, stride=2, padding=1)
        h = F.relu(F.batch_norm(h, None, None, bn.weight, bn.bias, training=True))
    return torch.tanh(F.conv_transpose2d(h, convs[-1].weight, convs[-1].bias, stride=2, padding=1))


def _reference_critic(c: DCGANCritic, x: torch.Tensor) -> torch.Tensor:
    convs = [m for m in c.features if isinstance(m, nn.Conv2d)]
    norms = [m for m in c.features if isinstance(m, nn.GroupNorm)]
    h = F.leaky_relu(F.conv2d(x, convs[0].weight, convs[0].bias, stride=2, padding=1), 0.2)
    for conv, gn in zip(convs[1:], norms):
        h = F.conv2d(h, conv.weight, conv.bias, stride=2, padding=1)
        mean = h.mean(dim=(1, 2, 3), keepdim=True)  # layer norm over (C, H, W) of each sample
        var = h.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
        h = (h - mean) / torch.sqrt(var + gn.eps) * gn.weight.view(1, -1, 1, 1) + gn.bias.view(1, -1, 1, 1)
        h = F.leaky_relu(h, 0.2)
    return (h.flatten(1) @ c.out.weight.T + c.out.bias).squeeze(-1)


def test_matches_an_independent_functional_forward():
    torch.manual_seed(1)
    g = DCGANGenerator(6, (3, 32, 32), width=4).double()
    c = DCGANCritic((3, 32, 32), width=4, norm="layernorm").double()
    with torch.no_grad():  # non-trivial norm affines, so that the reference checks their use
        for m in c.modules():
            if isinstance(m, nn.GroupNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    z = torch.randn(4, 6, dtype=torch.float64)
    x = g(z)
    torch.testing.assert_close(x, _reference_generator(g, z), atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(c(x), _reference_critic(c, x), atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("side", [8, 28, 64])
def test_spectral_norm_reparametrizes_every_critic_layer(side):
    n, _ = STAGES[side]
    _, c = build_dcgan(DCGANFields(g_width=4, d_width=4, d_norm="layernorm"), (1, side, side))
    Lipschitz(spectral_norm=True).reparametrize_(c, generator=torch.Generator().manual_seed(0))
    layers = [m for m in c.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == n + 1  # n strided convs and the output Linear
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert c(torch.zeros(2, 1, side, side)).shape == (2,)


def _reference_penalty(critic, x_hat, gp_weight):
    """λ mean_i (‖∇f(x_i)‖ − 1)², each gradient from a forward of the sample alone."""
    terms = []
    for i in range(x_hat.shape[0]):
        xi = x_hat[i:i + 1].detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(xi).sum(), xi)
        terms.append((grad.norm() - 1.0) ** 2)
    return gp_weight * torch.stack(terms).mean()


@pytest.mark.parametrize("d_norm", ["layernorm", "none"])
def test_gradient_penalty_per_sample_and_double_backward(d_norm):
    torch.manual_seed(2)
    _, c = build_dcgan(DCGANFields(d_width=4, d_norm=d_norm), (3, 16, 16))
    c = c.double()
    real = torch.rand(5, 3, 16, 16, dtype=torch.float64) * 2 - 1
    fake = torch.rand(5, 3, 16, 16, dtype=torch.float64) * 2 - 1
    t = torch.linspace(0.1, 0.9, 5, dtype=torch.float64)
    x_hat = interpolate(real, fake, t=t).requires_grad_(True)
    gp = penalty_from_outputs(x_hat, c(x_hat), gp_weight=10.0)
    torch.testing.assert_close(gp, _reference_penalty(c, x_hat, 10.0), atol=1e-12, rtol=1e-10)

    # d GP / d theta by double backward, against a central difference along a random direction
    params = list(c.parameters())
    # (the output bias and, through piecewise-linear activations, the last norm's shift do not move ∇_x f)
    grads = torch.autograd.grad(gp, params, allow_unused=True, materialize_grads=True)
    direction = [torch.randn_like(p) for p in params]
    eps = 1e-6

    def gp_at(sign):
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(sign * eps * d)
        xh = x_hat.detach().requires_grad_(True)
        value = penalty_from_outputs(xh, c(xh), gp_weight=10.0).item()
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.sub_(sign * eps * d)
        return value

    numeric = (gp_at(1.0) - gp_at(-1.0)) / (2 * eps)
    analytic = sum((g * d).sum() for g, d in zip(grads, direction)).item()
    torch.testing.assert_close(analytic, numeric, atol=1e-7, rtol=1e-5)

    # and the library's entry point runs through the critic and trains every weight
    gp2 = gradient_penalty(c, real, fake, gp_weight=10.0, generator=torch.Generator().manual_seed(3))
    gp2.backward()
    weights = [p for p in params if p.ndim >= 2]
    assert len(weights) == 3  # two convs and the Linear
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in weights)


@pytest.mark.parametrize("d_norm", ["none", "layernorm", "batchnorm"])
def test_per_sample_independence(d_norm):
    torch.manual_seed(4)
    _, c = build_dcgan(DCGANFields(d_width=4, d_norm=d_norm), (1, 16, 16))
    c = c.double()
    x = torch.randn(4, 1, 16, 16, dtype=torch.float64)
    other = torch.cat([x[:1], torch.randn(3, 1, 16, 16, dtype=torch.float64)])
    out, out_other = c(x), c(other)
    if d_norm == "batchnorm":  # the contrast: batch statistics tie the outputs together
        assert (out[0] - out_other[0]).abs() > 1e-6
    else:
        torch.testing.assert_close(out[0], out_other[0], atol=1e-12, rtol=0)
        torch.testing.assert_close(out[:1], c(x[:1]), atol=1e-12, rtol=0)


def test_registry_config_and_auto_norm():
    """`auto` reaching the build means no norm; build's batch-dependence check sees a batch-norm critic."""
    fields = model_fields(TrainConfig(model={"family": "dcgan", "d_norm": "layernorm", "g_width": 8}))
    assert fields == DCGANFields(d_norm="layernorm", g_width=8)
    assert MODELS["dcgan"].fields is DCGANFields
    _, c_auto = MODELS["dcgan"].build(DCGANFields(), (1, 28, 28))
    assert not any(isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)) for m in c_auto.modules())
    _, c_ln = MODELS["dcgan"].build(DCGANFields(d_norm="layernorm"), (1, 28, 28))
    assert sum(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in c_ln.modules()) == 1  # n = 2
    _check_batch_dependence(c_ln, Lipschitz(gp_weight=10.0))
    _, c_bn = MODELS["dcgan"].build(DCGANFields(d_norm="batchnorm"), (1, 28, 28))
    with pytest.raises(ValueError, match="batch-norm critic"):
        _check_batch_dependence(c_bn, Lipschitz(gp_weight=10.0))
