"""Tests for ganlab.transport.

Every expected value is independent of the code under test: scipy.stats.wasserstein_distance,
scipy.optimize.linear_sum_assignment, POT's exact ot.emd2 on an explicit cost matrix,
scipy.linalg.sqrtm, and closed forms (a shift by c moves W1 by |c|; N(0, 1) vs N(10, 1) is W2 = 10;
the Kantorovich-Rubinstein dual bound E_x f - E_y f <= W1 for 1-Lipschitz f).
"""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import scipy.linalg
import torch
from scipy import optimize, stats

from ganlab.transport import w1_1d, w2_1d, w2_gaussians, wasserstein1


def test_wasserstein1_1d_matches_scipy():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=50), rng.normal(0.3, 2.0, size=37)
    wx, wy = rng.uniform(size=50), rng.uniform(size=37)
    assert abs(wasserstein1(x, y) - stats.wasserstein_distance(x, y)) <= 1e-12
    assert abs(wasserstein1(x, y, weights_x=wx, weights_y=wy) - stats.wasserstein_distance(x, y, wx, wy)) <= 1e-12
    # the 1-D path and the general LP path agree
    x2, y2 = np.stack([x, np.zeros_like(x)], 1), np.stack([y, np.zeros_like(y)], 1)
    assert abs(wasserstein1(x2, y2, weights_x=wx, weights_y=wy) - stats.wasserstein_distance(x, y, wx, wy)) <= 1e-10


def test_wasserstein1_2d_matches_assignment():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(60, 2)), rng.normal(1.0, 1.5, size=(60, 2))
    cost = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1)
    rows, cols = optimize.linear_sum_assignment(cost)
    assert abs(wasserstein1(torch.as_tensor(x), y) - cost[rows, cols].mean()) <= 1e-12


@pytest.mark.parametrize("dim", [1, 3])
def test_wasserstein1_shift(dim):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(80, dim))
    c = np.arange(1, dim + 1) * 0.7
    assert abs(wasserstein1(x, x + c) - np.linalg.norm(c)) <= 1e-10
    assert wasserstein1(x, x) == 0.0


def test_wasserstein1_kantorovich_rubinstein_lower_bound():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=100), rng.exponential(size=100)
    w = wasserstein1(x, y)
    # f(x) = x and f(x) = |x| are 1-Lipschitz: E_x f - E_y f <= W1
    assert w >= abs(x.mean() - y.mean()) - 1e-12
    assert w >= abs(np.abs(x).mean() - np.abs(y).mean()) - 1e-12


def test_wasserstein1_rejects_bad_input():
    with pytest.raises(ValueError, match="dimension"):
        wasserstein1(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="weights_x"):
        wasserstein1(np.zeros(3), np.zeros(3), weights_x=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="y"):
        wasserstein1(np.zeros(3), np.array([0.0, np.nan]))


def test_w1_w2_1d_against_references():
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(64, generator=gen, dtype=torch.float64)
    y = 0.5 + 2.0 * torch.randn(64, 1, generator=gen, dtype=torch.float64)
    assert abs(float(w1_1d(x, y)) - stats.wasserstein_distance(x.numpy(), y.numpy().ravel())) <= 1e-12
    cost = (x.numpy()[:, None] - y.numpy().ravel()[None, :]) ** 2
    w2_ref = math.sqrt(ot.emd2(np.full(64, 1 / 64), np.full(64, 1 / 64), cost))
    assert abs(float(w2_1d(x, y)) - w2_ref) <= 1e-10
    # gradient of W1 w.r.t. the samples: sign(x_(i) - y_(i)) / N at the sorted positions
    xr = x.clone().requires_grad_(True)
    w1_1d(xr, y).backward()
    xs, order = torch.sort(x)
    expected = torch.empty_like(x)
    expected[order] = torch.sign(xs - torch.sort(y.ravel()).values) / 64
    torch.testing.assert_close(xr.grad, expected, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="equal size"):
        w1_1d(torch.zeros(3), torch.zeros(4))


def test_w2_gaussians():
    assert abs(w2_gaussians(0.0, 1.0, 10.0, 1.0) - 10.0) <= 1e-12
    assert abs(w2_gaussians(1.0, 4.0, 0.0, 1.0) - math.sqrt(2.0)) <= 1e-12  # (1-0)^2 + (2-1)^2
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = a @ a.T + 0.1 * np.eye(4), b @ b.T
    m1, m2 = rng.normal(size=4), rng.normal(size=4)
    r1 = scipy.linalg.sqrtm(s1).real
    expected = math.sqrt(np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(r1 @ s2 @ r1).real))
    assert abs(w2_gaussians(m1, s1, m2, s2) - expected) <= 1e-9
    assert w2_gaussians(m1, s1, m1, s1) <= 1e-6
    with pytest.raises(ValueError, match="mu1 and mu2"):
        w2_gaussians(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
