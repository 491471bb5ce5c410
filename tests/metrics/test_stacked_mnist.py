"""Tests for ganlab.metrics.stacked_mnist.

References are independent of the code under test: histograms built by hand, scipy.stats.entropy for
KL(q || uniform), a reference mode count written here with Python sets and collections.Counter, and a stub
classifier whose output is set by the images it is given (it reads the mean pixel of each grey image).
"""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from ganlab.metrics.stacked_mnist import NUM_MODES, PUBLISHED, classify_stacked, stacked_mnist_modes

LOG1000 = math.log(1000.0)


def _triples(modes: list[int]) -> np.ndarray:
    """Labels (N, 3) whose modes 100 l_R + 10 l_G + l_B are `modes`, written digit by digit."""
    return np.array([[m // 100, (m // 10) % 10, m % 10] for m in modes], dtype=np.int64)


# =========================================================================== the metric


def test_all_samples_in_one_mode():
    result = stacked_mnist_modes(np.tile([[3, 0, 7]], (26000, 1)))
    assert result.modes == 1 and result.kl == LOG1000 and result.n_samples == 26000
    assert result.counts[307] == 26000 and result.counts.sum() == 26000 and result.counts.shape == (NUM_MODES,)


def test_every_mode_equally_often_gives_kl_exactly_zero():
    labels = _triples(list(range(1000)) * 26)  # 26 000 samples, 26 per mode
    result = stacked_mnist_modes(torch.from_numpy(labels))  # torch input too
    assert result.modes == 1000 and result.kl == 0.0
    assert (result.counts == 26).all()


def test_mode_index_is_100_r_plus_10_g_plus_b():
    result = stacked_mnist_modes(np.array([[1, 2, 3], [9, 0, 0], [0, 0, 9], [1, 2, 3]], dtype=np.int32))
    assert np.flatnonzero(result.counts).tolist() == [9, 123, 900]
    assert result.counts[123] == 2 and result.modes == 3
    # channels are not interchangeable: (1, 2, 3) and (3, 2, 1) are different modes
    assert stacked_mnist_modes(np.array([[1, 2, 3], [3, 2, 1]])).modes == 2


def test_hand_built_histogram_against_scipy_entropy():
    # 7 modes with counts 1, 2, 3, 5, 8, 13, 21 (53 samples), shuffled
    counts = {5: 1, 17: 2, 123: 3, 400: 5, 555: 8, 901: 13, 999: 21}
    modes = [m for m, c in counts.items() for _ in range(c)]
    np.random.default_rng(1).shuffle(modes)
    result = stacked_mnist_modes(_triples(modes))
    q = np.zeros(1000)
    for m, c in counts.items():
        q[m] = c
    expected = stats.entropy(q / q.sum(), np.full(1000, 1e-3))  # KL(q || uniform)
    assert result.modes == 7
    assert math.isclose(result.kl, expected, rel_tol=0, abs_tol=1e-12)
    # and against the other form: log 1000 - H(q)
    assert math.isclose(result.kl, LOG1000 - stats.entropy(q / q.sum()), abs_tol=1e-12)


def test_kl_splits_into_channel_imbalance_and_dependence():
    # independent channels: every combination of three hand-built digit histograms, so q = q_R x q_G x q_B exactly
    hist = {0: [3, 1, 0, 0, 0, 0, 0, 0, 0, 2], 1: [1] * 10, 2: [0, 0, 5, 0, 0, 0, 0, 0, 0, 1]}
    digits = [[d for d in range(10) for _ in range(hist[c][d])] for c in range(3)]
    labels = np.array([[r, g, b] for r in digits[0] for g in digits[1] for b in digits[2]])
    result = stacked_mnist_modes(labels)
    for c in range(3):
        q_c = np.array(hist[c], dtype=float) / sum(hist[c])
        assert math.isclose(result.channel_kl[c], stats.entropy(q_c, np.full(10, 0.1)), abs_tol=1e-12)
    assert result.channel_kl[1] == 0.0
    assert math.isclose(result.kl, sum(result.channel_kl), abs_tol=1e-12) and result.dependence < 1e-12
    # fully dependent channels: R = G = B, each digit equally often -> no imbalance, all KL is dependence
    same = np.repeat(np.arange(10), 7)[:, None].repeat(3, axis=1)
    coupled = stacked_mnist_modes(same)
    assert coupled.channel_kl == (0.0, 0.0, 0.0)
    assert math.isclose(coupled.kl, 2 * math.log(10), abs_tol=1e-12)  # 10 equally likely of 1000 modes
    assert math.isclose(coupled.dependence, 2 * math.log(10), abs_tol=1e-12)
    # one mode: each channel is one digit (log 10 each), nothing left for dependence
    one = stacked_mnist_modes(np.tile([[3, 0, 7]], (50, 1)))
    assert one.channel_kl == (math.log(10),) * 3
    assert math.isclose(one.kl, sum(one.channel_kl), abs_tol=1e-12) and one.dependence < 1e-12


def test_dependence_is_the_total_correlation():
    labels = np.random.default_rng(3).integers(0, 10, size=(500, 3))
    labels[:250, 2] = labels[:250, 0]  # couple B to R in half the samples
    result = stacked_mnist_modes(labels)
    _, joint = np.unique(labels, axis=0, return_counts=True)
    h_joint = stats.entropy(joint / joint.sum())
    h_marg = sum(stats.entropy(np.bincount(labels[:, c], minlength=10) / len(labels)) for c in range(3))
    assert math.isclose(result.dependence, h_marg - h_joint, abs_tol=1e-12)
    assert result.dependence > 0.3  # B shares about half of R's log 10 nats


def test_random_labels_against_a_reference_count():
    labels = np.random.default_rng(7).integers(0, 10, size=(2600, 3))
    counter = collections.Counter(tuple(row) for row in labels.tolist())
    q = np.array(list(counter.values()), dtype=np.float64) / len(labels)
    result = stacked_mnist_modes(labels)
    assert result.modes == len(counter)
    assert math.isclose(result.kl, float(np.sum(q * np.log(1000 * q))), abs_tol=1e-12)
    assert 0 < result.kl < LOG1000
    assert result.counts.flags.writeable is False


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.array([[1, 2, 10]]), r"digits 0\.\.9, got 1 outside, e\.g\. 10"),
        (np.array([[1, -1, 2], [0, 0, 0]]), r"digits 0\.\.9, got 1 outside, e\.g\. -1"),
        (np.array([[1, 2]]), r"\(N, 3\).*got shape \(1, 2\)"),
        (np.array([1, 2, 3]), r"\(N, 3\).*got shape \(3,\)"),
        (np.zeros((0, 3), dtype=np.int64), r"N >= 1, got shape \(0, 3\)"),
        (np.array([[1.0, 2.0, 3.0]]), "must be integers 0..9, got dtype float64"),
        (np.array([[True, False, True]]), "must be integers 0..9, got dtype bool"),
    ],
)
def test_bad_labels_are_refused(labels, match):
    with pytest.raises(ValueError, match=match):
        stacked_mnist_modes(labels)


def test_published_anchors_are_the_tables_values():
    # REFERENCES.md, "Images": VEEGAN's table and PacGAN's two tables, 26 000 samples each
    assert (PUBLISHED["veegan/dcgan"].modes, PUBLISHED["veegan/dcgan"].kl) == (99, 3.4)
    assert (PUBLISHED["veegan/veegan"].modes, PUBLISHED["veegan/veegan"].kl) == (150, 2.95)
    assert (PUBLISHED["pacgan/pacdcgan2"].modes, PUBLISHED["pacgan/pacdcgan2"].kl) == (1000, 0.06)
    assert (PUBLISHED["pacgan-small-d/pacdcgan4"].modes, PUBLISHED["pacgan-small-d/pacdcgan4"].kl) == (667.4, 1.81)
    for name, anchor in PUBLISHED.items():
        assert anchor.n_samples == 26000 and ("1705.07761" in anchor.source or "1712.04086" in anchor.source), name
        assert 0 < anchor.modes <= 1000 and 0 <= anchor.kl <= LOG1000, name


# =========================================================================== classify_stacked


class MeanPixelDigit(nn.Module):
    """A stub digit classifier: the label of a grey image is round(9 * mean pixel), as one-hot logits.

    It has one parameter (so that classify_stacked finds its device and dtype) and records its calls.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls: list[tuple[tuple[int, ...], bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((tuple(x.shape), self.training))
        digit = torch.round(9 * x.mean(dim=(1, 2, 3))).long()
        return nn.functional.one_hot(digit, 10).to(x.dtype) * self.scale


def _stacked_images(labels: np.ndarray, side: int = 8) -> torch.Tensor:
    """(N, 3, side, side) images whose channel c is constant at labels[:, c] / 9 (so the stub reads them back)."""
    values = torch.from_numpy(labels).double() / 9
    return values[:, :, None, None].expand(-1, -1, side, side).float().contiguous()


def test_classify_stacked_returns_r_g_b_labels_in_order():
    labels = np.array([[1, 2, 3], [9, 0, 5], [0, 0, 0], [4, 8, 6], [7, 7, 1]])
    stub = MeanPixelDigit().train()
    got = classify_stacked(_stacked_images(labels), stub, batch_size=2)
    assert got.dtype == np.int64 and got.shape == (5, 3)
    np.testing.assert_array_equal(got, labels)
    # three grey images per stacked image per forward, in eval mode; the module's own mode is restored
    assert [shape for shape, _ in stub.calls] == [(6, 1, 8, 8), (6, 1, 8, 8), (3, 1, 8, 8)]
    assert not any(training for _, training in stub.calls) and stub.training


def test_classify_stacked_reads_each_channel_separately():
    # one image, channel R dark with one bright corner, G half grey, B white: mean pixels 9/64, 1/2, 1
    image = torch.zeros(1, 3, 8, 8)
    image[0, 0, :3, :3] = 1.0  # mean 9/64 -> round(9 * 0.14) = 1
    image[0, 1] = 0.5  # round(4.5) = 4 (half to even)
    image[0, 2] = 1.0  # 9
    np.testing.assert_array_equal(classify_stacked(image, MeanPixelDigit()), [[1, 4, 9]])


def test_classify_then_count_modes():
    labels = _triples([123] * 5 + [7] * 3 + [999])
    result = stacked_mnist_modes(classify_stacked(_stacked_images(labels), MeanPixelDigit()))
    assert result.modes == 3 and result.counts[123] == 5 and result.counts[7] == 3 and result.counts[999] == 1


@pytest.mark.parametrize(
    "images, kwargs, match",
    [
        (torch.zeros(2, 1, 8, 8), {}, r"\(N, 3, H, W\).*got shape \(2, 1, 8, 8\)"),
        (torch.zeros(2, 3, 8), {}, r"got shape \(2, 3, 8\)"),
        (torch.full((1, 3, 4, 4), -1.0), {}, r"\[0, 1\].*\(x \+ 1\) / 2.*\[-1, -1\]"),
        (torch.full((1, 3, 4, 4), float("nan")), {}, "48 non-finite"),
        (torch.zeros(1, 3, 4, 4, dtype=torch.int64), {}, "floating-point"),
        (np.zeros((1, 3, 4, 4)), {}, "torch.Tensor"),
        (torch.zeros(1, 3, 4, 4), {"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ],
)
def test_classify_stacked_bad_input(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        classify_stacked(images, MeanPixelDigit(), **kwargs)


def test_classify_stacked_refuses_a_classifier_without_ten_logits():
    with pytest.raises(ValueError, match=r"digit logits \(6, 10\).*got \(6, 1\)"):
        classify_stacked(torch.zeros(2, 3, 4, 4), nn.Sequential(nn.Flatten(), nn.Linear(16, 1)))


def test_classify_stacked_with_the_shipped_digits_classifier():
    """Real digits stacked as R, G, B: the labels are those the shipped SmallCNN gives each digit on its own, and
    for digits it classifies correctly, the true triples."""
    from ganlab.data.images import load_digits_split
    from ganlab.metrics.classifier import load_digits_classifier

    classifier, _ = load_digits_classifier()
    images, labels = load_digits_split("test")
    with torch.no_grad():
        alone = classifier(images[:90]).argmax(1)
    r, g, b = images[0:30], images[30:60], images[60:90]
    stacked = torch.cat([r, g, b], dim=1)  # (30, 3, 8, 8)
    got = classify_stacked(stacked, classifier, batch_size=7)
    expected = torch.stack([alone[0:30], alone[30:60], alone[60:90]], dim=1).numpy()
    np.testing.assert_array_equal(got, expected)
    truth = torch.stack([labels[0:30], labels[30:60], labels[60:90]], dim=1).numpy()
    assert (got == truth).all(axis=1).mean() > 0.8  # the classifier's test accuracy is well above 0.9 per digit

