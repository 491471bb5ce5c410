"""Tests for ganlab.divergences.

Every expected value is independent of the code under test: generators written again here from
the lecture table (with ganlab's documented scaling), numerical suprema (scipy.optimize) for the
conjugates and the biconjugates, the divergences' defining integrals (scipy.integrate.quad),
closed forms derived in this file, high-precision references (mpmath) and
scipy.special.wrightomega. Wasserstein distances are tested in tests/test_transport.py, the
parallel-lines example in tests/experiments/test_disjoint_supports.py.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.special
import torch
import torch.nn.functional as F
from scipy import integrate, optimize, stats

from ganlab.divergences import (
    DIVERGENCES,
    FDivergence,
    alpha_divergence,
    disjoint_support_divergence,
    divergence,
    kl_gaussians,
    softplus,
    variational_bound,
    variational_bound_from_logits,
    wrightomega,
)

BUILTIN = ["kl", "reverse-kl", "pearson", "neyman", "hellinger", "jeffrey", "js", "gan", "tv"]
EXTRA_ALPHAS = [-1.0, 0.3, 3.0]
ALL = {**DIVERGENCES, **{f"alpha-{a:g}": alpha_divergence(a) for a in EXTRA_ALPHAS}}
NAMES = sorted(ALL)
LOG2 = math.log(2.0)

# The pair of the brief: P = N(0, 1), Q = N(0.5, 1.2^2).
MU_P, SD_P, MU_Q, SD_Q = 0.0, 1.0, 0.5, 1.2
P, Q = stats.norm(MU_P, SD_P), stats.norm(MU_Q, SD_Q)
BOX = (-30.0, 30.0)  # both densities are representable here; the mass outside is < 1e-190


def _alpha(name: str) -> float:
    return float(name[len("alpha-") :])


def _apply(fn, x) -> np.ndarray:
    with torch.no_grad():
        return fn(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()


def ref_f(name: str, u):
    """Generators from the lecture table / f-GAN Table 1, with ganlab's scaling (js = JSD itself)."""
    u = np.asarray(u, dtype=np.float64)
    if name == "kl":
        return u * np.log(u)
    if name == "reverse-kl":
        return -np.log(u)
    if name == "pearson":
        return (u - 1) ** 2
    if name == "neyman":
        return (1 - u) ** 2 / u
    if name == "hellinger":
        return (np.sqrt(u) - 1) ** 2
    if name == "jeffrey":
        return (u - 1) * np.log(u)
    if name == "js":
        return 0.5 * (-(u + 1) * np.log((1 + u) / 2) + u * np.log(u))
    if name == "gan":
        return u * np.log(u) - (u + 1) * np.log(u + 1)
    if name == "tv":
        return 0.5 * np.abs(u - 1)
    a = _alpha(name)
    return (u**a - 1 - a * (u - 1)) / (a * (a - 1))


def ref_integrand(name: str, p: float, q: float) -> float:
    """The 'D_f(P||Q)' column of the table as an integrand (Pearson/Neyman the right way round)."""
    if name == "kl":
        return p * math.log(p / q)
    if name == "reverse-kl":
        return q * math.log(q / p)
    if name == "pearson":
        return (p - q) ** 2 / q
    if name == "neyman":
        return (p - q) ** 2 / p
    if name == "hellinger":
        return (math.sqrt(p) - math.sqrt(q)) ** 2
    if name == "jeffrey":
        return (p - q) * math.log(p / q)
    if name in ("js", "gan"):
        m = p + q
        s = p * math.log(2 * p / m) + q * math.log(2 * q / m)
        return 0.5 * s if name == "js" else s
    if name == "tv":
        return 0.5 * abs(p - q)
    a = _alpha(name)
    return (p**a * q ** (1 - a) - a * p + (a - 1) * q) / (a * (a - 1))


def _crossings() -> list[float]:
    """Roots of log p(x) = log q(x) for the two Gaussians (the kinks of |p - q|)."""
    a = 0.5 / SD_Q**2 - 0.5 / SD_P**2
    b = MU_P / SD_P**2 - MU_Q / SD_Q**2
    c = 0.5 * MU_Q**2 / SD_Q**2 - 0.5 * MU_P**2 / SD_P**2 + math.log(SD_Q / SD_P)
    return sorted(float(r.real) for r in np.roots([a, b, c]))


def _quad(fn, lo=BOX[0], hi=BOX[1], points=None, eps=1e-13) -> float:
    return integrate.quad(fn, lo, hi, points=points, epsabs=eps, epsrel=100 * eps, limit=500)[0]


def _ratio(x: float) -> float:
    return math.exp(P.logpdf(x) - Q.logpdf(x))


def reference_divergence(name: str) -> float:
    value = _quad(lambda x: ref_integrand(name, P.pdf(x), Q.pdf(x)), points=_crossings())
    return value - math.log(4.0) if name == "gan" else value


def kl_gauss_1d(m1: float, s1: float, m2: float, s2: float) -> float:
    """KL(N(m1, s1^2) || N(m2, s2^2)) by hand (s = standard deviations)."""
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


# ------------------------------------------------------------------------------------------------
# Generators, derivatives, limits
# ------------------------------------------------------------------------------------------------
def test_registry_has_exactly_the_public_names():
    assert set(BUILTIN) <= set(DIVERGENCES)
    assert set(DIVERGENCES) - set(BUILTIN) == {"alpha-0.5", "alpha-2"}
    for name, div in DIVERGENCES.items():
        assert isinstance(div, FDivergence) and div.name == name


@pytest.mark.parametrize("name", NAMES)
def test_generator_matches_table(name):
    u = np.logspace(-3, 3, 25)
    np.testing.assert_allclose(_apply(ALL[name].f, u), ref_f(name, u), rtol=1e-12, atol=1e-12)
    f1 = float(_apply(ALL[name].f, 1.0))
    expected_f1 = -math.log(4.0) if name == "gan" else 0.0  # gan: f(1) = -log 4, not 0
    assert abs(f1 - expected_f1) <= 1e-15


@pytest.mark.parametrize("name", NAMES)
def test_optimal_critic_is_f_prime(name):
    r = np.logspace(-2, 2, 11)
    r = r[np.abs(r - 1) > 1e-3]  # tv has a kink at 1
    h = 1e-6 * r
    numeric = (ref_f(name, r + h) - ref_f(name, r - h)) / (2 * h)
    np.testing.assert_allclose(_apply(ALL[name].optimal_critic, r), numeric, rtol=1e-7, atol=1e-7)
    d1 = (ref_f(name, 1 + 1e-6) - ref_f(name, 1 - 1e-6)) / 2e-6
    assert abs(ALL[name].f_prime_1 - d1) <= 1e-8


@pytest.mark.parametrize("name", NAMES)
def test_limits_f_at_0_and_f_prime_inf(name):
    div = ALL[name]
    with np.errstate(over="ignore"):
        at_0 = float(ref_f(name, 1e-40))
        slope = float(ref_f(name, 1e40) / 1e40)
    if math.isinf(div.f_at_0):
        assert at_0 > 50  # grows without bound as u -> 0
    else:
        assert abs(div.f_at_0 - at_0) <= 1e-9
    if math.isinf(div.f_prime_inf):
        assert slope > 50
    else:
        assert abs(div.f_prime_inf - slope) <= 1e-9


# ------------------------------------------------------------------------------------------------
# Conjugates
# ------------------------------------------------------------------------------------------------
def _numerical_conjugate(name: str, t: float) -> float:
    """sup_{u > 0} (u t - f(u)) by bounded Brent on s = log u in [-30, 30] (u t - f(u) is concave in u)."""
    res = optimize.minimize_scalar(
        lambda s: -(math.exp(s) * t - float(ref_f(name, math.exp(s)))),
        bounds=(-30.0, 30.0),
        method="bounded",
        options={"xatol": 1e-11, "maxiter": 2000},
    )
    return -float(res.fun)


def _t_grid(name: str) -> np.ndarray:
    if name == "tv":
        return np.array([-3.0, -0.8, -0.45, -0.2, 0.0, 0.2, 0.45])  # below -1/2: sup at u -> 0
    t = _apply(ALL[name].optimal_critic, np.logspace(-2, 2, 9))  # maximisers u* = r in [1e-2, 1e2]
    if name == "pearson":
        t = np.concatenate([t, [-2.5, -10.0]])  # below -2: sup at u -> 0, f* = -f(0) = -1
    if name.startswith("alpha-") and _alpha(name) > 1:
        t = np.concatenate([t, [-2.0 / (_alpha(name) - 1), -10.0]])  # flat part: sup at u -> 0
    return t


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_equals_numerical_sup(name):
    t = _t_grid(name)
    expected = np.array([_numerical_conjugate(name, float(ti)) for ti in t])
    np.testing.assert_allclose(_apply(ALL[name].conjugate, t), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", [n for n in NAMES if math.isfinite(ALL[n].conjugate_domain[1])])
def test_conjugate_is_inf_outside_domain(name):
    hi = ALL[name].conjugate_domain[1]
    t = hi + 0.1
    assert np.isposinf(_apply(ALL[name].conjugate, [t])).all()
    # the supremum is unbounded there: u t - f(u) exceeds any level for large u
    u = 1e8
    assert u * t - float(ref_f(name, u)) > 1e5


@pytest.mark.parametrize("name", [n for n in NAMES if n != "tv"])
def test_conjugate_gradient_is_the_maximiser(name):
    # Danskin: d f*/dt at t = f'(r) equals the maximiser u* = r.
    r = np.logspace(-2, 2, 9)
    t = torch.as_tensor(_apply(ALL[name].optimal_critic, r)).requires_grad_(True)
    ALL[name].conjugate(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), r, rtol=1e-9, atol=1e-12)


# The biconjugate: f** = f (Fenchel-Moreau; lecture 002, slide "f-divergence family / Fenchel conjugate")
U_BICONJUGATE = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
T_BOX = 50.0  # |f'(u)| <= 15 for every record at these u, so [-T_BOX, T_BOX] holds every maximiser


def _numerical_biconjugate(div: FDivergence, u: float) -> tuple[float, float]:
    """(f**(u), maximiser) for f**(u) = sup_{t in dom f*} (t u - f*(t)), with the record's own f*.

    A grid of 20 001 points on [max(lo, -T_BOX), min(hi, T_BOX)] locates the maximiser; bounded
    Brent refines it between the grid neighbours (t u - f*(t) is concave, so they bracket it). Brent
    searches the offset s = t - t_grid: its tolerance is relative to |s| <= 0.0025, not to |t|, so a
    maximiser on a kink of f* (tv: t = -1/2) is found to ~1e-11, not ~1e-8. The edges of dom f*
    need no special case: the record's f* is +inf outside dom f*, so an open edge (reverse-kl at
    t = 0, neyman at t = 1, ...) scores -inf, while a closed one where f* is finite (tv: f*(1/2) = 1/2,
    its maximiser for every u > 1) is a grid point and can win.
    """
    lo, hi = div.conjugate_domain
    grid = np.linspace(max(lo, -T_BOX), min(hi, T_BOX), 20_001)
    phi = grid * u - _apply(div.conjugate, grid)
    i = int(np.argmax(phi))
    t0 = grid[i]
    res = optimize.minimize_scalar(
        lambda s: -((t0 + s) * u - float(_apply(div.conjugate, t0 + s))),
        bounds=(grid[max(i - 1, 0)] - t0, grid[min(i + 1, grid.size - 1)] - t0),
        method="bounded",
        options={"xatol": 1e-14, "maxiter": 500},
    )
    if -float(res.fun) > phi[i]:
        return -float(res.fun), float(t0 + res.x)
    return float(phi[i]), float(t0)


@pytest.mark.parametrize("name", NAMES)
def test_biconjugate_is_f(name):
    """f**(u) = sup_t (t u - f*(t)) = f(u) at u in {1/4, 1/2, 1, 2, 4}, attained at t = f'(u).

    Lecture 002_12706ff463d72203.txt, slide "f-divergence family / Fenchel conjugate": "Important
    property: f** = f for convex f". The supremum uses the record's f* and dom f*; f is ref_f.
    Every record is checked, the bounded domains included (tv: dom f* = (-inf, 1/2], the sup sits
    on its closed edge for u > 1 and on the kink t = -1/2 of f* for u < 1). The maximiser is checked
    wherever f is differentiable: everywhere except tv at u = 1, where every t in the subdifferential
    [-1/2, 1/2] attains f(1) = 0 (the value is still checked there).
    """
    div = ALL[name]
    found = [_numerical_biconjugate(div, float(u)) for u in U_BICONJUGATE]
    f_star_star = np.array([value for value, _ in found])
    maximiser = np.array([t for _, t in found])
    np.testing.assert_allclose(f_star_star, ref_f(name, U_BICONJUGATE), rtol=1e-11, atol=1e-11)
    differentiable = ~((name == "tv") & (U_BICONJUGATE == 1.0))
    t_star = _apply(div.optimal_critic, U_BICONJUGATE)  # f'(u), checked by test_optimal_critic_is_f_prime
    np.testing.assert_allclose(maximiser[differentiable], t_star[differentiable], rtol=0, atol=1e-6)
    # Fenchel-Young equality at the maximiser: t* u - f*(t*) = f(u)
    fy = U_BICONJUGATE * t_star - _apply(div.conjugate, t_star)
    np.testing.assert_allclose(fy, ref_f(name, U_BICONJUGATE), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "name, scale, base",
    [("alpha-2", 0.5, "pearson"), ("alpha-0.5", 2.0, "hellinger"), ("alpha--1", 0.5, "neyman")],
)
def test_alpha_special_cases(name, scale, base):
    # f_a = c f_base  =>  (c f)*(t) = c f*(t / c)
    u = np.logspace(-2, 2, 9)
    np.testing.assert_allclose(_apply(ALL[name].f, u), scale * ref_f(base, u), rtol=1e-12, atol=1e-13)
    t = np.linspace(-3.0, 0.9, 9) * scale
    expected = scale * _apply(ALL[base].conjugate, t / scale)
    np.testing.assert_allclose(_apply(ALL[name].conjugate, t), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 1.0, float("nan"), float("inf")])
def test_alpha_rejects_bad_values(alpha):
    with pytest.raises(ValueError, match="alpha"):
        alpha_divergence(alpha)


# ------------------------------------------------------------------------------------------------
# Variational bound against quadrature
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_quadrature_divergence_matches_defining_integral(name):
    div = ALL[name]
    points = _crossings() if name == "tv" else None
    expected = reference_divergence(name)
    np.testing.assert_allclose(divergence(P.pdf, Q.pdf, div, points=points), expected, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_bound_at_optimal_critic_equals_divergence(name):
    div = ALL[name]
    points = _crossings()
    d = divergence(P.pdf, Q.pdf, div, points=points)

    def t_star(x):
        return float(_apply(div.optimal_critic, _ratio(x)))

    e_p = _quad(lambda x: P.pdf(x) * t_star(x), points=points)
    e_q = _quad(lambda x: Q.pdf(x) * float(_apply(div.conjugate, t_star(x))), points=points)
    assert abs((e_p - e_q) - d) <= 1e-6
    # the same through logits and the stable f* o g_f
    def v_star(x):
        return float(_apply(div.optimal_logit, _ratio(x)))

    e_p = _quad(lambda x: P.pdf(x) * float(_apply(div.activation, v_star(x))), points=points)
    e_q = _quad(lambda x: Q.pdf(x) * float(_apply(div.conjugate_activation, v_star(x))), points=points)
    assert abs((e_p - e_q) - d) <= 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_bound_is_below_divergence_for_a_perturbed_critic(name):
    div = ALL[name]
    d = divergence(P.pdf, Q.pdf, div, points=_crossings())
    if name == "tv":
        v_of = lambda x: math.log(_ratio(x))  # noqa: E731  (T = tanh(log r)/2, not +-1/2)
    else:
        v_of = lambda x: float(_apply(div.optimal_logit, _ratio(x))) + 0.5 * math.sin(x)  # noqa: E731
    e_p = _quad(lambda x: P.pdf(x) * float(_apply(div.activation, v_of(x))), eps=1e-9)
    e_q = _quad(lambda x: Q.pdf(x) * float(_apply(div.conjugate_activation, v_of(x))), eps=1e-9)
    gap = d - (e_p - e_q)
    assert gap > 1e-4, f"bound {e_p - e_q} not below divergence {d}"


def test_variational_bound_monte_carlo_values():
    gen = torch.Generator().manual_seed(1)
    t_real = torch.randn(50, generator=gen, dtype=torch.float64)
    t_fake = torch.randn(70, 1, generator=gen, dtype=torch.float64) - 2.0
    x, y = t_real.numpy(), t_fake.numpy()
    got = variational_bound(t_real, t_fake, DIVERGENCES["kl"])
    assert abs(float(got) - (x.mean() - np.exp(y - 1).mean())) <= 1e-13
    got = variational_bound(t_real, -t_fake.abs() - 0.1, DIVERGENCES["gan"])  # gan: T < 0
    assert abs(float(got) - (x.mean() + np.log(1 - np.exp(-np.abs(y) - 0.1)).mean())) <= 1e-13
    assert variational_bound(t_real, t_fake.abs(), DIVERGENCES["gan"]) == -math.inf  # T outside dom f*
    # logits: for gan this is the GAN value E_P log D + E_Q log(1 - D), D = sigmoid(v)
    sig = 1 / (1 + np.exp(-x)), 1 / (1 + np.exp(-y))
    got = variational_bound_from_logits(t_real, t_fake, DIVERGENCES["gan"])
    assert abs(float(got) - (np.log(sig[0]).mean() + np.log(1 - sig[1]).mean())) <= 1e-13


def test_variational_bound_monte_carlo_at_optimum_estimates_js():
    gen = torch.Generator().manual_seed(2)
    n = 20000
    xp = MU_P + SD_P * torch.randn(n, generator=gen, dtype=torch.float64)
    xq = MU_Q + SD_Q * torch.randn(n, generator=gen, dtype=torch.float64)

    def log_ratio(x):
        return torch.as_tensor(P.logpdf(x.numpy()) - Q.logpdf(x.numpy()))

    div = DIVERGENCES["js"]
    v_real, v_fake = log_ratio(xp), log_ratio(xq)  # v* = log r for js
    est = float(variational_bound_from_logits(v_real, v_fake, div))
    terms = torch.cat([div.activation(v_real), -div.conjugate_activation(v_fake)])
    se = math.sqrt(float(div.activation(v_real).var() + div.conjugate_activation(v_fake).var()) / n)
    assert terms.isfinite().all()
    assert abs(est - reference_divergence("js")) <= 4 * se


def test_variational_bound_rejects_bad_input():
    with pytest.raises(ValueError, match="t_real"):
        variational_bound(torch.empty(0), torch.zeros(3), DIVERGENCES["kl"])
    with pytest.raises(ValueError, match="v_fake"):
        variational_bound_from_logits(torch.zeros(3), [0.0, 1.0], DIVERGENCES["kl"])


# ------------------------------------------------------------------------------------------------
# Activations and stability
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_activation_maps_into_conjugate_domain(name):
    lo, hi = ALL[name].conjugate_domain
    g = _apply(ALL[name].activation, np.linspace(-15, 15, 301))
    assert np.all((g > lo) & (g < hi))
    # for huge logits g may round onto the boundary (closed interval) but never leaves it
    g = _apply(ALL[name].activation, [-1e4, -1e3, -100.0, 100.0, 1e3, 1e4])
    assert not np.isnan(g).any() and np.all((g >= lo) & (g <= hi))


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_activation_equals_naive_composition(name):
    v = np.linspace(-15, 15, 301)
    naive = _apply(lambda t: ALL[name].conjugate(ALL[name].activation(t)), v)
    assert np.isfinite(naive).all()
    np.testing.assert_allclose(_apply(ALL[name].conjugate_activation, v), naive, rtol=1e-8, atol=1e-10)


def _mp_conjugate_activation(name: str, v: float):
    """f*(g_f(v)) evaluated literally (paper's formulas) in high precision."""
    with mpmath.workdps(80 + int(0.45 * abs(v))):
        v = mpmath.mpf(v)
        if name == "kl":
            return mpmath.exp(v - 1)
        if name == "reverse-kl":
            return -1 - mpmath.log(mpmath.exp(-v))
        if name == "pearson":
            return v**2 / 4 + v if v >= -2 else mpmath.mpf(-1)  # sup over u >= 0
        if name == "neyman":
            return 2 - 2 * mpmath.sqrt(1 - (1 - mpmath.exp(v)))
        if name == "hellinger":
            g = 1 - mpmath.exp(-v)
            return g / (1 - g)
        if name == "jeffrey":
            w = mpmath.lambertw(mpmath.exp(1 - v)).real
            return w + 1 / w + v - 2
        if name == "js":
            g = (mpmath.log(2) - mpmath.log(1 + mpmath.exp(-v))) / 2
            return -mpmath.log(2 - mpmath.exp(2 * g)) / 2
        if name == "gan":
            return -mpmath.log(1 - mpmath.exp(-mpmath.log(1 + mpmath.exp(-v))))
        if name == "tv":
            return mpmath.tanh(v) / 2
        a = mpmath.mpf(_alpha(name))
        g = 1 / (1 - a) - mpmath.log(1 + mpmath.exp(-v)) if a < 1 else v
        s = 1 + (a - 1) * g
        return -1 / a if s <= 0 else (s ** (a / (a - 1)) - 1) / a


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_activation_is_accurate_for_huge_logits(name):
    v = np.array([-1e4, -1e3, -700.0, -100.0, -40.0, 40.0, 100.0, 700.0, 1e3, 1e4])
    got = _apply(ALL[name].conjugate_activation, v)
    for vi, gi in zip(v, got):
        ref = _mp_conjugate_activation(name, float(vi))
        if abs(ref) > np.finfo(np.float64).max:  # the true value overflows float64
            assert gi == (math.inf if ref > 0 else -math.inf), (vi, gi)
        else:
            assert math.isfinite(gi), (vi, gi)
            assert abs(gi - float(ref)) <= 1e-12 * max(1.0, abs(float(ref))), (vi, gi, float(ref))


def test_naive_composition_overflows_where_stable_form_does_not():
    v = torch.tensor([800.0, 1e4], dtype=torch.float64)
    for name in ("gan", "js"):
        div = DIVERGENCES[name]
        assert torch.isinf(div.conjugate(div.activation(v))).all()
        assert torch.isfinite(div.conjugate_activation(v)).all()


def test_softplus_is_exact_beyond_the_torch_threshold():
    x = torch.tensor([-1e4, -700.0, -40.0, -20.0, -1.0, 0.0, 1.0, 20.0, 20.1, 30.0, 40.0, 1e4], dtype=torch.float64)
    with mpmath.workdps(50):
        ref = [float(mpmath.log1p(mpmath.exp(mpmath.mpf(xi)))) for xi in x.tolist()]
    torch.testing.assert_close(softplus(x), torch.tensor(ref, dtype=torch.float64), rtol=1e-15, atol=0)
    # the naive form where it is finite, and F.softplus below its threshold 20
    mid = x.abs() <= 30
    torch.testing.assert_close(softplus(x[mid]), torch.log1p(torch.exp(x[mid])), rtol=1e-15, atol=0)
    torch.testing.assert_close(softplus(x[x < 20]), F.softplus(x[x < 20]), rtol=1e-15, atol=0)
    # above it F.softplus returns x and drops log1p(e^-x) (1.9e-9 at 20.1); softplus keeps it
    assert F.softplus(x[8]).item() == 20.1
    assert abs((softplus(x[8]) - 20.1).item() - math.exp(-20.1)) <= 4e-15  # one ulp of 20.1
    # gradient sigmoid(x), finite at +-1e4
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(softplus(xr).sum(), xr)
    torch.testing.assert_close(grad, torch.sigmoid(x), rtol=1e-15, atol=1e-300)


def _mp_f(name: str, u):
    """ref_f in mpmath."""
    log, sqrt = mpmath.log, mpmath.sqrt
    if name == "kl":
        return u * log(u)
    if name == "reverse-kl":
        return -log(u)
    if name == "pearson":
        return (u - 1) ** 2
    if name == "neyman":
        return (1 - u) ** 2 / u
    if name == "hellinger":
        return (sqrt(u) - 1) ** 2
    if name == "jeffrey":
        return (u - 1) * log(u)
    if name == "js":
        return (-(u + 1) * log((1 + u) / 2) + u * log(u)) / 2
    if name == "gan":
        return u * log(u) - (u + 1) * log(u + 1)
    if name == "tv":
        return abs(u - 1) / 2
    a = mpmath.mpf(_alpha(name))
    return (u**a - 1 - a * (u - 1)) / (a * (a - 1))


def _mp_fenchel_young(name: str, r: float) -> float:
    """r f'(r) - f(r) with f' by mpmath's numerical differentiation at 120 digits."""
    with mpmath.workdps(120):
        u = mpmath.mpf(r)
        return float(u * mpmath.diff(lambda x: _mp_f(name, x), u) - _mp_f(name, u))


@pytest.mark.parametrize("name", NAMES)
def test_finite_for_extreme_density_ratios(name):
    div = ALL[name]
    r = torch.logspace(-40, 40, 81, dtype=torch.float64)
    fr, t_star, v_star = div.f(r), div.optimal_critic(r), div.optimal_logit(r)
    g, conj = div.activation(v_star), div.conjugate_activation(v_star)
    for tensor in (fr, t_star, v_star, g, conj):
        assert torch.isfinite(tensor).all()
    torch.testing.assert_close(g, t_star, rtol=1e-12, atol=1e-12)
    # Fenchel-Young equality at the optimum: f*(f'(r)) = r f'(r) - f(r), in high precision
    fy = torch.tensor([_mp_fenchel_young(name, float(ri)) for ri in r], dtype=torch.float64)
    torch.testing.assert_close(conj, fy, rtol=1e-10, atol=1e-10)
    # the bound's integrand p T* - q f*(T*) = q [r T* - f*(T*)] = q f(r) stays finite as well
    assert torch.isfinite(r * g - conj).all()
    # away from the extremes, the conjugate of the critic value itself agrees too
    mid = (r >= 1e-6) & (r <= 1e6)
    torch.testing.assert_close(div.conjugate(t_star[mid]), fy[mid], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", BUILTIN)
def test_float32_moderate_values(name):
    div = DIVERGENCES[name]
    v = torch.linspace(-20, 20, 41, dtype=torch.float32)
    out = div.conjugate_activation(v)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), div.conjugate_activation(v.double()), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------
# Wright omega
# ------------------------------------------------------------------------------------------------
def test_wrightomega_matches_scipy():
    z = np.concatenate([np.linspace(-700, -20, 200), np.linspace(-20, 20, 4001), np.logspace(1.31, 300, 300)])
    got = wrightomega(torch.as_tensor(z)).numpy()
    np.testing.assert_allclose(got, scipy.special.wrightomega(z), rtol=1e-12, atol=1e-300)


def test_wrightomega_extremes_against_mpmath():
    z = [-1000.0, -745.0, -60.0, 1e6, 1e40, 1e300]
    got = wrightomega(torch.tensor(z, dtype=torch.float64)).numpy()
    for zi, gi in zip(z, got):
        with mpmath.workdps(60):
            ref = float(mpmath.lambertw(mpmath.exp(mpmath.mpf(zi))).real)
        assert abs(gi - ref) <= 1e-15 * abs(ref) + 1e-320
    special = wrightomega(torch.tensor([math.inf, -math.inf, math.nan], dtype=torch.float64))
    assert special[0] == math.inf and special[1] == 0.0 and math.isnan(special[2])


def test_wrightomega_gradients_and_float32():
    z = torch.tensor([-50.0, -5.0, -1.0, 0.5, 2.0, 100.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(wrightomega, (z,))
    assert torch.autograd.gradgradcheck(wrightomega, (z,))
    z32 = torch.linspace(-30, 30, 121)
    got = wrightomega(z32)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.double().numpy(), scipy.special.wrightomega(z32.double().numpy()), rtol=2e-6)


# ------------------------------------------------------------------------------------------------
# Closed forms and quadrature
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mu", [0.0, 0.5, 3.0])
def test_kl_unit_gaussians_is_half_mu_squared(mu):
    assert abs(kl_gaussians(0.0, 1.0, mu, 1.0) - mu**2 / 2) <= 1e-14
    d = divergence(stats.norm(0, 1).pdf, stats.norm(mu, 1).pdf, DIVERGENCES["kl"])
    assert abs(d - mu**2 / 2) <= 1e-8


def test_kl_gaussians_scalar_variances_and_multivariate():
    assert abs(kl_gaussians(0.3, 0.25, -1.0, 4.0) - kl_gauss_1d(0.3, 0.5, -1.0, 2.0)) <= 1e-14
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    s1, s2 = a @ a.T + 0.5 * np.eye(3), b @ b.T + 0.5 * np.eye(3)
    m1, m2 = rng.normal(size=3), rng.normal(size=3)
    inv2 = np.linalg.inv(s2)
    expected = 0.5 * (
        np.trace(inv2 @ s1) + (m2 - m1) @ inv2 @ (m2 - m1) - 3 + np.linalg.slogdet(s2)[1] - np.linalg.slogdet(s1)[1]
    )
    assert abs(kl_gaussians(m1, s1, m2, s2) - expected) <= 1e-12
    assert abs(kl_gaussians(torch.as_tensor(m1), torch.as_tensor(s1), m1, s1)) <= 1e-13


def test_kl_gaussians_rejects_bad_input():
    with pytest.raises(ValueError, match="cov2"):
        kl_gaussians(0.0, 1.0, 0.0, -1.0)
    with pytest.raises(ValueError, match="cov1"):
        kl_gaussians(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


def test_js_and_gan_of_gaussians_against_independent_quadrature():
    p, q = stats.norm(0.0, 1.0), stats.norm(2.0, 0.5)

    def kl_to_mixture(a, b):  # KL(A || (A+B)/2) written directly
        return _quad(lambda x: a.pdf(x) * math.log(2 * a.pdf(x) / (a.pdf(x) + b.pdf(x))) if a.pdf(x) > 0 else 0.0)

    jsd = 0.5 * kl_to_mixture(p, q) + 0.5 * kl_to_mixture(q, p)
    assert 0.0 < jsd < LOG2
    assert abs(divergence(p.pdf, q.pdf, DIVERGENCES["js"]) - jsd) <= 1e-9
    assert abs(divergence(p.pdf, q.pdf, DIVERGENCES["gan"]) - (2 * jsd - math.log(4.0))) <= 2e-9


def test_hellinger_of_gaussians_closed_form():
    # int sqrt(p q) = sqrt(2 s1 s2 / (s1^2 + s2^2)) exp(-(m1 - m2)^2 / (4 (s1^2 + s2^2)))
    bc = math.sqrt(2 * SD_P * SD_Q / (SD_P**2 + SD_Q**2)) * math.exp(-((MU_P - MU_Q) ** 2) / (4 * (SD_P**2 + SD_Q**2)))
    assert abs(divergence(P.pdf, Q.pdf, DIVERGENCES["hellinger"]) - 2 * (1 - bc)) <= 1e-9
    expected_kl = kl_gauss_1d(MU_P, SD_P, MU_Q, SD_Q)
    assert abs(divergence(P.pdf, Q.pdf, DIVERGENCES["jeffrey"]) - expected_kl - kl_gauss_1d(MU_Q, SD_Q, MU_P, SD_P)) <= 1e-9


def test_quadrature_with_support_gaps():
    p, q = stats.uniform(0, 1).pdf, stats.uniform(0, 2).pdf  # P = U[0,1], Q = U[0,2]
    kw = dict(lower=-1.0, upper=3.0, points=[0.0, 1.0, 2.0])
    assert abs(divergence(p, q, DIVERGENCES["kl"], **kw) - LOG2) <= 1e-10
    assert divergence(q, p, DIVERGENCES["kl"], **kw) == math.inf  # Q has mass 1/2 where p = 0
    assert divergence(p, q, DIVERGENCES["reverse-kl"], **kw) == math.inf
    assert abs(divergence(p, q, DIVERGENCES["js"], **kw) - 0.75 * math.log(4 / 3)) <= 1e-10
    assert abs(divergence(p, q, DIVERGENCES["tv"], **kw) - 0.5) <= 1e-10
    assert abs(divergence(p, q, DIVERGENCES["hellinger"], **kw) - ((1 - math.sqrt(0.5)) ** 2 + 0.5)) <= 1e-10
    # disjoint supports: f(0) + f'(inf)
    r = stats.uniform(2, 1).pdf
    kw = dict(lower=-1.0, upper=4.0, points=[0.0, 1.0, 2.0, 3.0])
    assert abs(divergence(p, r, DIVERGENCES["js"], **kw) - LOG2) <= 1e-10
    assert abs(divergence(p, r, DIVERGENCES["gan"], **kw)) <= 1e-10
    assert divergence(p, r, DIVERGENCES["kl"], **kw) == math.inf


def test_quadrature_ignores_float_underflow_in_the_tails():
    # q = N(0,1) underflows to 0 near |x| = 38.6 where p = N(0, 1.2^2) does not: that is not a gap
    wide, narrow = stats.norm(0, 1.2), stats.norm(0, 1.0)
    assert abs(divergence(wide.pdf, narrow.pdf, DIVERGENCES["kl"]) - kl_gauss_1d(0, 1.2, 0, 1)) <= 1e-9


def test_quadrature_rejects_bad_input():
    with pytest.raises(ValueError, match="lower"):
        divergence(P.pdf, Q.pdf, DIVERGENCES["kl"], lower=1.0, upper=0.0)
    with pytest.raises(ValueError, match="densities"):
        divergence(lambda x: -1.0, Q.pdf, DIVERGENCES["kl"], lower=0.0, upper=1.0)


# ------------------------------------------------------------------------------------------------
# Disjoint supports
# ------------------------------------------------------------------------------------------------
def test_disjoint_support_values():
    assert disjoint_support_divergence(DIVERGENCES["js"]) == pytest.approx(LOG2, abs=1e-15)
    assert disjoint_support_divergence(DIVERGENCES["hellinger"]) == 2.0
    assert disjoint_support_divergence(DIVERGENCES["gan"]) == 0.0
    assert disjoint_support_divergence(DIVERGENCES["kl"]) == math.inf
