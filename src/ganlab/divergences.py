"""f-divergences as records, the variational lower bound, quadrature for 1-D densities, KL between Gaussians.

Conventions (lecture 002_12706ff463d72203.txt, slides "f-divergence family"):

    D_f(P||Q) = E_Q f(p/q) = int q(x) f(p(x)/q(x)) dx,          f convex, f(1) = 0
    f*(t)     = sup_{u > 0} (u t - f(u))                        (Fenchel conjugate)
    f**(u)    = sup_{t in dom f*} (t u - f*(t)) = f(u)           (f convex and closed)
    D_f(P||Q) >= sup_T E_P[T(x)] - E_Q[f*(T(x))],                tight at T*(x) = f'(p(x)/q(x))

P is the data ("real", ``pi`` in the lectures), Q the model; real always comes first. A critic
outputs an unconstrained logit ``v`` and ``T = g_f(v)`` with the output activation ``g_f`` of the
f-GAN paper (Nowozin et al. 2016, arXiv:1606.00709, Table 6), so that ``T`` lies in dom f*.

Every conjugate below was derived by hand (set t = f'(u), solve for u, substitute) and is checked
in tests/test_divergences.py against a numerical ``sup_u (u t - f(u))``, and its biconjugate
against ``f``. Where the lectures' table is loose, ganlab is exact and says so: see docs/MATH.md
("Corrections to the table").

Torch-first: the records' callables take and return tensors (float32 or float64, any device,
differentiable). Quadrature and closed forms are float64 numpy and return Python floats.
Wasserstein distances live in ``ganlab.transport``; the parallel-lines example that sets them
against the f-divergences in ``ganlab.experiments.disjoint_supports``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.integrate
import scipy.linalg
import torch
import torch.nn.functional as F

from ganlab.linalg import check_gaussians

__all__ = [
    "DIVERGENCES",
    "FDivergence",
    "alpha_divergence",
    "disjoint_support_divergence",
    "divergence",
    "kl_gaussians",
    "softplus",
    "variational_bound",
    "variational_bound_from_logits",
    "wrightomega",
]

TensorFn = Callable[[torch.Tensor], torch.Tensor]

LOG2 = math.log(2.0)
_INF = math.inf
#: Logit at which 0.5 * tanh(v) rounds to exactly +-1/2 in float32 and float64 (1 - tanh(20) ~ 8e-18).
_TV_SATURATED_LOGIT = 20.0
#: Probability mass below which a region where q == 0 (or p == 0) is read as float underflow, not a gap.
NEGLIGIBLE_MASS = 1e-12


# ----------------------------------------------------------------------------------------------
# The record
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FDivergence:
    """An f-divergence ``D_f(P||Q) = E_Q f(p/q)`` with everything a critic needs.

    Fields (all callables map tensors to tensors of the same shape):
        name: registry key, e.g. ``"js"``.
        f: generator ``f(u)``, ``u > 0`` (``u = 0`` allowed where the limit is finite).
        conjugate: Fenchel conjugate ``f*(t)``; ``+inf`` outside ``dom f*`` (its true value there).
        conjugate_domain: open interval ``(lo, hi)`` of ``dom f*`` (``+-inf`` allowed).
        activation: output activation ``g_f: R -> dom f*`` (f-GAN paper, Table 6).
        conjugate_activation: ``v -> f*(g_f(v))`` in a closed form that never forms ``g_f(v)``
            (e.g. ``softplus(v)`` for ``gan``), finite wherever the true value is representable.
        optimal_critic: density ratio ``r = p/q > 0`` -> ``T*(r) = f'(r)``.
        f_prime_1: ``f'(1)``, the critic value at which ``P = Q`` is optimal.
        reference: paper and lecture slide the formulas come from.
        optimal_logit: ``r -> v*`` with ``g_f(v*) = f'(r)``; use it with ``conjugate_activation``
            where ``T*`` itself rounds onto the boundary of ``dom f*`` (extreme ratios).
        f_at_0: ``f(0) = lim_{u->0+} f(u)`` (may be ``inf``).
        f_prime_inf: ``f'(inf) = lim_{u->inf} f(u)/u`` (may be ``inf``).

    Reference: lecture 002_12706ff463d72203.txt, slides "f-divergence family" (table, Fenchel
    conjugate, variational estimation); lecture 001_b56ff7e156eb3bba.txt, slide "f-divergence
    family" (table with ``T*``); Nowozin et al. 2016 (arXiv:1606.00709), Tables 1, 2 and 6.

    Note: ``f_at_0`` and ``f_prime_inf`` extend ``D_f`` to distributions that are not absolutely
    continuous: ``D_f(P||Q) = int_{q>0} q f(p/q) + f(0) Q[p = 0] + f'(inf) P[q = 0]``
    (Liese & Vajda 2006; Polyanskiy & Wu, "Information Theory", Def. 7.1).
    """

    name: str
    f: TensorFn = field(repr=False)
    conjugate: TensorFn = field(repr=False)
    conjugate_domain: tuple[float, float]
    activation: TensorFn = field(repr=False)
    conjugate_activation: TensorFn = field(repr=False)
    optimal_critic: TensorFn = field(repr=False)
    f_prime_1: float
    reference: str = field(repr=False)
    optimal_logit: TensorFn = field(repr=False)
    f_at_0: float
    f_prime_inf: float

    def __post_init__(self) -> None:
        lo, hi = self.conjugate_domain
        if not lo < hi:
            raise ValueError(f"conjugate_domain must be an interval (lo, hi) with lo < hi, got {self.conjugate_domain}")


# ----------------------------------------------------------------------------------------------
# Stable elementary pieces
# ----------------------------------------------------------------------------------------------
def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - e^x)`` for ``x <= 0`` (Maechler 2012: expm1 near 0, log1p far from 0)."""
    return torch.where(x > -LOG2, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def softplus(x: torch.Tensor) -> torch.Tensor:
    """``softplus(x) = log(1 + e^x) = -log sigmoid(-x)``, exact for every x.

    The stable form of the GAN losses (``-log D(v) = softplus(-v)``, ``-log(1 - D(v)) = softplus(v)``,
    ``D = sigmoid(v)``) and of ``f*(g_f(v))`` for ``gan`` and ``js``.

    Shapes: elementwise, any shape; floating-point tensors, differentiable (gradient ``sigmoid(x)``).

    Note: computed as ``-logsigmoid(-x) = max(x, 0) + log1p(e^{-|x|})``: ``e^{-|x|} <= 1`` never
    overflows, and the ``log1p`` tail is kept for large ``x``. ``F.softplus`` instead returns ``x``
    itself above its threshold 20 and so drops ``log1p(e^{-x})`` (2e-9 at ``x = 20``, visible in
    float64). Never ``log(sigmoid(x) + eps)``, which is biased by eps and saturates.
    """
    return -F.logsigmoid(-x)


def _log_softplus(x: torch.Tensor) -> torch.Tensor:
    """``log(softplus(x)) = log(log1p(e^x))``; for ``x < -30``, ``x - e^x / 2`` (softplus underflows)."""
    far = x < -30.0
    x_near = torch.where(far, torch.zeros_like(x), x)
    return torch.where(far, x - 0.5 * torch.exp(x), torch.log(softplus(x_near)))


def _on_domain(t: torch.Tensor, inside: torch.Tensor, formula: TensorFn, safe: float) -> torch.Tensor:
    """``formula(t)`` where ``inside``, ``+inf`` elsewhere (the conjugate's value outside its domain).

    The formula is evaluated at ``safe`` outside the domain so that neither the value nor the
    gradient picks up NaN from the unused branch. NaN inputs stay NaN.
    """
    t_safe = torch.where(inside, t, torch.full_like(t, safe))
    out = torch.where(inside, formula(t_safe), torch.full_like(t, _INF))
    return torch.where(torch.isnan(t), t, out)


def _gan_f(u: torch.Tensor) -> torch.Tensor:
    """``u log u - (u+1) log(u+1) = -u log1p(1/u) - log1p(u)``; no cancellation for large ``u``."""
    return -torch.special.xlog1py(u, torch.reciprocal(u)) - torch.log1p(u)


# ----------------------------------------------------------------------------------------------
# The Wright omega function (for the Jeffrey conjugate)
# ----------------------------------------------------------------------------------------------
def _wrightomega_value(z: torch.Tensor, iterations: int = 3) -> torch.Tensor:
    """Forward value of the Wright omega function (no autograd), in the dtype of ``z``."""
    tiny = z < -40.0  # omega = e^z - e^{2z} + ... = e^z to a relative 4e-18
    huge = z > 1e100  # the 4-term asymptotic series is exact to far below one ulp
    bad = tiny | huge | ~torch.isfinite(z)
    zs = torch.where(bad, torch.ones_like(z), z)
    # Initial guesses: series in e^z (z <= -2), Taylor series about z = 1 (-2 < z <= 1), and the
    # asymptotic series W(e^z) ~ z - L + L/z + L(L-2)/(2 z^2), L = log z (z > 1); Lawrence,
    # Corless & Jeffrey 2012 (ACM TOMS 38:3, Algorithm 917).
    x = torch.exp(torch.clamp(zs, max=-2.0))
    w_neg = x * (1.0 + x * (-1.0 + x * (1.5 + x * (-8.0 / 3.0 + x * (125.0 / 24.0)))))
    d = zs - 1.0
    w_mid = 1.0 + d * (0.5 + d * (1.0 / 16.0 + d * (-1.0 / 192.0 + d * (-1.0 / 3072.0 + d * (13.0 / 61440.0)))))
    zb = torch.clamp(zs, min=1.0)
    lb = torch.log(zb)
    w_big = zb - lb + lb / zb + lb * (lb - 2.0) / (2.0 * zb * zb)
    w = torch.where(zs <= -2.0, w_neg, torch.where(zs <= 1.0, w_mid, w_big))
    # Fritsch-Shafer-Crowley iteration (fourth order), written with q/(1 + w) so nothing overflows.
    for _ in range(iterations):
        r = zs - w - torch.log(w)
        eps = r / (1.0 + w)
        q = 2.0 * (1.0 + w + (2.0 / 3.0) * r)
        w = w * (1.0 + eps * (q - eps) / (q - 2.0 * eps))
    # Below z = -10 the five-term series in e^z is already exact (next term ~ 10.8 e^{6z} < 1e-25
    # relative), while the iteration would lose digits to the cancellation in z - log(w).
    w = torch.where(zs <= -10.0, w_neg, w)
    zh = torch.where(huge, z, torch.full_like(z, 10.0))
    lh = torch.log(zh)
    w_huge = zh - lh + lh / zh
    out = torch.where(tiny, torch.exp(z), torch.where(huge, w_huge, w))
    out = torch.where(torch.isposinf(z), z, out)
    return torch.where(torch.isnan(z), z, out)


class _WrightOmega(torch.autograd.Function):
    """omega(z) with the analytic derivative d omega / dz = omega / (1 + omega)."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        w = _wrightomega_value(z)
        ctx.save_for_backward(w)
        return w

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (w,) = ctx.saved_tensors
        # omega / (1 + omega) written as 1 / (1 + 1/omega): exact limits 0 (omega -> 0) and 1
        # (omega -> inf). Built from differentiable ops on the saved output: double backward works.
        return grad / (1.0 + torch.reciprocal(w))


def wrightomega(z: torch.Tensor) -> torch.Tensor:
    """Wright omega function: the real ``omega`` with ``omega + log(omega) = z``; ``omega(z) = W_0(e^z)``.

    Shapes: any; float32 or float64 (half types are computed in float32), any device.
    Differentiable: ``d omega / dz = omega / (1 + omega)`` (custom autograd, double backward too).

    Reference: Corless & Jeffrey 2002, "The Wright omega function"; Lawrence, Corless & Jeffrey
    2012 (ACM TOMS Algorithm 917): series initial guesses and the Fritsch iteration. In float64
    it agrees with ``scipy.special.wrightomega`` to 1e-12 relative (tested on [-700, 1e300]) and
    with 40-digit mpmath to 7e-16 (scipy's own error there: 3.5e-15).

    Note: for ``z < -40`` the result is ``exp(z)`` (relative error < e^z < 5e-18), which also avoids
    ``log(0)`` in the iteration once ``e^z`` underflows.
    """
    if not isinstance(z, torch.Tensor) or not torch.is_floating_point(z):
        raise ValueError(f"z must be a floating-point torch.Tensor, got {type(z).__name__}")
    if z.dtype in (torch.float16, torch.bfloat16):
        return _WrightOmega.apply(z.float()).to(z.dtype)
    return _WrightOmega.apply(z)


def _jeffrey_conjugate(t: torch.Tensor) -> torch.Tensor:
    """``f*(t) = W(e^{1-t}) + 1/W(e^{1-t}) + t - 2`` written as ``1/w - log w - 1``, ``w = omega(1 - t)``.

    The two forms agree since ``w + log w = 1 - t``; the second has no cancellation for ``t -> -inf``
    (``w ~ 1 - t``). ``log w`` switches to ``z - w`` once ``w`` may underflow (``z < -700``).
    """
    z = 1.0 - t
    w = wrightomega(z)
    small = z < -700.0
    w_safe = torch.where(small, torch.ones_like(w), w)
    log_w = torch.where(small, z - w, torch.log(w_safe))
    return torch.reciprocal(w) - log_w - 1.0


# ----------------------------------------------------------------------------------------------
# The divergences
# ----------------------------------------------------------------------------------------------
_FGAN = "Nowozin, Cseke & Tomioka 2016, f-GAN (arXiv:1606.00709), Tables 1, 2, 6"
_LECT = (
    "lecture 002_12706ff463d72203.txt, slides 'f-divergence family' (table, Fenchel conjugate, variational "
    "estimation); lecture 001_b56ff7e156eb3bba.txt, slide 'f-divergence family' (T* column)"
)


def _kl() -> FDivergence:
    return FDivergence(
        name="kl",
        f=lambda u: torch.xlogy(u, u),
        conjugate=lambda t: torch.exp(t - 1.0),
        conjugate_domain=(-_INF, _INF),
        activation=lambda v: v,
        conjugate_activation=lambda v: torch.exp(v - 1.0),
        optimal_critic=lambda r: 1.0 + torch.log(r),
        f_prime_1=1.0,
        reference=f"KL(P||Q), f(u) = u log u, f*(t) = exp(t - 1). {_FGAN}; {_LECT}",
        optimal_logit=lambda r: 1.0 + torch.log(r),
        f_at_0=0.0,
        f_prime_inf=_INF,
    )


def _reverse_kl() -> FDivergence:
    return FDivergence(
        name="reverse-kl",
        f=lambda u: -torch.log(u),
        conjugate=lambda t: _on_domain(t, t < 0, lambda s: -1.0 - torch.log(-s), -1.0),
        conjugate_domain=(-_INF, 0.0),
        activation=lambda v: -torch.exp(-v),
        conjugate_activation=lambda v: v - 1.0,
        optimal_critic=lambda r: -torch.reciprocal(r),
        f_prime_1=-1.0,
        reference=f"KL(Q||P), f(u) = -log u, f*(t) = -1 - log(-t), t < 0. {_FGAN}; {_LECT}",
        optimal_logit=torch.log,
        f_at_0=_INF,
        f_prime_inf=0.0,
    )


def _pearson_conjugate(t: torch.Tensor) -> torch.Tensor:
    """``f*(t) = sup_{u >= 0} (u t - (u - 1)^2) = max(t + 2, 0)^2 / 4 - 1``.

    Note: the f-GAN paper's ``t^2/4 + t`` is the conjugate of ``(u - 1)^2`` extended to all real
    ``u``; on ``u >= 0`` (the lectures' ``f: R+ -> R``) the maximiser ``u = 1 + t/2`` hits 0 at
    ``t = -2`` and the conjugate is ``-f(0) = -1`` below. Both give valid lower bounds, equal at
    ``T* = 2(r - 1) >= -2``; this one is never larger, so its bound is never looser.
    """
    return 0.25 * torch.clamp(t + 2.0, min=0.0) ** 2 - 1.0


def _tv_conjugate(t: torch.Tensor) -> torch.Tensor:
    """``f*(t) = sup_{u >= 0} (u t - |u - 1|/2) = max(t, -1/2)`` for ``t <= 1/2``, ``+inf`` above.

    Note: the f-GAN paper gives ``t`` on ``|t| <= 1/2``; on ``u >= 0`` the supremum for
    ``t < -1/2`` sits at ``u -> 0`` and equals ``-f(0) = -1/2``. ``g_f(v) = tanh(v)/2`` never leaves
    ``(-1/2, 1/2)``, where both agree.
    """
    return _on_domain(t, t <= 0.5, lambda s: torch.clamp(s, min=-0.5), 0.0)


def _pearson() -> FDivergence:
    return FDivergence(
        name="pearson",
        f=lambda u: (u - 1.0) ** 2,
        conjugate=_pearson_conjugate,
        conjugate_domain=(-_INF, _INF),
        activation=lambda v: v,
        conjugate_activation=_pearson_conjugate,
        optimal_critic=lambda r: 2.0 * (r - 1.0),
        f_prime_1=0.0,
        reference=(
            f"Pearson chi^2 = int (p - q)^2 / q, f(u) = (u - 1)^2, f*(t) = t^2/4 + t for t >= -2, -1 below. "
            f"{_FGAN}; {_LECT} "
            "(the table's integral column reads (q - p)^2 / p, which is Neyman's: see docs/MATH.md)"
        ),
        optimal_logit=lambda r: 2.0 * (r - 1.0),
        f_at_0=1.0,
        f_prime_inf=_INF,
    )


def _neyman() -> FDivergence:
    return FDivergence(
        name="neyman",
        f=lambda u: (u - 1.0) ** 2 / u,
        conjugate=lambda t: _on_domain(t, t < 1, lambda s: 2.0 - 2.0 * torch.sqrt(1.0 - s), 0.0),
        conjugate_domain=(-_INF, 1.0),
        activation=lambda v: -torch.expm1(v),
        conjugate_activation=lambda v: 2.0 - 2.0 * torch.exp(0.5 * v),
        optimal_critic=lambda r: 1.0 - torch.reciprocal(r * r),
        f_prime_1=0.0,
        reference=f"Neyman chi^2 = int (p - q)^2 / p, f(u) = (1 - u)^2 / u, f*(t) = 2 - 2 sqrt(1 - t), t < 1. {_FGAN}",
        optimal_logit=lambda r: -2.0 * torch.log(r),
        f_at_0=_INF,
        f_prime_inf=1.0,
    )


def _hellinger() -> FDivergence:
    return FDivergence(
        name="hellinger",
        f=lambda u: (torch.sqrt(u) - 1.0) ** 2,
        conjugate=lambda t: _on_domain(t, t < 1, lambda s: s / (1.0 - s), 0.0),
        conjugate_domain=(-_INF, 1.0),
        activation=lambda v: -torch.expm1(-v),
        conjugate_activation=torch.expm1,
        optimal_critic=lambda r: 1.0 - torch.rsqrt(r),
        f_prime_1=0.0,
        reference=(
            f"squared Hellinger int (sqrt p - sqrt q)^2, f(u) = (sqrt u - 1)^2, f*(t) = t / (1 - t), t < 1. "
            f"{_FGAN}; {_LECT}"
        ),
        optimal_logit=lambda r: 0.5 * torch.log(r),
        f_at_0=1.0,
        f_prime_inf=1.0,
    )


def _jeffrey() -> FDivergence:
    return FDivergence(
        name="jeffrey",
        f=lambda u: (u - 1.0) * torch.log(u),
        conjugate=_jeffrey_conjugate,
        conjugate_domain=(-_INF, _INF),
        activation=lambda v: v,
        conjugate_activation=_jeffrey_conjugate,
        optimal_critic=lambda r: torch.log(r) + 1.0 - torch.reciprocal(r),
        f_prime_1=0.0,
        reference=(
            f"Jeffrey = KL(P||Q) + KL(Q||P), f(u) = (u - 1) log u, f*(t) = W(e^(1-t)) + 1/W(e^(1-t)) + t - 2. {_FGAN}"
        ),
        optimal_logit=lambda r: torch.log(r) + 1.0 - torch.reciprocal(r),
        f_at_0=_INF,
        f_prime_inf=_INF,
    )


def _js() -> FDivergence:
    # f = (1/2) [u log u - (u + 1) log((1 + u)/2)] gives JSD itself; the table's f (no 1/2) gives 2 JSD.
    # f*(t) = (1/2) f_2JS*(2t) = -(1/2) log(2 - e^{2t}); g_f(v) = (1/2)(log 2 + log sigmoid(v)).
    return FDivergence(
        name="js",
        f=lambda u: 0.5 * (_gan_f(u) + (u + 1.0) * LOG2),
        conjugate=lambda t: _on_domain(t, t < 0.5 * LOG2, lambda s: -0.5 * (LOG2 + _log1mexp(2.0 * s - LOG2)), 0.0),
        conjugate_domain=(-_INF, 0.5 * LOG2),
        activation=lambda v: 0.5 * (LOG2 + F.logsigmoid(v)),
        conjugate_activation=lambda v: 0.5 * (softplus(v) - LOG2),
        optimal_critic=lambda r: 0.5 * (LOG2 + F.logsigmoid(torch.log(r))),
        f_prime_1=0.0,
        reference=(
            "JSD(P||Q) = (1/2) KL(P||M) + (1/2) KL(Q||M), M = (P+Q)/2; f(u) = (1/2)[u log u - (u+1) log((1+u)/2)], "
            f"f*(t) = -(1/2) log(2 - e^(2t)), t < (1/2) log 2. Scaled by 1/2 from {_FGAN} (whose f gives 2 JSD); "
            f"{_LECT}"
        ),
        optimal_logit=torch.log,
        f_at_0=0.5 * LOG2,
        f_prime_inf=0.5 * LOG2,
    )


def _gan() -> FDivergence:
    return FDivergence(
        name="gan",
        f=_gan_f,
        conjugate=lambda t: _on_domain(t, t < 0, lambda s: -_log1mexp(s), -1.0),
        conjugate_domain=(-_INF, 0.0),
        activation=F.logsigmoid,
        conjugate_activation=softplus,
        optimal_critic=lambda r: F.logsigmoid(torch.log(r)),
        f_prime_1=-LOG2,
        reference=(
            "GAN: D_f = 2 JSD - log 4 (f(1) = -log 4, not 0); f(u) = u log u - (u+1) log(u+1), "
            f"f*(t) = -log(1 - e^t), t < 0; T = log D. {_FGAN}; {_LECT}, slide 'Example (JSD)'"
        ),
        optimal_logit=torch.log,
        f_at_0=0.0,
        f_prime_inf=0.0,
    )


def _tv() -> FDivergence:
    return FDivergence(
        name="tv",
        f=lambda u: 0.5 * torch.abs(u - 1.0),
        conjugate=_tv_conjugate,
        conjugate_domain=(-_INF, 0.5),
        activation=lambda v: 0.5 * torch.tanh(v),
        conjugate_activation=lambda v: 0.5 * torch.tanh(v),
        optimal_critic=lambda r: 0.5 * torch.sign(r - 1.0),
        f_prime_1=0.0,
        reference=(
            f"total variation (1/2) int |p - q|, f(u) = |u - 1| / 2, f*(t) = max(t, -1/2) for t <= 1/2. {_FGAN}"
        ),
        optimal_logit=lambda r: _TV_SATURATED_LOGIT * torch.sign(r - 1.0),
        f_at_0=0.5,
        f_prime_inf=0.5,
    )


def alpha_divergence(alpha: float) -> FDivergence:
    """alpha-divergence ``f(u) = (u^a - 1 - a(u - 1)) / (a(a - 1))``, ``a`` not in {0, 1}.

    ``f*(t) = ((1 + (a-1) t)^(a/(a-1)) - 1) / a``; ``f'(u) = (u^(a-1) - 1)/(a - 1)``.
    ``a < 1``: ``dom f* = (-inf, 1/(1-a))``, ``g_f(v) = 1/(1-a) - softplus(-v)``, so that
    ``1 + (a-1) g_f(v) = (1-a) softplus(-v)``. ``a > 1``: ``dom f* = R``, ``g_f(v) = v``.
    Special cases: ``a = 2`` is Pearson/2, ``a = 1/2`` is 2 * squared Hellinger, ``a = -1`` is
    Neyman/2; ``a -> 1`` gives KL and ``a -> 0`` reverse KL (not accepted here: use those).

    Shapes: the record's callables are elementwise.

    Reference: Nowozin et al. 2016 (arXiv:1606.00709), Table 6 (alpha-div rows); Amari & Cichocki.

    Note: for ``a > 1`` the paper's conjugate is real only for ``t >= -1/(a-1)``. The exact
    conjugate of ``f`` on ``u >= 0`` is ``-f(0) = -1/a`` below that point (the supremum sits at
    ``u -> 0``); ganlab returns that, so ``conjugate`` is finite and convex on all of R.
    """
    a = float(alpha)
    if not math.isfinite(a) or a in (0.0, 1.0):
        raise ValueError(f"alpha must be finite and not 0 or 1 (use 'reverse-kl' or 'kl'), got {alpha!r}")
    c = 1.0 / (a * (a - 1.0))
    p = a / (a - 1.0)

    def f(u: torch.Tensor) -> torch.Tensor:
        return c * (torch.expm1(a * torch.log(u)) - a * (u - 1.0))

    def t_star(r: torch.Tensor) -> torch.Tensor:
        return torch.expm1((a - 1.0) * torch.log(r)) / (a - 1.0)

    if a < 1.0:
        hi = 1.0 / (1.0 - a)

        def conjugate(t: torch.Tensor) -> torch.Tensor:
            return _on_domain(t, t < hi, lambda s: torch.expm1(p * torch.log1p((a - 1.0) * s)) / a, 0.0)

        def activation(v: torch.Tensor) -> torch.Tensor:
            return hi - softplus(-v)

        def conjugate_activation(v: torch.Tensor) -> torch.Tensor:
            return torch.expm1(p * (math.log(1.0 - a) + _log_softplus(-v))) / a

        def optimal_logit(r: torch.Tensor) -> torch.Tensor:
            # softplus(-v*) = r^(a-1) / (1-a) =: y, so v* = -softplus^{-1}(y), softplus^{-1}(y) = log(e^y - 1).
            log_y = (a - 1.0) * torch.log(r) - math.log(1.0 - a)
            y = torch.exp(log_y)
            big = y > 1.0
            y_big = torch.where(big, y, torch.full_like(y, 2.0))
            y_small = torch.where(big, torch.full_like(y, 0.5), y)
            inv = torch.where(big, y_big + torch.log(-torch.expm1(-y_big)), torch.log(torch.expm1(y_small)))
            inv = torch.where(log_y < -30.0, log_y + 0.5 * y, inv)
            return -inv

        domain = (-_INF, hi)
        f_at_0 = 1.0 / a if a > 0 else _INF
        f_prime_inf = 1.0 / (1.0 - a)
    else:

        def conjugate(t: torch.Tensor) -> torch.Tensor:
            s = 1.0 + (a - 1.0) * t
            pos = s > 0
            s_safe = torch.where(pos, s, torch.ones_like(s))
            out = torch.where(pos, torch.expm1(p * torch.log(s_safe)) / a, torch.full_like(s, -1.0 / a))
            return torch.where(torch.isnan(t), t, out)

        def activation(v: torch.Tensor) -> torch.Tensor:
            return v

        conjugate_activation = conjugate
        optimal_logit = t_star
        domain = (-_INF, _INF)
        f_at_0 = 1.0 / a
        f_prime_inf = _INF

    return FDivergence(
        name=f"alpha-{a:g}",
        f=f,
        conjugate=conjugate,
        conjugate_domain=domain,
        activation=activation,
        conjugate_activation=conjugate_activation,
        optimal_critic=t_star,
        f_prime_1=0.0,
        reference=f"alpha-divergence, alpha = {a:g}. {_FGAN} (Table 6)",
        optimal_logit=optimal_logit,
        f_at_0=f_at_0,
        f_prime_inf=f_prime_inf,
    )


#: The f-divergences by name. ``js`` is JSD itself; ``gan`` is 2 JSD - log 4 (f(1) = -log 4).
DIVERGENCES: dict[str, FDivergence] = {
    d.name: d
    for d in (
        _kl(),
        _reverse_kl(),
        _pearson(),
        _neyman(),
        _hellinger(),
        _jeffrey(),
        _js(),
        _gan(),
        _tv(),
        alpha_divergence(0.5),
        alpha_divergence(2.0),
    )
}


# ----------------------------------------------------------------------------------------------
# Variational lower bound
# ----------------------------------------------------------------------------------------------
def _check_values(x: Any, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
        raise ValueError(f"{name} must be a floating-point torch.Tensor, got {type(x).__name__}")
    if x.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(x.shape)}")
    return x


def variational_bound(t_real: torch.Tensor, t_fake: torch.Tensor, div: FDivergence) -> torch.Tensor:
    """``E_P[T] - E_Q[f*(T)]``, a Monte Carlo lower bound on ``D_f(P||Q)``, tight at ``T = f'(p/q)``.

    Shapes: ``t_real`` critic values ``T(x)`` on samples of P, ``(N,)`` or ``(N, 1)``; ``t_fake`` on
    samples of Q, ``(M,)`` or ``(M, 1)``; returns a 0-d tensor (differentiable).

    Reference: lecture 002_12706ff463d72203.txt, slide "f-divergence family / Variational
    f-divergence estimation"; Nowozin et al. 2016, eq. (4).

    Note: a critic value outside ``dom f*`` gives ``f* = +inf`` and a bound of ``-inf``, which is
    the true value. Critics should output logits and use ``variational_bound_from_logits``.
    """
    _check_values(t_real, "t_real")
    _check_values(t_fake, "t_fake")
    return t_real.mean() - div.conjugate(t_fake).mean()


def variational_bound_from_logits(v_real: torch.Tensor, v_fake: torch.Tensor, div: FDivergence) -> torch.Tensor:
    """``E_P[g_f(v)] - E_Q[f*(g_f(v))]`` from critic logits ``v``, with the stable ``f* o g_f``.

    Shapes: ``v_real`` ``(N,)`` or ``(N, 1)``, ``v_fake`` ``(M,)`` or ``(M, 1)``; returns a 0-d tensor.

    Reference: Nowozin et al. 2016, eq. (6) and Table 6; lecture 002_12706ff463d72203.txt, slide
    "Example (JSD)" (for ``gan``: ``E_P log D + E_Q log(1 - D)`` with ``D = sigmoid(v)``).

    Note: ``conjugate_activation`` never forms ``g_f(v)``, which rounds onto the boundary of
    ``dom f*`` for large logits (e.g. ``log sigmoid(40) = -4e-18`` but ``1 - e^{-4e-18} = 0``).
    """
    _check_values(v_real, "v_real")
    _check_values(v_fake, "v_fake")
    return div.activation(v_real).mean() - div.conjugate_activation(v_fake).mean()


def disjoint_support_divergence(div: FDivergence) -> float:
    """``D_f(P||Q) = f(0) + f'(inf)`` for mutually singular P and Q (disjoint supports).

    E.g. JSD = log 2, KL = inf, TV = 1, squared Hellinger = 2, ``gan`` = 0 (= 2 log 2 - log 4).

    Reference: lecture 004_a72885b194f54592.txt and 002_12706ff463d72203.txt, slide "Informal
    theoretical results" (KL = inf, JSD = log 2 for disjoint supports); Polyanskiy & Wu,
    Def. 7.1 (the f(0) Q[p = 0] + f'(inf) P[q = 0] terms).
    """
    return float(div.f_at_0) + float(div.f_prime_inf)


# ----------------------------------------------------------------------------------------------
# Quadrature for 1-D densities
# ----------------------------------------------------------------------------------------------
def divergence(
    p_pdf: Callable[[float], float],
    q_pdf: Callable[[float], float],
    div: FDivergence,
    *,
    lower: float = -math.inf,
    upper: float = math.inf,
    points: Sequence[float] | None = None,
) -> float:
    """``D_f(P||Q) = int q f(p/q) dx + f(0) Q[p = 0] + f'(inf) P[q = 0]`` for 1-D densities, by quadrature.

    Shapes: ``p_pdf``, ``q_pdf`` map a float ``x`` to a density value (numpy callables such as
    ``scipy.stats.norm(0, 1).pdf``); ``[lower, upper]`` the integration range (infinite allowed);
    ``points`` breakpoints (kinks, support edges) where the range is split. Returns a float.

    Reference: lecture 002_12706ff463d72203.txt, slide "f-divergence family" (definition);
    Polyanskiy & Wu, Def. 7.1 (the singular parts).

    Note: where ``q(x) = 0 < p(x)`` (or ``p/q`` overflows) the P-mass there is integrated
    separately and weighted by ``f'(inf)``; where ``p(x) = 0 < q(x)`` the Q-mass is weighted by
    ``f(0)``. A density that underflows to 0 in float64 looks like a gap: singular masses below
    ``NEGLIGIBLE_MASS`` (1e-12) times an infinite weight are read as underflow and count 0. Pass
    finite ``lower``/``upper`` where a density would underflow on a set of visible mass.
    """
    if not callable(p_pdf) or not callable(q_pdf):
        raise ValueError(f"p_pdf and q_pdf must be callables x -> density, got {type(p_pdf).__name__}, {type(q_pdf).__name__}")
    lower, upper = float(lower), float(upper)
    if math.isnan(lower) or math.isnan(upper) or not lower < upper:
        raise ValueError(f"need lower < upper, got lower={lower}, upper={upper}")
    cuts = sorted(float(b) for b in (points or ()))
    if any(not math.isfinite(b) for b in cuts):
        raise ValueError(f"points must be finite, got {list(points or ())}")
    edges = [lower] + [b for b in cuts if lower < b < upper] + [upper]

    def densities(x: float) -> tuple[float, float]:
        p, q = float(p_pdf(x)), float(q_pdf(x))
        if not (p >= 0.0 and q >= 0.0):  # also catches NaN
            raise ValueError(f"densities must be >= 0, got p({x!r}) = {p!r}, q({x!r}) = {q!r}")
        return p, q

    def regular(x: float) -> float:
        p, q = densities(x)
        if p == 0.0 or q == 0.0 or not math.isfinite(p / q):
            return 0.0
        with torch.no_grad():
            fr = float(div.f(torch.tensor(p / q, dtype=torch.float64)))
        return q * fr

    def p_where_q_vanishes(x: float) -> float:
        p, q = densities(x)
        return p if p > 0.0 and (q == 0.0 or not math.isfinite(p / q)) else 0.0

    def q_where_p_vanishes(x: float) -> float:
        p, q = densities(x)
        return q if p == 0.0 else 0.0

    def integral(fn: Callable[[float], float]) -> float:
        total = 0.0
        for a, b in zip(edges[:-1], edges[1:]):
            total += scipy.integrate.quad(fn, a, b, epsabs=1e-12, epsrel=1e-10, limit=500)[0]
        return total

    def singular(weight: float, fn: Callable[[float], float]) -> float:
        if weight == 0.0:
            return 0.0
        mass = integral(fn)
        if math.isinf(weight):
            return weight if mass > NEGLIGIBLE_MASS else 0.0
        return weight * mass

    value = integral(regular)
    value += singular(float(div.f_at_0), q_where_p_vanishes)
    value += singular(float(div.f_prime_inf), p_where_q_vanishes)
    return value


# ----------------------------------------------------------------------------------------------
# KL between Gaussians (closed form)
# ----------------------------------------------------------------------------------------------
def _cholesky(s: np.ndarray, name: str) -> np.ndarray:
    try:
        return scipy.linalg.cholesky(s, lower=True)
    except np.linalg.LinAlgError as exc:
        raise ValueError(f"{name} must be positive definite (Cholesky failed): {exc}") from exc


def kl_gaussians(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> float:
    """``KL(N1||N2) = 1/2 [tr(S2^-1 S1) + (m2 - m1)^T S2^-1 (m2 - m1) - d + log det S2 - log det S1]``.

    Shapes: ``mu`` ``(d,)`` with ``cov`` ``(d, d)``, or scalars (mean, *variance*). Float64;
    returns a float. Both covariances must be positive definite.

    Reference: the Gaussian KL used for the forward/reverse KL comparison in lecture
    004_a72885b194f54592.txt, slide "Jensen-Shannon vs Kullback-Leibler"; e.g. Duchi, "Derivations
    for linear algebra and optimization", sec. 9.

    Note: computed with Cholesky factors (triangular solves, log det from the diagonals); no
    explicit inverse.
    """
    m1, s1, m2, s2 = check_gaussians(mu1, cov1, mu2, cov2)
    l1 = _cholesky(s1, "cov1")
    l2 = _cholesky(s2, "cov2")
    a = scipy.linalg.solve_triangular(l2, l1, lower=True)  # L2^-1 L1: tr(S2^-1 S1) = ||A||_F^2
    b = scipy.linalg.solve_triangular(l2, m2 - m1, lower=True)
    logdet = 2.0 * (np.sum(np.log(np.diag(l2))) - np.sum(np.log(np.diag(l1))))
    return float(0.5 * (np.sum(a * a) + np.dot(b, b) - m1.shape[0] + logdet))
