"""Adversarial objectives as plain functions of critic outputs.

Every function takes raw critic outputs (logits for the classifier GANs, unbounded values for the
Wasserstein and hinge critics), real always first, and returns a scalar Monte Carlo estimate (a mean
over all entries). Every loss is *minimized* by the player it belongs to: ``*_d_loss`` by the
discriminator / critic, ``*_g_loss`` by the generator.

Stable forms. With D = sigmoid(v):

    -log D(v)       = -log sigmoid(v)  = softplus(-v)
    -log(1 - D(v))  = -log sigmoid(-v) = softplus(v)

``softplus`` (``ganlab.divergences.softplus``, the one stable form shared with the f-divergence
records) never forms sigmoid(v) and so never takes log(0): it stays exact for |v| up to the float
range, where ``log(sigmoid(v) + eps)`` is biased by eps and saturates (a pitfall of GAN codes that add an eps inside the log).

Shapes: d_real is (N,) or (N, 1) (any shape works: the mean is over all entries), d_fake is (M,) or
(M, 1); N and M may differ.

References: lecture 004_a72885b194f54592.txt "Generative adversarial networks (GAN)" (Objective) and
"GAN optimality"; lecture 003_74d7f85fefbfef05.txt "Main problems of standard GAN", "Wasserstein GAN",
"Variational divergence estimation"; lecture 001_b56ff7e156eb3bba.txt "Wasserstein GAN" (Algorithm 1).
Papers: Goodfellow et al. 2014 (arXiv:1406.2661), Arjovsky et al. 2017 (arXiv:1701.07875),
Nowozin et al. 2016 (f-GAN, arXiv:1606.00709), Lim & Ye 2017 (arXiv:1705.02894),
Miyato et al. 2018 (arXiv:1802.05957), Mao et al. 2017 (LSGAN, arXiv:1611.04076).
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ganlab.divergences import FDivergence, softplus, variational_bound_from_logits

__all__ = [
    "minimax_d_loss",
    "minimax_g_loss",
    "ns_g_loss",
    "wasserstein_d_loss",
    "wasserstein_g_loss",
    "fgan_d_loss",
    "fgan_g_loss",
    "hinge_d_loss",
    "hinge_g_loss",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "Objective",
    "OBJECTIVES",
]


def _check_outputs(name: str, x: torch.Tensor) -> None:
    """Raise ValueError unless ``x`` is a non-empty floating-point tensor of critic outputs."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of critic outputs, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor of critic outputs, got dtype {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); expected at least one critic output")


def _check_divergence(divergence: object) -> None:
    for attr in ("activation", "conjugate_activation"):
        if not callable(getattr(divergence, attr, None)):
            raise ValueError(
                f"divergence must be a ganlab.divergences.FDivergence with a callable `{attr}`, "
                f"got {divergence!r}"
            )


# --------------------------------------------------------------------------- minimax (Goodfellow 2014)


def minimax_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """L_D = -E_π log D(x) - E_p log(1 - D(G(z))),  D = sigmoid(logit).

    This is -V(G, D) of the minimax game, i.e. the binary cross-entropy of a classifier that labels
    real samples 1 and generated samples 0. For a fixed generator the minimizer over all functions is
    D*(x) = π(x) / (π(x) + p(x)) (logit log π(x) - log p(x)), where L_D = log 4 - 2 JSD(π || p).

    Args:
        d_real: discriminator logits on real samples, (N,) or (N, 1).
        d_fake: discriminator logits on generated samples, (M,) or (M, 1).
        label_smoothing: s in [0, 1); the real target becomes 1 - s (one-sided label smoothing,
            Salimans et al. 2016, arXiv:1606.03498): real term -(1-s) log D(x) - s log(1 - D(x)).
            Off (0.0) by default, as in the papers.

    Returns:
        Scalar tensor.

    Reference: lecture 004_a72885b194f54592.txt "Generative adversarial networks (GAN)" (Objective),
    "GAN optimality" (Proof, fixed G); Goodfellow et al. 2014, Eq. 1.

    Note: -log sigmoid(v) = softplus(-v) and -log(1 - sigmoid(v)) = softplus(v) are exact and finite
    for every finite logit; no eps is added. With label smoothing the optimal discriminator is
    biased: D*(x) = (1 - s) π(x) / (π(x) + p(x)).
    """
    _check_outputs("d_real", d_real)
    _check_outputs("d_fake", d_fake)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    real_term = softplus(-d_real)
    if label_smoothing > 0.0:
        real_term = (1.0 - label_smoothing) * real_term + label_smoothing * softplus(d_real)
    return real_term.mean() + softplus(d_fake).mean()


def minimax_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """L_G = E_p log(1 - D(G(z))),  D = sigmoid(logit)  (the saturating generator loss, minimized).

    Args:
        d_fake: discriminator logits on generated samples, (M,) or (M, 1).

    Returns:
        Scalar tensor.

    Reference: lecture 004_a72885b194f54592.txt "Generative adversarial networks (GAN)" (Objective);
    lecture 003_74d7f85fefbfef05.txt "Main problems of standard GAN" (vanishing gradients);
    Goodfellow et al. 2014, Eq. 1.

    Note: log(1 - sigmoid(v)) = -softplus(v). Its gradient is -sigmoid(v), which vanishes when the
    discriminator confidently rejects the fakes (v -> -inf): the reason for ``ns_g_loss``.
    """
    _check_outputs("d_fake", d_fake)
    return -softplus(d_fake).mean()


def ns_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """L_G = -E_p log D(G(z)),  D = sigmoid(logit)  (the non-saturating generator loss).

    Args:
        d_fake: discriminator logits on generated samples, (M,) or (M, 1).

    Returns:
        Scalar tensor.

    Reference: Goodfellow et al. 2014, Section 3 ("maximize log D(G(z))"); lecture
    003_74d7f85fefbfef05.txt "Main problems of standard GAN" (solution: non-saturating GAN).

    Note: -log sigmoid(v) = softplus(-v); its gradient -(1 - sigmoid(v)) tends to -1, not 0, as
    v -> -inf, so the generator still learns when the discriminator wins. Never written as
    -log(sigmoid(v) + 1e-8), which is capped at -log(1e-8) and has zero gradient there.
    """
    _check_outputs("d_fake", d_fake)
    return softplus(-d_fake).mean()


# --------------------------------------------------------------------------- Wasserstein (Arjovsky 2017)


def wasserstein_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """L_critic = E_p f(G(z)) - E_π f(x)  (minus the Kantorovich–Rubinstein dual objective).

    Minimizing it over K-Lipschitz critics f gives -K·W(π, p); the Lipschitz constraint comes from
    ``ganlab.lipschitz`` (weight clipping, gradient penalty or spectral normalization).

    Args:
        d_real: critic values on real samples, (N,) or (N, 1).
        d_fake: critic values on generated samples, (M,) or (M, 1).

    Returns:
        Scalar tensor.

    Reference: lecture 003_74d7f85fefbfef05.txt "Wasserstein GAN" (WGAN objective); lecture
    001_b56ff7e156eb3bba.txt "Wasserstein GAN", Algorithm 1 line 5; arXiv:1701.07875.
    """
    _check_outputs("d_real", d_real)
    _check_outputs("d_fake", d_fake)
    return d_fake.mean() - d_real.mean()


def wasserstein_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """L_G = -E_p f(G(z)).

    Args:
        d_fake: critic values on generated samples, (M,) or (M, 1).

    Returns:
        Scalar tensor.

    Reference: lecture 001_b56ff7e156eb3bba.txt "Wasserstein GAN", Algorithm 1 line 10;
    arXiv:1701.07875.
    """
    _check_outputs("d_fake", d_fake)
    return -d_fake.mean()


# --------------------------------------------------------------------------- f-GAN (Nowozin 2016)


def fgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, *, divergence: FDivergence) -> torch.Tensor:
    """L_T = -(E_P g_f(v(x)) - E_Q f*(g_f(v(G(z))))),  the negated variational lower bound.

    The critic's raw output v goes through the divergence's output activation g_f (into dom f*);
    T = g_f(v). Since D_f(P || Q) >= E_P T - E_Q f*(T) with equality at T* = f'(p/q), the minimum of
    L_T over all critics is -D_f(P || Q).

    Args:
        d_real: raw critic outputs v on real samples (P = π), (N,) or (N, 1).
        d_fake: raw critic outputs v on generated samples (Q = p), (M,) or (M, 1).
        divergence: a ``ganlab.divergences.FDivergence`` (e.g. ``DIVERGENCES["kl"]``); its
            ``activation`` is g_f and its ``conjugate_activation`` is f*(g_f(v)) in a stable form.

    Returns:
        Scalar tensor.

    Reference: lecture 003_74d7f85fefbfef05.txt "Variational f-divergence estimation"; lecture
    001_b56ff7e156eb3bba.txt "f-divergence family" (table of T*); f-GAN arXiv:1606.00709, the objective
    F(θ, ω) with T_ω = g_f(V_ω) and the activations of its Table 6.

    Note: this is ``-ganlab.divergences.variational_bound_from_logits``: one implementation of the
    bound serves both. With ``DIVERGENCES["gan"]`` (g_f(v) = -softplus(-v), f*(g_f(v)) = softplus(v))
    it equals ``minimax_d_loss`` exactly, with no constant: F(θ, ω) is then V(G, D) of the minimax game.
    """
    _check_outputs("d_real", d_real)
    _check_outputs("d_fake", d_fake)
    _check_divergence(divergence)
    return -variational_bound_from_logits(d_real, d_fake, divergence)


def fgan_g_loss(
    d_fake: torch.Tensor, *, divergence: FDivergence, non_saturating: bool = False
) -> torch.Tensor:
    """Saturating: L_G = -E_Q f*(g_f(v(G(z)))).  Non-saturating: L_G = -E_Q g_f(v(G(z))).

    The saturating form is the generator's side of the f-GAN saddle point (it minimizes the bound
    E_P T - E_Q f*(T); only the second term depends on the generator). The non-saturating form is
    the f-GAN paper's alternative generator update (maximize E_Q g_f(v), after Goodfellow's
    non-saturating trick), which keeps the fixed point at P = Q and gives stronger gradients early in
    training.

    Args:
        d_fake: raw critic outputs v on generated samples, (M,) or (M, 1).
        divergence: a ``ganlab.divergences.FDivergence``.
        non_saturating: use -E_Q g_f(v) instead of -E_Q f*(g_f(v)).

    Returns:
        Scalar tensor.

    Reference: f-GAN arXiv:1606.00709 (objective F(θ, ω) and its non-saturating generator variant);
    lecture 003_74d7f85fefbfef05.txt
    "Variational divergence estimation".

    Note: with ``DIVERGENCES["gan"]`` the saturating form equals ``minimax_g_loss`` and the
    non-saturating form equals ``ns_g_loss`` exactly.
    """
    _check_outputs("d_fake", d_fake)
    _check_divergence(divergence)
    if non_saturating:
        return -divergence.activation(d_fake).mean()
    return -divergence.conjugate_activation(d_fake).mean()


# --------------------------------------------------------------------------- hinge (Lim & Ye 2017)


def hinge_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """L_D = E_π relu(1 - D(x)) + E_p relu(1 + D(G(z))).

    Args:
        d_real: critic values on real samples, (N,) or (N, 1).
        d_fake: critic values on generated samples, (M,) or (M, 1).

    Returns:
        Scalar tensor.

    Reference: Lim & Ye 2017 (Geometric GAN, arXiv:1705.02894); SN-GAN arXiv:1802.05957, Section 4
    (the "hinge" objective). Not in the lectures.
    """
    _check_outputs("d_real", d_real)
    _check_outputs("d_fake", d_fake)
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def hinge_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """L_G = -E_p D(G(z))  (the generator side of the hinge GAN; same form as the WGAN generator).

    Args:
        d_fake: critic values on generated samples, (M,) or (M, 1).

    Returns:
        Scalar tensor.

    Reference: Lim & Ye 2017 (arXiv:1705.02894); SN-GAN arXiv:1802.05957, Section 4.
    """
    _check_outputs("d_fake", d_fake)
    return -d_fake.mean()


# --------------------------------------------------------------------------- least squares (Mao 2017)


def _check_code(name: str, value: object) -> float:
    """``value`` as a finite float (an LSGAN target code a, b or c); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number (an LSGAN target code), got {value!r}")
    return float(value)


def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, *, a: float = 0.0, b: float = 1.0) -> torch.Tensor:
    """L_D = 1/2 E_π (D(x) - b)^2 + 1/2 E_p (D(G(z)) - a)^2  (least squares, raw critic outputs, no sigmoid).

    The discriminator regresses real samples onto the code b and generated ones onto a. For a fixed
    generator the pointwise minimizer is D*(x) = (b π(x) + a p(x)) / (π(x) + p(x)) (Mao et al., Eq. 4).

    Args:
        d_real: discriminator outputs on real samples, (N,) or (N, 1).
        d_fake: discriminator outputs on generated samples, (M,) or (M, 1).
        a: the target of generated samples (0 in the paper's 0-1 coding, Eq. 9).
        b: the target of real samples (1 in the 0-1 coding). Must differ from a.

    Returns:
        Scalar tensor.

    Reference: Mao et al. 2017, LSGAN (arXiv:1611.04076), Eq. 2 (the objective), Eq. 9 (the 0-1
    coding a = 0, b = c = 1, the defaults here). The paper's other coding, a = -1, b = 1, c = 0, satisfies
    b - c = 1 and b - a = 2, under which the generator minimizes a Pearson chi^2 divergence (Sec. 3;
    see ``lsgan_g_loss``). Not derived in the lectures: lecture 001_b56ff7e156eb3bba.txt names LSGAN
    only as a column of the architecture table under "Wasserstein GAN with Gradient Penalty".
    """
    _check_outputs("d_real", d_real)
    _check_outputs("d_fake", d_fake)
    a, b = _check_code("a", a), _check_code("b", b)
    if a == b:
        raise ValueError(f"the LSGAN codes a (fake) and b (real) must differ, got a = b = {a!r}")
    return 0.5 * (d_real - b).square().mean() + 0.5 * (d_fake - a).square().mean()


def lsgan_g_loss(d_fake: torch.Tensor, *, c: float = 1.0) -> torch.Tensor:
    """L_G = 1/2 E_p (D(G(z)) - c)^2  (the generator pulls its samples' outputs to the code c).

    Mao et al. add 1/2 E_π (D(x) - c)^2, which does not depend on G, to analyse the game: at the
    optimal discriminator D* (see ``lsgan_d_loss``) the generator's objective is then

        V(G) = 1/2 ∫ ((b - c)(π + p) - (b - a) p)^2 / (π + p) dx,

    and with b - c = 1 and b - a = 2 (e.g. a = -1, b = 1, c = 0) V(G) = 1/2 ∫ (2p - (π + p))^2 / (π + p) dx,
    half the paper's "Pearson chi^2(π + p || 2p)" (Sec. 3). In the f-divergence convention of
    ``ganlab.divergences`` (D_f(P || Q) = ∫ q f(p/q), Pearson f(u) = (u - 1)^2) that integral is
    Pearson chi^2(2p || π + p), i.e. Neyman chi^2(π + p || 2p): the paper names its arguments the other
    way round. It is 0 iff p = π. The 0-1 coding (c = b, the defaults and the recipe `lsgan`) is not of
    this form: at p = π it leaves V(G) = ((a + b)/2 - c)^2 = 1/4, not 0.

    Args:
        d_fake: discriminator outputs on generated samples, (M,) or (M, 1).
        c: the value the generator wants D to give its samples (1 in the 0-1 coding, Eq. 9).

    Returns:
        Scalar tensor.

    Reference: Mao et al. 2017 (arXiv:1611.04076), Eq. 2 (generator), Sec. 3 (relation to chi^2), Eq. 9.

    Note: the gradient with respect to an output is (D(G(z)) - c) / M: it grows with the distance to c
    and does not saturate for samples the discriminator already places on the real side but far from
    the real data, the paper's argument against the sigmoid cross-entropy (Sec. 3).
    """
    _check_outputs("d_fake", d_fake)
    c = _check_code("c", c)
    return 0.5 * (d_fake - c).square().mean()


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Objective:
    """One adversarial game: the critic minimizes `d_loss(d_real, d_fake)`, the generator `g_loss(d_fake)`.

    Attributes:
        d_loss, g_loss: loss functions of this module.
        summary: one line for `ganlab train --help`.
        options: the keyword-only arguments the losses take beyond the critic outputs (an f-GAN's
            `divergence` and `non_saturating`), bound by `bind`; each must be a keyword-only parameter of
            d_loss or g_loss, and every other parameter of theirs must have a default.
    """

    d_loss: Callable[..., torch.Tensor]
    g_loss: Callable[..., torch.Tensor]
    summary: str
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for fn, n_outputs in ((self.d_loss, 2), (self.g_loss, 1)):
            params = list(inspect.signature(fn).parameters.values())
            rest = params[n_outputs:]
            if len(params) < n_outputs or any(p.kind is p.KEYWORD_ONLY and p.default is p.empty
                                               and p.name not in self.options for p in rest):
                raise ValueError(f"{fn.__name__} must take {n_outputs} critic output(s) and only declared options")
        for name in self.options:
            if not any(_keyword_only(fn, name) for fn in (self.d_loss, self.g_loss)):
                raise ValueError(f"option {name!r} is a keyword-only parameter of neither "
                                 f"{self.d_loss.__name__} nor {self.g_loss.__name__}")

    def bind(self, **values: Any) -> "Objective":
        """This objective with its `options` bound from `values` (a value it does not declare is not used).

        Raises ValueError naming a declared option that `values` lacks.
        """
        missing = [name for name in self.options if name not in values]
        if missing:
            raise ValueError(f"the objective needs the option(s) {missing}")

        def bound(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
            mine = {k: values[k] for k in self.options if _keyword_only(fn, k)}
            return functools.partial(fn, **mine) if mine else fn

        return Objective(bound(self.d_loss), bound(self.g_loss), self.summary)


def _keyword_only(fn: Callable[..., Any], name: str) -> bool:
    param = inspect.signature(fn).parameters.get(name)
    return param is not None and param.kind is param.KEYWORD_ONLY


#: Objectives by name (the config's `loss`). A new objective is its loss functions plus one line here.
OBJECTIVES: dict[str, Objective] = {
    "minimax": Objective(minimax_d_loss, minimax_g_loss, "min_G max_D E log D(x) + E log(1 - D(G(z))) (Goodfellow 2014)"),
    "ns": Objective(minimax_d_loss, ns_g_loss, "the minimax critic; the generator maximizes E log D(G(z)) (non-saturating)"),
    "wasserstein": Objective(wasserstein_d_loss, wasserstein_g_loss, "the Kantorovich-Rubinstein dual E f(x) - E f(G(z)) (WGAN)"),
    "fgan": Objective(fgan_d_loss, fgan_g_loss, "the variational bound of the f-divergence `divergence` (f-GAN)",
                      options=("divergence", "non_saturating")),
    "hinge": Objective(hinge_d_loss, hinge_g_loss, "E relu(1 - D(x)) + E relu(1 + D(G(z))); the generator -E D(G(z))"),
    "lsgan": Objective(lsgan_d_loss, lsgan_g_loss, "least squares: D regresses real to 1, fake to 0; G pulls D(G(z)) to 1 (LSGAN)"),
}
