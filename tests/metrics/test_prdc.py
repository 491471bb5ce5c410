"""Precision/recall and density/coverage: hand-computed cases, limits, and a brute-force reference."""

import numpy as np
import pytest
import torch

import ganlab.metrics.prdc as prdc_module
from ganlab.metrics import density_coverage, precision_recall
from ganlab.metrics.prdc import knn_radii

# Points on a line. Real X = {0, 1, 3, 7}; fake Y = {-1, 5, 11, 12, 0.5}.
# k = 1: radii of X = [1, 1, 2, 4]. -1 and 11 lie exactly on a ball's boundary (|-1 - 0| = 1, |11 - 7| = 4),
# so they count for precision (<=) and not for density/coverage (<); 5 is on the boundary of B(3, 2) but
# strictly inside B(7, 4); 0.5 is strictly inside B(0, 1) and B(1, 1); 12 is outside everything.
REAL = np.array([[0.0], [1.0], [3.0], [7.0]])
FAKE = np.array([[-1.0], [5.0], [11.0], [12.0], [0.5]])


def test_knn_radii_by_hand():
    np.testing.assert_allclose(knn_radii(REAL, k=1).numpy(), [1.0, 1.0, 2.0, 4.0], rtol=0, atol=0)
    np.testing.assert_allclose(knn_radii(REAL, k=2).numpy(), [3.0, 2.0, 3.0, 6.0], rtol=0, atol=0)
    np.testing.assert_allclose(knn_radii(REAL, k=3).numpy(), [7.0, 6.0, 4.0, 7.0], rtol=0, atol=0)


def test_precision_recall_by_hand_k1():
    r = precision_recall(REAL, FAKE, k=1)
    # precision: -1 (boundary), 5, 11 (boundary), 0.5 are inside; 12 is not -> 4/5.
    # recall: fake radii (k=1) = [1.5, 4.5, 1, 1, 1.5] for [-1, 5, 11, 12, 0.5]; every real point is
    # within one: 0 <- -1 (1 <= 1.5), 1 <- 0.5 (0.5), 3 <- 5 (2 <= 4.5), 7 <- 5 (2 <= 4.5) -> 1.
    assert (r.precision, r.recall) == (4 / 5, 1.0)
    swapped = precision_recall(FAKE, REAL, k=1)
    assert (swapped.precision, swapped.recall) == (1.0, 4 / 5)


def test_density_coverage_by_hand_k1():
    r = density_coverage(REAL, FAKE, k=1)
    # strict balls containing each fake: -1: none, 5: B(7), 11: none, 12: none, 0.5: B(0), B(1) -> 3 / (1 * 5).
    # coverage: nearest fake of 0 is 0.5 (0.5 < 1), of 1 is 0.5 (0.5 < 1), of 3 is 5 (2, not < 2), of 7 is 5 (2 < 4).
    assert (r.density, r.coverage) == (3 / 5, 3 / 4)


def test_density_coverage_by_hand_k2():
    r = density_coverage(REAL, FAKE, k=2)
    # radii [3, 2, 3, 6]; strict balls: -1: B(0); 5: B(3), B(7); 11: B(7); 12: B(7); 0.5: B(0), B(1), B(3)
    # -> 8 / (2 * 5); every real point has a fake strictly inside its ball -> coverage 1.
    assert (r.density, r.coverage) == (8 / 10, 1.0)
    assert precision_recall(REAL, FAKE, k=2).precision == 1.0


def test_identical_sets():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 8))
    pr, dc = precision_recall(x, x, k=3), density_coverage(x, torch.from_numpy(x), k=5)
    assert (pr.precision, pr.recall, dc.coverage) == (1.0, 1.0, 1.0)


def test_disjoint_sets():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((200, 4)), rng.standard_normal((150, 4)) + 100.0
    pr, dc = precision_recall(x, y), density_coverage(x, y)
    assert (pr.precision, pr.recall, dc.density, dc.coverage) == (0.0, 0.0, 0.0, 0.0)


def test_large_samples_from_same_gaussian_limits():
    # Naeem et al. 2020: for identical distributions E[density] = 1 and coverage -> 1 - 2^(-k) (M = N large).
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2000, 4)), rng.standard_normal((2000, 4))
    dc = density_coverage(x, y, k=5)
    np.testing.assert_allclose(dc.density, 1.0, rtol=0.05, atol=0)
    np.testing.assert_allclose(dc.coverage, 1 - 2.0**-5, rtol=0.05, atol=0)


def brute_force(real, fake, k_pr, k_dc):
    """All pairwise distances at once with numpy (no chunks, no torch), straight from the papers' definitions."""
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=-1)
    d_fr = np.linalg.norm(fake[:, None] - real[None], axis=-1)
    r_real = lambda k: np.sort(d_rr, axis=1)[:, k]  # noqa: E731 - index 0 is the point itself
    r_fake = np.sort(d_ff, axis=1)[:, k_pr]
    precision = np.mean(np.any(d_fr <= r_real(k_pr)[None], axis=1))
    recall = np.mean(np.any(d_fr.T <= r_fake[None], axis=1))
    density = np.sum(d_fr < r_real(k_dc)[None]) / (k_dc * fake.shape[0])
    coverage = np.mean(d_fr.min(axis=0) < r_real(k_dc))
    return precision, recall, density, coverage


@pytest.mark.parametrize("block_entries", [prdc_module.BLOCK_ENTRIES, 700])
def test_matches_brute_force_for_any_block_size(monkeypatch, block_entries):
    monkeypatch.setattr(prdc_module, "BLOCK_ENTRIES", block_entries)  # 700 -> several row blocks
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((130, 6)), rng.standard_normal((110, 6)) * 1.3 + 0.3
    pr, dc = precision_recall(real, fake, k=3), density_coverage(real, fake, k=5)
    expected = brute_force(real, fake, 3, 5)
    np.testing.assert_allclose([pr.precision, pr.recall, dc.density, dc.coverage], expected, rtol=0, atol=1e-12)
    assert (pr.k, pr.n_real, pr.n_fake, pr.dim, dc.k) == (3, 130, 110, 6, 5)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: precision_recall(np.ones((5, 2)), np.ones((5, 3))), "same feature dimension"),
        (lambda: precision_recall(np.ones((3, 2)), np.ones((5, 2)), k=3), "k \\+ 1 = 4"),
        (lambda: precision_recall(np.ones((5, 2)), np.ones((5, 2)), k=0), "k must be"),
        (lambda: density_coverage(np.ones((5, 2)), np.full((5, 2), np.nan)), "finite"),
        (lambda: density_coverage(np.ones((5, 2)), np.ones((5, 2)), k=5), "k \\+ 1 = 6"),
        (lambda: knn_radii(np.ones((5, 2)), k=2.5), "k must be"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
