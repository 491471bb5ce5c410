"""Low-dimensional toy distributions with the exact geometry of the papers ganlab compares against.

Every dataset is a `ToyDataset`: a frozen record of its geometry (`modes`, `std`, mixture
`weights`) and a seeded sampler. Mixtures of isotropic Gaussians,

    pi(x) = sum_k w_k N(x | mu_k, sigma_k^2 I),

know their modes `mu_k` (K, dim) and per-mode std `sigma_k` *after* any rescaling the source
applies, so that mode metrics (`ganlab.metrics.modes`) measure distances in the right units, and
they expose their exact density (`pdf`, `log_pdf`) for quadrature.

Sources:
- `ring`, `grid`: VEEGAN (Srivastava et al. 2017, arXiv:1705.07761, Sec. 5.1) as configured in
  PacGAN's code (Lin et al. 2018, arXiv:1712.04086; fjxmlzn/PacGAN,
  synthetic_data_experiments/2DRing*/config.py and 2DGrid*/config.py).
- `8gaussians`, `25gaussians`, `swissroll`: the WGAN-GP toy script (Gulrajani et al. 2017,
  arXiv:1704.00028; igul222/improved_wgan_training, gan_toy.py, `inf_train_gen`).
- `parallel-lines`: WGAN (Arjovsky et al. 2017, arXiv:1701.07875, Example 1); lecture
  002_12706ff463d72203.txt / 004_a72885b194f54592.txt, slide "Wasserstein distance vs KL vs JSD".
- `mixture-1d`: lecture 004_a72885b194f54592.txt, slide "Jensen-Shannon vs Kullback-Leibler"
  (a fixed mixture of 2 Gaussians fitted by a single Gaussian).

All randomness comes from one `torch.Generator` (or torch's global generator when none is given);
samples are drawn on the CPU in float64 and then cast, so a seed gives the same points on every
device and dtype.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ToyDataset",
    "TOY_DATASETS",
    "get_toy_dataset",
    "ring",
    "grid",
    "eight_gaussians",
    "twentyfive_gaussians",
    "swiss_roll",
    "parallel_lines",
    "mixture_1d",
]

Sampler = Callable[[int, "torch.Generator | None"], Tensor]


@dataclass(frozen=True, eq=False)
class ToyDataset:
    """A toy distribution pi(x) on R^dim with a seeded sampler and, for mixtures, its exact geometry.

    For a Gaussian mixture, pi(x) = sum_k w_k N(x | modes[k], std_k^2 I).

    Attributes:
        name: registry name (`"ring"`, `"grid"`, ...).
        dim: dimension D of a sample.
        modes: (K, D) float64 array of mode centres, or None for datasets without modes.
        std: per-mode isotropic std (a float shared by all modes, or a (K,) array), or None.
        reference: the paper / code the geometry is taken from.
        weights: (K,) mixture weights summing to 1, or None (no modes).
        params: the parameters the dataset was built with (for configs and reports).

    Note: `eq=False` makes two datasets equal only if they are the same object; comparing
    NumPy arrays field by field has no single truth value. The arrays are read-only.
    """

    name: str
    dim: int
    modes: np.ndarray | None
    std: float | np.ndarray | None
    reference: str
    weights: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)
    _sampler: Sampler | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one sample, (dim,)."""
        return (self.dim,)

    @property
    def num_modes(self) -> int | None:
        """K, the number of modes, or None for datasets without modes."""
        return None if self.modes is None else int(self.modes.shape[0])

    def std_per_mode(self) -> np.ndarray:
        """sigma_k for every mode as a (K,) float64 array (a shared float is broadcast)."""
        if self.modes is None or self.std is None:
            raise ValueError(f"dataset {self.name!r} has no modes, so no per-mode std")
        return np.broadcast_to(np.asarray(self.std, dtype=np.float64), (self.modes.shape[0],)).copy()

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """Draw x_1..x_n i.i.d. from pi.

        Shapes: returns (n, dim).

        Draws on the CPU in float64 from `generator` (a CPU `torch.Generator`; torch's global
        generator when None), then casts to `dtype` and moves to `device`.
        """
        check_draw(n, generator, dtype)
        if self._sampler is None:
            raise ValueError(f"dataset {self.name!r} has no sampler")
        x = self._sampler(int(n), generator)
        return x.to(device=device, dtype=dtype)

    def log_pdf(self, x: np.ndarray | Tensor | float) -> np.ndarray:
        """log pi(x) = logsumexp_k [log w_k - D/2 log(2 pi sigma_k^2) - ||x - mu_k||^2 / (2 sigma_k^2)].

        Shapes: x (..., dim) -> (...); for dim == 1 any shape of scalars -> the same shape.

        Note: computed as a log-sum-exp in float64, so the density of a point far from every
        mode is a finite log value instead of log(0) = -inf from underflow.

        Raises ValueError for datasets without a density (parallel lines live on a line, which has
        measure zero in R^2; the swiss roll has no closed form).
        """
        if self.modes is None or self.weights is None:
            raise ValueError(
                f"dataset {self.name!r} has no closed-form density; only Gaussian mixtures "
                f"({', '.join(n for n in TOY_DATASETS if n not in ('swissroll', 'parallel-lines'))}) have one"
            )
        if isinstance(x, Tensor):
            x = x.detach().cpu().numpy()
        xa = np.asarray(x, dtype=np.float64)
        if self.dim == 1:
            pts = xa[..., None]
        else:
            if xa.ndim == 0 or xa.shape[-1] != self.dim:
                raise ValueError(
                    f"x must have shape (..., {self.dim}) for dataset {self.name!r}, got {tuple(xa.shape)}"
                )
            pts = xa
        sigma = self.std_per_mode()
        sq = ((pts[..., None, :] - self.modes) ** 2).sum(-1)  # (..., K)
        log_comp = (
            np.log(self.weights)
            - 0.5 * self.dim * np.log(2.0 * math.pi * sigma**2)
            - sq / (2.0 * sigma**2)
        )
        m = log_comp.max(-1, keepdims=True)
        out = (m + np.log(np.exp(log_comp - m).sum(-1, keepdims=True)))[..., 0]
        return out

    def pdf(self, x: np.ndarray | Tensor | float) -> np.ndarray:
        """pi(x) = sum_k w_k N(x | mu_k, sigma_k^2 I), the exact mixture density.

        Shapes: x (..., dim) -> (...); for dim == 1 any shape of scalars -> the same shape.
        """
        return np.exp(self.log_pdf(x))


def check_draw(n: int, generator: torch.Generator | None, dtype: torch.dtype) -> None:
    """The arguments of a data set's `sample`: ValueError unless n >= 1 is an integer, `generator` is a CPU
    torch.Generator (or None) and `dtype` a floating-point dtype."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer number of samples, got {n!r}")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        if generator.device.type != "cpu":
            raise ValueError(
                f"generator must live on the CPU (samples are drawn there, then moved), "
                f"got a generator on {generator.device}"
            )
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")


# ----------------------------------------------------------------------------------------------
# samplers


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _mixture_sampler(modes: np.ndarray, sigma: np.ndarray, weights: np.ndarray) -> Sampler:
    """x = mu_c + sigma_c * eps with c ~ Categorical(w), eps ~ N(0, I)."""
    mu = torch.tensor(np.array(modes), dtype=torch.float64)
    sd = torch.tensor(np.array(sigma), dtype=torch.float64)
    w = torch.tensor(np.array(weights), dtype=torch.float64)

    def sample(n: int, generator: torch.Generator | None) -> Tensor:
        c = torch.multinomial(w, n, replacement=True, generator=generator)
        eps = torch.randn(n, mu.shape[1], dtype=torch.float64, generator=generator)
        return mu[c] + sd[c, None] * eps

    return sample


def _mixture(
    name: str,
    modes: np.ndarray,
    std: float | np.ndarray,
    reference: str,
    params: dict[str, Any],
    weights: np.ndarray | None = None,
) -> ToyDataset:
    modes = _readonly(modes)
    k = modes.shape[0]
    w = _readonly(np.full(k, 1.0 / k) if weights is None else weights)
    sigma = np.broadcast_to(np.asarray(std, dtype=np.float64), (k,))
    std_field: float | np.ndarray = float(std) if np.ndim(std) == 0 else _readonly(std)
    return ToyDataset(
        name=name,
        dim=int(modes.shape[1]),
        modes=modes,
        std=std_field,
        reference=reference,
        weights=w,
        params=params,
        _sampler=_mixture_sampler(modes, sigma, w),
    )


def _positive(name: str, value: Any) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------------------
# datasets


def ring(*, num_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> ToyDataset:
    """pi = (1/K) sum_k N(r (cos 2 pi k/K, sin 2 pi k/K), sigma^2 I), k = 0..K-1.

    Defaults K = 8, r = 1, sigma = 0.01: the 2-D ring of VEEGAN (Srivastava et al. 2017, Sec. 5.1)
    as configured in PacGAN's code (fjxmlzn/PacGAN, synthetic_data_experiments/2DRing*/config.py).
    Shapes: modes (K, 2).

    Note: the angles are 2 pi k / K for k = 0..K-1. `linspace(0, 2 pi, K)` (Unrolled GAN demo,
    GDPP code) puts the first and last centre on the same point: only K - 1 distinct modes.
    """
    k = _positive_int("num_modes", num_modes)
    r = _positive("radius", radius)
    s = _positive("std", std)
    angles = 2.0 * np.pi * np.arange(k) / k
    modes = r * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return _mixture(
        "ring",
        modes,
        s,
        "Srivastava et al. 2017, VEEGAN (arXiv:1705.07761), Sec. 5.1; Lin et al. 2018, PacGAN "
        "(arXiv:1712.04086), fjxmlzn/PacGAN 2DRing config: 8 modes on the unit circle, std 0.01",
        {"num_modes": k, "radius": r, "std": s},
    )


def grid(*, num_per_side: int = 5, spacing: float = 2.0, std: float = 0.05) -> ToyDataset:
    """pi = (1/K) sum_{(i,j)} N((a_i, a_j), sigma^2 I), a_i = spacing * (i - (m - 1)/2), K = m^2.

    Defaults m = 5, spacing 2, sigma = 0.05: modes {-4, -2, 0, 2, 4}^2, the 2-D grid of VEEGAN
    (Srivastava et al. 2017, Sec. 5.1) as configured in PacGAN's code (fjxmlzn/PacGAN,
    synthetic_data_experiments/2DGrid*/config.py). Shapes: modes (m^2, 2), ordered with the first
    coordinate slowest.
    """
    m = _positive_int("num_per_side", num_per_side)
    h = _positive("spacing", spacing)
    s = _positive("std", std)
    a = h * (np.arange(m) - (m - 1) / 2.0)
    modes = np.array([(u, v) for u in a for v in a], dtype=np.float64)
    return _mixture(
        "grid",
        modes,
        s,
        "Srivastava et al. 2017, VEEGAN (arXiv:1705.07761), Sec. 5.1; Lin et al. 2018, PacGAN "
        "(arXiv:1712.04086), fjxmlzn/PacGAN 2DGrid config: modes {-4,-2,0,2,4}^2, std 0.05",
        {"num_per_side": m, "spacing": h, "std": s},
    )


_WGAN_GP_TOY = (
    "Gulrajani et al. 2017, WGAN-GP (arXiv:1704.00028); igul222/improved_wgan_training, gan_toy.py"
)


def eight_gaussians() -> ToyDataset:
    """pi = (1/8) sum_k N(2 c_k / 1.414, (0.02 / 1.414)^2 I), c_k in {(+-1, 0), (0, +-1), (+-1, +-1)/sqrt 2}.

    The WGAN-GP toy script's `8gaussians`: centres at radius 2 including the diagonals, noise std
    0.02, then every point divided by 1.414 (gan_toy.py, `inf_train_gen`). The stored modes and
    std are those *after* the division. Shapes: modes (8, 2), in the script's order.

    Note: the script divides by the literal 1.414, not sqrt 2, so the radius is 2 / 1.414 =
    1.41443, not exactly sqrt 2; we keep the literal.
    """
    r = 1.0 / math.sqrt(2.0)
    centers = np.array(
        [(1, 0), (-1, 0), (0, 1), (0, -1), (r, r), (r, -r), (-r, r), (-r, -r)], dtype=np.float64
    )
    return _mixture(
        "8gaussians",
        2.0 * centers / 1.414,
        0.02 / 1.414,
        _WGAN_GP_TOY + " (8gaussians: radius 2, std 0.02, all divided by 1.414)",
        {},
    )


def twentyfive_gaussians() -> ToyDataset:
    """pi = (1/25) sum_{x,y in {-2..2}} N((2x, 2y) / 2.828, (0.05 / 2.828)^2 I).

    The WGAN-GP toy script's `25gaussians` (gan_toy.py, `inf_train_gen`): spacing 2, noise std
    0.05, then divided by 2.828. Stored modes and std are after the division. Shapes: modes (25, 2),
    first coordinate slowest.

    Note: the script cycles through a fixed, shuffled set of 100 000 points with exactly 4 000
    per mode; we draw the mode of every point i.i.d. uniformly, which is the same distribution.
    """
    a = 2.0 * np.arange(-2, 3, dtype=np.float64)
    modes = np.array([(u, v) for u in a for v in a]) / 2.828
    return _mixture(
        "25gaussians",
        modes,
        0.05 / 2.828,
        _WGAN_GP_TOY + " (25gaussians: spacing 2, std 0.05, all divided by 2.828)",
        {},
    )


def swiss_roll(*, noise: float = 0.25) -> ToyDataset:
    """x = (t cos t + e_1, t sin t + e_3) / 7.5, t = 1.5 pi (1 + 2u), u ~ U[0, 1], e ~ N(0, noise^2).

    The WGAN-GP toy script's `swissroll`: `sklearn.datasets.make_swiss_roll(noise=0.25)`,
    columns 0 and 2, divided by 7.5 (gan_toy.py, `inf_train_gen`). No modes. Shapes: (n, 2).

    Note: scikit-learn draws from NumPy, so the sampler draws a 32-bit seed from the torch
    generator and hands it to sklearn as `random_state`; the torch seed fixes the points.
    """
    s = float(noise)
    if not math.isfinite(s) or s < 0:
        raise ValueError(f"noise must be a non-negative finite number, got {noise!r}")

    def sample(n: int, generator: torch.Generator | None) -> Tensor:
        from sklearn.datasets import make_swiss_roll

        seed = int(torch.randint(0, 2**32, (1,), generator=generator, dtype=torch.int64))
        data, _ = make_swiss_roll(n_samples=n, noise=s, random_state=seed)
        return torch.from_numpy(np.ascontiguousarray(data[:, [0, 2]] / 7.5, dtype=np.float64))

    return ToyDataset(
        name="swissroll",
        dim=2,
        modes=None,
        std=None,
        reference=_WGAN_GP_TOY + " (swissroll: make_swiss_roll(noise=0.25)[:, [0, 2]] / 7.5)",
        params={"noise": s},
        _sampler=sample,
    )


def parallel_lines(*, theta: float = 0.0) -> ToyDataset:
    """x = (theta, u), u ~ U[0, 1]: the vertical segment at abscissa theta.

    Against the data line (0, U[0, 1]): KL = inf and JSD = log 2 for theta != 0, but W = |theta|.
    Reference: Arjovsky et al. 2017, WGAN (arXiv:1701.07875), Example 1; lecture
    002_12706ff463d72203.txt (and 004_a72885b194f54592.txt), slide "Wasserstein distance vs KL vs
    JSD". No modes and no density in R^2. Shapes: (n, 2).
    """
    t = float(theta)
    if not math.isfinite(t):
        raise ValueError(f"theta must be a finite number, got {theta!r}")

    def sample(n: int, generator: torch.Generator | None) -> Tensor:
        u = torch.rand(n, dtype=torch.float64, generator=generator)
        return torch.stack([torch.full_like(u, t), u], dim=1)

    return ToyDataset(
        name="parallel-lines",
        dim=2,
        modes=None,
        std=None,
        reference="Arjovsky et al. 2017, WGAN (arXiv:1701.07875), Example 1; lecture "
        "002_12706ff463d72203.txt, slide 'Wasserstein distance vs KL vs JSD'",
        params={"theta": t},
        _sampler=sample,
    )


def mixture_1d(
    *,
    weights: tuple[float, ...] | list[float] | np.ndarray = (0.5, 0.5),
    means: tuple[float, ...] | list[float] | np.ndarray = (-2.0, 2.0),
    stds: tuple[float, ...] | list[float] | np.ndarray = (0.5, 0.5),
) -> ToyDataset:
    """pi(x) = sum_k w_k N(x | m_k, s_k^2) on R.

    Default 0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2). Modes = means (K, 1), std = stds (K,); the exact
    density `pdf` serves divergence quadrature (forward KL, reverse KL, JSD against a single
    Gaussian). Reference: lecture 004_a72885b194f54592.txt, slide "Jensen-Shannon vs
    Kullback-Leibler" (pi a fixed mixture of 2 Gaussians). Shapes: samples (n, 1).

    Raises ValueError unless the three sequences have the same length K >= 1, stds > 0,
    weights >= 0 and sum(weights) = 1 (to 1e-9).
    """
    w = np.atleast_1d(np.asarray(weights, dtype=np.float64))
    m = np.atleast_1d(np.asarray(means, dtype=np.float64))
    s = np.atleast_1d(np.asarray(stds, dtype=np.float64))
    if w.ndim != 1 or m.ndim != 1 or s.ndim != 1 or not (len(w) == len(m) == len(s)) or len(w) == 0:
        raise ValueError(
            f"weights, means and stds must be 1-D sequences of the same length K >= 1, "
            f"got lengths {w.shape}, {m.shape}, {s.shape}"
        )
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(m)) and np.all(np.isfinite(s))):
        raise ValueError(f"weights, means and stds must be finite, got {w!r}, {m!r}, {s!r}")
    if np.any(s <= 0):
        raise ValueError(f"stds must be positive, got {s.tolist()}")
    if np.any(w < 0) or abs(w.sum() - 1.0) > 1e-9:
        raise ValueError(f"weights must be non-negative and sum to 1, got {w.tolist()} (sum {w.sum()!r})")
    return _mixture(
        "mixture-1d",
        m[:, None],
        s,
        "lecture 004_a72885b194f54592.txt, slide 'Jensen-Shannon vs Kullback-Leibler' "
        "(pi a fixed mixture of 2 Gaussians)",
        {"weights": w.tolist(), "means": m.tolist(), "stds": s.tolist()},
        weights=w,
    )


TOY_DATASETS: dict[str, Callable[..., ToyDataset]] = {
    "ring": ring,
    "grid": grid,
    "8gaussians": eight_gaussians,
    "25gaussians": twentyfive_gaussians,
    "swissroll": swiss_roll,
    "parallel-lines": parallel_lines,
    "mixture-1d": mixture_1d,
}


def from_registry(registry: dict[str, Callable[..., Any]], name: str, params: dict[str, Any], what: str) -> Any:
    """`registry[name](**params)`, with ValueError naming an unknown `what` (listing the valid names) or an
    unknown or mistyped parameter (listing the ones the factory takes)."""
    if name not in registry:
        raise ValueError(f"unknown {what} {name!r}; expected one of {sorted(registry)}")
    factory = registry[name]
    accepted = list(inspect.signature(factory).parameters)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for {what} {name!r}; "
            f"it takes {accepted if accepted else 'no parameters'}"
        )
    try:
        return factory(**params)
    except TypeError as exc:  # a parameter of the wrong type
        raise ValueError(f"parameters {params!r} of {what} {name!r}: {exc}") from None


def get_toy_dataset(name: str, **params: Any) -> ToyDataset:
    """The toy dataset registered as `name`, built with `params` (keyword-only, the papers' defaults).

    Raises ValueError naming an unknown dataset (listing the valid ones) or an unknown parameter
    (listing the ones that dataset takes).
    """
    return from_registry(TOY_DATASETS, name, params, "toy dataset")
