"""The parallel-lines example: f-divergences saturate on disjoint supports, W1 does not.

    P_0     = (0, U[0, 1]),   P_theta = (theta, U[0, 1])          two vertical segments in R^2
    theta != 0:  KL = KL_rev = inf,  JSD = log 2,  TV = 1,  W1 = |theta|
    theta == 0:  every divergence and W1 is 0

For ``theta != 0`` the supports are disjoint, so every f-divergence is the constant ``f(0) + f'(inf)``
(``ganlab.divergences.disjoint_support_divergence``) and gives the generator no gradient in
``theta``, while ``W1 = |theta|`` shrinks continuously as the lines approach.

This is the lecture example a "disjoint-supports" experiment is to build on; it holds no experiment
itself (no ``EXPERIMENT``), only the exact values that the experiment and the tests compare with.

Reference: lecture 004_a72885b194f54592.txt, slide "Wasserstein distance vs KL vs JSD" (also in
002_12706ff463d72203.txt); Arjovsky, Chintala & Bottou 2017 (arXiv:1701.07875), Example 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ganlab.divergences import DIVERGENCES, disjoint_support_divergence
from ganlab.transport import wasserstein1

__all__ = ["ParallelLines", "parallel_lines"]


@dataclass(frozen=True)
class ParallelLines:
    """Divergences between ``P_0 = (0, U[0,1])`` and ``P_theta = (theta, U[0,1])`` in R^2."""

    theta: float
    kl: float
    reverse_kl: float
    js: float
    tv: float
    w1: float


def parallel_lines(theta: float, *, n_points: int = 64) -> ParallelLines:
    """The parallel-lines example: KL = KL_rev = inf, JSD = log 2, TV = 1, W1 = |theta| (theta != 0).

    For ``theta != 0`` the supports are disjoint, so each f-divergence is ``f(0) + f'(inf)``
    (``disjoint_support_divergence``); for ``theta = 0``, ``P = Q`` and each is ``f(1) = 0``.
    W1 is computed by ``ganlab.transport.wasserstein1`` between the two lines discretised at the
    same ``n_points`` heights ``(i + 1/2)/n``: the horizontal matching costs ``|theta|`` and every
    coupling costs at least ``|theta|``, so the discrete W1 equals the continuous one exactly.

    Shapes: scalar ``theta``; returns a ``ParallelLines`` record of floats.

    Reference: lecture 004_a72885b194f54592.txt, slide "Wasserstein distance vs KL vs JSD" (also in
    002_12706ff463d72203.txt); Arjovsky, Chintala & Bottou 2017 (arXiv:1701.07875), Example 1.
    """
    th = float(theta)
    if not math.isfinite(th):
        raise ValueError(f"theta must be finite, got {theta!r}")
    if int(n_points) < 1:
        raise ValueError(f"n_points must be >= 1, got {n_points!r}")
    heights = (np.arange(int(n_points)) + 0.5) / int(n_points)
    line0 = np.stack([np.zeros_like(heights), heights], axis=1)
    line_theta = np.stack([np.full_like(heights, th), heights], axis=1)
    w1 = wasserstein1(line0, line_theta)

    def value(name: str) -> float:
        div = DIVERGENCES[name]
        if th != 0.0:
            return disjoint_support_divergence(div)
        return float(div.f(torch.tensor(1.0, dtype=torch.float64)))

    return ParallelLines(theta=th, kl=value("kl"), reverse_kl=value("reverse-kl"), js=value("js"), tv=value("tv"), w1=w1)
