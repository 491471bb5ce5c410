"""Data sources and the registry of data sets by name.

Every data set the training loop takes follows the `Dataset` protocol: `sample(n, generator=...)`
draws n samples from a seeded CPU generator, `shape` is one sample's shape, and `modes` is the (K, D)
array of mode centres where the distribution has known modes (None otherwise). The toy distributions
(`ganlab.data.toy`), an in-memory tensor (`ganlab.data.tensor.TensorDataset`) and the image data sets
(`ganlab.data.image_sets`: uint8 images drawn in [-1, 1], with a held-out split for evaluation;
`ganlab.data.stacked_mnist`) implement it. A new data set is a factory returning such an object plus
one line of `DATASETS`.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import torch

from ganlab.data.image_sets import IMAGE_DATASETS, ImageDataset
from ganlab.data.stacked_mnist import StackedMNIST, stacked_mnist
from ganlab.data.tensor import TensorDataset
from ganlab.data.toy import TOY_DATASETS, ToyDataset, from_registry, get_toy_dataset

__all__ = [
    "Dataset",
    "DATASETS",
    "IMAGE_DATASETS",
    "ImageDataset",
    "StackedMNIST",
    "TensorDataset",
    "ToyDataset",
    "TOY_DATASETS",
    "get_dataset",
    "get_toy_dataset",
]


@runtime_checkable
class Dataset(Protocol):
    """What the training loop needs of a data set."""

    name: str
    modes: np.ndarray | None

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one sample: (D,) for vectors, (C, H, W) for images."""

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, *shape) float32 samples on the CPU, drawn from `generator`."""


#: Data sets by name (the config's `data`); each factory takes the config's `data_params` as keywords.
DATASETS: dict[str, Callable[..., Dataset]] = {**TOY_DATASETS, **IMAGE_DATASETS, "stacked-mnist": stacked_mnist}


def get_dataset(name: str, **params: Any) -> Dataset:
    """The data set registered as `name`, built with `params`; ValueError naming an unknown name or parameter."""
    return from_registry(DATASETS, name, params, "data set")
