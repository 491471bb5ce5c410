"""The critic step of a gradient-penalty GAN for a (leaky) ReLU MLP critic, differentiated in closed form.

    L_D = l(f(x_real), f(x_fake)) + λ E_i (‖∇_x f(x_hat_i)‖₂ − 1)²

    f(x) = w^T a_L + b,   a_l = φ(z_l),   z_l = W_l a_{l−1} + b_l,   a_0 = x,   D_l = φ'(z_l)
    ∇_x f = W_1^T D_1 W_2^T D_2 ··· W_L^T D_L w          (φ' piecewise constant: D_l is a 0/1 or 1/slope mask)

With s_l = c ⊙ ∂f/∂z_l per row (c = ∂l/∂f on real and fake rows, 1 on the interpolates), one chain
s_L = c w ⊙ D_L,  s_{l−1} = (s_l W_l) ⊙ D_{l−1} serves both terms: on real and fake rows it is the
backward pass of l, on interpolate rows it is the input gradient g_l = ∂f/∂z_l, gx = g_1 W_1. With
e = ∂GP/∂gx, v_0 = e, v_l = (v_{l−1} W_l^T) ⊙ D_l:

    ∂L_D/∂W_l = s_l[real, fake]^T a_{l−1}[real, fake] + g_l^T v_{l−1}          (l < L)
    ∂L_D/∂W_L = s_L[real, fake]^T a_{L−1}[real, fake] + diag(w) Q,   Q = D_L[x_hat]^T v_{L−1}
    ∂L_D/∂w   = c^T a_L[real, fake] + rowsum(Q ⊙ W_L),   ∂L_D/∂b_l = Σ s_l[real, fake],   ∂L_D/∂b = Σ c

(the masks are constants, so the penalty has no gradient with respect to the biases). Q gives both
the penalty's W_L and w gradients from one matmul where autograd spends two, and the critic runs
ONE forward over cat([real, fake, x_hat]): 9.5 instead of 10 matmul units of m rows per critic step
for the 512 x 3 toy critic, with no graph built (docs/TRAINING.md has the measurements).

Reference: the penalty is WGAN-GP's (arXiv:1704.00028, Eq. 3; lecture 001_b56ff7e156eb3bba.txt,
"Wasserstein GAN with Gradient Penalty"); the formulas above are its double backpropagation written
out (docs/MATH.md, "The gradient-penalty step in closed form"). Tests compare every gradient with
autograd's in float64 (tests/models/test_mlp_backward.py).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ganlab.models.mlp import MaskedLeakyReLU, MaskedReLU, MLPCritic

__all__ = ["CriticStep", "closed_form_layers", "penalty_and_gradient", "penalized_critic_backward_"]

LossFn = Callable[[Tensor, Tensor], Tensor]


class CriticStep(NamedTuple):
    """What one critic step computed (all detached): outputs on real and fake, L_D and its penalty term."""

    d_real: Tensor
    d_fake: Tensor
    loss: Tensor
    gp: Tensor


def _slope(module: nn.Module) -> float | None:
    """φ'(z) for z < 0 if `module` is a ReLU-type activation with slope >= 0, else None."""
    if isinstance(module, (MaskedReLU, nn.ReLU)):
        return 0.0
    if isinstance(module, (MaskedLeakyReLU, nn.LeakyReLU)) and module.negative_slope >= 0:
        return float(module.negative_slope)
    return None


def closed_form_layers(critic: nn.Module) -> list[tuple[nn.Linear, float]] | None:
    """[(W_1, slope_1), ..., (W_L, slope_L), (w, nan)] if `critic` is an MLPCritic the closed form covers.

    Covered: `MLPCritic` with at least one hidden layer, no normalization, ReLU or leaky ReLU (slope >= 0)
    activations, no parametrization (spectral norm) on any layer. None otherwise: the caller then uses
    autograd.
    """
    if not isinstance(critic, MLPCritic):
        return None
    modules = list(critic.net)
    if len(modules) < 3 or len(modules) % 2 == 0:
        return None
    layers: list[tuple[nn.Linear, float]] = []
    for i in range(0, len(modules) - 1, 2):
        lin, slope = modules[i], _slope(modules[i + 1])
        if type(lin) is not nn.Linear or slope is None or parametrize.is_parametrized(lin) or lin.bias is None:
            return None
        layers.append((lin, slope))
    out = modules[-1]
    if type(out) is not nn.Linear or parametrize.is_parametrized(out) or out.bias is None:
        return None
    return layers + [(out, float("nan"))]


def penalty_and_gradient(grad: Tensor, *, gp_weight: float, one_sided: bool = False) -> tuple[Tensor, Tensor]:
    """(GP, ∂GP/∂grad) for GP = λ/n Σ_i (‖g_i‖ − 1)²:  ∂GP/∂g_i = 2λ/n (‖g_i‖ − 1) g_i / ‖g_i‖.

    Shapes: grad (n, d) -> (scalar, (n, d)). One-sided: (‖g_i‖ − 1) is replaced by max(0, ‖g_i‖ − 1).
    Where g_i = 0 the norm's subgradient 0 is used, as autograd does (`lipschitz.penalty_from_outputs`).
    """
    if not (isinstance(gp_weight, (int, float)) and math.isfinite(gp_weight) and gp_weight > 0):
        raise ValueError(f"gp_weight must be a finite number > 0, got {gp_weight!r}")
    norms = torch.linalg.vector_norm(grad, dim=1, keepdim=True)
    excess = norms - 1.0
    if one_sided:
        excess = excess.clamp_min(0.0)
    n = grad.shape[0]
    gp = gp_weight * excess.square().mean()
    scale = (2.0 * gp_weight / n) * excess / norms.clamp_min(torch.finfo(grad.dtype).tiny)
    return gp, scale * grad


def _mask_backward(grad: Tensor, a: Tensor, slope: float) -> Tensor:
    """grad ⊙ φ'(z), read from the activation's output a = φ(z) (same sign as z for slopes >= 0)."""
    if slope == 0.0:
        return torch.ops.aten.threshold_backward(grad, a, 0)
    return torch.ops.aten.leaky_relu_backward(grad, a, slope, True)


def _mask(a: Tensor, slope: float) -> Tensor:
    """D = φ'(z) as a tensor (1 where a > 0, else slope)."""
    positive = a > 0
    return positive.to(a.dtype) if slope == 0.0 else torch.full_like(a, slope).masked_fill_(positive, 1.0)


def _loss_coefficients(d_loss_fn: LossFn, d_real: Tensor, d_fake: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(l, ∂l/∂d_real, ∂l/∂d_fake) by autograd on the two output vectors only (any loss of ganlab.losses)."""
    with torch.enable_grad():
        d_real = d_real.detach().requires_grad_(True)
        d_fake = d_fake.detach().requires_grad_(True)
        loss = d_loss_fn(d_real, d_fake)
        c_real, c_fake = torch.autograd.grad(loss, (d_real, d_fake), allow_unused=True, materialize_grads=True)
    return loss.detach(), c_real, c_fake


@torch.no_grad()
def penalized_critic_backward_(
    critic: MLPCritic,
    real: Tensor,
    fake: Tensor,
    x_hat: Tensor,
    d_loss_fn: LossFn,
    *,
    gp_weight: float,
    one_sided: bool = False,
) -> CriticStep:
    """Sets p.grad = ∂L_D/∂p for every critic parameter p (overwriting any gradient there); returns the values.

    L_D = d_loss_fn(f(real), f(fake)) + gp_weight · E_i (‖∇_x f(x_hat_i)‖ − 1)²   (one-sided: max(0, ·)²)

    Shapes: real (N_r, D), fake (N_f, D), x_hat (N_h, D) -> CriticStep with d_real (N_r,), d_fake (N_f,).
    The same numbers as `loss.backward()` on the autograd form (`lipschitz.penalty_from_outputs`), up to
    float rounding. Raises ValueError for a critic that `closed_form_layers` does not cover.
    """
    layers = closed_form_layers(critic)
    if layers is None:
        raise ValueError("the closed-form critic step needs an MLPCritic with ReLU or leaky ReLU activations, "
                         "no normalization and no spectral norm; use autograd (penalty_from_outputs) for "
                         f"this critic: {critic!r}")
    batches = {"real": real, "fake": fake, "x_hat": x_hat}
    if any(x.ndim != 2 for x in batches.values()) or len({x.shape[1] for x in batches.values()}) != 1:
        raise ValueError("real, fake and x_hat must be (N, D) with the same D, got "
                         + ", ".join(f"{k} {tuple(x.shape)}" for k, x in batches.items()))
    hidden, (out, _) = layers[:-1], layers[-1]
    L = len(hidden)
    n_real, n_fake = real.shape[0], fake.shape[0]
    n = n_real + n_fake  # rows of the loss term; rows n: are the interpolates
    w = out.weight  # (1, width)

    a = [torch.cat([real, fake, x_hat])]
    for lin, slope in hidden:
        z = torch.addmm(lin.bias, a[-1], lin.weight.t())
        a.append(z.relu_() if slope == 0.0 else torch.nn.functional.leaky_relu_(z, slope))
    f = torch.addmm(out.bias, a[L], w.t()).squeeze(1)
    d_loss, c_real, c_fake = _loss_coefficients(d_loss_fn, f[:n_real], f[n_real:n])
    c = torch.cat([c_real, c_fake])

    # s_l for every row (backward of l on real/fake rows, input gradient g_l on x_hat rows)
    s: list[Tensor] = [a[0]] * (L + 1)  # s[0] is never used
    s[L] = _mask_backward(torch.cat([c, c.new_ones(x_hat.shape[0])])[:, None] * w, a[L], hidden[L - 1][1])
    for l in range(L, 1, -1):
        s[l - 1] = _mask_backward(s[l] @ hidden[l - 1][0].weight, a[l - 1], hidden[l - 2][1])
    gp, v = penalty_and_gradient(s[1][n:] @ hidden[0][0].weight, gp_weight=gp_weight, one_sided=one_sided)

    for l in range(1, L + 1):
        lin, slope = hidden[l - 1]
        s_rf, a_rf = s[l][:n], a[l - 1][:n]
        lin.bias.grad = s_rf.sum(0)
        if l < L:
            lin.weight.grad = torch.addmm(s_rf.t() @ a_rf, s[l][n:].t(), v)
            v = _mask_backward(v @ lin.weight.t(), a[l][n:], slope)
        else:
            Q = _mask(a[L][n:], slope).t() @ v  # D_L[x_hat]^T v_{L-1}
            lin.weight.grad = torch.addmm(w.t() * Q, s_rf.t(), a_rf)
            w.grad = torch.addmm((Q * lin.weight).sum(1, keepdim=True).t(), c[None, :], a[L][:n])
    out.bias.grad = c.sum().reshape(1)
    return CriticStep(f[:n_real], f[n_real:n], d_loss + gp, gp)
