"""ganlab's FID, KID and IS agree with torchmetrics (an independent implementation) on the same features.

torchmetrics takes a feature extractor module; ours is the identity, so the "images" passed to
``update`` are the features themselves.
"""

import warnings

import numpy as np
import pytest
import torch

torchmetrics_image = pytest.importorskip(
    "torchmetrics.image", reason="torchmetrics is a test extra (pip install -e '.[test]'); parity cannot be checked"
)

from ganlab.metrics import fid_from_features, inception_score, kid  # noqa: E402
from ganlab.metrics.kid import mmd2_unbiased  # noqa: E402


class IdentityFeatures(torch.nn.Module):
    """Returns its input in float64; ``num_features`` spares torchmetrics a dummy forward pass."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.float64)


def _features(seed, n, d, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    return z @ torch.randn(d, d, generator=g, dtype=torch.float64) / d**0.5 + shift


def test_fid_parity():
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = _features(0, 300, 32), _features(1, 250, 32, shift=0.3)
    metric = FrechetInceptionDistance(feature=IdentityFeatures(32))
    for batch in real.split(64):
        metric.update(batch, real=True)
    for batch in fake.split(64):
        metric.update(batch, real=False)
    theirs = float(metric.compute())
    ours = fid_from_features(real, fake)
    assert ours.path == "eigh"
    # torchmetrics accumulates raw sums (sum x x^T - n mu mu^T) and takes eigvals of S1 S2: ~1e-13 relative here.
    np.testing.assert_allclose(float(ours), theirs, rtol=1e-9, atol=0)


def test_kid_parity_whole_sets():
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = _features(2, 120, 16), _features(3, 120, 16, shift=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features in buffer"
        metric = KernelInceptionDistance(feature=IdentityFeatures(16), subsets=3, subset_size=120)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    mean, std = metric.compute()
    ours = kid(real, fake, num_subsets=3, subset_size=120)
    # subsets are whole sets (permuted), so both sides compute one deterministic MMD^2.
    np.testing.assert_allclose([ours.mean, ours.std], [float(mean), float(std)], rtol=1e-10, atol=1e-14)


def test_kid_parity_same_random_subsets():
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = _features(4, 200, 8), _features(5, 150, 8, shift=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=IdentityFeatures(8), subsets=10, subset_size=50)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    torch.manual_seed(123)
    mean, std = metric.compute()
    # Replay torchmetrics' subset draws (torch.randperm for real, then fake, per subset) and score them with ganlab.
    torch.manual_seed(123)
    values = []
    for _ in range(10):
        i, j = torch.randperm(200)[:50], torch.randperm(150)[:50]
        values.append(mmd2_unbiased(real[i], fake[j]))
    np.testing.assert_allclose([np.mean(values), np.std(values)], [float(mean), float(std)], rtol=1e-10, atol=0)


def test_inception_score_parity_with_torchmetrics_options():
    from torchmetrics.image.inception import InceptionScore

    logits = _features(6, 200, 10) * 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        metric = InceptionScore(feature=IdentityFeatures(10), splits=10)
    metric.update(logits)
    torch.manual_seed(7)
    mean, std = metric.compute()
    torch.manual_seed(7)
    perm = torch.randperm(200)  # torchmetrics shuffles with torch.randperm; 10 divides 200 so chunks = our splits
    ours = inception_score(logits[perm], from_logits=True, splits=10, ddof=1)
    np.testing.assert_allclose([ours.mean, ours.std], [float(mean), float(std)], rtol=1e-10, atol=0)
    # The reference protocol (population std) differs from torchmetrics' Bessel std by sqrt(10 / 9).
    reference = inception_score(logits[perm], from_logits=True, splits=10)
    np.testing.assert_allclose(reference.std * np.sqrt(10 / 9), float(std), rtol=1e-10, atol=0)
