"""TensorDataset: the empirical distribution of a fixed sample, drawn with replacement from a seeded generator."""

import numpy as np
import pytest
import torch

from ganlab.data import Dataset, TensorDataset


def test_draws_are_rows_of_the_data_uniformly_and_seeded():
    data = torch.arange(5, dtype=torch.float32)[:, None, None, None].expand(5, 1, 2, 2).clone()
    ds = TensorDataset(data, name="five")
    assert isinstance(ds, Dataset) and ds.shape == (1, 2, 2) and len(ds) == 5 and ds.modes is None
    x = ds.sample(50_000, generator=torch.Generator().manual_seed(0))
    assert x.shape == (50_000, 1, 2, 2) and x.dtype == torch.float32
    assert torch.equal(x, x[:, :, :1, :1].expand_as(x))  # whole rows, never mixed
    counts = np.bincount(x[:, 0, 0, 0].long().numpy(), minlength=5)
    # each row has probability 1/5: counts within 5 binomial standard deviations (sqrt(n p (1 - p)) = 89)
    assert np.all(np.abs(counts - 10_000) < 5 * 89.5), counts
    assert torch.equal(x, ds.sample(50_000, generator=torch.Generator().manual_seed(0)))
    assert ds.sample(3, dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("data, message", [
    (torch.zeros(4), "must be \\(n, \\*shape\\)"),
    (torch.zeros(0, 3), "n >= 1"),
    (torch.zeros(3, 2, dtype=torch.int64), "floating-point"),
    (torch.tensor([[0.0, float("nan")]]), "NaN or infinite"),
])
def test_bad_data_is_refused_by_name(data, message):
    with pytest.raises(ValueError, match=message):
        TensorDataset(data, name="bad")


def test_bad_counts_are_refused():
    ds = TensorDataset(np.ones((3, 2), dtype=np.float32))
    for n in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            ds.sample(n)
