"""The Stacked-MNIST mode metric: modes captured and KL(q || uniform) over the 1 000 digit triples.

Stacked MNIST stacks three MNIST digits as the R, G, B channels of one image, so the data have
10^3 = 1 000 equally likely modes. A grey-digit classifier labels each channel of a generated image;
the triple is its mode:

    k(x) = 100 l_R(x) + 10 l_G(x) + l_B(x)            in 0..999
    c_k  = #{i : k(x_i) = k},   q = c / N              the empirical mode histogram
    modes captured = #{k : c_k >= 1}
    KL   = KL(q || U_1000) = sum_k q_k log(1000 q_k) = log 1000 - H(q)     (natural log, 0 log 0 = 0)

Because U_1000 is the product of three uniform digit distributions, the KL splits exactly into the
channels' digit imbalance and their dependence (the total correlation of q):

    KL(q || U_1000) = sum_c KL(q_c || U_10) + [sum_c H(q_c) - H(q)]        q_c = the channel-c marginal of q

so a generator that draws every triple but favours some digits in a channel pays in the first term, one
that couples the channels in the second. Neither is 0 for finite N even for the data: N uniform samples
have E KL ~ (1000 - 1) / (2N) (0.019 at N = 26 000), and real Stacked-MNIST triples add MNIST's own
digit frequencies (not uniform: 8.6 % fives and 11.3 % ones among the 8 000 training digits of the MNIST
file of benchmarks/mnist_npz.py) and the classifier's confusions.

Protocol (VEEGAN, Srivastava et al. 2017, arXiv:1705.07761, Sec. 5.2; PacGAN, Lin et al. 2018,
arXiv:1712.04086, Sec. 4): 26 000 generated samples; a mode counts as captured when at least one
sample lands in it. There is no quality threshold (unlike the toy metric of ``ganlab.metrics.modes``)
and no confidence threshold on the classifier: each channel gets its argmax label. PacGAN's code does
exactly this (fjxmlzn/PacGAN, stacked_MNIST_experiments/VEEGAN_experiment/model.py, `log_metrics`:
the number of distinct label triples among 26 000 samples, and KL(p || uniform) with 0 log 0 = 0).

The chain is two small functions: ``classify_stacked`` (images -> (N, 3) labels; the only part that
runs a network) and ``stacked_mnist_modes`` (labels -> counts -> modes, KL and its split, float64, pure).
Published values to compare with: ``PUBLISHED``. REFERENCES.md (Images) lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ganlab.metrics.classifier import EVAL_BATCH

__all__ = ["NUM_MODES", "StackedModes", "PublishedStackedMNIST", "PUBLISHED", "stacked_mnist_modes",
           "classify_stacked"]

#: 10 digits per channel, 3 channels.
NUM_MODES = 1000


@dataclass(frozen=True)
class StackedModes:
    """The Stacked-MNIST mode metric of N samples.

    Attributes:
        modes: number of modes k with c_k >= 1, in 1..1000.
        kl: KL(q || uniform over 1000) in nats, in [0, log 1000]; 0 iff every mode is equally frequent.
        counts: c_k, int64 array (1000,), read-only, mode k = 100 l_R + 10 l_G + l_B.
        n_samples: N.
        channel_kl: (KL(q_R || U_10), KL(q_G || U_10), KL(q_B || U_10)), each in [0, log 10]: the digit
            imbalance of each channel.
        dependence (property): kl - sum(channel_kl), the channels' total correlation.
    """

    modes: int
    kl: float
    counts: np.ndarray = field(repr=False, compare=False)
    n_samples: int
    channel_kl: tuple[float, float, float]

    @property
    def dependence(self) -> float:
        """kl - sum(channel_kl) = sum_c H(q_c) - H(q), the total correlation of the channels' labels; never
        negative for an empirical q, so it is clipped at 0 against rounding."""
        return max(self.kl - sum(self.channel_kl), 0.0)


@dataclass(frozen=True)
class PublishedStackedMNIST:
    """One published Stacked-MNIST result: modes captured and KL(q || uniform), 26 000 samples each."""

    modes: float
    kl: float
    source: str
    n_samples: int = 26000


_VEEGAN = "Srivastava et al. 2017, VEEGAN (arXiv:1705.07761), Sec. 5.2, Stacked-MNIST table"
_PACGAN = "Lin et al. 2018, PacGAN (arXiv:1712.04086), Sec. 4, Table 2 (VEEGAN's architecture; mean of 10 trials)"
_PACGAN_SMALL_D = ("Lin et al. 2018, PacGAN (arXiv:1712.04086), Sec. 4, Table 3 (Unrolled GAN's architecture with "
                   "a discriminator 1/4 the generator's size; mean of 10 trials)")

#: Published Stacked-MNIST anchors (as collected in REFERENCES.md, "Images"), keyed "paper/model".
PUBLISHED: dict[str, PublishedStackedMNIST] = {
    "veegan/dcgan": PublishedStackedMNIST(99, 3.4, _VEEGAN),
    "veegan/ali": PublishedStackedMNIST(16, 5.4, _VEEGAN),
    "veegan/unrolled-gan": PublishedStackedMNIST(48.7, 4.32, _VEEGAN),
    "veegan/veegan": PublishedStackedMNIST(150, 2.95, _VEEGAN),
    "pacgan/dcgan": PublishedStackedMNIST(78.9, 4.50, _PACGAN),
    "pacgan/pacdcgan2": PublishedStackedMNIST(1000, 0.06, _PACGAN),
    "pacgan-small-d/dcgan": PublishedStackedMNIST(30.6, 5.99, _PACGAN_SMALL_D),
    "pacgan-small-d/unrolled-gan-10": PublishedStackedMNIST(327.2, 4.66, _PACGAN_SMALL_D),
    "pacgan-small-d/pacdcgan4": PublishedStackedMNIST(667.4, 1.81, _PACGAN_SMALL_D),
}


def stacked_mnist_modes(channel_labels: Any) -> StackedModes:
    """modes = #{k : c_k >= 1} and KL(q || U_1000) = sum_k q_k log(1000 q_k) of the modes k = 100 l_R + 10 l_G + l_B.

    Args:
        channel_labels: (N, 3) integer digit labels in 0..9 per channel, in the order R, G, B (numpy or
            torch, any integer dtype), N >= 1.

    Returns:
        StackedModes (counts of length 1000; channel_kl = KL(q_c || U_10) of each channel's digit histogram).

    Raises ValueError for another shape, a non-integer dtype or a label outside 0..9.

    Note: q_k log(1000 q_k) is evaluated as (c_k / N) log(1000 c_k / N) with 1000 c_k an exact integer,
    so that equal counts give 1000 c_k / N = 1 and KL = 0 exactly, and one mode gives log 1000 exactly.
    """
    labels = channel_labels.detach().cpu().numpy() if isinstance(channel_labels, torch.Tensor) else np.asarray(
        channel_labels)
    if labels.ndim != 2 or labels.shape[1] != 3 or labels.shape[0] < 1:
        raise ValueError(f"channel_labels must be (N, 3) digit labels (R, G, B) with N >= 1, got shape "
                         f"{tuple(labels.shape)}")
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"channel_labels must be integers 0..9, got dtype {labels.dtype}")
    outside = (labels < 0) | (labels > 9)
    if outside.any():
        raise ValueError(f"channel_labels must be digits 0..9, got {int(outside.sum())} outside, e.g. "
                         f"{int(labels[outside][0])}")
    labels = labels.astype(np.int64)
    mode = 100 * labels[:, 0] + 10 * labels[:, 1] + labels[:, 2]
    counts = np.bincount(mode, minlength=NUM_MODES).astype(np.int64)
    n = int(labels.shape[0])
    counts.setflags(write=False)
    channel_kl = tuple(_kl_to_uniform(np.bincount(labels[:, c], minlength=10), n) for c in range(3))
    return StackedModes(modes=int(np.count_nonzero(counts)), kl=_kl_to_uniform(counts, n), counts=counts,
                        n_samples=n, channel_kl=channel_kl)


def _kl_to_uniform(counts: np.ndarray, n: int) -> float:
    """sum_k (c_k / n) log(K c_k / n) over the K bins of `counts` (float64, 0 log 0 = 0, clipped at 0).

    K c_k is an exact integer, so equal counts give exactly 0 and one full bin exactly log K."""
    seen = counts[counts > 0].astype(np.float64)
    return max(float(np.sum(seen / n * np.log(counts.size * seen / n))), 0.0)


@torch.no_grad()
def classify_stacked(images: torch.Tensor, classifier: nn.Module, *, batch_size: int = EVAL_BATCH // 3) -> np.ndarray:
    """l_c(x) = argmax classifier(x[:, c]) for c = R, G, B: images (N, 3, H, W) in [0, 1] -> labels (N, 3) int64.

    Each channel is classified as a grey image (N, 1, H, W) in [0, 1], the input of
    ``ganlab.metrics.classifier.SmallCNN``; the three channels of a batch go through one forward pass.
    The classifier is put in eval mode for the call and returned to its previous mode.

    Args:
        images: (N, 3, H, W) float tensor with values in [0, 1] (generator output x in [-1, 1] is
            (x + 1) / 2).
        classifier: a module mapping (B, 1, H, W) in [0, 1] to digit logits (B, 10).
        batch_size: images per forward pass (3 x batch_size grey images, about `EVAL_BATCH`: small batches
            run faster on the CPU).

    Returns:
        (N, 3) int64 labels, column 0 the R channel's, 1 G's, 2 B's.

    Raises ValueError for another shape, values outside [0, 1] or non-finite, a batch_size < 1, or a
    classifier that does not return (B, 10) logits.
    """
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise ValueError(f"images must be a floating-point torch.Tensor (N, 3, H, W), got {type(images).__name__}"
                         f"{'' if not isinstance(images, torch.Tensor) else f' of dtype {images.dtype}'}")
    if images.ndim != 4 or images.shape[1] != 3 or min(images.shape) < 1:
        raise ValueError(f"images must be (N, 3, H, W) stacked digits (R, G, B), got shape {tuple(images.shape)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not torch.isfinite(images).all():
        raise ValueError(f"images hold {int((~torch.isfinite(images)).sum())} non-finite values; expected [0, 1]")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"images must be in [0, 1] (map generator output x in [-1, 1] by (x + 1) / 2), got values "
                         f"in [{lo:.4g}, {hi:.4g}]")
    param = next(iter(classifier.parameters()), None)
    device, dtype = (param.device, param.dtype) if param is not None else (images.device, images.dtype)
    n, _, h, w = images.shape
    was_training = classifier.training
    classifier.eval()
    try:
        out = []
        for start in range(0, n, batch_size):
            batch = images[start:start + batch_size]
            b = batch.shape[0]
            # (b, 3, H, W) -> (3b, 1, H, W): rows r*3 + c, so that the labels reshape back to (b, 3) as R, G, B
            logits = classifier(batch.reshape(b * 3, 1, h, w).to(device=device, dtype=dtype))
            if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (b * 3, 10):
                got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                raise ValueError(f"the classifier must return digit logits ({b * 3}, 10) for {b * 3} grey images, "
                                 f"got {got}")
            out.append(logits.argmax(dim=1).reshape(b, 3).to("cpu", torch.int64))
    finally:
        classifier.train(was_training)
    return torch.cat(out).numpy()

