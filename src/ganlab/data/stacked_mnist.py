"""Stacked MNIST: three MNIST digits as the R, G, B channels of one image, a distribution with 1 000 modes.

    x = (d_a, d_b, d_c),  a, b, c ~ U{training digits} independently,  label(x) = 100 y_a + 10 y_b + y_c

Each class triple (y_a, y_b, y_c) is one mode; a generator's coverage is the number of the 1 000 triples
an MNIST classifier, applied to each channel, finds among its samples (with the KL divergence of their
histogram to the data's). References: VEEGAN (Srivastava et al. 2017, arXiv:1705.07761), Sec. 5.2;
PacGAN (Lin et al. 2018, arXiv:1712.04086), Sec. 5; the protocol and published numbers in REFERENCES.md.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from torch import Tensor

from ganlab.data.image_sets import ImageDataset, mnist, to_unit_interval
from ganlab.data.toy import check_draw

__all__ = ["StackedMNIST", "stacked_mnist"]

_BLOCK = 1024  # held-out stacks are drawn in blocks of this many, so the first n never depend on how many follow


class StackedMNIST:
    """Three MNIST digits stacked as the R, G, B channels: x = (d_a, d_b, d_c), label 100 a + 10 b + c.

    Each sample draws three independent uniform indices into the training digits, so the 1 000
    combinations of classes are (nearly) equally likely; nothing of size N^3 is materialized.

    Attributes:
        digits: the grey ImageDataset (1, H, W) with labels 0..9 it stacks (the MNIST training and
            test splits).
        shape: (3, H, W); num_modes: 1000; classifier: "stacked-mnist"; modes: None (no mode
            centres: the modes are label triples); source: the digits' file.
        test_seed: the seed of the held-out stacks, drawn from the digits' test split.
    """

    modes: np.ndarray | None = None
    num_modes = 1000
    name = "stacked-mnist"
    classifier = "stacked-mnist"

    def __init__(self, digits: ImageDataset, *, test_seed: int = 0) -> None:
        if digits.shape[0] != 1 or digits.labels is None or int(digits.labels.max()) > 9:
            raise ValueError(f"stacked MNIST needs grey digits (1, H, W) with labels 0..9, got {digits!r}")
        self.digits = digits
        self.test_seed = int(test_seed)
        self.source = digits.source

    @property
    def shape(self) -> tuple[int, int, int]:
        """(3, H, W): one digit per colour channel."""
        return (3, *self.digits.shape[1:])  # type: ignore[return-value]

    @staticmethod
    def _stack(pixels: Tensor, labels: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
        """Digits index[:, 0], index[:, 1], index[:, 2] as R, G, B: (n, 3, H, W) uint8 and labels 100a + 10b + c."""
        n = index.shape[0]
        x = pixels[index.reshape(-1)].reshape(n, 3, *pixels.shape[2:])
        y = (labels[index] * torch.tensor([100, 10, 1])).sum(1)
        return x, y

    def sample_with_labels(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> tuple[Tensor, Tensor]:
        """n stacks of three independent uniform training digits, as p / 127.5 - 1, and labels 100a + 10b + c.

        Shapes: (n, 3, H, W) in [-1, 1], (n,) int64 in 0..999. Indices (n, 3) come from `generator`.
        """
        check_draw(n, generator, dtype)
        index = torch.randint(len(self.digits), (int(n), 3), generator=generator)
        x, y = self._stack(self.digits.images, self.digits.labels, index)
        return to_unit_interval(x, max_value=self.digits.max_value, device=device, dtype=dtype), y.to(device)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """n stacks of three uniform training digits, x = p / 127.5 - 1. Shapes: (n, 3, H, W) in [-1, 1]."""
        return self.sample_with_labels(n, generator=generator, device=device, dtype=dtype)[0]

    def _held_out(self, n: int | None) -> tuple[Tensor, Tensor] | None:
        test, labels = self.digits.test_images, self.digits.test_labels
        if test is None or labels is None:
            return None
        if n is None:
            n = len(test)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer number of held-out stacks, got {n!r}")
        g = torch.Generator().manual_seed(self.test_seed)
        index = torch.cat([torch.randint(len(test), (_BLOCK, 3), generator=g) for _ in range(math.ceil(n / _BLOCK))])
        return self._stack(test, labels, index[:n])

    def held_out(self, n: int | None = None) -> Tensor | None:
        """n stacks (default: as many as test digits) of test digits from the fixed `test_seed`, float p / 255.

        Shapes: (n, 3, H, W) in [0, 1]. The first k of n stacks are the stacks of `held_out(k)`.
        """
        stacks = self._held_out(n)
        return None if stacks is None else stacks[0].to(torch.float32) / float(self.digits.max_value)

    def held_out_labels(self, n: int | None = None) -> Tensor | None:
        """The labels 100a + 10b + c of `held_out(n)`, (n,) int64."""
        stacks = self._held_out(n)
        return None if stacks is None else stacks[1]

    def __repr__(self) -> str:
        return f"StackedMNIST({len(self.digits)} training digits, source {self.source!r})"


def stacked_mnist(*, path: str | os.PathLike | None = None) -> StackedMNIST:
    """Stacked MNIST (3, 28, 28), 1 000 modes, from the MNIST .npz of `image_sets.mnist(path=...)` (same default)."""
    return StackedMNIST(mnist(path=path))
