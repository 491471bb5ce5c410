"""The SN-GAN ResNet generator and critic for square images (N, C, S, S) in [-1, 1], S = s0 · 2^n.

    generator  z (N, 128) ─ Linear ─► (g_width, s0, s0) ─► n × UpBlock ─► (g_width, S, S)
               ─► BN, ReLU, Conv3x3 (g_width → C) ─► tanh ─► (N, C, S, S)
        UpBlock(x) = Conv3x3(ReLU(BN(Conv3x3(up(ReLU(BN(x))))))) + Conv1x1(up(x))

    critic     x (N, C, S, S) ─► OptimizedBlock (C → d_width, ↓) ─► (m − 1) × Block(↓) ─► max(4 − m, 0) × Block
               ─► ReLU ─► Σ over (H, W) (global sum pooling) ─► Linear ─► one raw value per sample (N,)
        OptimizedBlock(x) = pool(Conv3x3(ReLU(Conv3x3(x)))) + Conv1x1(pool(x))
        Block(x)          = [pool](Conv3x3(ReLU(N(Conv3x3(ReLU(N(x))))))) + shortcut(x)
        shortcut(x)       = pool(Conv1x1(x)) for a down block, x otherwise

up = nearest-neighbour upsampling ×2, pool = 2×2 average pooling, BN = batch norm, N = the critic's
normalization `d_norm`: none, "layernorm" = nn.GroupNorm(1, C) (normalization over (C, H, W) per sample,
per-channel affine; WGAN-GP's choice) or "batchnorm". The OptimizedBlock never normalizes (its input is
the image; WGAN-GP's `OptimizedResBlockDisc1` has none either). s0 and n follow the DCGAN rule
(`ganlab.models.dcgan.square_image_stages`: 28 → 7×7 and 2 up blocks, 32 → 4×4 and 3, 8 → 1, 64 → 4).
The critic has m = max(n − 1, 1) down blocks (`critic_down_blocks`): it stops at twice the generator's
starting side, as SN-GAN's CIFAR critic does (32×32 → 8×8 after 2 down blocks, then 2 plain blocks);
8 → 4×4, 16 → 8×8, 28 → 14×14, 64 → 8×8.

For 32×32×3 with the defaults these are the CIFAR-10 nets of SN-GAN (Table 4 of Appendix B.4;
pfnet-research/sngan_projection `gen_models/resnet_32.py`, `dis_models/resnet_32.py`): 4 276 739
generator and 1 053 825 critic parameters. Other sizes generalize it with constant widths (the paper's
64×64 and 128×128 models widen their blocks instead).

Initialization, as the chainer code: Xavier (Glorot) uniform, U(−a, a) with a = gain·sqrt(6 / (fan_in +
fan_out)), gain sqrt(2) on the 3×3 convolutions inside residual branches and gain 1 on the 1×1
shortcuts, the generator's input Linear and output conv and the critic's output Linear; biases 0;
batch-norm and layer-norm affines (1, 0).

Reference: Miyato, Kataoka, Koyama, Yoshida 2018, "Spectral Normalization for Generative Adversarial
Networks" (arXiv:1802.05957), Appendix B.4, Table 4 and Figure 8; the residual blocks of Gulrajani et
al. 2017 (WGAN-GP, arXiv:1704.00028, Appendix F); lecture 001_b56ff7e156eb3bba.txt "Spectral
Normalization GAN". Spectral norm itself is applied from outside (`ganlab.lipschitz`), never built in.

Note: two linear maps commute with the resampling and are computed on the smaller grid: the
generator's shortcut is up(Conv1x1(x)) = Conv1x1(up(x)), and the down block's shortcut is
Conv1x1(pool(x)) = pool(Conv1x1(x)) (exactly, biases included), four times fewer multiply-adds.
The generator's image layer (Conv3x3 g_width → C) is a `FoldConv2d` (`ganlab.models.fold_conv`): the same
layer and parameters, its CPU forward one matmul and a col2im, 3.5-6x as fast as torch's here
(benchmarks/image_layers.py).
The critic's ReLU is `MaskedReLU` (its second derivative known to be 0) and nothing works in place,
since the gradient penalty differentiates through the whole critic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.models.dcgan import D_NORMS, critic_norm, square_image_stages
from ganlab.models.fold_conv import FoldConv2d
from ganlab.models.mlp import MaskedReLU

__all__ = [
    "UpBlock",
    "OptimizedBlock",
    "CriticBlock",
    "ResNetGenerator",
    "ResNetCritic",
    "ResNetFields",
    "build_resnet",
    "N_CRITIC_BLOCKS",
    "critic_down_blocks",
]

#: Blocks of the SN-GAN CIFAR critic: one optimized down block, one down block, two plain blocks.
N_CRITIC_BLOCKS = 4
_RESIDUAL_GAIN = math.sqrt(2.0)


def critic_down_blocks(n: int) -> int:
    """m = max(n − 1, 1): the critic's down blocks for images of side s0 · 2^n (the generator has n up blocks).

    SN-GAN's CIFAR critic (Table 4(b)) has 2 down blocks for 32×32 (n = 3) and ends at 8×8.
    """
    return max(n - 1, 1)


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def _norm_or_identity(norm: str, channels: int) -> nn.Module:
    layer = critic_norm(norm, channels)
    return nn.Identity() if layer is None else layer


def _conv(c_in: int, c_out: int, k: int, gain: float, layer: type[nn.Conv2d] = nn.Conv2d) -> nn.Conv2d:
    conv = layer(c_in, c_out, k, padding=k // 2)
    nn.init.xavier_uniform_(conv.weight, gain=gain)
    nn.init.zeros_(conv.bias)
    return conv


def _linear(d_in: int, d_out: int) -> nn.Linear:
    lin = nn.Linear(d_in, d_out)
    nn.init.xavier_uniform_(lin.weight)
    nn.init.zeros_(lin.bias)
    return lin


def _up(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def _pool(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 2)


class UpBlock(nn.Module):
    """UpBlock(x) = c2(ReLU(b2(c1(up(ReLU(b1(x))))))) + c_sc(up(x)): (N, c_in, s, s) -> (N, c_out, 2s, 2s).

    Reference: SN-GAN arXiv:1802.05957, Figure 8(a); sngan_projection `gen_models/resblocks.py` `Block`.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.b1 = nn.BatchNorm2d(c_in)
        self.c1 = _conv(c_in, c_out, 3, _RESIDUAL_GAIN)
        self.b2 = nn.BatchNorm2d(c_out)
        self.c2 = _conv(c_out, c_out, 3, _RESIDUAL_GAIN)
        self.c_sc = _conv(c_in, c_out, 1, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        h = self.c1(_up(F.relu(self.b1(x))))
        h = self.c2(F.relu(self.b2(h)))
        return h + _up(self.c_sc(x))  # = c_sc(up(x)), on the smaller grid


class OptimizedBlock(nn.Module):
    """OptimizedBlock(x) = pool(c2(ReLU(c1(x)))) + c_sc(pool(x)): (N, c_in, s, s) -> (N, c_out, s/2, s/2).

    The critic's first block: no activation or normalization before the first conv (its input is the
    image). Reference: SN-GAN arXiv:1802.05957, Table 4; sngan_projection `dis_models/resblocks.py`.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.c1 = _conv(c_in, c_out, 3, _RESIDUAL_GAIN)
        self.act = MaskedReLU()
        self.c2 = _conv(c_out, c_out, 3, _RESIDUAL_GAIN)
        self.c_sc = _conv(c_in, c_out, 1, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        return _pool(self.c2(self.act(self.c1(x)))) + self.c_sc(_pool(x))


class CriticBlock(nn.Module):
    """Block(x) = [pool](c2(ReLU(N2(c1(ReLU(N1(x))))))) + shortcut(x): (N, c_in, s, s) -> (N, c_out, s', s').

    s' = s/2 with `downsample`, else s. The shortcut is pool(c_sc(x)) (computed as c_sc(pool(x))) when the
    block downsamples or changes width, x itself otherwise. N1, N2: `critic_norm(norm, ·)` or nothing.

    Reference: SN-GAN arXiv:1802.05957, Figure 8(b); sngan_projection `dis_models/resblocks.py` `Block`.
    """

    def __init__(self, c_in: int, c_out: int, *, downsample: bool, norm: str = "none") -> None:
        super().__init__()
        self.downsample = downsample
        self.n1 = _norm_or_identity(norm, c_in)
        self.c1 = _conv(c_in, c_in, 3, _RESIDUAL_GAIN)
        self.n2 = _norm_or_identity(norm, c_in)
        self.c2 = _conv(c_in, c_out, 3, _RESIDUAL_GAIN)
        self.act = MaskedReLU()
        self.c_sc = _conv(c_in, c_out, 1, 1.0) if (downsample or c_in != c_out) else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.c2(self.act(self.n2(self.c1(self.act(self.n1(x))))))
        if self.downsample:
            h, x = _pool(h), _pool(x)
        if self.c_sc is not None:
            x = self.c_sc(x)
        return h + x


class ResNetGenerator(nn.Module):
    """G(z) = tanh(c_out(ReLU(BN(UpBlock^n(reshape(W z + b)))))): (N, latent_dim) -> (N, C, S, S).

    Args:
        latent_dim: dimension of z (128 in SN-GAN).
        data_shape: one image's shape (C, S, S), S = s0 · 2^n (`square_image_stages`).
        width: channels of every block (256 in SN-GAN's CIFAR generator).

    Reference: SN-GAN arXiv:1802.05957, Table 4(a).
    """

    def __init__(self, latent_dim: int = 128, data_shape: tuple[int, int, int] = (3, 32, 32), *,
                 width: int = 256) -> None:
        super().__init__()
        channels, self.size, n, self.s0 = square_image_stages(data_shape, family="resnet")
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        self.width = _positive_int("width", width)
        self.project = _linear(self.latent_dim, width * self.s0 * self.s0)
        self.blocks = nn.Sequential(*(UpBlock(width, width) for _ in range(n)))
        self.bn = nn.BatchNorm2d(width)
        self.out = _conv(width, channels, 3, 1.0, FoldConv2d)  # the image layer: see the module's note

    def forward(self, z: Tensor) -> Tensor:
        """(N, latent_dim) -> (N, C, S, S), values in [-1, 1]."""
        h = self.blocks(self.project(z).view(z.shape[0], self.width, self.s0, self.s0))
        return torch.tanh(self.out(F.relu(self.bn(h))))


class ResNetCritic(nn.Module):
    """f(x) = w^T Σ_{h,w} ReLU(Blocks(x)) + b: images (N, C, S, S) -> raw values (N,).

    Args:
        data_shape: one image's shape (C, S, S), S = s0 · 2^n (`square_image_stages`).
        width: channels of every block (128 in SN-GAN's CIFAR critic).
        norm: "none", "layernorm" or "batchnorm" inside the blocks after the first; "auto" is "none".

    Blocks: OptimizedBlock (C → width, down), m − 1 down blocks, then plain blocks up to 4 blocks in all,
    m = `critic_down_blocks(n)` = max(n − 1, 1) for S = s0 · 2^n (CIFAR: m = 2, the critic ends at 8×8).

    Reference: SN-GAN arXiv:1802.05957, Table 4(b) (global sum pooling, one output).

    Note: with norm="batchnorm" a sample's output depends on its batch; `ganlab.build` refuses that
    with a gradient penalty or spectral norm.
    """

    def __init__(self, data_shape: tuple[int, int, int] = (3, 32, 32), *, width: int = 128,
                 norm: str = "none") -> None:
        super().__init__()
        channels, self.size, n, _ = square_image_stages(data_shape, family="resnet")
        _positive_int("width", width)
        if norm not in D_NORMS:
            raise ValueError(f"unknown critic normalization {norm!r}; expected one of {list(D_NORMS)}")
        blocks: list[nn.Module] = [OptimizedBlock(channels, width)]
        m = critic_down_blocks(n)
        blocks += [CriticBlock(width, width, downsample=True, norm=norm) for _ in range(m - 1)]
        blocks += [CriticBlock(width, width, downsample=False, norm=norm) for _ in range(N_CRITIC_BLOCKS - m)]
        self.blocks = nn.Sequential(*blocks)
        self.act = MaskedReLU()
        self.out = _linear(width, 1)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, S, S) -> (N,)."""
        return self.out(self.act(self.blocks(x)).sum(dim=(2, 3))).squeeze(-1)


@dataclass(frozen=True)
class ResNetFields:
    """The `[model]` fields of the SN-GAN ResNet family; defaults: SN-GAN's CIFAR-10 nets (Table 4).

    Attributes:
        latent_dim: dimension of z.
        g_width, d_width: channels of every generator / critic block.
        d_norm: "auto" | "none" | "layernorm" | "batchnorm" inside the critic's blocks; `ganlab.build`
            turns "auto" into "layernorm" with a gradient penalty (as WGAN-GP does), else "none".
    """

    latent_dim: int = 128
    g_width: int = 256
    d_width: int = 128
    d_norm: str = "auto"

    def __post_init__(self) -> None:
        for name in ("latent_dim", "g_width", "d_width"):
            _positive_int(f"model.{name}", getattr(self, name))
        if self.d_norm not in D_NORMS:
            raise ValueError(f"model.d_norm: expected one of {list(D_NORMS)}, got {self.d_norm!r}")


def build_resnet(fields: ResNetFields, data_shape: tuple[int, ...]) -> tuple[ResNetGenerator, ResNetCritic]:
    """The generator (latent_dim -> (C, S, S)) and critic ((C, S, S) -> R) for images of shape (C, S, S)."""
    shape = tuple(data_shape)
    square_image_stages(shape, family="resnet")  # refuses a bad shape before either net is built
    generator = ResNetGenerator(fields.latent_dim, shape, width=fields.g_width)
    d_norm = "none" if fields.d_norm == "auto" else fields.d_norm
    critic = ResNetCritic(shape, width=fields.d_width, norm=d_norm)
    return generator, critic
