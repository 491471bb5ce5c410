"""A generator's image layer on the CPU: a convolution with few output channels as one matmul and a col2im.

    conv_transpose2d(x, W)[n] = fold(W_mat^T x_mat[n])     W_mat = W.reshape(C_in, C_out k k), x_mat[n] = x[n] as (C_in, h w)
    conv2d(x, W, padding p)   = conv_transpose2d(x, W~, padding k - 1 - p)     W~[c, o, i, j] = W[o, c, k-1-i, k-1-j], stride 1

fold (col2im) adds the k x k patch of every input pixel into the output at its stride-s position, which is
exactly the transposed convolution; the second line is the identity that a stride-1 convolution is the
transposed convolution of the flipped, transposed kernel. Same parameters, same results up to float rounding.

Why: on the CPU, torch's convolutions (oneDNN) run such layers far below matmul speed. The DCGAN generator's
last layer for 28 x 28 grey images (ConvTranspose2d 64 -> 1, 14 -> 28, batch 64: 25.7 MFLOP) took 10.4 ms in
its forward, 2.5 GFLOP/s, and 4.7 ms as matmul + fold; the SN-ResNet generator's (Conv2d 256 -> 3, 3 x 3, on
32 x 32: 0.91 GFLOP) 76 ms against 19 (1 thread; benchmarks/image_layers.py, section image_layers of
docs/BENCHMARKS.md). A likely cause is that oneDNN blocks output channels in groups of the vector width, so 1 or
3 of them leave most lanes idle. Only the forward changes: the backward is torch's own convolution backward
(`aten.convolution_backward`, itself differentiable, so a double backward works too). Off the CPU, under
autocast and for an unbatched input the layers are plain `nn.ConvTranspose2d` / `nn.Conv2d`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["conv_transpose2d_fold", "FoldConvTranspose2d", "FoldConv2d"]


class _ConvTranspose2dFold(torch.autograd.Function):
    """conv_transpose2d(x, W, b, stride, padding) by matmul + fold; backward: torch's convolution backward."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None,  # type: ignore[override]
                stride: int, padding: int) -> Tensor:
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
    if bias is not None and tuple(bias.shape) != (weight.shape[1],):
        raise ValueError(f"conv_transpose2d_fold takes a bias of shape (C_out,) = ({weight.shape[1]},), "
                         f"got {tuple(bias.shape)}")
    if stride < 1 or padding < 0:
        raise ValueError(f"conv_transpose2d_fold takes stride >= 1 and padding >= 0, got {stride} and {padding}")
    return _ConvTranspose2dFold.apply(x.contiguous(), weight, bias, stride, padding)


def _native(x: Tensor) -> bool:
    """True where torch's own kernel is the one to use: off the CPU, under autocast (bf16 convolutions), for
    an unbatched (C, H, W) input, or in a precision below float32 (fold would add the patches in it)."""
    return (x.device.type != "cpu" or x.ndim != 4 or x.dtype not in (torch.float32, torch.float64)
            or torch.is_autocast_enabled(x.device.type))


def _square(name: str, value: tuple[int, ...] | str) -> int:
    """The one value of a square layer's (v, v) `name`; ValueError naming it for (v, w) or a string."""
    if isinstance(value, str) or len(set(value)) != 1 or value[0] < 0:
        raise ValueError(f"{name} must be one integer >= 0 for both sides, got {value!r}")
    return value[0]


class FoldConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose CPU forward is `conv_transpose2d_fold` (same parameters, state dict and results).

    For the image layer of a generator (few output channels). Square kernels, strides and paddings (ValueError
    naming the value otherwise); groups, dilation, output padding and padding modes are not arguments.
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

    For the image layer of a generator (few output channels). Square kernels, stride 1, an integer padding
    0 <= p <= k - 1 (ValueError naming the value otherwise); groups, dilation and padding modes are not
    arguments.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 bias: bool = True) -> None:
        if isinstance(padding, str):
            raise ValueError(f"FoldConv2d takes an integer padding, got {padding!r}")
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
