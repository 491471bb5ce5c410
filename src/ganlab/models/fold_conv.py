"""A generator's image layer on the CPU: a convolution with few output channels as one matmul and a col2im.

    conv_transpose2d(x, W)[n] = fold(W_mat^T x_mat[n])      W_mat = W.reshape(C_in, C_out k k),  x_mat[n] = x[n].reshape(C_in, h w)
    conv2d(x, W, padding p)   = conv_transpose2d(x, W~, padding k - 1 - p),   W~[c, o, i, j] = W[o, c, k-1-i, k-1-j]   (stride 1)

fold (col2im) adds the k x k patch of every input pixel into the output at its stride-s position, which is
exactly the transposed convolution; the second line is the identity that a stride-1 convolution is the
transposed convolution of the flipped, transposed kernel. Same parameters, same results up to float rounding.

Why: oneDNN blocks a convolution's output channels in vector-width groups, so a layer with 1 or 3 output
channels leaves most lanes idle. The last layer of the DCGAN generator (64 -> 1, 14 -> 28) ran its forward
at about 2-4 GFLOP/s against about 100 for the 64 -> 128 layer before it, and the SN-ResNet generator's
3 x 3 conv 128 -> 3 on 32 x 32 at about 9. The matmul form does the same FLOPs at matmul speed
(benchmarks/image_speed.py measures both layers; docs/TRAINING.md has the numbers). Only the forward changes:
the backward is torch's own convolution backward (`aten.convolution_backward`, differentiable, so a double
backward works too). Off the CPU, and under autocast, the layers are plain `nn.ConvTranspose2d` / `nn.Conv2d`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["conv_transpose2d_fold", "FoldConvTranspose2d", "FoldConv2d"]


class _ConvTranspose2dFold(torch.autograd.Function):
    """conv_transpose2d(x, W, b, stride, padding) by matmul + fold; backward: torch's convolution backward."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, stride: int, padding: int) -> Tensor:  # type: ignore[override]
        n, c_in, h, w = x.shape
        c_out, k = weight.shape[1], weight.shape[2]
        size = ((h - 1) * stride - 2 * padding + k, (w - 1) * stride - 2 * padding + k)
        cols = torch.matmul(weight.reshape(c_in, c_out * k * k).t(), x.reshape(n, c_in, h * w))
        y = F.fold(cols, size, k, padding=padding, stride=stride)
        if bias is not None:
            y.add_(bias.view(1, -1, 1, 1))
        ctx.save_for_backward(x, weight)
        ctx.geometry = (stride, padding, None if bias is None else [c_out])
        return y

    @staticmethod
    def backward(ctx, grad_y: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        stride, padding, bias_sizes = ctx.geometry
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], bias_sizes is not None and ctx.needs_input_grad[2]]
        grad_x, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_y, x, weight, bias_sizes, [stride, stride], [padding, padding], [1, 1], True, [0, 0], 1, mask)
        return grad_x, grad_w, grad_b, None, None


def conv_transpose2d_fold(x: Tensor, weight: Tensor, bias: Tensor | None = None, *, stride: int = 1,
                          padding: int = 0) -> Tensor:
    """F.conv_transpose2d(x, weight, bias, stride, padding) for a square kernel, as fold(W_mat^T x_mat).

    x (N, C_in, h, w), weight (C_in, C_out, k, k) -> (N, C_out, (h-1)s - 2p + k, (w-1)s - 2p + k).
    Differentiable in x, weight and bias, twice.
    """
    if x.ndim != 4 or weight.ndim != 4 or weight.shape[2] != weight.shape[3] or x.shape[1] != weight.shape[0]:
        raise ValueError(f"conv_transpose2d_fold takes x (N, C_in, h, w) and a square kernel (C_in, C_out, k, k), "
                         f"got x of shape {tuple(x.shape)} and weight of shape {tuple(weight.shape)}")
    return _ConvTranspose2dFold.apply(x.contiguous(), weight, bias, stride, padding)


def _native(x: Tensor) -> bool:
    """True where torch's own kernel is the one to use: off the CPU, or under autocast (bf16 convolutions)."""
    return x.device.type != "cpu" or torch.is_autocast_enabled(x.device.type)


def _square(name: str, value: tuple[int, ...]) -> int:
    if len(set(value)) != 1:
        raise ValueError(f"{name} must be the same along both sides, got {value}")
    return value[0]


class FoldConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose CPU forward is `conv_transpose2d_fold` (same parameters, state dict and results).

    For the image layer of a generator (few output channels). Square kernels, strides and paddings; no
    groups, dilation or output padding (ValueError naming the value otherwise).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
        self._s = _square("stride", self.stride)
        self._p = _square("padding", self.padding)
        _square("kernel_size", self.kernel_size)

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if _native(x) or output_size is not None:
            return super().forward(x, output_size)
        return conv_transpose2d_fold(x, self.weight, self.bias, stride=self._s, padding=self._p)


class FoldConv2d(nn.Conv2d):
    """nn.Conv2d of stride 1 whose CPU forward is `conv_transpose2d_fold` of the flipped, transposed kernel.

    For the image layer of a generator (few output channels). Square kernels, stride 1, zero padding
    0 <= p <= k - 1; no groups or dilation (ValueError naming the value otherwise).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        k = _square("kernel_size", self.kernel_size)
        p = _square("padding", self.padding)  # type: ignore[arg-type]
        if not 0 <= p <= k - 1:
            raise ValueError(f"FoldConv2d takes a padding from 0 to kernel_size - 1 = {k - 1}, got {p}")
        self._p_transposed = k - 1 - p

    def forward(self, x: Tensor) -> Tensor:
        if _native(x):
            return super().forward(x)
        flipped = self.weight.flip(2, 3).transpose(0, 1)
        return conv_transpose2d_fold(x, flipped, self.bias, stride=1, padding=self._p_transposed)
