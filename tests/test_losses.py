"""Tests for ganlab.losses.

References are independent of the code under test: values by hand, the naive (unstable) formulas,
closed-form gradients, the GAN optimality theorem with a Jensen–Shannon divergence computed here by
scipy quadrature, the f-divergences integrated here from their generators f (re-derived from the
lecture table), Gaussian closed forms, and scipy's 1-D Wasserstein distance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, stats

from ganlab.divergences import DIVERGENCES
from ganlab.losses import (
    fgan_d_loss,
    fgan_g_loss,
    hinge_d_loss,
    hinge_g_loss,
    lsgan_d_loss,
    lsgan_g_loss,
    minimax_d_loss,
    minimax_g_loss,
    ns_g_loss,
    wasserstein_d_loss,
    wasserstein_g_loss,
)

D64 = torch.float64
LOG4 = math.log(4.0)
NAMES = ["kl", "reverse-kl", "pearson", "neyman", "hellinger", "jeffrey", "js", "gan", "tv"]


def t64(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=D64)


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


# =========================================================================== values by hand


def test_minimax_and_ns_values_by_hand():
    # D = sigmoid(v): v = 0 -> D = 1/2; v = log 3 -> D = 3/4; v = -log 3 -> D = 1/4
    l3 = math.log(3.0)
    assert math.isclose(minimax_d_loss(t64(0.0), t64(0.0)).item(), LOG4, abs_tol=1e-15)
    # -1/2 [log 3/4 + log 1/4] - 1/2 [log(1 - 1/4) + log(1 - 3/4)]
    expected = -0.5 * (math.log(0.75) + math.log(0.25)) - 0.5 * (math.log(0.75) + math.log(0.25))
    assert math.isclose(minimax_d_loss(t64(l3, -l3), t64(-l3, l3)).item(), expected, abs_tol=1e-14)
    assert math.isclose(minimax_g_loss(t64(l3, -l3)).item(), 0.5 * (math.log(0.25) + math.log(0.75)), abs_tol=1e-14)
    assert math.isclose(ns_g_loss(t64(l3, -l3)).item(), -0.5 * (math.log(0.75) + math.log(0.25)), abs_tol=1e-14)
    # shapes (N, 1) and different batch sizes
    assert math.isclose(
        minimax_d_loss(t64(l3).view(1, 1), t64(0.0, 0.0, 0.0).view(3, 1)).item(),
        -math.log(0.75) + math.log(2.0),
        abs_tol=1e-14,
    )


def test_wasserstein_and_hinge_values_by_hand():
    d_real, d_fake = t64(1.0, 2.0, 3.0), t64(0.5, -0.5)
    assert wasserstein_d_loss(d_real, d_fake).item() == 0.0 - 2.0
    assert wasserstein_g_loss(t64(0.5, -1.5)).item() == 0.5
    # relu(1 - [2, 0.5, -1]) = [0, 0.5, 2];  relu(1 + [-2, 0, 0.5]) = [0, 1, 1.5]
    assert math.isclose(hinge_d_loss(t64(2.0, 0.5, -1.0), t64(-2.0, 0.0, 0.5)).item(), 2.5 / 3 + 2.5 / 3, abs_tol=1e-15)
    assert hinge_g_loss(t64(-2.0, 0.0, 0.5)).item() == 0.5
    # a critic confident beyond the margins pays nothing
    assert hinge_d_loss(t64(1.0, 7.0), t64(-1.0, -3.0)).item() == 0.0


def test_wasserstein_loss_at_a_kantorovich_critic_is_minus_w1():
    # fake = real + 3 and f(x) = -x (1-Lipschitz, optimal for a shift): E_p f - E_π f = -3 = -W1(π, p)
    real = torch.randn(1000, generator=torch.Generator().manual_seed(0), dtype=D64)
    fake = real + 3.0
    w1 = stats.wasserstein_distance(real.numpy(), fake.numpy())
    assert math.isclose(wasserstein_d_loss(-real, -fake).item(), -w1, abs_tol=1e-12)


def test_fgan_values_by_hand():
    kl = DIVERGENCES["kl"]  # g_f(v) = v, f*(t) = exp(t - 1)
    d_real, d_fake = t64(0.0, 1.0), t64(1.0, 2.0)
    # -( (0 + 1)/2 - (e^0 + e^1)/2 ) = e/2
    assert math.isclose(fgan_d_loss(d_real, d_fake, divergence=kl).item(), math.e / 2, abs_tol=1e-14)
    assert math.isclose(fgan_g_loss(d_fake, divergence=kl).item(), -(1 + math.e) / 2, abs_tol=1e-14)
    assert math.isclose(fgan_g_loss(d_fake, divergence=kl, non_saturating=True).item(), -1.5, abs_tol=1e-15)
    tv = DIVERGENCES["tv"]  # g_f(v) = tanh(v)/2, f*(t) = t
    v = t64(0.3, -1.2)
    expected = -(0.5 * np.tanh([0.3, -1.2]).mean() - 0.5 * np.tanh([0.3, -1.2]).mean())
    assert math.isclose(fgan_d_loss(v, v, divergence=tv).item(), expected, abs_tol=1e-15)


# =========================================================================== f-GAN with `gan` is the minimax game


def test_fgan_with_gan_divergence_is_exactly_the_minimax_game():
    # f-GAN: g_f(v) = -log(1 + e^{-v}) = log D, f*(g_f(v)) = -log(1 - D): F(θ, ω) = V(G, D) with no
    # constant (the -log 4 sits in D_f = 2 JSD - log 4, not in the objective).
    gan = DIVERGENCES["gan"]
    g = torch.Generator().manual_seed(1)
    d_real = 8 * torch.randn(50, generator=g, dtype=D64)
    d_fake = 8 * torch.randn(70, generator=g, dtype=D64)
    d_real[:2] = t64(-1e4, 1e4)
    # (atol 1e-10: the batch holds ±1e4, so rounding in the sums is ~1e4 · 2e-16 per term)
    torch.testing.assert_close(
        fgan_d_loss(d_real, d_fake, divergence=gan), minimax_d_loss(d_real, d_fake), atol=1e-10, rtol=0
    )
    torch.testing.assert_close(fgan_g_loss(d_fake, divergence=gan), minimax_g_loss(d_fake), atol=1e-10, rtol=0)
    torch.testing.assert_close(
        fgan_g_loss(d_fake, divergence=gan, non_saturating=True), ns_g_loss(d_fake), atol=1e-10, rtol=0
    )


# =========================================================================== stable vs naive forms


def _naive_minimax_d(d_real, d_fake):
    return -torch.log(torch.sigmoid(d_real)).mean() - torch.log(1 - torch.sigmoid(d_fake)).mean()


@pytest.mark.parametrize("v", np.linspace(-15.0, 15.0, 31).tolist())
def test_stable_forms_equal_naive_forms_where_naive_is_finite(v):
    x = t64(v)
    torch.testing.assert_close(minimax_d_loss(x, -x), _naive_minimax_d(x, -x), atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(minimax_g_loss(x), torch.log(1 - torch.sigmoid(x)).mean(), atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(ns_g_loss(x), -torch.log(torch.sigmoid(x)).mean(), atol=1e-9, rtol=1e-9)


def test_stable_forms_are_exact_in_float64_beyond_softplus_threshold():
    # softplus(v) = v + log1p(e^{-v}); F.softplus drops the second term above v = 20 (2e-9 at v = 20.1)
    for v in (20.1, 25.0, 30.0):
        exact = v + math.log1p(math.exp(-v))
        assert math.isclose(-minimax_g_loss(t64(v)).item(), exact, rel_tol=0, abs_tol=1e-14)
        assert math.isclose(ns_g_loss(t64(-v)).item(), exact, rel_tol=0, abs_tol=1e-14)
        assert math.isclose(minimax_d_loss(t64(-v), t64(v)).item(), 2 * exact, rel_tol=0, abs_tol=1e-13)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stable_forms_at_logits_1e4(dtype):
    big = torch.tensor([1e4], dtype=dtype)
    # the naive forms overflow: log(sigmoid(-1e4)) = log 0
    assert torch.isinf(_naive_minimax_d(-big, big))
    # exact asymptotes: softplus(1e4) = 1e4, softplus(-1e4) = 0 (to float precision)
    assert minimax_d_loss(-big, big).item() == 2e4
    assert minimax_d_loss(big, -big).item() == 0.0
    assert ns_g_loss(-big).item() == 1e4
    assert minimax_g_loss(big).item() == -1e4
    for div in ("gan", "js"):
        out = fgan_d_loss(-big, big, divergence=DIVERGENCES[div])
        assert torch.isfinite(out)
    # gradients stay finite and equal their limits
    v = torch.tensor([-1e4, 1e4], dtype=dtype, requires_grad=True)
    (g_ns,) = torch.autograd.grad(ns_g_loss(v), v)
    (g_sat,) = torch.autograd.grad(minimax_g_loss(v), v)
    torch.testing.assert_close(g_ns, torch.tensor([-0.5, 0.0], dtype=dtype), atol=1e-7, rtol=0)
    torch.testing.assert_close(g_sat, torch.tensor([0.0, -0.5], dtype=dtype), atol=1e-7, rtol=0)


def test_saturating_generator_gradient_vanishes_and_non_saturating_does_not():
    # d/dv log(1 - sigmoid(v)) = -sigmoid(v);  d/dv [-log sigmoid(v)] = -(1 - sigmoid(v))
    for v in (-8.0, -2.0, 0.0, 3.0):
        x = t64(v).requires_grad_(True)
        (g_sat,) = torch.autograd.grad(minimax_g_loss(x), x)
        (g_ns,) = torch.autograd.grad(ns_g_loss(x), x)
        assert math.isclose(g_sat.item(), -_sigmoid(v), abs_tol=1e-15)
        assert math.isclose(g_ns.item(), -(1 - _sigmoid(v)), abs_tol=1e-15)
    # the discriminator rejects the fakes (D(G(z)) = sigmoid(-8) ~ 3e-4): 3e-4 vs ~1
    x = t64(-8.0).requires_grad_(True)
    assert abs(torch.autograd.grad(minimax_g_loss(x), x)[0].item()) < 1e-3
    assert abs(torch.autograd.grad(ns_g_loss(x), x)[0].item()) > 0.99


# =========================================================================== gradients


def _inputs(seed, n=6, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, generator=g, dtype=D64)).requires_grad_(True)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: minimax_d_loss(a, b),
        lambda a, b: minimax_d_loss(a, b, label_smoothing=0.1),
        lambda a, b: wasserstein_d_loss(a, b),
        lambda a, b: hinge_d_loss(a, b),
        lambda a, b: minimax_g_loss(b),
        lambda a, b: ns_g_loss(b),
        lambda a, b: wasserstein_g_loss(b),
        lambda a, b: hinge_g_loss(b),
    ],
)
def test_gradcheck_losses(fn):
    a, b = _inputs(2, scale=2.0), _inputs(3, scale=2.0)
    with torch.no_grad():  # keep hinge inputs away from its kinks at ±1
        for x in (a, b):
            x[(x.abs() - 1).abs() < 0.05] += 0.1
    assert torch.autograd.gradcheck(fn, (a, b), eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_fgan_losses(name):
    div = DIVERGENCES[name]
    a, b = _inputs(4, scale=0.7), _inputs(5, scale=0.7)
    assert torch.autograd.gradcheck(lambda x, y: fgan_d_loss(x, y, divergence=div), (a, b), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradcheck(lambda y: fgan_g_loss(y, divergence=div), (b,), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradcheck(
        lambda y: fgan_g_loss(y, divergence=div, non_saturating=True), (b,), eps=1e-6, atol=1e-7
    )


# =========================================================================== the GAN optimality theorem

# π = N(0, 1) (data), p = N(1.5, 0.8²) (generator)
PI, P = stats.norm(0.0, 1.0), stats.norm(1.5, 0.8)
LIMITS = (-30.0, 30.0)


def _quad(fn) -> float:
    value, err = integrate.quad(fn, *LIMITS, points=[0.0, 1.5], limit=200, epsabs=1e-13, epsrel=1e-12)
    return value


def _v_star(x: float) -> float:
    # logit of D*(x) = π(x) / (π(x) + p(x))
    return PI.logpdf(x) - P.logpdf(x)


def _minimax_value(logit) -> float:
    """V(G, D) = E_π log D + E_p log(1 - D) by quadrature, D = sigmoid(logit(x)), with ganlab's pieces:
    -log D = ns_g_loss, log(1 - D) = minimax_g_loss (each on a one-element batch)."""
    e_log_d = _quad(lambda x: -PI.pdf(x) * ns_g_loss(t64(logit(x))).item())
    e_log_1md = _quad(lambda x: P.pdf(x) * minimax_g_loss(t64(logit(x))).item())
    return e_log_d + e_log_1md


def _jsd_by_quadrature() -> float:
    # JSD = 1/2 KL(π || m) + 1/2 KL(p || m), m = (π + p)/2, written with log-densities
    def integrand(x):
        lp, lq = PI.logpdf(x), P.logpdf(x)
        lm = np.logaddexp(lp, lq) - math.log(2.0)
        return 0.5 * math.exp(lp) * (lp - lm) + 0.5 * math.exp(lq) * (lq - lm)

    return _quad(integrand)


def test_minimax_d_loss_decomposes_into_the_generator_pieces():
    # L_D(d_real, d_fake) = E[-log D(real)] - E[log(1 - D(fake))]: the pieces used by the quadrature
    g = torch.Generator().manual_seed(6)
    d_real, d_fake = 3 * torch.randn(9, generator=g, dtype=D64), 3 * torch.randn(4, generator=g, dtype=D64)
    torch.testing.assert_close(
        minimax_d_loss(d_real, d_fake), ns_g_loss(d_real) - minimax_g_loss(d_fake), atol=1e-14, rtol=0
    )


def test_value_at_optimal_discriminator_is_2jsd_minus_log4():
    jsd = _jsd_by_quadrature()
    assert 0.1 < jsd < math.log(2.0)  # a non-trivial pair
    assert math.isclose(_minimax_value(_v_star), 2 * jsd - LOG4, rel_tol=0, abs_tol=1e-9)


def test_perturbing_the_optimal_discriminator_lowers_v():
    v_opt = _minimax_value(_v_star)

    def bump(x):
        return math.exp(-((x - 0.7) ** 2))

    for delta in (-1.0, -0.1, 0.1, 1.0):
        assert _minimax_value(lambda x: _v_star(x) + delta * bump(x)) < v_opt - 1e-4 * delta**2
    assert _minimax_value(lambda x: _v_star(x) + 2.0) < v_opt - 1e-3  # a global shift too

    # second order: d²y/dv² = -π p / (π + p) pointwise, so V(δ) - V* ≈ -δ²/2 ∫ h² π p / (π + p)
    delta = 1e-2
    curvature = _quad(lambda x: bump(x) ** 2 * PI.pdf(x) * P.pdf(x) / (PI.pdf(x) + P.pdf(x)))
    drop = _minimax_value(lambda x: _v_star(x) + delta * bump(x)) - v_opt
    assert math.isclose(drop / delta**2, -0.5 * curvature, rel_tol=2e-2)


def test_label_smoothing_moves_the_optimum_to_one_minus_s():
    # argmin_v of the real term -(1-s) log σ(v) - s log(1 - σ(v)) is σ(v) = 1 - s
    for s in (0.1, 0.25):
        res = optimize.minimize_scalar(
            lambda v: minimax_d_loss(t64(v), t64(0.0), label_smoothing=s).item(),
            bounds=(-20, 20),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert math.isclose(_sigmoid(res.x), 1 - s, abs_tol=1e-6)
    # default: no smoothing (the textbook loss)
    assert minimax_d_loss(t64(2.0), t64(0.0)).item() == minimax_d_loss(t64(2.0), t64(0.0), label_smoothing=0.0).item()


# =========================================================================== f-GAN: the d-loss at T* is -D_f

MU_P, SD_P, MU_Q, SD_Q = 0.0, 1.0, 0.5, 1.2  # P = N(0, 1) (data), Q = N(0.5, 1.2²) (generator)

# generators f(u) and derivatives f'(u) re-derived here from the lecture table (001 / 003
# "f-divergence"); js is JSD itself (the table's f gives 2 JSD), gan has f(1) = -log 4.
F_AND_FPRIME = {
    "kl": (lambda u: u * np.log(u), lambda u: 1 + np.log(u)),
    "reverse-kl": (lambda u: -np.log(u), lambda u: -1 / u),
    "pearson": (lambda u: (u - 1) ** 2, lambda u: 2 * (u - 1)),
    "neyman": (lambda u: (1 - u) ** 2 / u, lambda u: 1 - 1 / u**2),
    "hellinger": (lambda u: (np.sqrt(u) - 1) ** 2, lambda u: 1 - 1 / np.sqrt(u)),
    "jeffrey": (lambda u: (u - 1) * np.log(u), lambda u: np.log(u) + 1 - 1 / u),
    "js": (
        lambda u: 0.5 * (u * np.log(u) - (u + 1) * np.log((u + 1) / 2)),
        lambda u: 0.5 * np.log(2 * u / (u + 1)),
    ),
    "gan": (lambda u: u * np.log(u) - (u + 1) * np.log(u + 1), lambda u: np.log(u / (u + 1))),
    "tv": (lambda u: 0.5 * np.abs(u - 1), lambda u: 0.5 * np.sign(u - 1)),
}


def _gauss_legendre(n=600, lo=-14.0, hi=14.0):
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (hi - lo) * x + 0.5 * (hi + lo), 0.5 * (hi - lo) * w


def _invert_activation(activation, targets: np.ndarray) -> torch.Tensor:
    """v with activation(v) = target, by bisection (activation is monotone; either direction)."""
    t = torch.as_tensor(targets, dtype=D64)
    lo = torch.full_like(t, -1e40)
    hi = torch.full_like(t, 1e40)
    increasing = bool(activation(t64(1.0)) > activation(t64(-1.0)))
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        below = activation(mid) < t if increasing else activation(mid) > t
        lo = torch.where(below, mid, lo)
        hi = torch.where(below, hi, mid)
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("name", NAMES)
def test_fgan_d_loss_at_optimal_critic_is_minus_the_divergence(name):
    div = DIVERGENCES[name]
    f, f_prime = F_AND_FPRIME[name]
    x, w = _gauss_legendre()
    log_p = stats.norm(MU_P, SD_P).logpdf(x)
    log_q = stats.norm(MU_Q, SD_Q).logpdf(x)
    p, q, u = np.exp(log_p), np.exp(log_q), np.exp(log_p - log_q)

    d_f = float(np.sum(w * q * f(u)))  # independent: D_f = ∫ q f(p/q)
    v_star = _invert_activation(div.activation, f_prime(u))  # g_f(v*) = T* = f'(p/q)

    # E_P g_f(v*) and E_Q f*(g_f(v*)) from ganlab's one-sample losses, then assembled like fgan_d_loss
    t_values = [-fgan_g_loss(vi.view(1), divergence=div, non_saturating=True).item() for vi in v_star]
    fstar_values = [-fgan_g_loss(vi.view(1), divergence=div).item() for vi in v_star]
    e_p_t = float(np.sum(w * p * np.array(t_values)))
    e_q_fstar = float(np.sum(w * q * np.array(fstar_values)))
    d_loss = -(e_p_t - e_q_fstar)
    assert math.isclose(d_loss, -d_f, rel_tol=0, abs_tol=1e-7)

    # and fgan_d_loss is exactly that assembly on batches
    g = torch.Generator().manual_seed(7)
    vr, vf = torch.randn(5, generator=g, dtype=D64), torch.randn(8, generator=g, dtype=D64)
    torch.testing.assert_close(
        fgan_d_loss(vr, vf, divergence=div),
        fgan_g_loss(vr, divergence=div, non_saturating=True) - fgan_g_loss(vf, divergence=div),
        atol=1e-13,
        rtol=0,
    )

    # a perturbed critic gives a smaller bound: the d-loss goes up
    v_bad = v_star + 0.3 * torch.as_tensor(np.exp(-(x**2)), dtype=D64)
    if name == "tv":  # T* = ±1/2 sits on the boundary of dom f* (v* saturated); move T inside
        v_bad = torch.sign(v_star)
    e_p_bad = float(np.sum(w * p * div.activation(v_bad).numpy()))
    e_q_bad = float(np.sum(w * q * div.conjugate_activation(v_bad).numpy()))
    assert -(e_p_bad - e_q_bad) > d_loss + 1e-6


def test_quadrature_reference_matches_gaussian_closed_forms():
    # guards the reference used above: KL and squared Hellinger between the two Gaussians
    x, w = _gauss_legendre()
    log_p = stats.norm(MU_P, SD_P).logpdf(x)
    log_q = stats.norm(MU_Q, SD_Q).logpdf(x)
    u, q = np.exp(log_p - log_q), np.exp(log_q)
    kl = math.log(SD_Q / SD_P) + (SD_P**2 + (MU_P - MU_Q) ** 2) / (2 * SD_Q**2) - 0.5
    bc = math.sqrt(2 * SD_P * SD_Q / (SD_P**2 + SD_Q**2)) * math.exp(-((MU_P - MU_Q) ** 2) / (4 * (SD_P**2 + SD_Q**2)))
    assert math.isclose(float(np.sum(w * q * F_AND_FPRIME["kl"][0](u))), kl, abs_tol=1e-12)
    assert math.isclose(float(np.sum(w * q * F_AND_FPRIME["hellinger"][0](u))), 2 - 2 * bc, abs_tol=1e-12)


# =========================================================================== bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: minimax_d_loss([0.0], t64(0.0)), "d_real must be a torch.Tensor"),
        (lambda: minimax_d_loss(t64(0.0), torch.tensor([1, 2])), "d_fake must be a floating-point"),
        (lambda: ns_g_loss(torch.zeros(0, dtype=D64)), "d_fake is empty"),
        (lambda: hinge_d_loss(torch.zeros(0), t64(0.0)), "d_real is empty"),
        (lambda: wasserstein_g_loss(np.zeros(3)), "d_fake must be a torch.Tensor"),
        (lambda: minimax_d_loss(t64(0.0), t64(0.0), label_smoothing=1.0), "label_smoothing"),
        (lambda: minimax_d_loss(t64(0.0), t64(0.0), label_smoothing=-0.1), "label_smoothing"),
        (lambda: fgan_d_loss(t64(0.0), t64(0.0), divergence="kl"), "FDivergence"),
        (lambda: fgan_g_loss(t64(0.0), divergence=None), "FDivergence"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- the OBJECTIVES registry


def test_objectives_bind_their_declared_options_only():
    from ganlab.losses import OBJECTIVES, Objective, fgan_d_loss, fgan_g_loss

    kl = DIVERGENCES["kl"]
    fgan = OBJECTIVES["fgan"].bind(divergence=kl, non_saturating=True, unrelated=1)
    assert fgan.d_loss.keywords == {"divergence": kl} and fgan.g_loss.keywords == {"divergence": kl, "non_saturating": True}
    v = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    torch.testing.assert_close(fgan.g_loss(v), fgan_g_loss(v, divergence=kl, non_saturating=True), atol=0, rtol=0)
    assert OBJECTIVES["wasserstein"].bind(divergence=kl).d_loss is OBJECTIVES["wasserstein"].d_loss
    with pytest.raises(ValueError, match=r"needs the option\(s\) \['non_saturating'\]"):
        OBJECTIVES["fgan"].bind(divergence=kl)
    # a registry line that declares an option no loss takes, or leaves a required option undeclared, is refused
    with pytest.raises(ValueError, match="'divergnce' is a keyword-only parameter of neither"):
        Objective(fgan_d_loss, fgan_g_loss, "typo", options=("divergence", "divergnce"))
    with pytest.raises(ValueError, match="only declared options"):
        Objective(fgan_d_loss, fgan_g_loss, "undeclared")
    with pytest.raises(ValueError, match="must take 2 critic output"):
        Objective(lambda d: d.mean(), fgan_g_loss, "one output", options=("divergence", "non_saturating"))


# =========================================================================== LSGAN (Mao et al. 2017)

# A discrete pair on 5 points with probabilities in tenths, written as 10 equally weighted samples each, so that
# the losses' sample means are the exact expectations. Point 0 has no generated mass, point 4 no real mass.
LS_DATA = np.array([3, 3, 2, 2, 0]) / 10
LS_GEN = np.array([0, 1, 2, 3, 4]) / 10
LS_REAL_IDX = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3, 3])
LS_FAKE_IDX = torch.tensor([1, 2, 2, 3, 3, 3, 4, 4, 4, 4])


def _lsgan_d_star_numerically(a: float, b: float) -> torch.Tensor:
    """Minimize lsgan_d_loss over the 5 values D(x_k) with scipy's BFGS, gradients by autograd, in float64."""

    def loss_and_grad(values: np.ndarray) -> tuple[float, np.ndarray]:
        d = torch.tensor(values, dtype=D64, requires_grad=True)
        loss = lsgan_d_loss(d[LS_REAL_IDX], d[LS_FAKE_IDX], a=a, b=b)
        (grad,) = torch.autograd.grad(loss, d)
        return loss.item(), grad.numpy()

    result = optimize.minimize(loss_and_grad, np.zeros(5), jac=True, method="BFGS", options={"gtol": 1e-12})
    return torch.from_numpy(result.x)


def test_lsgan_values_by_hand():
    d_real, d_fake = t64(1.0, 3.0), t64(0.0, -2.0, 2.0)
    # 0-1 coding: 1/2 mean([0, 4]) + 1/2 mean([0, 4, 4]) = 1 + 4/3;  G: 1/2 mean([1, 9, 1]) = 11/6
    assert math.isclose(lsgan_d_loss(d_real, d_fake).item(), 1.0 + 4.0 / 3.0, abs_tol=1e-15)
    assert math.isclose(lsgan_g_loss(d_fake).item(), 11.0 / 6.0, abs_tol=1e-15)
    # a = -1, b = 1, c = 0: 1/2 mean([0, 4]) + 1/2 mean([1, 1, 9]) = 1 + 11/6;  G: 1/2 mean([0, 4, 4]) = 4/3
    assert math.isclose(lsgan_d_loss(d_real, d_fake, a=-1.0, b=1.0).item(), 1.0 + 11.0 / 6.0, abs_tol=1e-15)
    assert math.isclose(lsgan_g_loss(d_fake, c=0.0).item(), 4.0 / 3.0, abs_tol=1e-15)
    # (N, 1) shapes and unequal batch sizes: the mean is over all entries
    assert math.isclose(lsgan_d_loss(t64(3.0).view(1, 1), t64(1.0, 1.0, 1.0).view(3, 1)).item(), 2.0 + 0.5,
                        abs_tol=1e-15)


def test_lsgan_gradients_by_hand():
    # dL_D/dD(x_i) = (D(x_i) - b) / N,  dL_D/dD(G(z_j)) = (D(G(z_j)) - a) / M,  dL_G/dD(G(z_j)) = (D(G(z_j)) - c) / M
    d_real = t64(1.0, 3.0, -0.5).requires_grad_(True)
    d_fake = t64(0.0, -2.0, 2.0, 10.0).requires_grad_(True)
    g_real, g_fake = torch.autograd.grad(lsgan_d_loss(d_real, d_fake, a=-1.0, b=1.0), (d_real, d_fake))
    torch.testing.assert_close(g_real, t64(0.0, 2.0, -1.5) / 3, atol=1e-15, rtol=0)
    torch.testing.assert_close(g_fake, t64(1.0, -1.0, 3.0, 11.0) / 4, atol=1e-15, rtol=0)
    (g_gen,) = torch.autograd.grad(lsgan_g_loss(d_fake, c=1.0), d_fake)
    torch.testing.assert_close(g_gen, t64(-1.0, -3.0, 1.0, 9.0) / 4, atol=1e-15, rtol=0)
    # a fake the discriminator puts far on the real side (output 10) still gets the gradient (10 - 1)/M, where the
    # non-saturating loss of a logit 10 gives -(1 - sigmoid(10)) ~ -4.5e-5: the paper's argument (Sec. 3)
    x = t64(10.0).requires_grad_(True)
    (g_ns,) = torch.autograd.grad(ns_g_loss(x), x)
    assert g_gen[3].item() == 9.0 / 4 and math.isclose(g_ns.item(), -(1 - _sigmoid(10.0)), rel_tol=1e-12)
    assert abs(g_ns.item()) < 1e-4


@pytest.mark.parametrize("a, b", [(0.0, 1.0), (-1.0, 1.0), (0.3, -2.0)])
def test_lsgan_optimal_discriminator_is_mao_eq4(a, b):
    """D*(x) = (b π(x) + a p(x)) / (π(x) + p(x)), found by minimizing the loss itself."""
    d_star = _lsgan_d_star_numerically(a, b)
    expected = (b * LS_DATA + a * LS_GEN) / (LS_DATA + LS_GEN)
    torch.testing.assert_close(d_star, torch.from_numpy(expected), atol=1e-7, rtol=0)
    assert d_star[0].item() == pytest.approx(b, abs=1e-7) and d_star[4].item() == pytest.approx(a, abs=1e-7)


def _lsgan_generator_value(a: float, b: float, c: float) -> float:
    """V(G) = 1/2 E_π (D*(x) - c)^2 + 1/2 E_p (D*(G(z)) - c)^2 at the numerically optimal D* (Mao et al. Sec. 3):
    the generator's loss plus the same term on real samples, which does not depend on G."""
    d_star = _lsgan_d_star_numerically(a, b)
    return (lsgan_g_loss(d_star[LS_REAL_IDX], c=c) + lsgan_g_loss(d_star[LS_FAKE_IDX], c=c)).item()


def test_lsgan_generator_value_at_d_star_is_half_a_pearson_chi2():
    """With b - c = 1 and b - a = 2: V(G) = 1/2 ∫ (2p - (π + p))^2 / (π + p), the paper's Pearson chi^2(π + p || 2p) / 2."""
    pi, p = LS_DATA, LS_GEN
    chi2_by_hand = float(np.sum((2 * p - (pi + p)) ** 2 / (pi + p)))
    value = _lsgan_generator_value(-1.0, 1.0, 0.0)
    assert math.isclose(value, chi2_by_hand / 2, abs_tol=1e-8)
    # the same integral is ganlab's Pearson D_f(P || Q) = sum q f(p/q), f(u) = (u - 1)^2, with P = 2p, Q = π + p
    f = DIVERGENCES["pearson"].f
    pearson = float(torch.sum(torch.from_numpy(pi + p) * f(torch.from_numpy(2 * p / (pi + p)))))
    assert math.isclose(pearson, chi2_by_hand, abs_tol=1e-12) and chi2_by_hand > 0.5
    # any other codes with b - c = 1, b - a = 2 give the same value (a shift of all three codes)
    assert math.isclose(_lsgan_generator_value(1.0, 3.0, 2.0), chi2_by_hand / 2, abs_tol=1e-8)


def test_lsgan_generator_value_general_codes_and_the_0_1_coding():
    """V(G) = 1/2 ∫ ((b - c)(π + p) - (b - a) p)^2 / (π + p) for any codes; with the 0-1 coding it is not a
    divergence: at p = π it is 1/2 ∫ π^2 / (2π) = 1/4, not 0, while the Pearson coding gives 0 there."""
    pi, p = LS_DATA, LS_GEN
    for a, b, c in ((0.0, 1.0, 1.0), (0.0, 1.0, 0.5), (-1.0, 1.0, 0.0)):
        closed = 0.5 * float(np.sum(((b - c) * (pi + p) - (b - a) * p) ** 2 / (pi + p)))
        assert math.isclose(_lsgan_generator_value(a, b, c), closed, abs_tol=1e-8), (a, b, c)
    # p = π: D* = (a + b) / 2 by Eq. 4, and V = 1/2 ((a + b)/2 - c)^2 + 1/2 ((a + b)/2 - c)^2
    for (a, b, c), expected in (((-1.0, 1.0, 0.0), 0.0), ((0.0, 1.0, 1.0), 0.25)):
        d_star = torch.full((5,), (a + b) / 2, dtype=D64)
        value = (lsgan_g_loss(d_star[LS_REAL_IDX], c=c) + lsgan_g_loss(d_star[LS_REAL_IDX], c=c)).item()
        assert math.isclose(value, expected, abs_tol=1e-15)


def test_gradcheck_lsgan_losses():
    a, b = _inputs(6, scale=2.0), _inputs(7, scale=2.0)
    assert torch.autograd.gradcheck(lambda x, y: lsgan_d_loss(x, y, a=-1.0, b=1.0), (a, b), eps=1e-6, atol=1e-8)
    assert torch.autograd.gradcheck(lambda y: lsgan_g_loss(y, c=0.5), (b,), eps=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: lsgan_d_loss(t64(0.0), t64(0.0), a=1.0, b=1.0), "codes a .fake. and b .real. must differ"),
        (lambda: lsgan_d_loss(t64(0.0), t64(0.0), a=float("nan")), "a must be a finite number"),
        (lambda: lsgan_g_loss(t64(0.0), c=True), "c must be a finite number"),
        (lambda: lsgan_g_loss(t64(0.0), c="1"), "c must be a finite number"),
        (lambda: lsgan_d_loss(torch.zeros(0), t64(0.0)), "d_real is empty"),
        (lambda: lsgan_g_loss(torch.tensor([1, 2])), "d_fake must be a floating-point"),
    ],
)
def test_lsgan_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_lsgan_objective_is_registered_with_the_0_1_coding():
    from ganlab.losses import OBJECTIVES

    objective = OBJECTIVES["lsgan"]
    assert objective.options == ()
    bound = objective.bind(divergence=DIVERGENCES["kl"], non_saturating=False)  # what build passes every objective
    assert bound.d_loss is lsgan_d_loss and bound.g_loss is lsgan_g_loss
    # the registered functions at their defaults are Eq. 9: a = 0, b = 1, c = 1
    d_real, d_fake = t64(0.25, 2.0), t64(-1.0, 0.5)
    assert math.isclose(bound.d_loss(d_real, d_fake).item(),
                        0.5 * (0.75**2 + 1.0**2) / 2 + 0.5 * (1.0 + 0.25) / 2, abs_tol=1e-15)
    assert math.isclose(bound.g_loss(d_fake).item(), 0.5 * (4.0 + 0.25) / 2, abs_tol=1e-15)
