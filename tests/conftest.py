import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same global seeds; tests that need randomness seed their own generators too."""
    torch.manual_seed(0)
    np.random.seed(0)
    yield
