"""`build(config) -> Setup`: the one place where the names of a config become objects.

    config ──► dataset (built once)       DATASETS[data](**data_params)
           ──► generator, critic          MODELS[model.family].build(fields, dataset.shape), seeded
           ──► Lipschitz                  penalty / clipping / spectral norm (reparametrized here, once)
           ──► objective                  OBJECTIVES[loss], an f-GAN's divergence bound to it
           ──► optimizers, EMA, random streams, evaluator

Every name is checked against its layer's registry here and refused with the valid names; the model
family's fields are checked by its dataclass. Below this module the library takes objects, above it
(the loop, the run folder, the commands) nothing turns a string into a function.

Random streams: model initialization and the data, latent, penalty and evaluation streams each have
their own seeded `torch.Generator`, derived from `config.seed` with NumPy's SeedSequence
(`stream_seeds`), so that a resumed run, whose checkpoint stores their states, continues
bit-identically.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from ganlab.config import TrainConfig, unknown_names_message
from ganlab.data import DATASETS, Dataset, get_dataset
from ganlab.divergences import DIVERGENCES
from ganlab.evaluators import Evaluator, make_evaluator
from ganlab.lipschitz import Lipschitz
from ganlab.losses import OBJECTIVES, Objective
from ganlab.models import MODELS
from ganlab.models.mlp_backward import closed_form_layers
from ganlab.models.pack import Packed, packed_shape
from ganlab.recipes import RECIPES

__all__ = ["Setup", "build", "eval_latents", "model_family", "model_fields", "stream_seeds", "resolve_device"]


@dataclass
class Setup:
    """Everything a training run is made of, built from its config.

    Attributes:
        config: the config, completed: every model field filled in, `out` resolved to the run folder.
        dataset: the training distribution (`ganlab.data.Dataset`).
        generator, critic: the networks on `device`; the critic already reparametrized (spectral norm).
        ema: a frozen copy of the generator for the exponential moving average, or None.
        objective: the critic and generator losses.
        lipschitz: the critic's penalty, constraint and reparametrization.
        opt_g, opt_d: the optimizers of the generator and the critic.
        evaluator: what the loop calls at evaluation steps.
        rngs: the data (CPU), latent and penalty random streams of this process.
        seeds: the seeds of all streams (`stream_seeds`).
        latent_dim: the generator's input width.
        closed_form: the penalized critic step takes the closed-form gradients of
            `ganlab.models.mlp_backward` (a (leaky) ReLU MLP critic with a gradient penalty).
        device: where the networks live.
        critic_batch_norm: the critic holds batch norm (DCGAN's critic, `--model.d_norm=batchnorm`): real and
            fake then go through it in separate forwards, as in DCGAN, so that each batch is normalized by its
            own statistics.
    """

    config: TrainConfig
    dataset: Dataset
    generator: nn.Module
    critic: nn.Module
    ema: nn.Module | None
    objective: Objective
    lipschitz: Lipschitz
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    evaluator: Evaluator
    rngs: dict[str, torch.Generator]
    seeds: dict[str, int]
    latent_dim: int
    closed_form: bool
    device: torch.device
    critic_batch_norm: bool = False


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


def eval_latents(seeds: dict[str, int], latent_dim: int, n: int) -> torch.Tensor:
    """The fixed evaluation latents z_1..z_n ~ N(0, I) of a run (CPU), drawn from its `eval` stream."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seeds["eval"]))


def resolve_device(name: str, *, what: str = "config field 'device'") -> torch.device:
    """`torch.device(name)`, refused with a ValueError naming `what` when it is malformed or not on this machine."""
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"{what}: {name!r} is not a device ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{what}: {name!r} requested but CUDA is not available on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{what}: {name!r} requested but MPS is not available on this machine")
    return dev


def _check_name(field_name: str, value: str, registry: Any) -> None:
    if value not in registry:
        raise ValueError(unknown_names_message(f"{field_name}", [value], list(registry), "the config"))


def model_family(config: TrainConfig, data_shape: tuple[int, ...]) -> str:
    """The config's model family, "auto" made concrete by the data's shape: `mlp` for vectors (D,), `dcgan` for
    images (C, H, W)."""
    if config.model_family != "auto":
        return config.model_family
    return "dcgan" if len(data_shape) == 3 else "mlp"


def model_fields(config: TrainConfig, data_shape: tuple[int, ...] = (2,)) -> Any:
    """The model family's fields dataclass filled from `config.model` (defaults for the missing ones); the family
    "auto" is chosen by `data_shape` (`model_family`)."""
    family = model_family(config, data_shape)
    _check_name("model family", family, MODELS)
    cls = MODELS[family].fields
    given = {k: v for k, v in config.model.items() if k != "family"}
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in given if k not in valid]
    if unknown:
        raise ValueError(unknown_names_message("model field(s)", unknown, valid, f"[model] (family {family!r})"))
    return cls(**given)


def _resolve_auto_norm(fields: Any, config: TrainConfig) -> Any:
    """A critic norm of "auto" made concrete: layer norm when a gradient penalty is used (batch norm would make
    the per-sample penalty wrong; the WGAN-GP paper's choice, Sec. 4), none otherwise (DCGAN's batch norm in the
    critic is refused with a penalty or spectral norm, and for the other objectives one critic recipe for all
    keeps the comparison fair; `--model.d_norm=batchnorm` restores DCGAN's)."""
    if getattr(fields, "d_norm", None) == "auto":
        return replace(fields, d_norm="layernorm" if config.gp_weight > 0 else "none")
    return fields


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


def _check_batch_dependence(critic: nn.Module, lipschitz: Lipschitz) -> None:
    """Batch norm makes a critic output depend on its whole batch: a per-sample penalty is then wrong
    (WGAN-GP Sec. 4) and spectral norm's bound is undone by the batch rescaling."""
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules()):
        if lipschitz.gp_weight > 0:
            raise ValueError("a batch-norm critic cannot take a gradient penalty (gp_weight > 0): batch norm makes "
                             "a critic output depend on the whole batch, so the per-sample gradients of the penalty "
                             "are wrong (WGAN-GP Sec. 4); use [model] d_norm = 'layernorm' or 'none'")
        if lipschitz.spectral_norm:
            raise ValueError("a batch-norm critic cannot be spectrally normalized (spectral_norm = true): batch norm "
                             "rescales each layer by batch statistics, undoing the Lipschitz bound; use "
                             "[model] d_norm = 'none'")


def build(config: TrainConfig, *, device: torch.device | str | None = None, rank: int = 0) -> Setup:
    """The run `config` describes, built on `device` (default `config.device`) for process `rank`.

    Raises ValueError naming any unknown name (recipe, data set, model family or field, objective,
    divergence) with the valid ones, and any impossible combination.
    """
    _check_name("recipe", config.recipe, RECIPES)
    _check_name("data set", config.data, DATASETS)
    _check_name("objective (loss)", config.loss, OBJECTIVES)
    _check_name("divergence", config.divergence, DIVERGENCES)
    if config.model_family != "auto":
        _check_name("model family", config.model_family, MODELS)
    try:
        dataset = get_dataset(config.data, **config.data_params)
    except ValueError as exc:
        raise ValueError(f"config field 'data_params': {exc}") from None
    fields = _resolve_auto_norm(model_fields(config, dataset.shape), config)
    device = resolve_device(config.device) if device is None else torch.device(device)
    config = replace(config, out=str(config.run_dir),
                     model={"family": model_family(config, dataset.shape), **dataclasses.asdict(fields)})
    seeds = stream_seeds(config.seed, rank)
    lipschitz = Lipschitz(gp_weight=config.gp_weight, one_sided=config.one_sided_gp,
                          clip_value=config.clip_value, spectral_norm=config.spectral_norm)
    with torch.random.fork_rng(devices=[]):  # initialization from its own seed; the global RNG untouched
        torch.manual_seed(seeds["init"])
        generator, critic = MODELS[config.model_family].build(fields, dataset.shape)
        if config.pack > 1:  # PacGAN: the critic reads k samples concatenated (its twin generator is dropped)
            critic = Packed(MODELS[config.model_family].build(fields, packed_shape(dataset.shape, config.pack))[1],
                            config.pack)
        lipschitz.reparametrize_(critic, generator=torch.Generator().manual_seed(seeds["init"] + 1))
    _check_batch_dependence(critic, lipschitz)
    generator.to(device)
    critic.to(device)
    objective = OBJECTIVES[config.loss].bind(divergence=DIVERGENCES[config.divergence],
                                             non_saturating=config.fgan_non_saturating)
    latent_dim = fields.latent_dim
    z_eval = eval_latents(seeds, latent_dim, config.eval_samples)
    return Setup(
        config=config,
        dataset=dataset,
        generator=generator,
        critic=critic,
        ema=copy.deepcopy(generator).requires_grad_(False) if config.ema > 0 else None,
        objective=objective,
        lipschitz=lipschitz,
        opt_g=_optimizer(config, generator.parameters(), config.lr_g),
        opt_d=_optimizer(config, critic.parameters(), config.lr_d),
        evaluator=make_evaluator(dataset, z_eval.to(device), seed=seeds["eval"], features=config.eval_features,
                                 weights=config.eval_weights),
        rngs={
            "data": torch.Generator().manual_seed(seeds["data"]),  # data sets draw on the CPU
            "latent": torch.Generator(device).manual_seed(seeds["latent"]),
            "penalty": torch.Generator(device).manual_seed(seeds["penalty"]),
        },
        seeds=seeds,
        latent_dim=latent_dim,
        # the closed-form step has no autocast: a bf16 run differentiates the critic by autograd
        closed_form=(config.precision == "float32" and lipschitz.gp_weight > 0
                     and closed_form_layers(critic) is not None),
        device=device,
        critic_batch_norm=any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules()),
    )
