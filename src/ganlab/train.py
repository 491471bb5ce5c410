"""The training loop: n_critic critic updates, one generator update, repeat.

    for each generator step:
        for t = 1..n_critic:                                          (critic phase)
            L_D = d_loss(f(x), f(G(z))) [+ lambda E (||grad f(x_hat)|| - 1)^2]
            w <- Opt(w, grad_w L_D);  [w <- clip(w, -c, c)]
        theta <- Opt(theta, grad_theta g_loss(f(G(z))))               (generator step)
        [theta_ema <- decay theta_ema + (1 - decay) theta]

Reference: lecture 001_b56ff7e156eb3bba.txt, "Wasserstein GAN" (Algorithm 1) and "Wasserstein GAN
with Gradient Penalty" (Algorithm 1); the objectives are `ganlab.losses`, the penalty, clipping
and spectral norm `ganlab.lipschitz`; every recipe of `ganlab.recipes` runs through this loop.

How the work is organized, and why (docs/TRAINING.md has the measurements):
* The generator is fixed during the critic phase, so the fakes of all n_critic critic steps come
  from ONE generator forward over n_critic * m latents, under no_grad (nothing flows back into G
  in the critic phase). Real data for the whole phase is drawn in one call too.
* A gradient-penalty step of a (leaky) ReLU MLP critic (the toy recipes) is differentiated in
  closed form (`ganlab.models.mlp_backward`, `critic_backward = "auto"`): ONE critic forward over
  cat([real, fake, x_hat]), one backward chain that is the loss's backward on the real and fake
  rows and grad_x f on the x_hat rows, and the penalty's weight gradients written out, without an
  autograd graph: 15.5 GFLOP per generator step of the toy nets against 16.2 by autograd and 19.1
  for the plain script (benchmarks/toy_speed.py).
* Every other critic step goes through autograd. Real and fake go through the critic in ONE forward
  over cat([real, fake]): one pass of matmuls twice as tall, one set of spectral-norm power
  iterations per critic update. The gradient penalty evaluates the critic on x_hat in a second,
  separate forward: folding x_hat into the same forward costs 40 % more FLOPs under autograd, since
  the backward for grad_x f(x_hat) and its double backward then run over all 3m rows (2m of them
  zeros), 26.9 GFLOP per generator step. With ganlab's masked ReLU (`ganlab.models.mlp.MaskedReLU`)
  the double backward stops at the activation masks instead of sending zeros back through the
  forward graph of x_hat.
* In the generator step the critic's parameters are frozen (requires_grad False), so backward
  computes no critic weight gradients nobody uses.
* Adam runs its fused kernel (one pass per tensor), RMSProp its multi-tensor one.
* Losses are read back (`.item()`) only at log steps; on the CPU, where reading a scalar costs
  nothing, the losses are checked for NaN/inf at every step, elsewhere at every log step.
* With spectral norm the critic is in training mode (power iteration on) only for the first forward
  of each critic update: one power iteration per update, as in SN-GAN's Algorithm 1.

Launched by torchrun, the same loop runs data-parallel: every process its own data, gradients averaged
after each backward (`_World`), process 0 writing the run folder.

Reproducibility: model initialization and the data, latent, penalty and evaluation streams each
have their own seeded `torch.Generator`, derived from `config.seed` with NumPy's SeedSequence; the
checkpoint stores all of them, so a resumed run continues bit-identically on the same machine.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from ganlab import losses
from ganlab.checkpoint import load_checkpoint, load_training_state, save_training_state
from ganlab.config import TrainConfig, from_saved_run, save_toml
from ganlab.data.toy import ToyDataset, get_toy_dataset
from ganlab.divergences import DIVERGENCES
from ganlab.lipschitz import apply_spectral_norm, clip_weights_, interpolate, penalty_from_outputs
from ganlab.metrics.modes import mode_metrics, w1_to_data
from ganlab.models.mlp import MLPCritic, MLPGenerator
from ganlab.models.mlp_backward import closed_form_layers, penalized_critic_backward_

__all__ = [
    "NonFiniteLossError",
    "train",
    "evaluate",
    "evaluate_run",
    "build_models",
    "objective",
    "ema_update_",
    "stream_seeds",
    "CHECKPOINT_NAME",
]

CHECKPOINT_NAME = "checkpoints/last.safetensors"
#: Fields that may change when a run is resumed; every other field must match the checkpoint.
RESUMABLE_FIELDS = frozenset({"steps", "log_every", "eval_every", "ckpt_every", "device", "threads", "out"})

LossFn = Callable[..., Tensor]


class NonFiniteLossError(RuntimeError):
    """A loss (or the generator's samples) became NaN or infinite; the run stopped without saving."""


# ----------------------------------------------------------------------------------------------
# building blocks


def stream_seeds(seed: int, rank: int = 0) -> dict[str, int]:
    """Independent 63-bit seeds for the random streams of a run, from NumPy's SeedSequence(seed).

    `init` and `eval` are shared by all processes of a data-parallel run; process `rank` > 0 draws
    its data, latent and penalty streams from SeedSequence((seed, rank)) instead.
    """
    names = ("init", "data", "latent", "penalty", "eval")
    states = np.random.SeedSequence(int(seed)).generate_state(len(names), dtype=np.uint64)
    seeds = {n: int(s) >> 1 for n, s in zip(names, states)}
    if rank:
        own = np.random.SeedSequence((int(seed), int(rank))).generate_state(len(names), dtype=np.uint64)
        seeds.update({n: int(s) >> 1 for n, s in zip(names, own) if n in ("data", "latent", "penalty")})
    return seeds


def build_models(config: TrainConfig, data_dim: int, *, seed: int) -> tuple[MLPGenerator, MLPCritic]:
    """The generator (latent_dim -> data_dim) and critic (data_dim -> R) of `config`, initialized from `seed`.

    Spectral normalization, if configured, is applied to every critic layer here (a
    reparametrization is applied once, when the model is built). The global RNG is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = MLPGenerator(config.latent_dim, data_dim, width=config.g_width, depth=config.g_depth,
                                 activation=config.activation, norm=config.g_norm)
        critic = MLPCritic(data_dim, width=config.d_width, depth=config.d_depth,
                           activation=config.activation, norm=config.d_norm)
        if config.spectral_norm:
            apply_spectral_norm(critic, generator=torch.Generator().manual_seed(seed + 1))
    return generator, critic


def objective(config: TrainConfig) -> tuple[LossFn, LossFn]:
    """(d_loss(d_real, d_fake), g_loss(d_fake)) for `config.loss`: the one place a loss name becomes a function."""
    if config.loss == "minimax":
        return losses.minimax_d_loss, losses.minimax_g_loss
    if config.loss == "ns":
        return losses.minimax_d_loss, losses.ns_g_loss
    if config.loss == "wasserstein":
        return losses.wasserstein_d_loss, losses.wasserstein_g_loss
    if config.loss == "hinge":
        return losses.hinge_d_loss, losses.hinge_g_loss
    if config.loss == "fgan":
        div = DIVERGENCES[config.divergence]
        return (functools.partial(losses.fgan_d_loss, divergence=div),
                functools.partial(losses.fgan_g_loss, divergence=div, non_saturating=config.fgan_non_saturating))
    raise ValueError(f"unknown loss {config.loss!r}")  # unreachable: TrainConfig validates it


def _optimizer(config: TrainConfig, params: Any, lr: float) -> torch.optim.Optimizer:
    """Adam with the fused kernel (one pass over each tensor instead of about six; CPU and CUDA since
    torch 2.4), falling back to the multi-tensor one; RMSProp (torch's defaults) multi-tensor."""
    params = list(params)
    if config.optimizer == "adam":
        try:
            return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2), fused=True)
        except (RuntimeError, TypeError):  # pragma: no cover - devices without the fused kernel
            return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2), foreach=True)
    return torch.optim.RMSprop(params, lr=lr, foreach=True)


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


def _set_lr_(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


@torch.no_grad()
def ema_update_(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """theta_ema <- decay * theta_ema + (1 - decay) * theta for every parameter; buffers copied. In place.

    Reference: Yazici et al. 2019 (arXiv:1806.04498), the exponential moving average of the
    generator's weights.
    """
    ema_params, params = list(ema.parameters()), list(model.parameters())
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def _device(name: str) -> torch.device:
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"config field 'device': {name!r} requested but CUDA is not available on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"config field 'device': {name!r} requested but MPS is not available on this machine")
    return dev


class _World:
    """Data parallelism across the processes of `torchrun` (gloo on CPUs, NCCL on GPUs).

    Every process runs the same loop on its own data, latent and penalty streams, from the same
    initial weights; after each backward the gradients are averaged with one all_reduce over a flat
    buffer, so every process takes the same optimizer step and the weights stay identical. This is
    what DistributedDataParallel does, written out because the critic is also differentiated twice
    (gradient penalty) and run in three different ways per step. Process 0 writes the run folder and
    evaluates. The effective batch is world_size * batch_size.
    """

    def __init__(self, device_type: str) -> None:
        self.size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.owns_group = False
        if self.size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
            self.owns_group = True

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def average_gradients_(self, module: nn.Module) -> None:
        if self.size == 1:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        flat = torch._utils._flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat /= self.size
        for g, avg in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
            g.copy_(avg)

    def any(self, flag: bool) -> bool:
        """True on every process if `flag` is true on any (so that all of them stop together)."""
        if self.size == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def rng_states(self, rngs: dict[str, torch.Generator]) -> dict[str, Tensor]:
        """The other processes' RNG states as `rng.<name>@<rank>` tensors (collective; filled on process 0)."""
        if self.size == 1:
            return {}
        gathered: list[Any] = [None] * self.size
        dist.all_gather_object(gathered, {k: g.get_state() for k, g in rngs.items()})
        return {f"rng.{k}@{r}": v for r in range(1, self.size) for k, v in gathered[r].items()}

    def close(self) -> None:
        if self.owns_group:
            dist.destroy_process_group()


# ----------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def evaluate(
    generator: nn.Module,
    critic: nn.Module,
    dataset: ToyDataset,
    z_eval: Tensor,
    *,
    seed: int,
) -> tuple[dict[str, float], Tensor]:
    """Mode metrics (or W1) of G(z_eval), and the critic's estimate E f(real) - E f(G(z_eval)).

    Shapes: z_eval (N, latent_dim) -> samples (N, dim) on the CPU.
    Returns ({"modes", "high_quality", "reverse_kl", "w1", "critic_w"} for datasets with modes,
    {"w1", "critic_w"} otherwise, samples). The real batch of `critic_w` is a fresh draw of N points
    from a generator seeded with `seed`. Both networks run in eval mode and are put back after.

    Raises NonFiniteLossError if a sample is NaN or infinite.
    """
    g_mode, c_mode = generator.training, critic.training
    generator.eval()
    critic.eval()
    try:
        samples = torch.cat([generator(z) for z in z_eval.split(4096)])
        if not bool(torch.isfinite(samples).all()):
            raise NonFiniteLossError("the generator produced NaN or infinite samples")
        param = next(critic.parameters())
        real = dataset.sample(z_eval.shape[0], generator=torch.Generator().manual_seed(seed))
        real = real.to(device=param.device, dtype=param.dtype)
        critic_w = float(critic(real).mean() - critic(samples).mean())
    finally:
        generator.train(g_mode)
        critic.train(c_mode)
    samples = samples.cpu()
    if dataset.modes is not None:
        metrics: dict[str, float] = dict(mode_metrics(samples, dataset).as_dict())
    else:
        metrics = {"w1": w1_to_data(samples, dataset)}
    metrics["critic_w"] = critic_w
    return metrics, samples


def _config_from_meta(meta: dict[str, Any], where: str) -> TrainConfig:
    if "config" not in meta:
        raise ValueError(f"{where} has no config")
    return from_saved_run(meta["config"], where=where)


def evaluate_run(run_dir: str | Path, n: int = 2500) -> dict[str, Any]:
    """The evaluation of a run's last checkpoint on n samples (EMA generator when the run has one).

    Uses the run's own evaluation latents and real batch (seeded from its config), so with
    n = config.eval_samples it reproduces the run's final evaluation. Returns {"step", "n", metrics...}.
    Raises FileNotFoundError when the run folder has no checkpoint.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer number of samples, got {n!r}")
    path = Path(run_dir) / CHECKPOINT_NAME
    tensors, meta = load_checkpoint(path)
    config = _config_from_meta(meta, f"checkpoint {str(path)!r}")
    dataset = get_toy_dataset(config.data, **config.data_params)
    seeds = stream_seeds(config.seed)
    generator, critic = build_models(config, dataset.dim, seed=seeds["init"])
    from ganlab.checkpoint import load_module_tensors

    use_ema = "ema" in meta.get("modules", [])
    load_module_tensors("ema" if use_ema else "generator", generator, tensors)
    load_module_tensors("critic", critic, tensors)
    z_eval = torch.randn(n, config.latent_dim, generator=torch.Generator().manual_seed(seeds["eval"]))
    metrics, _ = evaluate(generator, critic, dataset, z_eval, seed=seeds["eval"] + meta["step"])
    return {"step": meta["step"], "n": n, "ema": use_ema, **metrics}


# ----------------------------------------------------------------------------------------------
# the run folder


def _append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(row, allow_nan=True) + "\n")


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the lines logged after `step` (the run died after them, before its next checkpoint)."""
    if path.is_file():
        keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
        path.write_text("".join(ln + "\n" for ln in keep))


def _check_resumable(saved: TrainConfig, config: TrainConfig) -> None:
    differ = [k for k, v in saved.to_dict().items() if k not in RESUMABLE_FIELDS and config.to_dict()[k] != v]
    if differ:
        details = ", ".join(f"{k}: {getattr(saved, k)!r} -> {getattr(config, k)!r}" for k in differ)
        raise ValueError(
            f"cannot resume with a different config ({details}); only {sorted(RESUMABLE_FIELDS)} may change"
        )
    if saved.lr_decay != "none" and saved.steps != config.steps:
        raise ValueError(
            f"cannot resume with steps {config.steps}: the run decays its learning rates over steps = {saved.steps} "
            f"(lr_decay = {saved.lr_decay!r}), so a new length would change every later rate; resume with "
            f"--steps {saved.steps}"
        )


def _write_figures(run_dir: Path, step: int, samples: Tensor, dataset: ToyDataset, critic: nn.Module,
                   config: TrainConfig) -> None:
    from ganlab.report import plot_samples

    real = dataset.sample(min(2500, samples.shape[0]), generator=torch.Generator().manual_seed(0))
    plot_samples(run_dir / "samples" / f"step_{step:07d}.png", samples, real, critic=critic,
                 title=f"{config.recipe} on {config.data}, step {step}", modes=dataset.modes)


# ----------------------------------------------------------------------------------------------
# the loop


def train(config: TrainConfig, *, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train `config` and return its summary (final evaluation, wall seconds, threads).

    Writes the run folder `config.run_dir`: config.toml, metrics.jsonl, checkpoints/last.safetensors,
    samples/*.png, curves.png, summary.json. With `resume=True` it continues the run in that folder
    from its last checkpoint (bit-identically on the same machine and thread count); only
    `RESUMABLE_FIELDS` (steps, logging and checkpoint cadence, device, threads) may differ.

    Launched by `torchrun --nproc_per_node=N -m ganlab train ...` it trains data-parallel over N
    processes (gloo on CPUs, NCCL on GPUs; see `_World`); process 0 writes the run folder and
    returns the summary, the others return {"rank", "steps", "wall_seconds"}.

    Raises ValueError for a folder that already holds a run (without resume) or a config that
    differs from the checkpoint's, FileNotFoundError when resuming a folder without a checkpoint,
    and NonFiniteLossError when a loss becomes NaN/inf: the message names the step and the loss,
    and the last good checkpoint is kept (never overwritten by the bad state).
    """
    run_dir = config.run_dir
    config = replace(config, out=str(run_dir))
    if config.threads:
        torch.set_num_threads(config.threads)
    device = _device(config.device)
    world = _World(device.type)  # one process unless launched by torchrun
    try:
        return _train(config, device, world, resume=resume, progress=progress)
    finally:
        world.close()


def _train(config: TrainConfig, device: torch.device, world: _World, *, resume: bool,
           progress: bool) -> dict[str, Any]:
    run_dir = config.run_dir
    if world.size > 1 and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", world.local_rank)
    main = world.is_main
    dataset = get_toy_dataset(config.data, **config.data_params)
    seeds = stream_seeds(config.seed, world.rank)
    m, n_critic, latent_dim = config.batch_size, config.n_critic, config.latent_dim

    generator, critic = build_models(config, dataset.dim, seed=seeds["init"])
    generator.to(device)
    critic.to(device)
    ema = copy.deepcopy(generator).requires_grad_(False) if config.ema > 0 else None
    opt_g = _optimizer(config, generator.parameters(), config.lr_g)
    opt_d = _optimizer(config, critic.parameters(), config.lr_d)
    rngs = {
        "data": torch.Generator().manual_seed(seeds["data"]),  # toy samplers draw on the CPU
        "latent": torch.Generator(device).manual_seed(seeds["latent"]),
        "penalty": torch.Generator(device).manual_seed(seeds["penalty"]),
    }
    my_rngs = rngs if main else {f"{k}@{world.rank}": g for k, g in rngs.items()}  # names in checkpoints
    modules = {"generator": generator, "critic": critic, **({"ema": ema} if ema is not None else {})}
    optimizers = {"opt_g": opt_g, "opt_d": opt_d}
    d_loss_fn, g_loss_fn = objective(config)

    ckpt_path = run_dir / CHECKPOINT_NAME
    metrics_path = run_dir / "metrics.jsonl"
    start, wall_before = 0, 0.0
    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"cannot resume: no checkpoint at {str(ckpt_path)!r}")
        _, saved_meta = load_checkpoint(ckpt_path)
        _check_resumable(_config_from_meta(saved_meta, f"checkpoint {str(ckpt_path)!r}"), config)
        if saved_meta.get("world_size", 1) != world.size:
            raise ValueError(f"the checkpoint was written by {saved_meta.get('world_size', 1)} process(es); "
                             f"resume it with the same number, not {world.size}")
        meta = load_training_state(ckpt_path, modules=modules, optimizers=optimizers, rngs=my_rngs)
        start, wall_before = int(meta["step"]), float(meta.get("wall_seconds", 0.0))
        if start >= config.steps:
            raise ValueError(f"the run in {str(run_dir)!r} is already at step {start}; pass steps > {start} to continue")
        if main:
            _truncate_metrics(metrics_path, start)
    else:
        if ckpt_path.exists():
            raise ValueError(f"{str(run_dir)!r} already holds a run (it has {CHECKPOINT_NAME}); "
                             f"resume it with --resume or choose another --out")
        if main:
            run_dir.mkdir(parents=True, exist_ok=True)
            metrics_path.write_text("")
    if main:
        save_toml(config, run_dir / "config.toml")

    z_eval = torch.randn(config.eval_samples, latent_dim, generator=torch.Generator().manual_seed(seeds["eval"]))
    z_eval = z_eval.to(device)
    check_every_step = device.type == "cpu"  # reading a scalar on the CPU is free; on a GPU it syncs
    sn = config.spectral_norm
    # a penalized (leaky) ReLU MLP critic takes the closed-form step (ganlab.models.mlp_backward)
    closed_form = (config.critic_backward == "auto" and config.gp_weight > 0
                   and closed_form_layers(critic) is not None)
    last_ckpt_step = start if resume else None
    t_start = time.perf_counter()
    from tqdm.auto import tqdm

    bar = tqdm(total=config.steps, initial=start, disable=not (progress and main), dynamic_ncols=True,
               desc=f"{config.recipe} {config.data}", unit="step")

    def stop(step: int, what: str, value: float) -> None:
        kept = (f"the last good checkpoint {str(ckpt_path)!r} (step {last_ckpt_step}) is kept"
                if last_ckpt_step is not None else "no checkpoint had been written yet")
        msg = (f"non-finite {what} ({value}) at generator step {step} of {config.recipe} on {config.data}; "
               f"stopped without saving; {kept}. Try a smaller learning rate or a stronger Lipschitz constraint.")
        if main:
            _append_jsonl(metrics_path, {"step": step, "error": msg})
        bar.close()
        raise NonFiniteLossError(msg)

    for step in range(start + 1, config.steps + 1):
        if config.lr_decay != "none":  # a pure function of the step, so a resumed run has the same rates
            factor = lr_factor(config, step)
            _set_lr_(opt_d, config.lr_d * factor)
            _set_lr_(opt_g, config.lr_g * factor)
        # ---- critic phase: n_critic updates against a fixed generator. Its fakes for all n_critic
        # updates come from one forward (the generator does not change here), without a graph.
        real_all = dataset.sample(n_critic * m, generator=rngs["data"]).to(device)
        with torch.no_grad():
            z = torch.randn(n_critic * m, latent_dim, generator=rngs["latent"], device=device)
            fake_all = generator(z)
        for real, fake in zip(real_all.split(m), fake_all.split(m)):
            if closed_form:  # one forward over cat([real, fake, x_hat]), gradients written out
                x_hat = interpolate(real, fake, generator=rngs["penalty"])
                d_real, d_fake, d_loss, gp = penalized_critic_backward_(
                    critic, real, fake, x_hat, d_loss_fn, gp_weight=config.gp_weight, one_sided=config.one_sided_gp)
            else:
                # one forward for real and fake (the critic's parametrizations refresh once here)
                d_real, d_fake = critic(torch.cat([real, fake])).split(m)
                d_loss = d_loss_fn(d_real, d_fake)
                if config.gp_weight > 0:
                    x_hat = interpolate(real, fake, generator=rngs["penalty"]).requires_grad_(True)
                    critic.train(not sn)  # spectral norm: keep the u, v of this update's forward
                    gp = penalty_from_outputs(x_hat, critic(x_hat), gp_weight=config.gp_weight,
                                              one_sided=config.one_sided_gp)
                    critic.train(True)
                    d_loss = d_loss + gp
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
            world.average_gradients_(critic)  # no-op in a single process
            opt_d.step()
            if config.clip_value is not None:
                clip_weights_(critic, config.clip_value)  # a projection after the step (WGAN Alg. 1 line 7)

        # ---- generator step: the critic's weights are frozen, so no gradient is computed for them
        critic.requires_grad_(False)
        critic.train(not sn)
        z = torch.randn(m, latent_dim, generator=rngs["latent"], device=device)
        g_loss = g_loss_fn(critic(generator(z)))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        world.average_gradients_(generator)
        opt_g.step()
        critic.train(True)
        critic.requires_grad_(True)
        if ema is not None:
            ema_update_(ema, generator, config.ema)

        # ---- bookkeeping: read scalars back only here
        if check_every_step:
            for what, value in (("critic loss", d_loss), ("generator loss", g_loss)):
                if world.any(not math.isfinite(value.item())):
                    stop(step, what, value.item())
        is_last = step == config.steps
        do_log = step % config.log_every == 0 or is_last or step == 1
        do_eval = is_last or (config.eval_every > 0 and step % config.eval_every == 0)
        do_ckpt = is_last or (config.ckpt_every > 0 and step % config.ckpt_every == 0)
        if do_log or do_eval or do_ckpt:
            stats = {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
                     "critic_gap": (d_real.mean() - d_fake.mean()).item()}
            if config.gp_weight > 0:
                stats["gp"] = gp.item()
            for what, key in (("critic loss", "d_loss"), ("generator loss", "g_loss")):
                if world.any(not math.isfinite(stats[key])):
                    stop(step, what, stats[key])
            elapsed = time.perf_counter() - t_start
            row: dict[str, Any] = {"step": step, **stats, "wall_seconds": wall_before + elapsed}
            if do_eval:  # on process 0; the others wait for its verdict
                failed = False
                if main:
                    try:
                        metrics, samples = evaluate(ema if ema is not None else generator, critic, dataset,
                                                    z_eval, seed=seeds["eval"] + step)
                    except NonFiniteLossError:
                        failed = True
                if world.any(failed):
                    stop(step, "generator output", float("nan"))
                if main:
                    row.update(metrics)
                    _write_figures(run_dir, step, samples, dataset, critic, config)
            if main:
                _append_jsonl(metrics_path, row)
            bar.set_postfix({k: f"{v:.3g}" for k, v in row.items()
                             if k in ("d_loss", "g_loss", "modes", "high_quality", "w1")}, refresh=False)
        if do_ckpt:
            if not all(bool(torch.isfinite(p).all()) for p in critic.parameters()) or \
                    not all(bool(torch.isfinite(p).all()) for p in generator.parameters()):
                stop(step, "network weights", float("nan"))
            others = world.rng_states(rngs)  # collective: every process takes part
            if main:
                save_training_state(ckpt_path, step=step, config=config.to_dict(), modules=modules,
                                    optimizers=optimizers, rngs=rngs, extra_tensors=others,
                                    extra={"wall_seconds": wall_before + time.perf_counter() - t_start,
                                           "world_size": world.size})
            last_ckpt_step = step
        bar.update(1)
    bar.close()

    wall = wall_before + time.perf_counter() - t_start
    if not main:
        return {"rank": world.rank, "steps": config.steps, "wall_seconds": wall}
    final = {k: v for k, v in row.items() if k != "wall_seconds"}
    summary = {
        **final,
        "recipe": config.recipe,
        "data": config.data,
        "steps": config.steps,
        "wall_seconds": wall,
        "steps_per_second": (config.steps - start) / max(time.perf_counter() - t_start, 1e-9),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "world_size": world.size,
        "ema": ema is not None,
        "num_modes": dataset.num_modes,
        "eval_samples": config.eval_samples,
        "run_dir": str(run_dir),
        "torch": torch.__version__,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=True) + "\n")
    from ganlab.report import plot_curves

    plot_curves(metrics_path, run_dir / "curves.png", title=f"{config.recipe} on {config.data}")
    return summary
