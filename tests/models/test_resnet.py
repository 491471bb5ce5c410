"""SN-GAN ResNet family: sizes, the CIFAR nets' parameters counted layer by layer, Xavier initialization, an
independent functional forward in the paper's order, spectral norm on every layer, the gradient penalty's
double backward, per-sample independence."""

import math
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
from ganlab.models.resnet import (
    CriticBlock,
    OptimizedBlock,
    ResNetCritic,
    ResNetFields,
    ResNetGenerator,
    UpBlock,
    build_resnet,
    critic_down_blocks,
)

#: side -> (generator up blocks n, start side s0, critic down blocks m)
SIZES = {8: (1, 4, 1), 16: (2, 4, 1), 28: (2, 7, 1), 32: (3, 4, 2), 64: (4, 4, 3)}


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _conv(i: int, o: int, k: int) -> int:
    return i * o * k * k + o


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("side", sorted(SIZES))
def test_shapes_range_and_blocks(side, channels):
    n, s0, m = SIZES[side]
    g, c = build_resnet(ResNetFields(latent_dim=6, g_width=8, d_width=8), (channels, side, side))
    z = torch.randn(3, 6, generator=torch.Generator().manual_seed(side))
    x = g(z)
    assert x.shape == (3, channels, side, side)
    assert x.abs().max() <= 1.0
    assert c(x).shape == (3,)
    assert g.s0 == s0 and g.project.out_features == 8 * s0 * s0
    assert sum(isinstance(b, UpBlock) for b in g.blocks) == n
    assert critic_down_blocks(n) == m
    assert isinstance(c.blocks[0], OptimizedBlock)
    downs = [b.downsample for b in c.blocks[1:]]
    assert downs == [True] * (m - 1) + [False] * (4 - m)
    # the features the sum pooling sees: side / 2^m
    assert c.blocks(x).shape == (3, 8, side // 2 ** m, side // 2 ** m)


@pytest.mark.parametrize("shape", [(3, 32, 16), (0, 32, 32), (3, 4, 4), (1, 6, 6), (1, 9, 9), (32, 32),
                                   (3, 32, 32, 1)])
def test_bad_shapes_named_in_value_error(shape):
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        MODELS["resnet"].build(ResNetFields(), shape)


@pytest.mark.parametrize("kwargs", [{"latent_dim": 0}, {"g_width": 1.5}, {"d_width": False},
                                    {"d_norm": "instancenorm"}])
def test_bad_fields(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ResNetFields(**kwargs)


def test_sngan_cifar_parameter_counts():
    """SN-GAN Table 4, CIFAR-10 32x32x3: z 128, generator width 256, critic width 128, every layer with a bias."""
    g, c = build_resnet(ResNetFields(), (3, 32, 32))
    up_block = (2 * 256 + _conv(256, 256, 3)       # BN, conv3x3
                + 2 * 256 + _conv(256, 256, 3)     # BN, conv3x3
                + _conv(256, 256, 1))              # shortcut conv1x1
    g_expected = (128 * 4 * 4 * 256 + 4 * 4 * 256  # Linear z -> 4x4x256
                  + 3 * up_block                   # 4 -> 8 -> 16 -> 32
                  + 2 * 256 + _conv(256, 3, 3))    # BN, conv3x3 -> RGB
    assert g_expected == 4_276_739
    assert _n_params(g) == g_expected
    d_expected = (_conv(3, 128, 3) + _conv(128, 128, 3) + _conv(3, 128, 1)       # OptimizedBlock, down
                  + _conv(128, 128, 3) + _conv(128, 128, 3) + _conv(128, 128, 1)  # ResBlock down
                  + 2 * _conv(128, 128, 3)                                        # ResBlock
                  + 2 * _conv(128, 128, 3)                                        # ResBlock
                  + 128 + 1)                                                      # Linear -> 1
    assert d_expected == 1_053_825
    assert _n_params(c) == d_expected
    _, c_ln = build_resnet(ResNetFields(d_norm="layernorm"), (3, 32, 32))
    assert _n_params(c_ln) == d_expected + 3 * 2 * (2 * 128)  # two GroupNorm(1, 128) in each of 3 blocks


def test_xavier_initialization():
    """U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)): gain sqrt(2) inside residual branches, 1 on shortcuts."""
    torch.manual_seed(0)
    g, c = build_resnet(ResNetFields(), (3, 32, 32))
    cases = [
        (g.blocks[0].c1.weight, math.sqrt(2) * math.sqrt(6 / (2 * 256 * 9))),  # 589 824 draws
        (g.blocks[0].c_sc.weight, math.sqrt(6 / (2 * 256))),                   # 65 536 draws
        (c.blocks[1].c2.weight, math.sqrt(2) * math.sqrt(6 / (2 * 128 * 9))),  # 147 456 draws
        (g.project.weight, math.sqrt(6 / (128 + 4096))),                       # 524 288 draws
    ]
    for w, a in cases:
        assert w.abs().max() <= a
        assert w.abs().max() > 0.999 * a
        torch.testing.assert_close(w.std().item(), a / math.sqrt(3), atol=0, rtol=1e-2)
    assert c.out.weight.abs().max() <= math.sqrt(6 / 129)
    for m in [*g.modules(), *c.modules()]:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            assert torch.count_nonzero(m.bias) == 0


def _bn(h, bn):
    return F.batch_norm(h, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)


def _ln(h, gn):
    mean = h.mean(dim=(1, 2, 3), keepdim=True)
    var = h.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
    return (h - mean) / torch.sqrt(var + gn.eps) * gn.weight.view(1, -1, 1, 1) + gn.bias.view(1, -1, 1, 1)


def _c(h, conv):
    return F.conv2d(h, conv.weight, conv.bias, padding=conv.weight.shape[-1] // 2)


def _up(h):  # nearest neighbour x2, written as a repeat
    return h.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def _pool(h):  # mean of each 2x2 cell
    n, ch, s, _ = h.shape
    return h.reshape(n, ch, s // 2, 2, s // 2, 2).mean(dim=(3, 5))


def _reference_generator(g: ResNetGenerator, z):
    """In the order of sngan_projection's Block: shortcut = conv1x1 applied after upsampling."""
    h = (z @ g.project.weight.T + g.project.bias).reshape(z.shape[0], -1, g.s0, g.s0)
    for b in g.blocks:
        r = _c(_up(F.relu(_bn(h, b.b1))), b.c1)
        r = _c(F.relu(_bn(r, b.b2)), b.c2)
        h = r + _c(_up(h), b.c_sc)
    return torch.tanh(_c(F.relu(_bn(h, g.bn)), g.out))


def _reference_critic(c: ResNetCritic, x):
    """In the order of sngan_projection's Block: a down block's shortcut pools after its conv1x1."""
    opt = c.blocks[0]
    h = _pool(_c(F.relu(_c(x, opt.c1)), opt.c2)) + _c(_pool(x), opt.c_sc)
    for b in c.blocks[1:]:
        r = _c(F.relu(_ln(h, b.n1)), b.c1)
        r = _c(F.relu(_ln(r, b.n2)), b.c2)
        if b.downsample:
            h = _pool(r) + _pool(_c(h, b.c_sc))
        else:
            h = r + h
    return (F.relu(h).sum(dim=(2, 3)) @ c.out.weight.T + c.out.bias).squeeze(-1)


def test_matches_an_independent_functional_forward():
    torch.manual_seed(1)
    g = ResNetGenerator(6, (3, 32, 32), width=4).double()
    c = ResNetCritic((3, 32, 32), width=4, norm="layernorm").double()
    with torch.no_grad():  # non-trivial norm affines, so that the reference checks their use
        for m in [*g.modules(), *c.modules()]:
            if isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    z = torch.randn(4, 6, dtype=torch.float64)
    x = g(z)
    torch.testing.assert_close(x, _reference_generator(g, z), atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(c(x), _reference_critic(c, x), atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("side", [8, 32, 64])
def test_spectral_norm_reparametrizes_every_critic_layer(side):
    _, _, m = SIZES[side]
    _, c = build_resnet(ResNetFields(g_width=4, d_width=4, d_norm="layernorm"), (1, side, side))
    Lipschitz(spectral_norm=True).reparametrize_(c, generator=torch.Generator().manual_seed(0))
    layers = [mod for mod in c.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
    # OptimizedBlock 3 convs, each other down block 3, each plain block 2, the output Linear
    assert len(layers) == 3 + 3 * (m - 1) + 2 * (4 - m) + 1
    assert side != 32 or len(layers) == 11
    assert all(parametrize.is_parametrized(mod, "weight") for mod in layers)
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
    _, c = build_resnet(ResNetFields(d_width=4, d_norm=d_norm), (3, 16, 16))
    c = c.double()
    real = torch.rand(4, 3, 16, 16, dtype=torch.float64) * 2 - 1
    fake = torch.rand(4, 3, 16, 16, dtype=torch.float64) * 2 - 1
    x_hat = interpolate(real, fake, t=torch.tensor([0.1, 0.4, 0.6, 0.9], dtype=torch.float64)).requires_grad_(True)
    gp = penalty_from_outputs(x_hat, c(x_hat), gp_weight=10.0)
    torch.testing.assert_close(gp, _reference_penalty(c, x_hat, 10.0), atol=1e-12, rtol=1e-10)

    # d GP / d theta by double backward, against a central difference along a random direction
    params = list(c.parameters())
    grads = torch.autograd.grad(gp, params, allow_unused=True, materialize_grads=True)  # output bias: unused
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

    gp2 = gradient_penalty(c, real, fake, gp_weight=10.0, generator=torch.Generator().manual_seed(3))
    gp2.backward()
    weights = [p for p in params if p.ndim >= 2]
    assert len(weights) == 3 + 2 + 2 + 2 + 1  # m = 1 at 16x16: OptimizedBlock, three plain blocks, Linear
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in weights)


@pytest.mark.parametrize("d_norm", ["none", "layernorm", "batchnorm"])
def test_per_sample_independence(d_norm):
    torch.manual_seed(4)
    c = ResNetCritic((1, 8, 8), width=4, norm=d_norm).double()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    other = torch.cat([x[:1], torch.randn(3, 1, 8, 8, dtype=torch.float64)])
    out, out_other = c(x), c(other)
    if d_norm == "batchnorm":  # the contrast: batch statistics tie the outputs together
        assert (out[0] - out_other[0]).abs() > 1e-6
    else:
        torch.testing.assert_close(out[0], out_other[0], atol=1e-12, rtol=0)
        torch.testing.assert_close(out[:1], c(x[:1]), atol=1e-12, rtol=0)


def test_block_shortcuts():
    """A plain block of equal widths keeps x itself as its shortcut; changing width or downsampling learns one."""
    assert CriticBlock(4, 4, downsample=False).c_sc is None
    assert CriticBlock(4, 8, downsample=False).c_sc is not None
    assert CriticBlock(4, 4, downsample=True).c_sc is not None


def test_registry_config_and_auto_norm():
    fields = model_fields(TrainConfig(model={"family": "resnet", "d_norm": "layernorm", "d_width": 16}))
    assert fields == ResNetFields(d_norm="layernorm", d_width=16)
    _, c_auto = MODELS["resnet"].build(ResNetFields(d_width=4), (3, 32, 32))
    assert not any(isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)) for m in c_auto.modules())
    _, c_ln = MODELS["resnet"].build(ResNetFields(d_width=4, d_norm="layernorm"), (3, 32, 32))
    assert sum(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in c_ln.modules()) == 6
    _check_batch_dependence(c_ln, Lipschitz(gp_weight=10.0, spectral_norm=True))
    _, c_bn = MODELS["resnet"].build(ResNetFields(d_width=4, d_norm="batchnorm"), (3, 32, 32))
    with pytest.raises(ValueError, match="batch-norm critic"):
        _check_batch_dependence(c_bn, Lipschitz(spectral_norm=True))
