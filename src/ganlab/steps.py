"""One critic update and one generator update, and the small per-step rules around them.

    critic step     L_D = d_loss(f(x), f(G(z))) [+ λ E (‖∇f(x̂)‖ − 1)²];  w ← Opt(w, ∇_w L_D);  [w ← clip(w, −c, c)]
    generator step  L_G = g_loss(f(G(z)));  θ ← Opt(θ, ∇_θ L_G)
    EMA             θ_ema ← β θ_ema + (1 − β) θ

Reference: lecture 001_b56ff7e156eb3bba.txt, "Wasserstein GAN" (Algorithm 1) and "Wasserstein GAN with
Gradient Penalty" (Algorithm 1); the objectives are `ganlab.losses`, the penalty, clipping and
spectral norm `ganlab.lipschitz`.

How the work is organized, and why (docs/TRAINING.md has the measurements):
* A penalized step of a (leaky) ReLU MLP critic (`Setup.closed_form`, the toy recipes) is
  differentiated in closed form (`ganlab.models.mlp_backward`): ONE critic forward over
  cat([real, fake, x̂]), one backward chain that is the loss's backward on the real and fake rows and
  ∇_x f on the x̂ rows, the penalty's weight gradients written out, no autograd graph.
* Every other critic step goes through autograd. Real and fake go through the critic in ONE forward
  over cat([real, fake]): matmuls twice as tall, one set of spectral-norm power iterations per
  update (a batch-norm critic takes them in two forwards, so that each is normalized by its own batch). The penalty evaluates the critic on x̂ in a second forward: folding x̂ into the first costs
  40 % more FLOPs under autograd, since the double backward would then run over all 3m rows.
* In the generator step the critic's parameters are frozen (requires_grad False), so backward
  computes no critic weight gradients nobody uses; in the critic step backward is asked for the
  critic's parameters only, so it computes no gradient with respect to x̂ (for images, the first
  layer's backward to the image).
* With spectral norm, only the first forward of a critic update runs a power iteration (SN-GAN's
  Algorithm 1); the penalty's forward and the generator step reuse its σ.
* Mixed precision (`config.precision = "bf16"`, `autocast`): the networks' forwards run under bfloat16
  autocast, so their matmuls and convolutions take bfloat16 inputs while the weights stay float32 (their
  gradients and the optimizer state too). The critic outputs are cast to float32 before the losses, and
  the penalty is taken outside autocast on d_hat.float(): the gradient w.r.t. x̂ has x̂'s dtype (float32,
  autograd casts it back through autocast's casts), so its norm and square are float32. The closed-form
  step has no autocast; a bf16 run takes the autograd path (`ganlab.build`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ganlab.build import Setup
from ganlab.config import TrainConfig
from ganlab.distributed import World
from ganlab.lipschitz import interpolate
from ganlab.models.mlp_backward import penalized_critic_backward_

__all__ = ["CriticOutputs", "autocast", "critic_step", "generator_step", "ema_update_", "lr_factor", "set_lr_"]


class CriticOutputs(NamedTuple):
    """The values of one critic update: critic outputs on real (m,) and fake (m,) (m critic inputs), L_D, and the
    penalty (or None)."""

    d_real: Tensor
    d_fake: Tensor
    d_loss: Tensor
    gp: Tensor | None


def autocast(setup: Setup) -> AbstractContextManager:
    """bfloat16 autocast on the setup's device when `config.precision` is "bf16", else a context that does nothing.

    Only the networks' forwards go inside it; the losses and the penalty are computed outside, in float32.
    """
    if setup.config.precision == "bf16":
        return torch.autocast(device_type=setup.device.type, dtype=torch.bfloat16)
    return nullcontext()


def _for_loss(setup: Setup, d: Tensor) -> Tensor:
    """Critic outputs made under bf16 autocast cast to float32 for the losses; any other run's left as they are
    (a float64 run stays float64)."""
    return d.float() if setup.config.precision == "bf16" else d


def critic_step(setup: Setup, real: Tensor, fake: Tensor, world: World) -> CriticOutputs:
    """One critic update on a real and a fake batch (k·m, *shape) each (k = config.pack, the samples per critic
    input); fake carries no graph.

    With precision "bf16" the critic's forwards run under autocast; L_D, the penalty (its gradient, norm and
    square) and the returned outputs are float32.
    """
    critic, lip, d_loss_fn = setup.critic, setup.lipschitz, setup.objective.d_loss
    k = setup.config.pack
    gp = None
    fake = fake.to(real.dtype)  # fakes made under autocast are bfloat16: x̂ and its gradient take the data's dtype
    if setup.closed_form:  # one forward over cat([real, fake, x_hat]), gradients written out
        x_hat = interpolate(real, fake, generator=setup.rngs["penalty"])
        d_real, d_fake, d_loss, gp = penalized_critic_backward_(
            critic, real, fake, x_hat, d_loss_fn, gp_weight=lip.gp_weight, one_sided=lip.one_sided)
    else:
        with autocast(setup):
            if setup.critic_batch_norm:  # each batch normalized by its own statistics (DCGAN)
                d_real, d_fake = critic(real), critic(fake)
            else:
                d_real, d_fake = critic(torch.cat([real, fake])).split(real.shape[0] // k)  # power iteration here
        d_real, d_fake = _for_loss(setup, d_real), _for_loss(setup, d_fake)
        d_loss = d_loss_fn(d_real, d_fake)
        if lip.gp_weight > 0:
            x_hat = interpolate(real, fake, generator=setup.rngs["penalty"], pack=k).requires_grad_(True)
            with lip.power_iteration_frozen(critic):
                with autocast(setup):
                    d_hat = critic(x_hat)
                gp = lip.penalty(x_hat, _for_loss(setup, d_hat), pack=k)  # outside autocast: float32 norm and square
            d_loss = d_loss + gp
        setup.opt_d.zero_grad(set_to_none=True)
        # gradients for the critic's parameters only: not for x̂, whose input gradient would cost the first
        # layer's backward to the image (a transposed convolution to 1-3 channels, slow in oneDNN) for nothing
        d_loss.backward(inputs=[p for p in critic.parameters() if p.requires_grad] or None)
    world.average_gradients_(critic)  # no-op in a single process
    setup.opt_d.step()
    lip.constrain_(critic)
    world.sync_buffers_(critic)
    return CriticOutputs(d_real, d_fake, d_loss, gp)


def generator_step(setup: Setup, z: Tensor, world: World) -> Tensor:
    """One generator update on latents z (m, latent_dim); returns L_G. The critic's weights are frozen.

    With precision "bf16" both forwards run under autocast and L_G is computed in float32.
    """
    critic = setup.critic
    critic.requires_grad_(False)
    with setup.lipschitz.power_iteration_frozen(critic):
        with autocast(setup):
            d_fake = critic(setup.generator(z))
        g_loss = setup.objective.g_loss(_for_loss(setup, d_fake))
        setup.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        world.average_gradients_(setup.generator)
        setup.opt_g.step()
    critic.requires_grad_(True)
    world.sync_buffers_(setup.generator)
    world.sync_buffers_(critic)  # a train-mode critic forward (batch norm) moved its statistics on each process
    return g_loss


@torch.no_grad()
def ema_update_(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """θ_ema ← decay · θ_ema + (1 − decay) · θ for every parameter; buffers copied. In place.

    Reference: Yazici et al. 2019 (arXiv:1806.04498), the exponential moving average of the
    generator's weights.
    """
    ema_params, params = list(ema.parameters()), list(model.parameters())
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def lr_factor(config: TrainConfig, step: int) -> float:
    """Learning-rate multiplier at generator step ``step`` (1-based): ``1``, or with lr_decay = "linear" and
    s = lr_decay_start · steps: ``1`` up to step s, then ``1 - (step - 1 - s) / (steps - s)``.

    Reference: Gulrajani et al. 2017, the authors' CIFAR-10 scripts (gan_cifar_resnet.py) decay both
    learning rates linearly to 0 over the run, ``max(0, 1 - iteration / ITERS)`` with a 0-based iteration
    (s = 0); CycleGAN (Zhu et al. 2017, Sec. 4) keeps the rate for the first half and then decays it
    linearly to 0 (s = steps / 2).
    """
    if config.lr_decay == "linear":
        start = config.lr_decay_start * config.steps
        if step <= start:
            return 1.0
        return max(0.0, 1.0 - (step - 1 - start) / (config.steps - start))
    return 1.0


def set_lr_(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate to `lr`."""
    for group in optimizer.param_groups:
        group["lr"] = lr
