"""A data set held in memory as one tensor: x_1..x_n, sampled uniformly with replacement.

    x ~ (1/n) sum_i delta_{x_i}

The empirical distribution of a fixed sample (images loaded from a file or folder, or any array). It
implements the `ganlab.data.Dataset` protocol like the toy distributions, so the training loop draws
from it the same way: `sample(n, generator=...)` picks n indices from a seeded CPU generator.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ganlab.data.toy import check_draw

__all__ = ["TensorDataset"]


class TensorDataset:
    """The empirical distribution of `data` (n, *shape): each draw is one of its rows, uniformly.

    Attributes:
        name: registry or file name, for configs and reports.
        data: (n, *shape) float32 tensor on the CPU, read-only by convention.
        shape: the shape of one sample, e.g. (1, 28, 28) for grey images as (C, H, W).
        modes: None (an empirical distribution has no known modes).
    """

    modes: np.ndarray | None = None

    def __init__(self, data: Tensor | np.ndarray, *, name: str = "tensor") -> None:
        x = torch.as_tensor(data)
        if x.ndim < 2 or x.shape[0] < 1:
            raise ValueError(f"data set {name!r} must be (n, *shape) with n >= 1, got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"data set {name!r} must hold floating-point values, got dtype {x.dtype}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"data set {name!r} holds NaN or infinite values")
        self.name = name
        self.data = x.detach().to("cpu", torch.float32).contiguous()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[1:])

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """n rows drawn uniformly with replacement (indices from `generator`, a CPU generator). Shapes: (n, *shape)."""
        check_draw(n, generator, dtype)
        idx = torch.randint(len(self), (int(n),), generator=generator)
        return self.data[idx].to(device=device, dtype=dtype)
