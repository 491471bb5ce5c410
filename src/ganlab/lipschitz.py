"""The three ways to keep a critic Lipschitz: a penalty, a constraint, a reparametrization.

* Gradient penalty (WGAN-GP): ``gradient_penalty`` / ``penalty_from_outputs``, a term added to the
  critic loss.
* Weight clipping (WGAN): ``clip_weights_``, a projection applied after each critic optimizer step.
* Spectral normalization (SN-GAN): ``spectral_norm`` / ``apply_spectral_norm``, a parametrization
  applied once when the model is built; ``power_iteration`` is the estimator underneath it.

They compose freely (e.g. spectral normalization plus a gradient penalty).

References: lecture 001_b56ff7e156eb3bba.txt "Wasserstein GAN" (Algorithm 1), "Wasserstein GAN with
Gradient Penalty" (Gradient penalty, Algorithm 1), "Spectral Normalization GAN" (Power iteration,
Algorithm 1); lecture 000_b0081a5cac0268ab.txt "Gradient penalty", "Power iteration",
"Algorithm 1 SGD with spectral normalization". Papers: WGAN arXiv:1701.07875, WGAN-GP
arXiv:1704.00028, SN-GAN arXiv:1802.05957.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "interpolate",
    "penalty_from_outputs",
    "gradient_penalty",
    "clip_weights_",
    "power_iteration",
    "spectral_norm_estimate",
    "spectral_norm",
    "remove_spectral_norm",
    "apply_spectral_norm",
    "SpectralNorm",
    "Lipschitz",
    "LIPSCHITZ",
]

_WARMUP_ITERATIONS = 15  # as torch.nn.utils.parametrizations.spectral_norm does at registration
_SN_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)  # Linear, Conv1d/2d/3d, ConvTranspose1d/2d/3d


def _check_pack(pack: object, rows: int, what: str) -> int:
    """`pack` itself when it is an integer >= 1 dividing `rows` (PacGAN's samples per critic input); else
    ValueError naming `what` the rows are."""
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1 or rows % pack:
        raise ValueError(f"pack must be an integer >= 1 that divides {what}, got {pack!r}")
    return pack


def _check_real_number(name: str, value: float, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (value <= 0.0 if positive else value < 0.0):
        expected = "finite and > 0" if positive else "finite and >= 0"
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def _draw_device(generator: torch.Generator | None, like: torch.Tensor) -> torch.device:
    """Random draws happen on the generator's device (then move), so a CPU seed works for any tensor."""
    return generator.device if generator is not None else like.device


# =========================================================================== gradient penalty


def interpolate(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    t: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    pack: int = 1,
) -> torch.Tensor:
    """x_hat = t·real + (1 - t)·fake,  t ~ U[0, 1] drawn once per sample (once per packed input).

    Args:
        real: real samples, (N, ...) (points (N, D), images (N, C, H, W), any shape).
        fake: generated samples, same shape, dtype and device as ``real``.
        t: optional mixing weights in [0, 1], shape (N,) or (N, 1, ..., 1); drawn when None.
        generator: torch.Generator for t (any device; t is drawn there, then moved), for
            reproducible penalties.
        pack: k, samples per critic input (PacGAN, `ganlab.models.pack`): one t is drawn for each k
            consecutive rows, so that x_hat packs to a point on the segment between the packed real and
            packed fake inputs. N must be a multiple of k. Ignored when t is given.

    Returns:
        x_hat, (N, ...): one point on each segment [fake_i, real_i]; t_i is broadcast over all
        non-batch dimensions.

    Reference: lecture 003_74d7f85fefbfef05.txt "Wasserstein GAN with Gradient Penalty" (Gradient
    penalty: x_hat_t = t·y + (1 - t)·z); WGAN-GP arXiv:1704.00028, Algorithm 1 line 6.
    """
    if not isinstance(real, torch.Tensor) or not isinstance(fake, torch.Tensor):
        raise ValueError(f"real and fake must be tensors, got {type(real).__name__} and {type(fake).__name__}")
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if real.ndim == 0 or real.shape[0] == 0:
        raise ValueError(f"real must have a non-empty batch dimension (N, ...), got shape {tuple(real.shape)}")
    if not real.is_floating_point() or real.dtype != fake.dtype:
        raise ValueError(f"real and fake must share a floating dtype, got {real.dtype} and {fake.dtype}")
    n = real.shape[0]
    bshape = (n,) + (1,) * (real.ndim - 1)
    if t is None:
        _check_pack(pack, n, f"the batch of {n}")
        t = torch.rand(n // pack, generator=generator, device=_draw_device(generator, real), dtype=real.dtype)
        t = t.to(real.device).repeat_interleave(pack)
    else:
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"t must be a tensor of shape ({n},), got {type(t).__name__}")
        if t.shape != (n,) and t.shape != bshape:
            raise ValueError(f"t must have shape ({n},) or {bshape}, got {tuple(t.shape)}")
        if bool(((t < 0) | (t > 1)).any()):
            raise ValueError(f"t must lie in [0, 1], got values in [{t.min().item()}, {t.max().item()}]")
        t = t.to(dtype=real.dtype, device=real.device)
    t = t.reshape(bshape)
    return t * real + (1.0 - t) * fake


def penalty_from_outputs(
    x_hat: torch.Tensor,
    d_hat: torch.Tensor,
    *,
    gp_weight: float = 10.0,
    one_sided: bool = False,
    pack: int = 1,
) -> torch.Tensor:
    """GP = λ · E_i (‖∇_x f(x_hat_i)‖₂ - 1)²   (one-sided: λ · E_i max(0, ‖∇_x f(x_hat_i)‖₂ - 1)²).

    The norm is taken per critic output, over all non-batch dimensions of x_hat_i (never over the batch,
    never per pixel); with pack = k one output reads k consecutive rows of x_hat (PacGAN), and its norm is
    over all k of them, the gradient of the packed critic w.r.t. its packed input. The gradient is built
    with ``create_graph=True`` so the penalty trains the critic (double backpropagation).

    Args:
        x_hat: the points the critic was evaluated on, (N, ...), with ``requires_grad=True``; may be
            a slice of a larger batch only if it is the leaf the critic input was built from (see
            the fused pattern below).
        d_hat: the critic's outputs on x_hat, (N / pack,) or (N / pack, 1).
        gp_weight: λ > 0 (10 in WGAN-GP Algorithm 1).
        one_sided: penalize only norms above 1 (the one-sided variant discussed in WGAN-GP Section 4;
            Petzka et al. 2018, arXiv:1709.08894).
        pack: k, rows of x_hat per critic output (`ganlab.models.pack`; 1 = one sample each).

    Returns:
        Scalar tensor.

    Fused pattern (one critic forward for real, fake and penalty):
        x_hat = interpolate(real, fake).requires_grad_(True)
        out = critic(torch.cat([real, fake, x_hat]))
        d_real, d_fake, d_hat = out.split([n, n, n])
        loss = wasserstein_d_loss(d_real, d_fake) + penalty_from_outputs(x_hat, d_hat)

    Reference: lecture 001_b56ff7e156eb3bba.txt "Wasserstein GAN with Gradient Penalty" (Gradient
    penalty; Algorithm 1 line 7); WGAN-GP arXiv:1704.00028, Eq. 3, λ = 10.

    Note: per-sample gradients come from one backward of sum_i f(x_hat_i); they are the true
    per-sample gradients only if the critic treats samples independently (no batch norm: WGAN-GP
    recommends layer norm or none). Where a gradient is exactly 0 the norm's subgradient 0 is used.
    """
    gp_weight = _check_real_number("gp_weight", gp_weight)
    if not isinstance(x_hat, torch.Tensor) or not x_hat.requires_grad:
        raise ValueError("x_hat must be a tensor with requires_grad=True (the interpolates the critic was run on)")
    if not isinstance(d_hat, torch.Tensor) or not d_hat.requires_grad:
        raise ValueError("d_hat must be the critic's output on x_hat (a tensor that requires grad)")
    _check_pack(pack, x_hat.shape[0], f"the {x_hat.shape[0]} rows of x_hat")
    n = x_hat.shape[0] // pack
    if d_hat.ndim == 0 or d_hat.shape[0] != n or d_hat.numel() != n:
        raise ValueError(f"d_hat must have shape ({n},) or ({n}, 1) to match x_hat"
                         f"{f' packed by {pack}' if pack > 1 else ''}, got {tuple(d_hat.shape)}")
    (grad,) = torch.autograd.grad(
        outputs=d_hat.sum(), inputs=x_hat, create_graph=True, allow_unused=True, materialize_grads=True
    )
    norms = torch.linalg.vector_norm(grad.reshape(n, -1), ord=2, dim=1)
    excess = norms - 1.0
    if one_sided:
        excess = F.relu(excess)
    return gp_weight * excess.pow(2).mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    gp_weight: float = 10.0,
    one_sided: bool = False,
    generator: torch.Generator | None = None,
    pack: int = 1,
) -> torch.Tensor:
    """GP = λ · E_{x_hat} (‖∇_x f(x_hat)‖₂ - 1)²,  x_hat = t·real + (1 - t)·fake,  t ~ U[0, 1].

    Args:
        critic: f, maps (N, ...) to (N,) or (N, 1).
        real: real samples, (N, ...).
        fake: generated samples, (N, ...) (detached here: the penalty trains the critic only).
        gp_weight: λ > 0.
        one_sided: use max(0, ‖∇f‖ - 1)² instead of (‖∇f‖ - 1)².
        generator: torch.Generator for t.
        pack: k for a packed critic (PacGAN, `ganlab.models.pack.Packed`: N / k outputs): one t and one norm
            per packed input.

    Returns:
        Scalar tensor; backpropagates into the critic's parameters.

    Reference: lecture 003_74d7f85fefbfef05.txt "Wasserstein GAN with Gradient Penalty"; lecture
    001_b56ff7e156eb3bba.txt "Wasserstein GAN with Gradient Penalty" (Algorithm 1, λ = 10);
    WGAN-GP arXiv:1704.00028.

    Note: real and fake are detached, as in WGAN-GP Algorithm 1 where the penalty is part of the
    critic's update only; the generator's update never sees it.
    """
    x_hat = interpolate(real.detach(), fake.detach(), generator=generator, pack=pack).requires_grad_(True)
    return penalty_from_outputs(x_hat, critic(x_hat), gp_weight=gp_weight, one_sided=one_sided, pack=pack)


# =========================================================================== weight clipping


@torch.no_grad()
def clip_weights_(module: nn.Module, clip_value: float) -> None:
    """w ← clip(w, -c, c) for every parameter w of ``module``, in place.

    Args:
        module: the critic; all its parameters (weights, biases, norm affine parameters) are clipped,
            as in the official WGAN code; buffers are left alone.
        clip_value: c > 0 (0.01 in WGAN Algorithm 1).

    Reference: lecture 001_b56ff7e156eb3bba.txt "Wasserstein GAN", Algorithm 1 line 7; lecture
    003_74d7f85fefbfef05.txt "Wasserstein GAN" (parameters clamped to [-c, c]^d); WGAN
    arXiv:1701.07875.

    Note: applied after the critic's optimizer step. Clipping bounds the Lipschitz constant only
    loosely: the critic ignores higher moments and its gradients explode or vanish with depth
    (lecture 001 "Wasserstein GAN with Gradient Penalty"; lecture 003 "Weight clipping analysis").
    """
    c = _check_real_number("clip_value", clip_value)
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    for p in module.parameters():
        p.clamp_(-c, c)


# =========================================================================== spectral normalization


def _check_matrix(W: torch.Tensor) -> None:
    if not isinstance(W, torch.Tensor) or W.ndim != 2 or not W.is_floating_point():
        shape = tuple(W.shape) if isinstance(W, torch.Tensor) else type(W).__name__
        raise ValueError(f"W must be a 2-D floating-point tensor, got {shape}")
    if W.numel() == 0:
        raise ValueError(f"W must be non-empty, got shape {tuple(W.shape)}")


def power_iteration(
    W: torch.Tensor,
    n_iter: int,
    u: torch.Tensor | None = None,
    *,
    eps: float = 1e-12,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Repeat n_iter times: v ← Wᵀu / ‖Wᵀu‖₂,  u ← Wv / ‖Wv‖₂;  then σ(W) ≈ uᵀ W v.

    Args:
        W: any matrix, (H, W_).
        n_iter: number of iterations, >= 1.
        u: start vector, (H,); a random normal vector (normalized) when None.
        eps: floor on the norms in the normalizations.
        generator: torch.Generator for the random start.

    Returns:
        (sigma, u, v): sigma is a 0-d tensor, differentiable with respect to W with u and v held
        constant (dσ/dW = u vᵀ); u (H,) and v (W_,) are detached unit vectors.

    Reference: lecture 001_b56ff7e156eb3bba.txt "Spectral Normalization GAN" (Power iteration;
    Algorithm 1, Eqs. 20-22); lecture 000_b0081a5cac0268ab.txt "Power iteration"; SN-GAN
    arXiv:1802.05957, Appendix A.

    Note: uᵀ W v is a lower bound on the largest singular value for every iterate; the singular vectors
    converge like (σ₂/σ₁)^(2·n_iter) and the estimate σ = uᵀ W v, quadratic in their error, like
    (σ₂/σ₁)^(4·n_iter) (measured by the experiment `spectral-norm`).
    """
    _check_matrix(W)
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}")
    eps = _check_real_number("eps", eps)
    h = W.shape[0]
    with torch.no_grad():
        if u is None:
            u = torch.randn(h, generator=generator, device=_draw_device(generator, W), dtype=W.dtype)
        elif not isinstance(u, torch.Tensor) or u.shape != (h,):
            raise ValueError(f"u must have shape ({h},) for W of shape {tuple(W.shape)}, got {getattr(u, 'shape', u)}")
        Wd = W.detach()
        u = F.normalize(u.detach().to(device=W.device, dtype=W.dtype), dim=0, eps=eps)
        for _ in range(n_iter):
            v = F.normalize(torch.mv(Wd.mT, u), dim=0, eps=eps)
            u = F.normalize(torch.mv(Wd, v), dim=0, eps=eps)
    sigma = torch.dot(u, torch.mv(W, v))
    return sigma, u, v


def _default_dim(module: nn.Module) -> int:
    return 1 if isinstance(module, nn.modules.conv._ConvTransposeNd) else 0


def _as_matrix(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """(W.shape[dim], prod of the other dims): the matrix whose spectral norm SN-GAN controls."""
    if dim != 0:
        weight = weight.movedim(dim, 0)
    return weight.flatten(1)


def spectral_norm_estimate(
    module_or_weight: nn.Module | torch.Tensor,
    n_iter: int = 100,
    *,
    dim: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """σ(W_mat) ≈ uᵀ W_mat v after ``n_iter`` power iterations from a random start.

    Args:
        module_or_weight: a layer (its current ``weight`` is used: the normalized one if the layer
            is spectrally normalized) or a weight tensor with >= 2 dimensions.
        n_iter: power iterations (>= 1).
        dim: the output dimension that becomes the rows of W_mat; default 1 for ConvTranspose
            layers, else 0.
        generator: torch.Generator for the random start.

    Returns:
        0-d detached tensor.

    Reference: lecture 001_b56ff7e156eb3bba.txt "Spectral Normalization GAN" (Power iteration).

    Note: for a convolution this is the spectral norm of the reshaped kernel (out, in·k...), which is
    what SN-GAN normalizes; it is not the operator norm of the convolution itself.
    """
    if isinstance(module_or_weight, nn.Module):
        weight = getattr(module_or_weight, "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise ValueError(f"module {type(module_or_weight).__name__} has no tensor attribute `weight`")
        dim = _default_dim(module_or_weight) if dim is None else dim
    elif isinstance(module_or_weight, torch.Tensor):
        weight = module_or_weight
        dim = 0 if dim is None else dim
    else:
        raise ValueError(f"module_or_weight must be an nn.Module or a tensor, got {type(module_or_weight).__name__}")
    if weight.ndim < 2:
        raise ValueError(f"weight must have >= 2 dimensions, got shape {tuple(weight.shape)}")
    if not -weight.ndim <= dim < weight.ndim:
        raise ValueError(f"dim must be in [{-weight.ndim}, {weight.ndim - 1}], got {dim}")
    with torch.no_grad():
        sigma, _, _ = power_iteration(_as_matrix(weight.detach(), dim % weight.ndim), n_iter, generator=generator)
    return sigma


class SpectralNorm(nn.Module):
    """Parametrization W ↦ W / σ(W),  σ(W) = uᵀ W_mat v  with u, v from power iteration.

    Registered with ``torch.nn.utils.parametrize`` by ``spectral_norm``. Buffers ``u`` (rows of
    W_mat) and ``v`` (columns) are persistent: they are saved in ``state_dict`` / checkpoints.
    In training mode each forward first refreshes them (``n_power_iterations`` steps, under no_grad,
    in place); in eval mode they are frozen. σ is then computed from *clones* of u and v, so two
    forwards before one backward (critic(real), critic(fake)) are both valid: the in-place refresh
    of the second forward does not touch tensors saved by the first (pitfall pytorch #68327).

    Reference: lecture 001_b56ff7e156eb3bba.txt "Spectral Normalization GAN" (Algorithm 1); SN-GAN
    arXiv:1802.05957.

    Note: each refresh computes u ← W_mat v/‖W_mat v‖ first, then v ← W_matᵀ u/‖W_matᵀ u‖; that is
    the lecture's iteration (v first, then u) applied to W_matᵀ, and the same order as
    ``torch.nn.utils.parametrizations.spectral_norm``, so a (u, v) pair means the same thing in
    both and their outputs agree. No gradient flows through u and v (dσ/dW = u vᵀ).
    """

    def __init__(
        self,
        weight: torch.Tensor,
        *,
        n_power_iterations: int = 1,
        dim: int = 0,
        eps: float = 1e-12,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if weight.ndim < 2:
            raise ValueError(f"spectral_norm needs a weight with >= 2 dimensions, got shape {tuple(weight.shape)}")
        if not -weight.ndim <= dim < weight.ndim:
            raise ValueError(f"dim must be in [{-weight.ndim}, {weight.ndim - 1}], got {dim}")
        if isinstance(n_power_iterations, bool) or not isinstance(n_power_iterations, int) or n_power_iterations < 1:
            raise ValueError(f"n_power_iterations must be an integer >= 1, got {n_power_iterations!r}")
        self.dim = dim % weight.ndim
        self.eps = _check_real_number("eps", eps)
        self.n_power_iterations = n_power_iterations
        with torch.no_grad():
            weight_mat = _as_matrix(weight.detach(), self.dim)
            h, w = weight_mat.shape
            kw = dict(generator=generator, device=_draw_device(generator, weight), dtype=weight.dtype)
            u0, v0 = torch.randn(h, **kw).to(weight.device), torch.randn(w, **kw).to(weight.device)
            self.register_buffer("u", F.normalize(u0, dim=0, eps=self.eps))
            self.register_buffer("v", F.normalize(v0, dim=0, eps=self.eps))
            self._refresh(weight_mat, _WARMUP_ITERATIONS)

    @torch.no_grad()
    def _refresh(self, weight_mat: torch.Tensor, n_iter: int) -> None:
        # In place, so that the buffers keep their identity (DataParallel / DDP share them).
        for _ in range(n_iter):
            self.u.copy_(F.normalize(torch.mv(weight_mat, self.v), dim=0, eps=self.eps))
            self.v.copy_(F.normalize(torch.mv(weight_mat.mT, self.u), dim=0, eps=self.eps))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        weight_mat = _as_matrix(weight, self.dim)
        if self.training:
            self._refresh(weight_mat.detach(), self.n_power_iterations)
        u = self.u.clone(memory_format=torch.contiguous_format)
        v = self.v.clone(memory_format=torch.contiguous_format)
        sigma = torch.dot(u, torch.mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        """Assigning ``module.weight = W`` stores W itself as the unnormalized weight."""
        return value

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_power_iterations={self.n_power_iterations}, eps={self.eps}"


def spectral_norm(
    module: nn.Module,
    *,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Reparametrize ``module.<name>`` as W_SN = W / σ(W) (σ from one power iteration per forward).

    Args:
        module: a layer with a weight of >= 2 dimensions: Linear, Conv1d/2d/3d, ConvTranspose1d/2d/3d.
        name: the parameter to normalize.
        n_power_iterations: power-iteration steps per training-mode forward (1 in SN-GAN).
        eps: floor on the norms in the normalizations.
        dim: output dimension of the weight (rows of W_mat = weight reshaped to
            (weight.shape[dim], -1)); default 1 for ConvTranspose layers, else 0.
        generator: torch.Generator for the random start of u and v (then 15 warm-up iterations).

    Returns:
        The same module, now with ``module.parametrizations.<name>[0]`` a ``SpectralNorm`` whose
        buffers ``u`` and ``v`` persist in the state_dict; the raw weight is
        ``module.parametrizations.<name>.original``.

    Reference: lecture 001_b56ff7e156eb3bba.txt "Spectral Normalization GAN" (Critic spectral norm,
    Algorithm 1); lecture 000_b0081a5cac0268ab.txt "Algorithm 1 SGD with spectral normalization";
    SN-GAN arXiv:1802.05957.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    weight = getattr(module, name, None)
    if not isinstance(weight, torch.Tensor):
        raise ValueError(f"module {type(module).__name__} has no tensor parameter named {name!r}")
    if parametrize.is_parametrized(module, name):
        raise ValueError(f"module {type(module).__name__} already has a parametrization on {name!r}")
    if not isinstance(weight, nn.Parameter):
        raise ValueError(f"{name!r} of {type(module).__name__} must be an nn.Parameter to be normalized")
    dim = _default_dim(module) if dim is None else dim
    sn = SpectralNorm(weight, n_power_iterations=n_power_iterations, dim=dim, eps=eps, generator=generator)
    parametrize.register_parametrization(module, name, sn)
    return module


def remove_spectral_norm(module: nn.Module, *, name: str = "weight") -> nn.Module:
    """Undo ``spectral_norm``: ``module.<name>`` becomes a plain parameter holding W / σ(W).

    Args:
        module: a layer previously passed to ``spectral_norm``.
        name: the normalized parameter.

    Returns:
        The same module.
    """
    if not parametrize.is_parametrized(module, name) or not any(
        isinstance(p, SpectralNorm) for p in module.parametrizations[name]
    ):
        raise ValueError(f"module {type(module).__name__} has no ganlab spectral norm on {name!r}")
    parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return module


def apply_spectral_norm(
    model: nn.Module,
    *,
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Apply ``spectral_norm`` to the weight of every Linear / Conv / ConvTranspose layer of ``model``.

    Args:
        model: any module (itself included if it is such a layer). Layers whose weight already has a
            parametrization are left alone.
        n_power_iterations: as in ``spectral_norm``.
        eps: as in ``spectral_norm``.
        generator: torch.Generator for the random starts of u and v.

    Returns:
        The same model.

    Reference: SN-GAN arXiv:1802.05957 (every layer of the critic is normalized); lecture
    001_b56ff7e156eb3bba.txt "Spectral Normalization GAN" (Critic spectral norm: ‖f‖_L <= Π σ(W_k)).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers = [m for m in model.modules() if isinstance(m, _SN_LAYERS)]
    for layer in layers:
        if not parametrize.is_parametrized(layer, "weight"):
            spectral_norm(layer, n_power_iterations=n_power_iterations, eps=eps, generator=generator)
    return model


# =========================================================================== the three, composed


@dataclass(frozen=True)
class Lipschitz:
    """The Lipschitz constraints of one critic, in any combination: a penalty, a constraint, a reparametrization.

    Attributes:
        gp_weight: λ of the gradient penalty λ E (‖∇f(x̂)‖ − 1)² (0 = none); one_sided: penalize only norms above 1.
        clip_value: c of weight clipping, w ← clip(w, −c, c) after every critic step (None = none).
        spectral_norm: W ← W / σ(W) on every critic layer, σ by one power iteration per update.
    """

    gp_weight: float = 0.0
    one_sided: bool = False
    clip_value: float | None = None
    spectral_norm: bool = False

    def reparametrize_(self, critic: nn.Module, *, generator: torch.Generator | None = None) -> nn.Module:
        """Apply the reparametrization (spectral norm) to `critic` once, when it is built."""
        if self.spectral_norm:
            apply_spectral_norm(critic, generator=generator)
        return critic

    def penalty(self, x_hat: torch.Tensor, outputs: torch.Tensor, *, pack: int = 1) -> torch.Tensor:
        """The gradient penalty of `outputs` = f(x_hat) (`penalty_from_outputs`); `pack` rows per output."""
        return penalty_from_outputs(x_hat, outputs, gp_weight=self.gp_weight, one_sided=self.one_sided, pack=pack)

    def constrain_(self, critic: nn.Module) -> None:
        """The projection after a critic step (weight clipping, WGAN Algorithm 1 line 7); in place."""
        if self.clip_value is not None:
            clip_weights_(critic, self.clip_value)

    @contextmanager
    def power_iteration_frozen(self, critic: nn.Module) -> Iterator[None]:
        """Within the block the critic reuses its spectral norms' u, v (eval mode) instead of iterating again.

        SN-GAN's Algorithm 1 runs one power iteration per update: the first forward of a critic update
        iterates, the penalty's forward and the generator step's reuse its σ.
        """
        if not self.spectral_norm:
            yield
            return
        critic.train(False)
        try:
            yield
        finally:
            critic.train(True)


#: The three ways to keep a critic Lipschitz, by name: (kind, the config fields that set it, source).
LIPSCHITZ: dict[str, tuple[str, tuple[str, ...], str]] = {
    "gradient-penalty": ("penalty", ("gp_weight", "one_sided_gp"), "WGAN-GP, arXiv:1704.00028, Eq. 3"),
    "weight-clipping": ("constraint", ("clip_value",), "WGAN, arXiv:1701.07875, Algorithm 1"),
    "spectral-norm": ("reparametrization", ("spectral_norm",), "SN-GAN, arXiv:1802.05957, Algorithm 1"),
}
