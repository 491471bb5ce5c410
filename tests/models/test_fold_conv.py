"""The image layer as matmul + fold: equal to torch's convolutions in value and in first and second derivatives."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganlab.models import DCGANGenerator, ResNetGenerator
from ganlab.models.fold_conv import FoldConv2d, FoldConvTranspose2d, conv_transpose2d_fold


def _loop_conv_transpose2d(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    """The transposed convolution from its definition: every input pixel adds w[c] scaled into the output."""
    n, c_in, h, wd = x.shape
    c_out, k = w.shape[1], w.shape[2]
    full = torch.zeros(n, c_out, (h - 1) * stride + k, (wd - 1) * stride + k, dtype=x.dtype)
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride:i * stride + k, j * stride:j * stride + k] += torch.einsum(
                "nc,cokl->nokl", x[:, :, i, j], w)
    return full[:, :, padding:full.shape[2] - padding, padding:full.shape[3] - padding]


@pytest.mark.parametrize("c_in, c_out, k, stride, padding, side", [
    (4, 1, 4, 2, 1, 5), (3, 3, 4, 2, 1, 4), (2, 3, 3, 1, 1, 6), (5, 2, 3, 2, 0, 3), (3, 1, 5, 1, 2, 4),
])
def test_conv_transpose2d_fold_equals_the_definition_and_torch(c_in, c_out, k, stride, padding, side):
    g = torch.Generator().manual_seed(c_in * 10 + k)
    x = torch.randn(2, c_in, side, side, dtype=torch.float64, generator=g)
    w = torch.randn(c_in, c_out, k, k, dtype=torch.float64, generator=g)
    b = torch.randn(c_out, dtype=torch.float64, generator=g)
    y = conv_transpose2d_fold(x, w, b, stride=stride, padding=padding)
    expected = _loop_conv_transpose2d(x, w, stride, padding) + b.view(1, -1, 1, 1)
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y, F.conv_transpose2d(x, w, b, stride=stride, padding=padding), rtol=1e-12, atol=1e-12)


def test_conv_transpose2d_fold_first_and_second_derivatives():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(3, 2, 4, 4, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, generator=g, requires_grad=True)

    def fn(x, w, b):
        return conv_transpose2d_fold(x, w, b, stride=2, padding=1)

    assert torch.autograd.gradcheck(fn, (x, w, b))
    assert torch.autograd.gradgradcheck(fn, (x, w, b))
    # the gradients equal torch's, through a loss that is not linear in the output
    ours = torch.autograd.grad((fn(x, w, b) ** 2).sum(), (x, w, b))
    torchs = torch.autograd.grad((F.conv_transpose2d(x, w, b, stride=2, padding=1) ** 2).sum(), (x, w, b))
    torch.testing.assert_close(ours, torchs, rtol=1e-12, atol=1e-12)


def test_fold_conv2d_is_torchs_conv2d_with_the_same_weights():
    torch.manual_seed(0)
    for k, p in ((3, 1), (3, 0), (5, 2), (1, 0), (3, 2)):
        ref = nn.Conv2d(6, 3, k, padding=p).double()
        fold = FoldConv2d(6, 3, k, padding=p).double()
        fold.load_state_dict(ref.state_dict())
        x = torch.randn(2, 6, 7, 7, dtype=torch.float64, requires_grad=True)
        y_ref, y = ref(x), fold(x)
        torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
        g_ref = torch.autograd.grad((y_ref ** 2).sum(), (x, ref.weight, ref.bias))
        g = torch.autograd.grad((y ** 2).sum(), (x, fold.weight, fold.bias))
        torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradgradcheck(lambda x: fold(x), (x,))


def test_fold_conv_transpose2d_module_matches_torch_and_keeps_its_state_dict():
    torch.manual_seed(1)
    ref = nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1).double()
    fold = FoldConvTranspose2d(8, 1, 4, stride=2, padding=1).double()
    assert fold.state_dict().keys() == ref.state_dict().keys()
    fold.load_state_dict(ref.state_dict())
    x = torch.randn(3, 8, 7, 7, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(fold(x), ref(x), rtol=1e-12, atol=1e-12)
    assert fold(x).shape == (3, 1, 14, 14)
    gx = torch.autograd.grad(fold(x).sum(), x)[0]
    torch.testing.assert_close(gx, torch.autograd.grad(ref(x).sum(), x)[0], rtol=1e-12, atol=1e-12)
    # an unbatched input and an explicit output_size take torch's own path and give torch's result
    torch.testing.assert_close(fold(x[0]), ref(x[0]), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fold(x, output_size=[15, 15]), ref(x, output_size=[15, 15]))


def test_autocast_takes_torchs_kernel():
    torch.manual_seed(2)
    fold = FoldConvTranspose2d(8, 1, 4, stride=2, padding=1)
    x = torch.randn(2, 8, 7, 7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fold(x)
        ref = nn.ConvTranspose2d.forward(fold, x)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y, ref, rtol=0, atol=0)


def test_bad_geometry_is_refused_by_name():
    with pytest.raises(ValueError, match=r"padding from 0 to kernel_size - 1 = 2, got 3"):
        FoldConv2d(4, 3, 3, padding=3)
    with pytest.raises(ValueError, match=r"FoldConv2d takes an integer padding, got 'same'"):
        FoldConv2d(4, 3, 3, padding="same")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"stride must be one integer >= 0 for both sides, got \(1, 2\)"):
        FoldConvTranspose2d(4, 3, 3, stride=(1, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"padding must be one integer >= 0 for both sides, got \(-1, -1\)"):
        FoldConvTranspose2d(4, 3, 3, padding=-1)
    with pytest.raises(ValueError, match=r"square kernel \(C_in, C_out, k, k\), got x of shape \(2, 3, 4, 4\)"):
        conv_transpose2d_fold(torch.zeros(2, 3, 4, 4), torch.zeros(4, 1, 3, 3))
    with pytest.raises(ValueError, match=r"bias of shape \(C_out,\) = \(3,\), got \(1,\)"):
        conv_transpose2d_fold(torch.zeros(2, 4, 4, 4), torch.zeros(4, 3, 3, 3), torch.zeros(1))


@pytest.mark.parametrize("module", ["transposed", "conv"])
def test_penalty_double_backward_equals_torchs(module):
    """A gradient penalty through the layer, (‖∇_x Σ y²‖ - 1)², differentiated again in the weights and the
    input: the same numbers as torch's own layer, without a bias and on a non-square input."""
    torch.manual_seed(4)
    if module == "transposed":
        ref, fold = nn.ConvTranspose2d(5, 2, 4, stride=2, padding=1, bias=False), FoldConvTranspose2d(
            5, 2, 4, stride=2, padding=1, bias=False)
    else:
        ref, fold = nn.Conv2d(5, 2, 3, padding=1, bias=False), FoldConv2d(5, 2, 3, padding=1, bias=False)
    ref, fold = ref.double(), fold.double()
    fold.load_state_dict(ref.state_dict())
    x = torch.randn(3, 5, 4, 6, dtype=torch.float64, requires_grad=True)

    def penalty_grads(layer):
        (gx,) = torch.autograd.grad((layer(x) ** 2).sum(), x, create_graph=True)
        gp = ((gx.flatten(1).norm(dim=1) - 1) ** 2).sum()
        return torch.autograd.grad(gp, (layer.weight, x))

    torch.testing.assert_close(penalty_grads(fold), penalty_grads(ref), rtol=1e-12, atol=1e-12)


def test_torchs_path_for_autocast_unbatched_and_half_precision_inputs():
    torch.manual_seed(5)
    fold = FoldConv2d(6, 3, 3, padding=1)
    x = torch.randn(2, 6, 5, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(fold(x), nn.Conv2d.forward(fold, x), rtol=0, atol=0)
    torch.testing.assert_close(fold(x[0]), nn.Conv2d.forward(fold, x[0]), rtol=0, atol=0)
    bf16 = FoldConvTranspose2d(6, 1, 4, stride=2, padding=1).bfloat16()
    xb = x.bfloat16()
    torch.testing.assert_close(bf16(xb), nn.ConvTranspose2d.forward(bf16, xb), rtol=0, atol=0)


@pytest.mark.parametrize("family, shape", [("dcgan", (1, 28, 28)), ("dcgan", (3, 16, 16)), ("resnet", (3, 32, 32)),
                                           ("resnet", (1, 8, 8))])
def test_generators_with_fold_image_layers_equal_their_torch_nn_copies(family, shape):
    """Each generator's output equals the same net with its image layer as torch's module (same weights)."""
    torch.manual_seed(3)
    g = (DCGANGenerator(100, shape) if family == "dcgan" else ResNetGenerator(128, shape, width=32)).double().eval()
    fold = [m for m in g.modules() if isinstance(m, (FoldConv2d, FoldConvTranspose2d))]
    assert len(fold) == 1 and fold[0].out_channels == shape[0]
    z = torch.randn(5, g.latent_dim, dtype=torch.float64)
    y = g(z)
    for m in fold:
        m.forward = (nn.ConvTranspose2d.forward if isinstance(m, nn.ConvTranspose2d)
                     else nn.Conv2d.forward).__get__(m)
    torch.testing.assert_close(y, g(z), rtol=1e-12, atol=1e-12)


def test_a_64_pixel_dcgan_generator_keeps_torchs_layer():
    assert not any(isinstance(m, FoldConvTranspose2d) for m in DCGANGenerator(100, (3, 64, 64)).modules())
    assert isinstance(DCGANGenerator(100, (3, 32, 32)).net[-2], FoldConvTranspose2d)
