"""Recipes: the papers' training defaults by name, and the resolution of a run's config.

A recipe is a named set of `TrainConfig` fields with the paper (and lecture slide) they come from.
A run's config is resolved in this order, each layer overriding the one before:

    TrainConfig defaults  <  recipe  <  --config TOML file  <  --key=value flags

Every recipe keeps the toy networks of `TrainConfig` (the WGAN-GP toy script's MLP 512 x 3) and
changes the objective and the optimizer. Where a recipe departs from its paper, `deviations` says
how and why; docs/TRAINING.md lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from ganlab.config import TrainConfig, apply_overrides, from_dict, parse_overrides, read_toml
from ganlab.divergences import DIVERGENCES

__all__ = ["Recipe", "RECIPES", "DEFAULT_RECIPE", "BASE_RECIPE", "get_recipe", "recipe_config", "resolve_config"]

#: What `ganlab train` runs when no recipe is named: the ring in about a minute on one core (docs/TRAINING.md).
DEFAULT_RECIPE = "wgan-gp-quick"
#: The recipe whose values are the TrainConfig defaults: what `resolve_config` starts from when none is named.
BASE_RECIPE = "wgan-gp-toy"
#: Generator steps of the default run (measured: docs/TRAINING.md, "The default run").
QUICK_STEPS = 7000


@dataclass(frozen=True)
class Recipe:
    """A named set of TrainConfig defaults.

    Attributes:
        name: registry key (`gan`, `wgan-gp`, `fgan-kl`, ...).
        fields: the TrainConfig fields the recipe sets.
        source: paper and lecture slide the values come from.
        deviations: where and why the values differ from the paper ("" when they do not).
    """

    name: str
    fields: dict[str, Any]
    source: str
    deviations: str = ""
    notes: str = field(default="", compare=False)


# Every recipe starts from a clean objective: no penalty, no clipping, no spectral norm.
_PLAIN = {"gp_weight": 0.0, "one_sided_gp": False, "clip_value": None, "spectral_norm": False,
          "fgan_non_saturating": False}
# DCGAN's Adam (Radford et al. 2016, arXiv:1511.06434, Sec. 4): lr 2e-4, beta1 0.5.
_DCGAN_ADAM = {"optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999}

_GOODFELLOW_DEV = (
    "Goodfellow et al. trained with SGD + momentum; ganlab has no SGD, so the classic GANs use "
    "DCGAN's Adam (lr 2e-4, betas (0.5, 0.999); Radford et al. 2016, Sec. 4), the de facto default "
    "for the minimax and non-saturating objectives."
)

RECIPES: dict[str, Recipe] = {}


def _register(recipe: Recipe) -> None:
    RECIPES[recipe.name] = recipe


_register(Recipe(
    name="gan",
    fields={**_PLAIN, **_DCGAN_ADAM, "loss": "minimax", "n_critic": 1},
    source="Goodfellow et al. 2014 (arXiv:1406.2661), Algorithm 1 with k = 1 discriminator step; "
           "lecture 004_a72885b194f54592.txt 'Generative adversarial networks (GAN)' (Objective)",
    deviations=_GOODFELLOW_DEV,
))
_register(Recipe(
    name="nsgan",
    fields={**_PLAIN, **_DCGAN_ADAM, "loss": "ns", "n_critic": 1},
    source="Goodfellow et al. 2014 (arXiv:1406.2661), Sec. 3: the generator maximizes log D(G(z)) "
           "instead of minimizing log(1 - D(G(z))); lecture 003_74d7f85fefbfef05.txt "
           "'Main problems of standard GAN'",
    deviations=_GOODFELLOW_DEV,
))
_register(Recipe(
    name="pacgan",
    fields={**_PLAIN, **_DCGAN_ADAM, "loss": "ns", "n_critic": 1, "pack": 2},
    source="Lin et al. 2018, PacGAN (arXiv:1712.04086): the non-saturating GAN whose discriminator judges "
           "m = 2 samples concatenated along the channels (PacDCGAN2 of Sec. 4, Table 2), DCGAN's Adam "
           "(lr 2e-4, beta1 0.5) as in the authors' code (fjxmlzn/PacGAN); lecture 003_74d7f85fefbfef05.txt "
           "'Main problems of standard GAN' (mode collapse)",
    deviations="The authors' code (built on DCGAN-tensorflow) takes two generator updates per discriminator "
               "update; ganlab takes one, as every other recipe. The paper also reports packing degrees 3 and "
               "4: --pack=3, --pack=4.",
))
_register(Recipe(
    name="wgan",
    fields={**_PLAIN, "loss": "wasserstein", "optimizer": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5,
            "clip_value": 0.01, "batch_size": 64, "n_critic": 5},
    source="Arjovsky et al. 2017 (arXiv:1701.07875), Algorithm 1: RMSProp, alpha = 5e-5, c = 0.01, "
           "m = 64, n_critic = 5; lecture 001_b56ff7e156eb3bba.txt 'Wasserstein GAN' (Algorithm 1)",
    deviations="The official WGAN code also runs 100 critic iterations for the first 25 generator "
               "iterations and every 500th; Algorithm 1 (and ganlab) uses n_critic = 5 throughout. "
               "RMSProp uses torch's defaults (alpha 0.99, eps 1e-8).",
))
_register(Recipe(
    name="wgan-gp",
    fields={**_PLAIN, "loss": "wasserstein", "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4,
            "beta1": 0.0, "beta2": 0.9, "gp_weight": 10.0, "n_critic": 5, "batch_size": 256},
    source="Gulrajani et al. 2017 (arXiv:1704.00028), Algorithm 1: lambda = 10, n_critic = 5, Adam "
           "alpha = 1e-4, beta1 = 0, beta2 = 0.9; lecture 001_b56ff7e156eb3bba.txt 'Wasserstein GAN "
           "with Gradient Penalty' (Algorithm 1). Batch 256 and the MLP 512 x 3 nets: the WGAN-GP toy "
           "script (igul222/improved_wgan_training, gan_toy.py)",
    deviations="The toy script itself uses beta1 = 0.5 and lambda = 0.1 ('smaller lambda makes things "
               "faster for toy tasks'); ganlab keeps the paper's Algorithm 1 values "
               "(--beta1=0.5 --gp_weight=0.1 gives the script's).",
))
_register(Recipe(
    name="wgan-gp-toy",
    fields={**_PLAIN, "loss": "wasserstein", "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4,
            "beta1": 0.5, "beta2": 0.9, "gp_weight": 0.1, "n_critic": 5, "batch_size": 256},
    source="WGAN-GP as its authors ran it on 2-D data: igul222/improved_wgan_training, gan_toy.py "
           "(MODE = 'wgan-gp'): lambda = 0.1, n_critic = 5, batch 256, Adam lr 1e-4, beta1 = 0.5, "
           "beta2 = 0.9, MLP 512 x 3; the objective of lecture 001_b56ff7e156eb3bba.txt 'Wasserstein "
           "GAN with Gradient Penalty' (Algorithm 1). The default of `ganlab train`",
    deviations="The paper's Algorithm 1 values (lambda = 10, beta1 = 0) are the recipe `wgan-gp`; on the "
               "8-mode ring they need many more steps (docs/TRAINING.md has the measurement).",
))
_register(Recipe(
    name="wgan-gp-quick",
    fields={**_PLAIN, "loss": "wasserstein", "optimizer": "adam", "lr_g": 1e-3, "lr_d": 1e-3,
            "beta1": 0.5, "beta2": 0.999, "gp_weight": 0.1, "n_critic": 5, "batch_size": 256, "ema": 0.995,
            "model": {"family": "auto", "g_width": 64, "d_width": 64}, "steps": QUICK_STEPS,
            "eval_every": QUICK_STEPS // 2, "ckpt_every": QUICK_STEPS // 2, "log_every": 250, "threads": 1},
    source="WGAN-GP as its authors ran it on 2-D data (gan_toy.py: lambda = 0.1, n_critic = 5, batch 256, Adam "
           "beta1 = 0.5) with the tuned toy settings of configs/toy/ring.toml (docs/TOY_SUITE.md), shortened to "
           "fit 90 s on one idle core. The default of `ganlab train`",
    deviations="From gan_toy.py: MLP 64 x 3 instead of 512 x 3 (~10x fewer FLOPs per step), Adam lr 1e-3 "
               "instead of 1e-4 and beta2 0.999 instead of 0.9 (faster sharpening, a smaller halo), a generator "
               "EMA with decay 0.995 (Yazici et al. 2019), and one CPU thread: small networks gain little from a "
               "second thread, and a single thread keeps the run fast when another job uses the cores "
               "(docs/TRAINING.md, 'The default run').",
))
_register(Recipe(
    name="sngan",
    fields={**_PLAIN, "loss": "ns", "spectral_norm": True, "optimizer": "adam", "lr_g": 2e-4,
            "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1},
    source="Miyato et al. 2018 (arXiv:1802.05957): spectral normalization on every critic layer, one "
           "power iteration per update, the standard non-saturating objective (Sec. 4), Adam setting C "
           "of Table 1 (alpha = 2e-4, beta1 = 0.5, beta2 = 0.999, n_dis = 1); lecture "
           "001_b56ff7e156eb3bba.txt 'Spectral Normalization GAN' (Algorithm 1)",
    deviations="The SN-GAN paper sweeps six Adam settings (Table 1); ganlab picks C, the DCGAN-style "
               "one. The hinge loss with the paper's ResNet setting is the recipe `sngan-hinge`.",
))
_register(Recipe(
    name="sngan-hinge",
    fields={**_PLAIN, "loss": "hinge", "spectral_norm": True, "optimizer": "adam", "lr_g": 2e-4,
            "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5},
    source="Miyato et al. 2018 (arXiv:1802.05957), hinge loss (Eq. 16, after Lim & Ye 2017) with Adam "
           "alpha = 2e-4, beta1 = 0, beta2 = 0.9, n_dis = 5, as in the authors' configuration "
           "(pfnet-research/sngan_projection, configs/sn_cifar10_unconditional.yml); lecture "
           "001_b56ff7e156eb3bba.txt 'Spectral Normalization GAN'",
))
_register(Recipe(
    name="lsgan",
    fields={**_PLAIN, "loss": "lsgan", "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5,
            "beta2": 0.999, "n_critic": 1},
    source="Mao et al. 2017, LSGAN (arXiv:1611.04076): the least-squares objective with the 0-1 coding "
           "a = 0, b = c = 1 (Eq. 9), one discriminator step per generator step, Adam with beta1 = 0.5 and "
           "the learning rate 2e-4 it uses for its handwritten-character data (1e-3 for the scene data "
           "sets; Sec. 4), as in the authors' code (xudonmao/LSGAN: train_chn.py 2e-4, train_lsun.py 1e-3)",
    deviations="Of the paper's two learning rates ganlab takes 2e-4, the one for small grey images (the "
               "digits are closest to them); --lr_g=1e-3 --lr_d=1e-3 gives the scene setting. beta2 is "
               "Adam's default 0.999, as in the authors' code (TensorFlow's default). The authors' code sums the squared errors over "
               "the batch (tf.nn.l2_loss); ganlab takes the mean of Eq. 2, which only rescales the gradient "
               "(Adam is nearly invariant to it); it draws batches of 64, ganlab keeps the toy batch 256. The "
               "codes a, b, c are the losses' defaults (0, 1, 1) and are not config fields.",
))

for _name in DIVERGENCES:
    _register(Recipe(
        name=f"fgan-{_name}",
        fields={**_PLAIN, "loss": "fgan", "divergence": _name, "optimizer": "adam", "lr_g": 2e-4,
                "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1},
        source=f"Nowozin et al. 2016, f-GAN (arXiv:1606.00709): the saddle point F(theta, omega) for "
               f"the {_name!r} divergence with the output activation of Table 6, one critic step per "
               f"generator step (Algorithm 1 updates both players every iteration), Adam alpha = 2e-4, "
               f"beta1 = 0.5 (Sec. 4); lecture 002_12706ff463d72203.txt 'f-divergence family' "
               f"(variational divergence estimation)",
        deviations="Algorithm 1 of f-GAN takes simultaneous gradient steps for both players; ganlab "
                   "alternates (critic first, then the generator, as every other recipe). The paper's "
                   "MNIST batch is 4096; ganlab keeps the toy batch 256. The generator minimizes "
                   "F(theta, omega) itself; --fgan_non_saturating=true gives the paper's alternative "
                   "update (maximize E g_f(V)).",
    ))
del _name


def get_recipe(name: str) -> Recipe:
    """The recipe registered as `name`; ValueError listing the known names otherwise."""
    if name not in RECIPES:
        import difflib

        close = difflib.get_close_matches(str(name), list(RECIPES), n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise ValueError(f"unknown recipe {name!r}{hint}; expected one of {', '.join(RECIPES)}")
    return RECIPES[name]


def recipe_config(name: str, base: TrainConfig | None = None) -> TrainConfig:
    """`base` (default `TrainConfig()`) with recipe `name`'s fields applied and `recipe` set to `name`."""
    recipe = get_recipe(name)
    base = TrainConfig() if base is None else base
    return replace(base, **recipe.fields, recipe=name)


def resolve_config(
    *,
    recipe: str | None = None,
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
    default: str = BASE_RECIPE,
    **values: Any,
) -> TrainConfig:
    """TrainConfig defaults < recipe < TOML file < `values` (typed) < `overrides` (`--key=value` strings).

    The recipe is the one named by the highest layer that names one (`overrides`, `values`,
    `recipe`, the TOML file), else `default` (`BASE_RECIPE`, `wgan-gp-toy`, whose values are the TrainConfig
    defaults; `ganlab train` passes `DEFAULT_RECIPE`, `wgan-gp-quick`). Its fields are applied first, then the TOML file's
    keys, then `values` (what the CLI's own flags carry: steps, seed, data, ...) and `overrides`.
    Raises ValueError for unknown recipes, unknown keys and impossible values, and
    FileNotFoundError for a missing config file.
    """
    overrides = list(overrides)
    flag_values = parse_overrides(overrides)  # validates keys early, before any work
    toml_values = read_toml(config_file) if config_file is not None else {}
    name = (flag_values.get("recipe") or values.get("recipe") or recipe or toml_values.get("recipe")
            or default)
    config = recipe_config(name)
    layered = {k: v for k, v in toml_values.items() if k != "recipe"}
    if layered:
        config = from_dict(layered, base=config, where=f"config file {str(config_file)!r}")
    typed = {k: v for k, v in values.items() if v is not None and k != "recipe"}
    if typed:
        config = from_dict(typed, base=config, where="arguments")
    return apply_overrides(config, overrides)
