"""Inception-v3 as the FID reference network: the 2015 TensorFlow graph, ported to PyTorch.

FID and the Inception Score are defined by one particular network: the Inception-v3 graph of
2015-12-05 that the TTUR code (FID) and openai/improved-gan (IS) ran. pytorch-fid ported its
weights to PyTorch as ``pt_inception-2015-12-05-6726825d.pth``; this module rebuilds the same
architecture with the same state-dict key names (torchvision's ``Inception3`` names), so that
file loads directly, and reproduces the graph's quirks:

* the average pools inside the mixed blocks ignore the zero padding (``count_include_pad=False``),
  as TensorFlow's ``avg_pool`` does;
* the pooling branch of the LAST block (``Mixed_7c``) is a 3x3 max pool, not an average pool;
* BatchNorm has eps = 1e-3, convolutions have no bias;
* the classifier has 1008 outputs (1000 ImageNet classes plus 8 unused ones).

The reference preprocessing of pytorch-fid: images in [0, 1], bilinear resize to 299 x 299
(``align_corners=False``, no antialiasing), then ``2 x - 1`` into [-1, 1]. torch-fidelity instead
resizes like TensorFlow 1.x (``resize="tf1"`` here: source pixel = target pixel x in/out, no
half-pixel offset). The two agree exactly on 299 x 299 inputs and differ slightly otherwise.

ganlab never downloads anything: the weights come from a path the user gives and are checked by
SHA-256 before loading (``torch.load(..., weights_only=True)`` or safetensors: no code runs).

Reference: Szegedy et al. 2016, "Rethinking the Inception Architecture" (arXiv:1512.00567);
Heusel et al. 2017 (FID, arXiv:1706.08500); Salimans et al. 2016 (IS, arXiv:1606.03498);
lecture 003_74d7f85fefbfef05.txt, "Frechet Inception Distance (FID)" ("representations are the
outputs of the intermediate layer from the pretrained classification model").
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FID_WEIGHTS_FILENAME",
    "FID_WEIGHTS_SHA256_PREFIX",
    "FID_WEIGHTS_SOURCE",
    "INCEPTION_ENV_VAR",
    "InceptionV3",
    "load_inception_state_dict",
    "build_inception",
    "preprocess_for_inception",
    "randomized_inception",
    "resize_bilinear_tf1",
    "sha256_of_file",
    "no_tf32",
]

FID_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_SHA256_PREFIX = "6726825d"
FID_WEIGHTS_SOURCE = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth"
)
INCEPTION_ENV_VAR = "GANLAB_INCEPTION_WEIGHTS"
INPUT_SIZE = 299
POOL3_DIM = 2048
NUM_LOGITS = 1008

_HOW_TO_GET = (
    f"ganlab never downloads weights; fetch {FID_WEIGHTS_FILENAME} yourself (pytorch-fid's release: "
    f"{FID_WEIGHTS_SOURCE}) and pass --inception-weights PATH or set {INCEPTION_ENV_VAR}=PATH"
)


# --------------------------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------------------------


class BasicConv2d(nn.Module):
    """conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU; the unit every Inception block is made of."""

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_tf(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's avg_pool divides by the number of real (unpadded) pixels in the window.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35 x 35 block (Mixed_5b/5c/5d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], 1)


class InceptionC(nn.Module):
    """17 x 17 block with factorised 7x7 convolutions (Mixed_6b..6e)."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (Mixed_7a)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], 1)


class InceptionE(nn.Module):
    """8 x 8 block with split 1x3 / 3x1 outputs (Mixed_7b, Mixed_7c).

    Note: in the 2015 graph the pooling branch of Mixed_7c is a 3x3 MAX pool (``pool="max"``);
    Mixed_7b uses the TF-style average pool. Using an average pool in Mixed_7c changes FID.
    """

    def __init__(self, in_channels: int, *, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "max":
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _avg_pool_tf(x)
        bp = self.branch_pool(pooled)
        return torch.cat([b1, b3, bd, bp], 1)


class InceptionV3(nn.Module):
    """The FID Inception-v3: (N, 3, 299, 299) in [-1, 1] -> pool3 features (N, 2048); fc -> (N, 1008).

    Module and parameter names are torchvision's ``Inception3`` names without ``AuxLogits``
    (``Conv2d_1a_3x3.conv.weight``, ..., ``Mixed_7c.branch_pool.bn.running_var``, ``fc.weight``),
    i.e. the key layout of pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``.
    Built in eval mode with ``requires_grad=False``: BatchNorm always uses its running statistics,
    so a sample's features never depend on the other images in its batch.

    Reference: Szegedy et al. 2016 (arXiv:1512.00567); pytorch-fid's FIDInceptionA/C/E patches.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(POOL3_DIM, NUM_LOGITS)
        self.requires_grad_(False)
        self.eval()

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """pool3 features: (N, 3, H, W) preprocessed to [-1, 1] -> (N, 2048) (global average pool)."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
                      self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def logits(self, pool3: torch.Tensor) -> torch.Tensor:
        """Classifier logits: (N, 2048) pool3 features -> (N, 1008) = pool3 W^T + b (no dropout in eval)."""
        return self.fc(pool3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, 299, 299) in [-1, 1] -> (pool3 (N, 2048), logits (N, 1008))."""
        f = self.pool3(x)
        return f, self.logits(f)


# --------------------------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------------------------


def _tf1_interp_matrix(n_in: int, n_out: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n_out, n_in) matrix of TF1 bilinear weights: src = i * n_in / n_out, hi index clamped."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = torch.floor(src).long().clamp_(max=n_in - 1)
    hi = (lo + 1).clamp_(max=n_in - 1)
    frac = src - lo.to(torch.float64)
    w = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    w.index_put_((rows, lo), 1.0 - frac, accumulate=True)
    w.index_put_((rows, hi), frac, accumulate=True)
    return w.to(dtype=dtype, device=device)


def resize_bilinear_tf1(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TensorFlow 1.x ``resize_bilinear`` (align_corners=False, no half-pixel centres).

    out[i, j] = bilinear sample of x at (i * H_in / H_out, j * W_in / W_out), neighbours clamped to
    the last row/column. Separable, so computed as W_y @ x @ W_x^T with two small matrices.
    Shapes: (N, C, H_in, W_in) float -> (N, C, H_out, W_out).

    Reference: TF1 ``image_resizer_state.h`` scale = in / out; torch-fidelity's
    ``interpolate_bilinear_2d_like_tensorflow1x`` (the protocol of its Inception features).
    """
    if x.ndim != 4 or not torch.is_floating_point(x):
        raise ValueError(f"expected a float tensor (N, C, H, W), got shape {tuple(x.shape)} dtype {x.dtype}")
    h_out, w_out = size
    wy = _tf1_interp_matrix(x.shape[2], h_out, x.dtype, x.device)
    wx = _tf1_interp_matrix(x.shape[3], w_out, x.dtype, x.device)
    return torch.matmul(torch.matmul(wy, x), wx.T)


def preprocess_for_inception(images: torch.Tensor, *, resize: str = "bilinear") -> torch.Tensor:
    """Images in [0, 1] -> network input: resize to 299 x 299, then 2 x - 1 into [-1, 1].

    Shapes: (N, C, H, W) with C in {1, 3} (grey is repeated to 3 channels) -> (N, 3, 299, 299) float32.
    ``resize="bilinear"``: pytorch-fid's ``F.interpolate(mode="bilinear", align_corners=False)``,
    no antialiasing. ``resize="tf1"``: TensorFlow 1.x bilinear (torch-fidelity's choice).

    Note: torchmetrics >= 1.8 antialiases by default, which changes FID for inputs that are not
    299 x 299; ganlab follows pytorch-fid (no antialias). Record the resize with the result.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images (N, C, H, W) with C in {{1, 3}}, got shape {tuple(images.shape)}")
    x = images.to(torch.float32)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[2:] != (INPUT_SIZE, INPUT_SIZE):
        if resize == "bilinear":
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        elif resize == "tf1":
            x = resize_bilinear_tf1(x, (INPUT_SIZE, INPUT_SIZE))
        else:
            raise ValueError(f"resize must be 'bilinear' (pytorch-fid) or 'tf1' (torch-fidelity), got {resize!r}")
    return 2.0 * x - 1.0


@contextlib.contextmanager
def no_tf32() -> Iterator[None]:
    """Switch TF32 off for CUDA matmuls and cuDNN convolutions inside the block, then restore.

    Note: TF32 keeps 10 mantissa bits; with it, pool3 features move by ~1e-3 relative and FID by
    more than the digits people report. The reference numbers were computed in full float32.
    """
    old_matmul = torch.backends.cuda.matmul.allow_tf32
    old_cudnn = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old_matmul
        torch.backends.cudnn.allow_tf32 = old_cudnn


# --------------------------------------------------------------------------------------------
# weights: found by the user, checked by hash, loaded without running code
# --------------------------------------------------------------------------------------------


def sha256_of_file(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def resolve_weights_path(path: str | os.PathLike | None) -> Path:
    """The weight file: the given path, else $GANLAB_INCEPTION_WEIGHTS; clear errors when neither exists."""
    if path is None:
        env = os.environ.get(INCEPTION_ENV_VAR)
        if not env:
            raise ValueError(f"the inception-v3 extractor needs its weight file: {_HOW_TO_GET}")
        path = env
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"Inception weights not found at {str(p)!r}. {_HOW_TO_GET}")
    return p


def _check_hash(digest: str, expected: str | None, path: Path) -> None:
    if expected is None:
        if not digest.startswith(FID_WEIGHTS_SHA256_PREFIX):
            raise ValueError(
                f"{str(path)!r} has SHA-256 {digest}, which does not start with {FID_WEIGHTS_SHA256_PREFIX!r}: "
                f"it is not {FID_WEIGHTS_FILENAME}, and FID numbers from other weights are not comparable "
                f"with published ones. To use this file anyway pass --inception-sha256 {digest}. {_HOW_TO_GET}"
            )
        return
    want = expected.strip().lower()
    if len(want) < 8 or any(c not in "0123456789abcdef" for c in want):
        raise ValueError(f"inception sha256 must be at least 8 hex digits, got {expected!r}")
    if not digest.startswith(want):
        raise ValueError(f"{str(path)!r} has SHA-256 {digest}, expected {want!r} (given as --inception-sha256)")


def load_inception_state_dict(
    path: str | os.PathLike | None = None, *, sha256: str | None = None
) -> tuple[dict[str, torch.Tensor], str]:
    """Read the weight file after checking its SHA-256; returns (state_dict, full hex digest).

    ``path=None`` reads $GANLAB_INCEPTION_WEIGHTS. Without ``sha256`` the digest must start with
    ``6726825d`` (pytorch-fid's file, hash prefix in its name by the torch-hub convention); with
    ``sha256`` (a full digest or a prefix of >= 8 hex digits) that value is checked instead, which
    is how another file is accepted. ``.safetensors`` files load with safetensors, anything else with
    ``torch.load(..., weights_only=True)``: neither runs code from the file.
    """
    p = resolve_weights_path(path)
    digest = sha256_of_file(p)
    _check_hash(digest, sha256, p)
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(p))
        except SafetensorError as exc:
            raise ValueError(f"could not read {str(p)!r} as safetensors: {exc}") from None
    else:
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors, zip errors: the file is not a plain state dict
            if isinstance(exc, pickle.UnpicklingError):  # torch's message runs over many lines, with colour codes
                why = "it holds pickled Python objects other than tensors, which were refused, not run"
            else:
                why = f"{type(exc).__name__}: " + re.sub(r"\s+", " ", str(exc)).strip()[:200]
            raise ValueError(f"could not read {str(p)!r} as a PyTorch state dict (torch.load with weights_only=True, "
                             f"which runs no code from the file): {why}") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{str(p)!r} does not hold a flat state dict of tensors (name -> tensor)")
    return dict(state), digest


def randomized_inception(seed: int = 0) -> InceptionV3:
    """An InceptionV3 with seeded random weights whose activations stay O(1) through its 94 convolutions
    (He-normal convolutions, batch-norm scales in [0.8, 1.2], shifts and running means ~ N(0, 0.1^2), running
    variances in [0.5, 1.5], fc ~ N(0, 1/2048)): the weight-free stand-in of tests and timings, since no
    weights are downloaded. Its features mean nothing; FID numbers need the reference file."""
    model = InceptionV3()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("conv.weight"):
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / t[0].numel()) ** 0.5)
            elif name.endswith("bn.weight"):
                t.copy_(0.8 + 0.4 * torch.rand(t.shape, generator=g))
            elif name.endswith("bn.bias") or name.endswith("running_mean"):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
            elif name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name == "fc.weight":
                t.copy_(torch.randn(t.shape, generator=g) / 2048**0.5)
            elif name == "fc.bias":
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
    return model.eval()


def build_inception(
    path: str | os.PathLike | None = None,
    *,
    sha256: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[InceptionV3, str]:
    """InceptionV3 with the user's weights, in eval mode on ``device``; returns (model, sha256).

    The key layout must match exactly (missing or unexpected keys raise ValueError naming a few);
    ``num_batches_tracked`` buffers, which some exports drop, are filled in as 0.
    """
    state, digest = load_inception_state_dict(path, sha256=sha256)
    with torch.device("meta"):  # no random init of 24M parameters that are overwritten at once
        model = InceptionV3()
    expected = model.state_dict()
    for key in expected:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"the weight file does not have the Inception-v3 (FID) key layout of {FID_WEIGHTS_FILENAME}: "
            f"{len(missing)} missing keys (e.g. {missing[:3]}), {len(unexpected)} unexpected keys "
            f"(e.g. {unexpected[:3]})"
        )
    bad = [k for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
    if bad:
        k = bad[0]
        raise ValueError(f"weight {k!r} has shape {tuple(state[k].shape)}, expected {tuple(expected[k].shape)}")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True, assign=True)
    model.requires_grad_(False)
    model.eval()
    return model.to(device), digest
