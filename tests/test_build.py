"""build(config) -> Setup: every name checked against its layer's registry, the model's fields completed, the
objects the loop needs built once, from the run's seed."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import ganlab.build as build_mod
from ganlab.build import build, model_fields, resolve_device, stream_seeds
from ganlab.config import TrainConfig, apply_overrides
from ganlab.data import DATASETS, TensorDataset
from ganlab.divergences import DIVERGENCES
from ganlab.lipschitz import SpectralNorm
from ganlab.losses import OBJECTIVES, fgan_d_loss, fgan_g_loss
from ganlab.models import MODELS, MLPFields
from ganlab.recipes import RECIPES, resolve_config
from ganlab.train import train

SMALL = ["--model.g_width=8", "--model.d_width=8", "--eval_samples=10"]


def _config(*overrides: str) -> TrainConfig:
    return resolve_config(overrides=[*SMALL, *overrides])


@pytest.mark.parametrize("override, message", [
    ("--recipe=wgan-gpp", "unknown recipe 'wgan-gpp' (did you mean 'wgan-gp'"),
    ("--data=rings", "unknown data set 'rings' (did you mean 'ring'"),
    ("--loss=hinged", "unknown objective (loss) 'hinged' (did you mean 'hinge'"),
    ("--divergence=pearsonn", "unknown divergence 'pearsonn' (did you mean 'pearson'"),
    ("--model=dcgn", "unknown model family 'dcgn' (did you mean 'dcgan'"),
    ("--model.gwidth=3", "unknown model field(s) 'gwidth' (did you mean 'g_width'"),
    ("--model.g_width=0", "model.g_width must be an integer >= 1, got 0"),
    ("--model.g_width=1.5", "model.g_width must be an integer >= 1, got 1.5"),
    ("--model.activation=gelu2", "model.activation: expected one of"),
    ("--model.d_norm=groupnorm", "model.d_norm: expected one of"),
    ("--data_params.radius=-1", "radius"),
    ("--data_params.bogus=1", "unknown parameter(s) ['bogus'] for data set 'ring'"),
])
def test_unknown_names_are_refused_with_the_valid_ones(override, message):
    with pytest.raises(ValueError) as exc:
        build(_config(override))  # a recipe is looked up when the config is resolved, every other name here
    assert message in str(exc.value)


def test_the_messages_list_every_valid_name():
    for override, registry in (("--data=x", DATASETS), ("--loss=x", OBJECTIVES), ("--model=x", MODELS),
                               ("--recipe=x", RECIPES), ("--divergence=x", DIVERGENCES)):
        with pytest.raises(ValueError) as exc:
            build(_config(override))
        assert "'x'" in str(exc.value)
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):  # build's own check, past resolve_config
        build(dataclasses.replace(TrainConfig(), recipe="nope"))
        assert all(name in str(exc.value) for name in registry), override


@pytest.mark.parametrize("extra, message", [
    (["--model.d_norm=batchnorm", "--gp_weight=1"], "cannot take a gradient penalty"),
    (["--model.d_norm=batchnorm", "--gp_weight=0", "--spectral_norm"], "cannot be spectrally normalized"),
])
def test_a_batch_dependent_critic_is_refused_with_a_per_sample_constraint(extra, message):
    with pytest.raises(ValueError, match=message):
        build(_config(*extra))
    assert build(_config("--model.d_norm=batchnorm", "--gp_weight=0")).critic is not None


def test_the_setup_is_complete_and_seeded():
    config = _config("--model.g_depth=2", "--ema=0.9", "--out=somewhere")
    setup = build(config)
    # every model field is filled in from the family's defaults, the run folder resolved
    assert setup.config.model == {"family": "mlp", **dataclasses.asdict(MLPFields(g_width=8, d_width=8, g_depth=2))}
    assert setup.config.out == "somewhere" and build(_config()).config.out == "runs/wgan-gp-toy-ring-s0"
    assert setup.latent_dim == 2 and setup.dataset.shape == (2,) and setup.ema is not None
    assert setup.closed_form  # the default critic: a ReLU MLP with a gradient penalty
    # the same seed builds the same networks; the global RNG is left alone
    state = torch.random.get_rng_state()
    again = build(config)
    assert torch.equal(state, torch.random.get_rng_state())
    for a, b in zip(setup.critic.state_dict().values(), again.critic.state_dict().values()):
        assert torch.equal(a, b)
    other = build(_config("--seed=1"))
    assert not torch.equal(next(other.generator.parameters()), next(setup.generator.parameters()))


def test_closed_form_only_where_it_applies():
    assert not build(_config("--gp_weight=0")).closed_form            # no penalty
    assert not build(_config("--model.activation=tanh")).closed_form  # a curved activation
    assert not build(_config("--spectral_norm")).closed_form          # a reparametrized critic
    assert build(_config("--model.activation=leaky_relu")).closed_form


def test_the_objective_is_the_registry_entry_with_the_divergence_bound():
    setup = build(_config("--recipe=fgan-kl", "--fgan_non_saturating=true"))
    assert setup.objective.d_loss.func is fgan_d_loss and setup.objective.g_loss.func is fgan_g_loss
    assert setup.objective.d_loss.keywords == {"divergence": DIVERGENCES["kl"]}
    assert setup.objective.g_loss.keywords == {"divergence": DIVERGENCES["kl"], "non_saturating": True}
    plain = build(_config("--recipe=wgan"))
    assert plain.objective.d_loss is OBJECTIVES["wasserstein"].d_loss  # nothing to bind: the function itself


def test_lipschitz_methods_are_applied():
    sn = build(_config("--recipe=sngan"))
    layers = [m for m in sn.critic.modules() if isinstance(m, nn.Linear)]
    assert layers and all(isinstance(m.parametrizations.weight[0], SpectralNorm) for m in layers)
    clip = build(_config("--recipe=wgan"))
    assert clip.lipschitz.clip_value == 0.01 and clip.lipschitz.gp_weight == 0
    assert isinstance(clip.opt_d, torch.optim.RMSprop)


def test_stream_seeds_are_distinct_and_rank_specific():
    s0, s1 = stream_seeds(0), stream_seeds(0, rank=1)
    assert len(set(s0.values())) == 5
    assert (s0["init"], s0["eval"]) == (s1["init"], s1["eval"])  # shared: same weights, same evaluation
    assert all(s0[k] != s1[k] for k in ("data", "latent", "penalty"))
    assert all(0 <= v < 2 ** 63 for v in s0.values())


def test_devices_are_checked():
    with pytest.raises(ValueError, match="'cuda:abc' is not a device"):
        resolve_device("cuda:abc")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            build(_config("--device=cuda"))


def test_a_new_data_set_and_model_family_are_one_registry_line_each(monkeypatch, tmp_path):
    """The seams: an in-memory data set of any shape and a family with its own fields plug in by name."""

    @dataclasses.dataclass(frozen=True)
    class TinyFields:
        latent_dim: int = 3
        hidden: int = 4

    def build_tiny(fields, shape):
        n = int(torch.tensor(shape).prod())
        generator = nn.Sequential(nn.Linear(fields.latent_dim, n), nn.Unflatten(1, shape))
        critic = nn.Sequential(nn.Flatten(), nn.Linear(n, fields.hidden), nn.ReLU(), nn.Linear(fields.hidden, 1),
                               nn.Flatten(0))
        return generator, critic

    images = torch.rand(20, 1, 4, 4)
    monkeypatch.setitem(DATASETS, "tiny-images", lambda: TensorDataset(images, name="tiny-images"))
    monkeypatch.setitem(MODELS, "tiny", MODELS["mlp"].__class__(TinyFields, build_tiny, "a test family"))
    setup = build(apply_overrides(TrainConfig(), ["--data=tiny-images", "--model=tiny", "--model.hidden=5"]))
    assert setup.config.model == {"family": "tiny", "latent_dim": 3, "hidden": 5}
    assert setup.generator(torch.zeros(2, 3)).shape == (2, 1, 4, 4)
    assert setup.critic(images[:2]).shape == (2,)
    assert not setup.closed_form
    # and the loop trains it: an image grid at each evaluation, the critic's estimate in metrics.jsonl
    summary = train(dataclasses.replace(setup.config, steps=3, eval_every=2, batch_size=4, out=str(tmp_path / "r"),
                                        gp_weight=1.0), progress=False)
    assert summary["steps"] == 3 and summary["num_modes"] is None and "critic_w" in summary
    assert (tmp_path / "r" / "samples" / "step_0000002.png").read_bytes()[:4] == b"\x89PNG"
