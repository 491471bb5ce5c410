"""Recipes resolve to the papers' defaults; resolution order defaults < recipe < TOML < flags."""

from pathlib import Path

import pytest

from ganlab.build import model_fields
from ganlab.config import TrainConfig
from ganlab.divergences import DIVERGENCES
from ganlab.recipes import RECIPES, get_recipe, recipe_config, resolve_config

# The papers' values, written out here independently of ganlab.recipes.
PAPER = {
    # Arjovsky et al. 2017, Algorithm 1: alpha = 5e-5, c = 0.01, m = 64, n_critic = 5, RMSProp.
    "wgan": dict(loss="wasserstein", optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, clip_value=0.01, batch_size=64,
                 n_critic=5, gp_weight=0.0, spectral_norm=False),
    # Gulrajani et al. 2017, Algorithm 1: lambda = 10, n_critic = 5, Adam alpha = 1e-4, beta = (0, 0.9).
    "wgan-gp": dict(loss="wasserstein", optimizer="adam", lr_g=1e-4, lr_d=1e-4, beta1=0.0, beta2=0.9,
                    gp_weight=10.0, n_critic=5, clip_value=None, spectral_norm=False, batch_size=256),
    # The WGAN-GP toy script (gan_toy.py): lambda 0.1, Adam 1e-4, beta (0.5, 0.9), batch 256, 5 critic iters.
    "wgan-gp-toy": dict(loss="wasserstein", optimizer="adam", lr_g=1e-4, lr_d=1e-4, beta1=0.5, beta2=0.9,
                        gp_weight=0.1, n_critic=5, batch_size=256, clip_value=None, spectral_norm=False),
    # The default run: the toy script's objective (lambda 0.1, n_critic 5, batch 256, beta1 0.5) with the tuned
    # toy settings of configs/toy/ring.toml (lr 1e-3, beta2 0.999, EMA 0.995, MLP 64 wide), one thread.
    "wgan-gp-quick": dict(loss="wasserstein", optimizer="adam", lr_g=1e-3, lr_d=1e-3, beta1=0.5, beta2=0.999,
                          gp_weight=0.1, n_critic=5, batch_size=256, ema=0.995, threads=1, clip_value=None,
                          spectral_norm=False),
    # Goodfellow et al. 2014 (k = 1), with DCGAN's Adam (Radford et al. 2016): lr 2e-4, beta1 0.5.
    "gan": dict(loss="minimax", n_critic=1, optimizer="adam", lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
                gp_weight=0.0, clip_value=None, spectral_norm=False),
    "nsgan": dict(loss="ns", n_critic=1, optimizer="adam", lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
                  gp_weight=0.0, clip_value=None, spectral_norm=False),
    # Lin et al. 2018 (PacGAN), PacDCGAN2: the non-saturating GAN whose discriminator reads 2 samples at once,
    # DCGAN's Adam (lr 2e-4, beta1 0.5).
    "pacgan": dict(loss="ns", n_critic=1, pack=2, optimizer="adam", lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
                   gp_weight=0.0, clip_value=None, spectral_norm=False),
    # Miyato et al. 2018, Table 1 setting C, standard (non-saturating) objective, SN on the critic.
    "sngan": dict(loss="ns", spectral_norm=True, optimizer="adam", lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
                  n_critic=1, gp_weight=0.0, clip_value=None),
    # SN-GAN hinge with the authors' ResNet configuration: alpha 2e-4, beta (0, 0.9), n_dis 5.
    "sngan-hinge": dict(loss="hinge", spectral_norm=True, optimizer="adam", lr_g=2e-4, lr_d=2e-4, beta1=0.0,
                        beta2=0.9, n_critic=5, gp_weight=0.0, clip_value=None),
    # Mao et al. 2017 (LSGAN), Eq. 9 coding; Adam beta1 0.5, lr 2e-4 (their handwritten-character setting), k = 1.
    "lsgan": dict(loss="lsgan", optimizer="adam", lr_g=2e-4, lr_d=2e-4, beta1=0.5, n_critic=1, gp_weight=0.0,
                  clip_value=None, spectral_norm=False),
}
# Nowozin et al. 2016 (f-GAN): Adam alpha 2e-4, beta1 0.5, one critic step per generator step.
FGAN = dict(loss="fgan", optimizer="adam", lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, n_critic=1,
            gp_weight=0.0, clip_value=None, spectral_norm=False, fgan_non_saturating=False)


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_resolves_to_the_paper_defaults(name):
    config = recipe_config(name)
    assert isinstance(config, TrainConfig) and config.recipe == name
    expected = PAPER.get(name) or {**FGAN, "divergence": name.removeprefix("fgan-")}
    for key, value in expected.items():
        assert getattr(config, key) == value, (name, key)
    assert get_recipe(name).source  # every recipe names its source


def test_recipe_set_is_complete():
    assert set(PAPER) <= set(RECIPES)
    assert {f"fgan-{d}" for d in DIVERGENCES} <= set(RECIPES)
    assert set(RECIPES) == set(PAPER) | {f"fgan-{d}" for d in DIVERGENCES}


# The default values of the two "Algorithm 1" boxes of lecture 001_b56ff7e156eb3bba.txt, copied here so that the
# test reads nothing outside the repository:
#   WGAN (line 60):    alpha = 0.00005, c = 0.01, m = 64, n_critic = 5 (RMSProp)
#   WGAN-GP (line 168): lambda = 10, n_critic = 5, alpha = 0.0001, beta_1 = 0, beta_2 = 0.9 (Adam)
LECTURE_WGAN = {"lr": 0.00005, "clip_value": 0.01, "batch_size": 64, "n_critic": 5, "optimizer": "rmsprop"}
LECTURE_WGAN_GP = {"gp_weight": 10.0, "n_critic": 5, "lr": 0.0001, "beta1": 0.0, "beta2": 0.9, "optimizer": "adam"}


@pytest.mark.parametrize("name, box", [("wgan", LECTURE_WGAN), ("wgan-gp", LECTURE_WGAN_GP)])
def test_wgan_recipes_match_the_lecture_algorithms(name, box):
    config = recipe_config(name)
    for key, value in box.items():
        if key == "lr":
            assert (config.lr_d, config.lr_g) == (value, value), name
        else:
            assert getattr(config, key) == value, (name, key)


def test_trainconfig_defaults_are_the_default_recipe():
    assert recipe_config("wgan-gp-toy") == TrainConfig()
    assert resolve_config() == TrainConfig() and TrainConfig().recipe == "wgan-gp-toy"
    # the toy script's networks (gan_toy.py: MLP 512 x 3 ReLU, 2-D noise) are the MLP family's defaults
    fields = model_fields(TrainConfig())
    assert (fields.g_width, fields.d_width, fields.g_depth, fields.d_depth, fields.latent_dim, fields.activation) == (
        512, 512, 3, 3, 2, "relu")


def test_resolution_order(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('recipe = "wgan"\nlr_d = 3e-4\nbatch_size = 32\nseed = 5\n')
    # recipe over defaults, TOML over recipe
    c = resolve_config(config_file=toml)
    assert (c.recipe, c.optimizer, c.clip_value, c.lr_d, c.lr_g, c.batch_size, c.seed) == (
        "wgan", "rmsprop", 0.01, 3e-4, 5e-5, 32, 5)
    # typed flags over TOML, --key=value over everything
    c = resolve_config(config_file=toml, seed=7, overrides=["--lr_d=4e-4", "--seed=8"])
    assert (c.lr_d, c.seed, c.batch_size) == (4e-4, 8, 32)
    # a recipe named by a flag replaces the TOML's recipe, but the TOML's own keys still apply on top
    c = resolve_config(config_file=toml, recipe="sngan")
    assert (c.recipe, c.spectral_norm, c.clip_value, c.lr_d, c.optimizer) == ("sngan", True, None, 3e-4, "adam")
    c = resolve_config(config_file=toml, overrides=["--recipe=gan"])
    assert (c.recipe, c.loss, c.lr_d) == ("gan", "minimax", 3e-4)


def test_unknown_recipe_refused_with_suggestion():
    with pytest.raises(ValueError, match="unknown recipe 'wgangp'.*did you mean 'wgan-gp'"):
        get_recipe("wgangp")
    with pytest.raises(ValueError, match="unknown recipe"):
        resolve_config(recipe="dcgan-xl")


def test_unknown_override_refused_before_anything_else(tmp_path):
    with pytest.raises(ValueError, match="'n_critc'"):
        resolve_config(config_file=tmp_path / "missing.toml", overrides=["--n_critc=2"])


@pytest.mark.parametrize("name, g_width, g_depth, steps, gp_weight, beta2, decay",
                         [("ring", 64, 3, 18000, 0.1, 0.999, ("none", 0.0)),
                          ("grid", 128, 4, 27000, 1.0, 0.999, ("linear", 0.667))])
def test_shipped_toy_configs_resolve_to_the_documented_settings(name, g_width, g_depth, steps, gp_weight, beta2,
                                                                 decay):
    """configs/toy/*.toml (the settings of docs/TOY_SUITE.md) load, validate and keep the toy script's objective."""
    path = Path(__file__).resolve().parents[1] / "configs" / "toy" / f"{name}.toml"
    cfg = resolve_config(config_file=path)
    assert (cfg.recipe, cfg.data, cfg.loss, cfg.n_critic) == ("wgan-gp-toy", name, "wasserstein", 5)
    assert cfg.gp_weight == gp_weight
    fields = model_fields(cfg)
    assert (fields.g_width, fields.d_width, fields.g_depth, fields.d_depth, cfg.steps) == (g_width, 64, g_depth, 3, steps)
    assert (cfg.lr_g, cfg.lr_d, cfg.ema, cfg.beta1, cfg.beta2) == (1e-3, 1e-3, 0.995, 0.5, beta2)
    assert (cfg.lr_decay, cfg.lr_decay_start) == decay


def test_lsgan_recipe_trains_the_least_squares_game_of_mao_eq9():
    """The recipe's objective is the 0-1 coding of Eq. 9 (a = 0, b = c = 1), and every departure from the paper
    (the second learning rate, beta2, the batch) is written down."""
    import torch

    from ganlab.losses import OBJECTIVES

    config = recipe_config("lsgan")
    objective = OBJECTIVES[config.loss]
    d_real, d_fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    # 1/2 mean((D(x) - 1)^2) + 1/2 mean((D(G(z)) - 0)^2) = 1/4 + 1;  1/2 mean((D(G(z)) - 1)^2) = 1/2
    assert objective.d_loss(d_real, d_fake).item() == 0.25 + 1.0
    assert objective.g_loss(d_fake).item() == 0.5
    recipe = get_recipe("lsgan")
    assert "1611.04076" in recipe.source and "Eq. 9" in recipe.source
    assert all(word in recipe.deviations for word in ("1e-3", "beta2", "batch"))

