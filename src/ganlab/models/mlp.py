"""Multilayer perceptrons for the toy problems: a generator z -> x and a critic x -> R.

    generator  G(z) = W_L a(... a(N(W_1 z + b_1)) ...) + b_L,   z ~ N(0, I_latent_dim)
    critic     f(x) = w_L^T a(... a(N(W_1 x + b_1)) ...) + b_L   (one raw value per sample)

with `depth` hidden layers of `width` units, an activation a and an optional normalization N
(batch norm or layer norm) after every hidden linear layer. No loss, no sigmoid and no constraint
lives inside: the critic returns raw values (logits for the classifier GANs), the objective is a
function of them (`ganlab.losses`), and a Lipschitz constraint is applied from outside
(`ganlab.lipschitz`).

Reference: the WGAN-GP toy script (Gulrajani et al. 2017, arXiv:1704.00028;
igul222/improved_wgan_training, gan_toy.py): both nets are MLPs with 3 hidden ReLU layers of 512
units, 2-D noise. The gradient-penalty use of the critic: lecture 001_b56ff7e156eb3bba.txt,
"Wasserstein GAN with Gradient Penalty".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "MaskedReLU",
    "MaskedLeakyReLU",
    "MLPGenerator",
    "MLPCritic",
    "make_activation",
    "MLPFields",
    "build_mlp",
]


class _ReLUConstantMask(torch.autograd.Function):
    """relu with a backward g -> g * 1[y > 0] in which y is a constant (see `MaskedReLU`)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:  # type: ignore[override]
        y = torch.relu(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad, y.detach(), 0)


class _LeakyReLUConstantMask(torch.autograd.Function):
    """leaky_relu with a backward g -> g * (1[y > 0] + slope 1[y <= 0]) in which y is a constant."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, negative_slope: float) -> Tensor:  # type: ignore[override]
        y = F.leaky_relu(x, negative_slope)
        ctx.save_for_backward(y)
        ctx.negative_slope = negative_slope
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return torch.ops.aten.leaky_relu_backward(grad, y.detach(), ctx.negative_slope, True), None


class MaskedReLU(nn.Module):
    """relu(x) = max(x, 0), whose derivative 1[x > 0] autograd treats as a constant.

    Shapes: any -> same.

    Note: equal to `torch.relu` in value and first derivative (0 at x = 0 in both), with the same
    one-pass kernels forward and backward. The difference is in the double backward of a gradient
    penalty: ReLU's second derivative is 0 almost everywhere, and here autograd knows it, so the
    double backward stops at the masks. With `nn.ReLU` the backward op `threshold_backward` has a
    derivative with respect to its saved input (`zeros_like`), and autograd sends those exact zeros
    back through the whole forward graph of the interpolates: one dense matmul pair per layer for
    nothing (about half the FLOPs of the penalty's backward; tests/models/test_mlp.py).
    """

    def forward(self, x: Tensor) -> Tensor:
        return _ReLUConstantMask.apply(x)


class MaskedLeakyReLU(nn.Module):
    """leaky_relu(x) = max(x, 0) + slope min(x, 0), derivative treated as a constant (see `MaskedReLU`).

    Shapes: any -> same.
    """

    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return _LeakyReLUConstantMask.apply(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


#: Activation factories by name. `relu` and `leaky_relu` (slope 0.2, as in DCGAN's discriminator)
#: are the constant-mask forms above; `elu`, `tanh`, `silu`, `softplus` have a genuine second derivative.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": MaskedReLU,
    "leaky_relu": MaskedLeakyReLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
}

#: Normalizations applied after each hidden linear layer.
NORMS: tuple[str, ...] = ("none", "batchnorm", "layernorm")


def make_activation(activation: str | Callable[[], nn.Module]) -> nn.Module:
    """A fresh activation module from a name in `ACTIVATIONS` or from a factory (a class or callable)."""
    if callable(activation) and not isinstance(activation, str):
        module = activation()
        if not isinstance(module, nn.Module):
            raise ValueError(f"activation factory must return an nn.Module, got {type(module).__name__}")
        return module
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[activation]()


def _positive_int(name: str, value: int, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _norm(norm: str, width: int) -> list[nn.Module]:
    if norm == "none":
        return []
    if norm == "batchnorm":
        return [nn.BatchNorm1d(width)]
    if norm == "layernorm":
        return [nn.LayerNorm(width)]
    raise ValueError(f"unknown normalization {norm!r}; expected one of {list(NORMS)}")


def _mlp(
    in_dim: int,
    out_dim: int,
    width: int,
    depth: int,
    activation: str | Callable[[], nn.Module],
    norm: str,
) -> nn.Sequential:
    _positive_int("width", width)
    _positive_int("depth", depth, minimum=0)
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, width), *_norm(norm, width), make_activation(activation)]
        d = width
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """G(z) = W_L a(N(... a(N(W_1 z + b_1)) ...)) + b_L: latent (N, latent_dim) -> samples (N, out_dim).

    Args:
        latent_dim: dimension of z (2 in the WGAN-GP toy script).
        out_dim: dimension of a sample (2 for the 2-D toy data, 1 for `mixture-1d`).
        width: units per hidden layer (512 in the toy script).
        depth: number of hidden layers (3 in the toy script); 0 gives an affine map.
        activation: a name in `ACTIVATIONS` or a factory returning an nn.Module.
        norm: "none", "batchnorm" or "layernorm" after every hidden linear layer.

    Reference: WGAN-GP toy script (igul222/improved_wgan_training, gan_toy.py, `Generator`).
    Weights use PyTorch's default `nn.Linear` initialization (the toy script uses He init).
    """

    def __init__(
        self,
        latent_dim: int = 2,
        out_dim: int = 2,
        *,
        width: int = 512,
        depth: int = 3,
        activation: str | Callable[[], nn.Module] = "relu",
        norm: str = "none",
    ) -> None:
        super().__init__()
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        self.out_dim = _positive_int("out_dim", out_dim)
        self.net = _mlp(self.latent_dim, self.out_dim, width, depth, activation, norm)

    def forward(self, z: Tensor) -> Tensor:
        """(N, latent_dim) -> (N, out_dim)."""
        return self.net(z)


class MLPCritic(nn.Module):
    """f(x) = w_L^T a(N(... a(N(W_1 x + b_1)) ...)) + b_L: samples (N, in_dim) -> raw values (N,).

    Args:
        in_dim: dimension of a sample.
        width: units per hidden layer (512 in the toy script).
        depth: number of hidden layers (3 in the toy script).
        activation: a name in `ACTIVATIONS` or a factory returning an nn.Module.
        norm: "none", "batchnorm" or "layernorm" after every hidden linear layer.

    Reference: WGAN-GP toy script (gan_toy.py, `Discriminator`, output reshaped to (N,)).

    Note: with norm="batchnorm" a sample's output depends on the rest of its batch, so the
    per-sample input gradients of the gradient penalty are not those of f, and a forward over
    cat([real, fake]) mixes their statistics; WGAN-GP recommends layer norm or none
    (arXiv:1704.00028, Sec. 4). `ganlab.config` refuses batch norm together with a penalty.
    """

    def __init__(
        self,
        in_dim: int = 2,
        *,
        width: int = 512,
        depth: int = 3,
        activation: str | Callable[[], nn.Module] = "relu",
        norm: str = "none",
    ) -> None:
        super().__init__()
        self.in_dim = _positive_int("in_dim", in_dim)
        self.net = _mlp(self.in_dim, 1, width, depth, activation, norm)

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_dim) -> (N,)."""
        return self.net(x).squeeze(-1)


@dataclass(frozen=True)
class MLPFields:
    """The `[model]` fields of the MLP family; defaults: the WGAN-GP toy script (gan_toy.py), 512 x 3 ReLU,
    2-D noise.

    Attributes:
        latent_dim: dimension of z.
        g_width, g_depth, d_width, d_depth: hidden units per layer and hidden layers of each net.
        activation: a name in `ACTIVATIONS`.
        g_norm, d_norm: "none" | "batchnorm" | "layernorm" after every hidden layer of G / of the critic.
    """

    latent_dim: int = 2
    g_width: int = 512
    g_depth: int = 3
    d_width: int = 512
    d_depth: int = 3
    activation: str = "relu"
    g_norm: str = "none"
    d_norm: str = "none"

    def __post_init__(self) -> None:
        for name in ("latent_dim", "g_width", "d_width"):
            _positive_int(f"model.{name}", getattr(self, name))
        for name in ("g_depth", "d_depth"):
            _positive_int(f"model.{name}", getattr(self, name), minimum=0)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"model.activation: expected one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        for name in ("g_norm", "d_norm"):
            if getattr(self, name) not in NORMS:
                raise ValueError(f"model.{name}: expected one of {list(NORMS)}, got {getattr(self, name)!r}")


def build_mlp(fields: MLPFields, data_shape: tuple[int, ...]) -> tuple[MLPGenerator, MLPCritic]:
    """The generator (latent_dim -> D) and critic (D -> R) for vector data of shape (D,)."""
    if len(data_shape) != 1:
        raise ValueError(f"the mlp model family takes vector data of shape (D,), got data of shape {data_shape}")
    (dim,) = data_shape
    generator = MLPGenerator(fields.latent_dim, dim, width=fields.g_width, depth=fields.g_depth,
                             activation=fields.activation, norm=fields.g_norm)
    critic = MLPCritic(dim, width=fields.d_width, depth=fields.d_depth, activation=fields.activation,
                       norm=fields.d_norm)
    return generator, critic
