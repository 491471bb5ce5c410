"""Tests for ganlab.experiments.disjoint_supports: the parallel-lines example of the lectures.

Expected values are the lecture's (KL = KL_rev = inf, JSD = log 2, W = |theta|; TV = 1), and a Monte
Carlo W1 between samples of the two lines: at least |theta| for every coupling (exact), above it by
the O(1/n) vertical mismatch of two empirical uniforms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganlab.experiments.disjoint_supports import parallel_lines
from ganlab.transport import wasserstein1

LOG2 = math.log(2.0)


@pytest.mark.parametrize("theta", [0.5, -2.0, 1e-3])
def test_parallel_lines_disjoint(theta):
    rec = parallel_lines(theta)
    assert rec.kl == math.inf and rec.reverse_kl == math.inf
    assert abs(rec.js - LOG2) <= 1e-15
    assert abs(rec.tv - 1.0) <= 1e-15
    assert abs(rec.w1 - abs(theta)) <= 1e-12


def test_parallel_lines_equal():
    rec = parallel_lines(0.0)
    assert (rec.kl, rec.reverse_kl, rec.js, rec.tv) == (0.0, 0.0, 0.0, 0.0)
    assert abs(rec.w1) <= 1e-15


def test_parallel_lines_monte_carlo_w1():
    rng = np.random.default_rng(3)
    theta, n = 0.7, 400
    x = np.stack([np.zeros(n), rng.uniform(size=n)], axis=1)
    y = np.stack([np.full(n, theta), rng.uniform(size=n)], axis=1)
    w = wasserstein1(x, y)
    # every coupling moves each unit of mass at least |theta| horizontally; the vertical mismatch
    # of two empirical uniforms adds ~ E[dy^2]/(2 theta) = O(1/n)
    assert abs(theta) - 1e-12 <= w <= abs(theta) + 0.01
