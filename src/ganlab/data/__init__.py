"""Data sources: low-dimensional toy distributions with exact geometry (`ganlab.data.toy`)."""

from ganlab.data.toy import TOY_DATASETS, ToyDataset, get_toy_dataset

__all__ = ["TOY_DATASETS", "ToyDataset", "get_toy_dataset"]
