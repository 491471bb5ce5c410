"""DCGAN generator and critic for square images (N, C, S, S) in [-1, 1], S = s0 · 2^n.

    generator  z (N, latent_dim) ─ Linear ─► (c_0, s0, s0) ─ BN, ReLU
               ─► (n − 1) × [ConvT k4 s2 p1 (c_k → c_{k+1} = c_k / 2), BN, ReLU] ─► (g_width, S/2, S/2)
               ─► ConvT k4 s2 p1 (g_width → C) ─► tanh ─► (N, C, S, S)
    critic     x (N, C, S, S) ─ Conv k4 s2 p1 (C → d_width), LeakyReLU(0.2)        (no norm: DCGAN)
               ─► (n − 1) × [Conv k4 s2 p1 (d_k → d_{k+1} = 2 d_k), N, LeakyReLU(0.2)] ─► (d_width 2^(n−1), s0, s0)
               ─► flatten, Linear ─► one raw value per sample (N,)

with c_k = min(g_width · 2^(n−1−k), max_width) ("ngf") and d_k = min(d_width · 2^k, max_width) ("ndf").
The number of stride-2 stages n is the largest n for which S / 2^n is an integer s0 >= 4
(`square_image_stages`): 8 → 4×4 after 1 stage, 16 → 2, 28 → 7×7 after 2, 32 → 3, 64 → 4. For 64×64
with ngf = ndf = 64 these are the nets of the DCGAN paper's Figure 1 with the PyTorch DCGAN example's
widths (512 at 4×4). The first generator layer is a Linear to (c_0, s0, s0): the same map as the
paper's "project and reshape" and as a k4 ConvTranspose on a 1×1 input. The last stage gives C channels
directly, then tanh (no extra 3×3 conv), as in the paper.

N is the critic's normalization `d_norm`: "none"; "layernorm", normalization over (C, H, W) of each
sample with a per-channel affine, which is exactly `nn.GroupNorm(1, C)` (WGAN-GP uses it in place of
batch norm, arXiv:1704.00028 Sec. 4); or "batchnorm" (the DCGAN paper's critic). A layer followed by
batch norm has no bias (batch norm's shift replaces it); every other layer has one.

Initialization (DCGAN paper Sec. 4): every Conv / ConvTranspose / Linear weight ~ N(0, 0.02²), biases
0; batch-norm scales ~ N(1, 0.02²), shifts 0 (the PyTorch DCGAN example's `weights_init`); layer-norm
affines keep (1, 0).

Reference: Radford, Metz, Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks" (arXiv:1511.06434), Sec. 3-4 and Figure 1; the DCGAN
row of the WGAN-GP architecture table in lecture 001_b56ff7e156eb3bba.txt "Wasserstein GAN with
Gradient Penalty".

Note: up to 32×32 the generator's image layer is a `FoldConvTranspose2d` (`ganlab.models.fold_conv`): the
same layer and parameters, its CPU forward one matmul and a col2im. Its forward ran 1.9-2.3x as fast as
torch's for 1 channel and 1.1-1.4x for 3, forward + backward 1.4-1.6x and 1.0-1.2x; at 64×64 (3 channels)
torch's layer was as fast in the forward and faster in forward + backward, so it stays there
(benchmarks/image_layers.py, section image_layers of docs/BENCHMARKS.md).

The critic's LeakyReLU is `MaskedLeakyReLU` (value and first derivative of leaky ReLU, second
derivative known to be 0), so the gradient penalty's double backward stops at its masks; nothing in
the critic works in place, since the penalty differentiates through every activation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ganlab.models.fold_conv import FoldConvTranspose2d
from ganlab.models.mlp import MaskedLeakyReLU

__all__ = [
    "G_NORMS",
    "D_NORMS",
    "square_image_stages",
    "critic_norm",
    "DCGANGenerator",
    "DCGANCritic",
    "dcgan_init_",
    "DCGANFields",
    "build_dcgan",
]

#: Generator normalizations after every hidden layer.
G_NORMS: tuple[str, ...] = ("batchnorm", "none")
#: Critic normalizations; "auto" is resolved by `ganlab.build` (layer norm with a gradient penalty, else
#: none) and means "none" if it reaches a model.
D_NORMS: tuple[str, ...] = ("auto", "none", "layernorm", "batchnorm")
_MIN_SIDE = 4  # the smallest side s0 the stride-2 stages stop at


def square_image_stages(data_shape: tuple[int, ...], *, family: str = "dcgan") -> tuple[int, int, int, int]:
    """(C, S, n, s0) for images (C, S, S) with S = s0 · 2^n, n the largest with s0 an integer >= 4.

    8 → (n, s0) = (1, 4); 16 → (2, 4); 28 → (2, 7); 32 → (3, 4); 64 → (4, 4).

    Raises ValueError naming the shape unless it is (C, S, S) with C >= 1 and n >= 1 (S >= 8 and
    S / 2 an integer >= 4). Any number of channels: grey and RGB data, and a packed critic's k·C (PacGAN).
    """
    shape = tuple(data_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(f"the {family} model family takes images of shape (C, H, W), got data of shape {shape}")
    channels, height, width = shape
    if height != width:
        raise ValueError(f"the {family} model family takes square images (H == W), got data of shape {shape}")
    n, side = 0, height
    while side % 2 == 0 and side // 2 >= _MIN_SIDE:
        n, side = n + 1, side // 2
    if n == 0:
        raise ValueError(f"the {family} model family needs H = W = s0 * 2^n with s0 an integer >= {_MIN_SIDE} and "
                         f"n >= 1 (e.g. 8, 16, 28, 32, 64), got data of shape {shape}")
    return channels, height, n, side


def critic_norm(norm: str, channels: int) -> nn.Module | None:
    """The critic normalization of `channels` feature maps: None, GroupNorm(1, C) (= layer norm over
    (C, H, W) with a per-channel affine) or BatchNorm2d(C); "auto" is "none" here."""
    if norm in ("none", "auto"):
        return None
    if norm == "layernorm":
        return nn.GroupNorm(1, channels)
    if norm == "batchnorm":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"unknown critic normalization {norm!r}; expected one of {list(D_NORMS)}")


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


class DCGANGenerator(nn.Module):
    """G(z) = tanh(ConvT(... ReLU(BN(ConvT(ReLU(BN(reshape(W z)))))) ...)): (N, latent_dim) -> (N, C, S, S).

    Args:
        latent_dim: dimension of z (100 in DCGAN).
        data_shape: one image's shape (C, S, S); see `square_image_stages`.
        width: channels of the last hidden block, "ngf" (64); they double per block going back.
        max_width: cap on the channels of any block.
        norm: "batchnorm" (DCGAN) or "none" after every hidden layer.

    Reference: DCGAN arXiv:1511.06434, Figure 1 and Sec. 3 (batch norm in all generator layers but the
    output, ReLU, tanh output).
    """

    def __init__(
        self,
        latent_dim: int = 100,
        data_shape: tuple[int, int, int] = (3, 64, 64),
        *,
        width: int = 64,
        max_width: int = 1024,
        norm: str = "batchnorm",
    ) -> None:
        super().__init__()
        channels, self.size, n, self.s0 = square_image_stages(data_shape)
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        _positive_int("width", width)
        _positive_int("max_width", max_width)
        if norm not in G_NORMS:
            raise ValueError(f"unknown generator normalization {norm!r}; expected one of {list(G_NORMS)}")
        bn = norm == "batchnorm"
        widths = [min(width * 2 ** (n - 1 - k), max_width) for k in range(n)]
        self.c0 = widths[0]
        self.project = nn.Linear(self.latent_dim, self.c0 * self.s0 * self.s0, bias=not bn)
        layers: list[nn.Module] = [*([nn.BatchNorm2d(self.c0)] if bn else []), nn.ReLU()]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=not bn),
                       *([nn.BatchNorm2d(c_out)] if bn else []), nn.ReLU()]
        image_layer = FoldConvTranspose2d if self.size <= 32 else nn.ConvTranspose2d  # see the module's note
        layers += [image_layer(widths[-1], channels, 4, stride=2, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: Tensor) -> Tensor:
        """(N, latent_dim) -> (N, C, S, S), values in [-1, 1]."""
        return self.net(self.project(z).view(z.shape[0], self.c0, self.s0, self.s0))


class DCGANCritic(nn.Module):
    """f(x) = w^T flatten(a(N(Conv(... a(Conv(x)) ...)))) + b: images (N, C, S, S) -> raw values (N,).

    Args:
        data_shape: one image's shape (C, S, S); see `square_image_stages`.
        width: channels of the first block, "ndf" (64); they double per block.
        max_width: cap on the channels of any block.
        norm: "none", "layernorm" (GroupNorm(1, C)) or "batchnorm" after every conv but the first;
            "auto" is taken as "none".

    Reference: DCGAN arXiv:1511.06434, Sec. 3 (strided convolutions, LeakyReLU(0.2), no batch norm on
    the discriminator's input layer); layer norm in place of batch norm: WGAN-GP arXiv:1704.00028 Sec. 4.

    Note: with norm="batchnorm" a sample's output depends on the rest of its batch, which breaks the
    per-sample gradient penalty and spectral norm's bound; `ganlab.build` refuses that combination.
    """

    def __init__(
        self,
        data_shape: tuple[int, int, int] = (3, 64, 64),
        *,
        width: int = 64,
        max_width: int = 1024,
        norm: str = "none",
    ) -> None:
        super().__init__()
        channels, self.size, n, s0 = square_image_stages(data_shape)
        _positive_int("width", width)
        _positive_int("max_width", max_width)
        if norm not in D_NORMS:
            raise ValueError(f"unknown critic normalization {norm!r}; expected one of {list(D_NORMS)}")
        widths = [min(width * 2 ** k, max_width) for k in range(n)]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, stride=2, padding=1), MaskedLeakyReLU(0.2)]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            norm_layer = critic_norm(norm, c_out)
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=not isinstance(norm_layer, nn.BatchNorm2d)),
                       *([norm_layer] if norm_layer is not None else []), MaskedLeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.out = nn.Linear(widths[-1] * s0 * s0, 1)
        dcgan_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, S, S) -> (N,)."""
        return self.out(self.features(x).flatten(1)).squeeze(-1)


@torch.no_grad()
def dcgan_init_(module: nn.Module) -> nn.Module:
    """DCGAN initialization, in place: Conv / ConvTranspose / Linear weights ~ N(0, 0.02²), biases 0;
    batch-norm scales ~ N(1, 0.02²), shifts 0 (DCGAN arXiv:1511.06434 Sec. 4). Returns `module`."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


@dataclass(frozen=True)
class DCGANFields:
    """The `[model]` fields of the DCGAN family; defaults: the DCGAN paper (z of 100, ngf = ndf = 64).

    Attributes:
        latent_dim: dimension of z.
        g_width, d_width: "ngf" (channels of the generator's last hidden block) and "ndf" (channels of
            the critic's first block); channels double per block away from the image.
        max_width: cap on the channels of any block of either net.
        g_norm: "batchnorm" | "none" in the generator.
        d_norm: "auto" | "none" | "layernorm" | "batchnorm" in the critic; `ganlab.build` turns "auto"
            into "layernorm" with a gradient penalty (as WGAN-GP does), else "none".
    """

    latent_dim: int = 100
    g_width: int = 64
    d_width: int = 64
    max_width: int = 1024
    g_norm: str = "batchnorm"
    d_norm: str = "auto"

    def __post_init__(self) -> None:
        for name in ("latent_dim", "g_width", "d_width", "max_width"):
            _positive_int(f"model.{name}", getattr(self, name))
        if self.g_norm not in G_NORMS:
            raise ValueError(f"model.g_norm: expected one of {list(G_NORMS)}, got {self.g_norm!r}")
        if self.d_norm not in D_NORMS:
            raise ValueError(f"model.d_norm: expected one of {list(D_NORMS)}, got {self.d_norm!r}")


def build_dcgan(fields: DCGANFields, data_shape: tuple[int, ...]) -> tuple[DCGANGenerator, DCGANCritic]:
    """The generator (latent_dim -> (C, S, S)) and critic ((C, S, S) -> R) for images of shape (C, S, S)."""
    shape = tuple(data_shape)
    square_image_stages(shape)  # refuses a bad shape before either net is built
    generator = DCGANGenerator(fields.latent_dim, shape, width=fields.g_width, max_width=fields.max_width,
                               norm=fields.g_norm)
    d_norm = "none" if fields.d_norm == "auto" else fields.d_norm
    critic = DCGANCritic(shape, width=fields.d_width, max_width=fields.max_width, norm=d_norm)
    return generator, critic
