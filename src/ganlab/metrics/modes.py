"""Mode coverage metrics for toy Gaussian mixtures: modes captured, % high quality, reverse KL, W1.

Definitions of VEEGAN (Srivastava et al. 2017, arXiv:1705.07761, Sec. 5.1) as implemented in
PacGAN's metric logger (Lin et al. 2018, arXiv:1712.04086; fjxmlzn/PacGAN,
synthetic_data_experiments/PacGAN/pacgan/extensions.py, `MetricLogger`):

    d_ik = ||x_i - mu_k|| / sigma_k                       distance in units of mode k's std
    k(i) = argmin_k d_ik,  high quality  <=>  min_k d_ik < 3
    c_k  = #{i high quality : k(i) = k}                    per-mode counts
    modes captured = #{k : c_k >= 1}
    high_quality   = sum_k c_k / N
    reverse KL     = KL(q || U_K) = sum_k q_k log(K q_k),  q = c / sum_k c   (0 log 0 = 0)

plus W1, the exact Wasserstein-1 distance between the samples and a real sample drawn with a fixed
seed. The chain is pure functions (`standardized_distances -> assign_modes -> mode_counts ->
reverse_kl_to_uniform`), computed in float64; `mode_metrics` puts them together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import gammainc
from torch import Tensor

from ganlab.data.toy import ToyDataset
from ganlab.transport import wasserstein1

__all__ = [
    "HIGH_QUALITY_STDS",
    "ModeMetrics",
    "standardized_distances",
    "assign_modes",
    "mode_counts",
    "reverse_kl_to_uniform",
    "high_quality_ceiling",
    "mode_metrics",
    "w1_to_data",
    "LowQualityProfile",
    "low_quality_profile",
    "spread_of_real_data",
]

DEFAULT_REFERENCE_SEED = 12345
"""Seed of the real sample W1 is measured against (a fixed, held-out draw: not seed 0 that
training scripts tend to use)."""


@dataclass(frozen=True)
class ModeMetrics:
    """Mode metrics of N samples against a K-mode toy mixture.

    Attributes:
        modes: number of modes captured (nearest mode of >= 1 high-quality sample), in 0..K.
        high_quality: fraction of samples within `threshold` stds of their nearest mode, in [0, 1].
        reverse_kl: KL(q || uniform) of the high-quality histogram q, in [0, log K]; log K when no
            sample is high quality (see `reverse_kl_to_uniform`).
        w1: exact Wasserstein-1 between the samples and a seeded real sample (NaN if not computed).
        n_samples: N.
        num_modes: K.
        counts: per-mode counts c_k of high-quality samples, length K, in the dataset's mode order.
    """

    modes: int
    high_quality: float
    reverse_kl: float
    w1: float
    n_samples: int
    num_modes: int
    counts: tuple[int, ...]

    def as_dict(self) -> dict[str, float]:
        """{"modes", "high_quality", "reverse_kl", "w1"}: the numbers the papers' tables report."""
        return {
            "modes": self.modes,
            "high_quality": self.high_quality,
            "reverse_kl": self.reverse_kl,
            "w1": self.w1,
        }


#: The high-quality radius of the mode metrics, in units of a mode's std (VEEGAN / PacGAN: 3 stds).
HIGH_QUALITY_STDS = 3.0

def _as_float64(x: Tensor | np.ndarray, what: str) -> Tensor:
    if isinstance(x, Tensor):
        t = x.detach().to(device="cpu", dtype=torch.float64)
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(np.array(x, dtype=np.float64))  # a copy: modes arrays are read-only
    else:
        raise ValueError(f"{what} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    return t


def _require_modes(dataset: ToyDataset) -> None:
    """Raise ValueError unless `dataset` is a ToyDataset with modes (and their std), pointing to W1 otherwise."""
    if not isinstance(dataset, ToyDataset):
        raise ValueError(f"dataset must be a ToyDataset, got {type(dataset).__name__}")
    if dataset.modes is None or dataset.std is None:
        raise ValueError(
            f"dataset {dataset.name!r} has no modes, so mode metrics are undefined (they need a dataset with "
            f"modes); use w1_to_data(samples, dataset) instead"
        )


def _check_points(x: Tensor | np.ndarray, dim: int, what: str, name: str) -> Tensor:
    t = _as_float64(x, what)
    if t.ndim != 2 or t.shape[1] != dim or t.shape[0] < 1:
        hint = f"; for 1-D data pass {what}[:, None]" if dim == 1 and t.ndim == 1 else ""
        raise ValueError(
            f"{what} must have shape (N, {dim}) with N >= 1 for dataset {name!r}, "
            f"got {tuple(t.shape)}{hint}"
        )
    bad = int((~torch.isfinite(t)).any(dim=1).sum())
    if bad:
        raise ValueError(f"{what} contain non-finite values ({bad} of {t.shape[0]} rows)")
    return t


def standardized_distances(
    samples: Tensor, modes: Tensor | np.ndarray, std: float | Tensor | np.ndarray
) -> Tensor:
    """d_ik = ||x_i - mu_k||_2 / sigma_k.

    Shapes: samples (N, D), modes (K, D), std scalar or (K,) -> (N, K), float64.
    Reference: VEEGAN Sec. 5.1; PacGAN `MetricLogger` (diagonal variances, here isotropic).

    Note: uses `torch.cdist` without the matrix-multiply shortcut, which loses digits for points
    close to a mode (|x|^2 + |mu|^2 - 2 x.mu cancels); the direct form is exact near 0.
    """
    x = _as_float64(samples, "samples")
    mu = _as_float64(modes if isinstance(modes, (Tensor, np.ndarray)) else np.asarray(modes), "modes")
    sigma = torch.as_tensor(np.asarray(std, dtype=np.float64) if not isinstance(std, Tensor) else std)
    sigma = sigma.to(dtype=torch.float64, device="cpu").broadcast_to((mu.shape[0],))
    if bool((sigma <= 0).any()):
        raise ValueError(f"std must be positive, got {sigma.tolist()}")
    dist = torch.cdist(x, mu, compute_mode="donot_use_mm_for_euclid_dist")
    return dist / sigma


def assign_modes(
    samples: Tensor,
    modes: Tensor | np.ndarray,
    std: float | Tensor | np.ndarray,
    *,
    threshold: float = HIGH_QUALITY_STDS,
) -> tuple[Tensor, Tensor]:
    """k(i) = argmin_k d_ik and hq_i = [min_k d_ik < threshold] (strict, as PacGAN).

    Shapes: samples (N, D), modes (K, D) -> nearest (N,) int64, high_quality (N,) bool.
    Reference: VEEGAN Sec. 5.1 (three standard deviations); PacGAN `MetricLogger` (`dis_thre=3`).
    """
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive finite number of stds, got {threshold!r}")
    d = standardized_distances(samples, modes, std)
    dmin, nearest = d.min(dim=1)
    return nearest, dmin < threshold


def mode_counts(
    samples: Tensor,
    modes: Tensor | np.ndarray,
    std: float | Tensor | np.ndarray,
    *,
    threshold: float = HIGH_QUALITY_STDS,
) -> np.ndarray:
    """c_k = #{i : hq_i and k(i) = k}, the histogram of high-quality samples over modes.

    Shapes: samples (N, D), modes (K, D) -> (K,) int64.
    Reference: PacGAN `MetricLogger` ("detail of coverage").
    """
    nearest, hq = assign_modes(samples, modes, std, threshold=threshold)
    k = int(np.shape(modes)[0])
    return torch.bincount(nearest[hq], minlength=k).numpy().astype(np.int64)


def reverse_kl_to_uniform(counts: np.ndarray | Tensor | list[int]) -> float:
    """KL(q || U_K) = sum_k q_k log(K q_k) = log K - H(q), with q = c / sum(c) and 0 log 0 = 0.

    Shapes: counts (K,) -> float in [0, log K].
    Reference: PacGAN (Lin et al. 2018, arXiv:1712.04086), Table 1 "reverse KL".

    Note: with no high-quality sample (sum c = 0) q is undefined; we return log K, the largest
    value any histogram can take (all mass on one mode). It is the value a single high-quality
    sample would give, it keeps the ordering "worse is larger", and it stays finite, so averages
    over trials and JSON logs remain valid. `high_quality = 0` and `modes = 0` already say that
    nothing landed near a mode.
    """
    c = np.asarray(counts.numpy() if isinstance(counts, Tensor) else counts, dtype=np.float64)
    if c.ndim != 1 or c.size < 1 or np.any(c < 0) or not np.all(np.isfinite(c)):
        raise ValueError(f"counts must be a 1-D array of K >= 1 non-negative numbers, got {c!r}")
    k = c.size
    total = c.sum()
    if total == 0:
        return math.log(k)
    q = c[c > 0] / total
    return float(max(0.0, np.sum(q * np.log(k * q))))


def high_quality_ceiling(dim: int, threshold: float = HIGH_QUALITY_STDS) -> float:
    """P(||x - mu|| < t sigma) for x ~ N(mu, sigma^2 I_D) = P(chi^2_D < t^2) = gammainc(D/2, t^2/2).

    The expected `high_quality` of real data when the modes are far apart (>> t sigma): 2-D,
    t = 3: 1 - e^{-4.5} = 0.98889; 1-D: erf(3 / sqrt 2) = 0.99730.
    """
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive finite number, got {threshold!r}")
    return float(gammainc(dim / 2.0, threshold**2 / 2.0))


def _reference_sample(
    dataset: ToyDataset,
    n: int,
    reference: Tensor | np.ndarray | None,
    n_reference: int | None,
    seed: int,
) -> Tensor:
    if reference is not None:
        return _check_points(reference, dataset.dim, "reference", dataset.name)
    m = n if n_reference is None else n_reference
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"n_reference must be a positive integer or None, got {n_reference!r}")
    g = torch.Generator().manual_seed(int(seed))
    return dataset.sample(int(m), generator=g, dtype=torch.float64)


def w1_to_data(
    samples: Tensor | np.ndarray,
    dataset: ToyDataset,
    *,
    reference: Tensor | np.ndarray | None = None,
    n_reference: int | None = 2500,
    seed: int = DEFAULT_REFERENCE_SEED,
) -> float:
    """W1(p_N, pi_M) = min_{gamma in Gamma} sum_ij gamma_ij ||x_i - y_j||, exact, uniform weights.

    x: the samples; y: `reference` if given, else M = `n_reference` points drawn from `dataset`
    with `torch.Generator().manual_seed(seed)` (M = N when `n_reference` is None), so the real
    sample is the same across calls and runs. Works for every toy dataset, with or without modes.
    Shapes: samples (N, dim), reference (M, dim) -> float.
    Reference: lecture 002_12706ff463d72203.txt, slide "Wasserstein distance (continuous)";
    computed by `ganlab.transport.wasserstein1`.

    Note: W1 between two finite samples of the same distribution is positive: for two 2500-point
    samples about 0.03 on the ring and 0.17 on the grid (mostly mass moved between modes to even
    out the multinomial counts). Compare runs at the same N and M, and against that floor, not 0.
    """
    x = _check_points(samples, dataset.dim, "samples", dataset.name)
    y = _reference_sample(dataset, x.shape[0], reference, n_reference, seed)
    return float(wasserstein1(x, y))


def mode_metrics(
    samples: Tensor | np.ndarray,
    dataset: ToyDataset,
    *,
    reference: Tensor | np.ndarray | None = None,
    n_reference: int | None = 2500,
    seed: int = DEFAULT_REFERENCE_SEED,
    threshold: float = HIGH_QUALITY_STDS,
    compute_w1: bool = True,
) -> ModeMetrics:
    """Modes captured, high-quality fraction, reverse KL to uniform and W1 of samples from a toy mixture.

    See the module docstring for the formulas. Shapes: samples (N, dim).
    Reference: VEEGAN (Srivastava et al. 2017) Sec. 5.1, Table 1; PacGAN (Lin et al. 2018) Table 1
    and fjxmlzn/PacGAN `MetricLogger`. The protocol of both papers is N = 2500 samples.

    `reference`, `n_reference`, `seed`: the real sample for W1 (see `w1_to_data`). `compute_w1=False`
    skips the O(N M) transport problem and sets w1 to NaN (for large N or logging inside training).

    Raises ValueError for datasets without modes (use `w1_to_data`) and for samples whose shape
    is not (N, dataset.dim).

    Note: for real data the expected high-quality fraction is `high_quality_ceiling(dim)`, 98.9 %
    in 2-D, not 100 %: 1.1 % of a 2-D Gaussian lies beyond 3 sigma.
    """
    _require_modes(dataset)
    x = _check_points(samples, dataset.dim, "samples", dataset.name)
    counts = mode_counts(x, dataset.modes, dataset.std_per_mode(), threshold=threshold)
    n = int(x.shape[0])
    w1 = (
        w1_to_data(x, dataset, reference=reference, n_reference=n_reference, seed=seed)
        if compute_w1
        else float("nan")
    )
    return ModeMetrics(
        modes=int(np.count_nonzero(counts)),
        high_quality=float(counts.sum()) / n,
        reverse_kl=reverse_kl_to_uniform(counts),
        w1=w1,
        n_samples=n,
        num_modes=int(counts.size),
        counts=tuple(int(c) for c in counts),
    )


@dataclass(frozen=True)
class LowQualityProfile:
    """Where the samples that are *not* high quality lie, and how wide the high-quality ones are.

    Attributes (fractions are of all N samples):
        near: threshold <= d_min < 4: a halo just outside the 3-sigma balls (modes too wide).
        mid: 4 <= d_min < 6.
        far: d_min >= 6: strays and bridges between modes (the mass a continuous generator puts on
            the boundaries between the latent regions it sends to different modes).
        bridges: ((k, l), fraction) for the far samples, by the pair of their two nearest modes
            (k < l), largest first.
        spread: sqrt(mean over high-quality samples of d_ik(i)^2 / D), the samples' RMS distance to
            their mode per axis, in units of the mode's std. Real data: sqrt(E[chi2_D | chi2_D < t^2] / D),
            0.9744 in 2-D at t = 3 (`spread_of_real_data`); a value well below it means modes narrower
            than the data's, which the high-quality fraction does not penalize. NaN when no sample is
            high quality.
    """

    near: float
    mid: float
    far: float
    bridges: tuple[tuple[tuple[int, int], float], ...]
    spread: float


def spread_of_real_data(dim: int, threshold: float = HIGH_QUALITY_STDS) -> float:
    """sqrt(E[chi2_D | chi2_D < t^2] / D): `LowQualityProfile.spread` of samples from the mixture itself.

    E[X 1{X < c}] for X ~ chi2_D is D P(chi2_{D+2} < c), so the ratio is D gammainc(D/2 + 1, c/2) /
    gammainc(D/2, c/2), and the spread sqrt(gammainc(D/2 + 1, t^2/2) / gammainc(D/2, t^2/2)).
    """
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive finite number, got {threshold!r}")
    c = threshold**2 / 2.0
    return float(math.sqrt(gammainc(dim / 2.0 + 1.0, c) / gammainc(dim / 2.0, c)))


def low_quality_profile(
    samples: Tensor | np.ndarray, dataset: ToyDataset, *, threshold: float = HIGH_QUALITY_STDS
) -> LowQualityProfile:
    """Bands of d_min = min_k ||x_i - mu_k|| / sigma_k beyond the threshold, the bridges the far samples
    sit on, and the spread of the high-quality samples (see `LowQualityProfile`).

    A diagnostic for a high-quality fraction below the data's ceiling: a halo (`near`) says the modes
    are too wide, `far` mass spread over many neighbouring pairs says thin bridges between modes.
    Shapes: samples (N, dim). Raises ValueError for datasets without modes and for a threshold >= 4.
    """
    _require_modes(dataset)
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and 0 < threshold < 4):
        raise ValueError(f"threshold must be a number of stds in (0, 4) (the bands start at 4), got {threshold!r}")
    x = _check_points(samples, dataset.dim, "samples", dataset.name)
    n = x.shape[0]
    d = standardized_distances(x, dataset.modes, dataset.std_per_mode())
    two = min(2, d.shape[1])
    dist, idx = d.topk(two, dim=1, largest=False)
    dmin = dist[:, 0]
    hq = dmin < threshold
    far = dmin >= 6.0
    pairs: dict[tuple[int, int], int] = {}
    if two == 2:
        for a, b in idx[far].tolist():
            key = (min(a, b), max(a, b))
            pairs[key] = pairs.get(key, 0) + 1
    bridges = tuple(sorted(((k, c / n) for k, c in pairs.items()), key=lambda kv: (-kv[1], kv[0])))
    spread = float(torch.sqrt((dmin[hq] ** 2).mean() / dataset.dim)) if bool(hq.any()) else float("nan")
    return LowQualityProfile(
        near=float(((dmin >= threshold) & (dmin < 4.0)).sum()) / n,
        mid=float(((dmin >= 4.0) & (dmin < 6.0)).sum()) / n,
        far=float(far.sum()) / n,
        bridges=bridges,
        spread=spread,
    )
