"""TrainConfig: TOML round trip (the [model] table included), --key=value coercion, unknown keys and impossible
values refused by name. Names that refer to registries (data, loss, model fields, ...) are checked by
ganlab.build: tests/test_build.py."""

import sys
from dataclasses import fields

import pytest

from ganlab.config import (
    TrainConfig,
    apply_overrides,
    config_fields,
    from_dict,
    load_toml,
    parse_overrides,
    read_toml,
    save_toml,
    to_toml,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _unusual() -> TrainConfig:
    """A config far from the defaults in every type of field."""
    return TrainConfig(
        recipe="wgan", data="parallel-lines", data_params={"theta": 0.25}, steps=7, seed=3, out="runs/x y",
        batch_size=64, model={"family": "mlp", "latent_dim": 5, "g_width": 17, "g_depth": 1, "d_width": 9,
                              "d_depth": 0, "activation": "elu", "g_norm": "batchnorm", "d_norm": "layernorm"},
        loss="fgan", divergence="reverse-kl", fgan_non_saturating=True,
        n_critic=2, gp_weight=0.0, one_sided_gp=True, clip_value=0.01, spectral_norm=True, optimizer="rmsprop",
        lr_g=5e-5, lr_d=3.5e-4, beta1=0.5, beta2=0.999, ema=0.999, log_every=3, eval_every=0, eval_samples=100,
        ckpt_every=0, device="cpu", threads=1, eval_features="classifier", eval_weights="weights/my \"cnn\" é.safetensors",
    )


def test_toml_round_trip(tmp_path):
    for config in (TrainConfig(), _unusual(), TrainConfig(data="ring", data_params={"num_modes": 5, "std": 0.02})):
        path = tmp_path / "c.toml"
        save_toml(config, path)
        assert load_toml(path) == config


def test_to_toml_is_read_by_tomllib_as_the_field_values():
    """An independent TOML parser reads back every field (None is written as the string "none")."""
    config = _unusual()
    parsed = tomllib.loads(to_toml(config))
    assert set(parsed) == set(config_fields())
    for f in fields(config):
        expected = getattr(config, f.name)
        assert parsed[f.name] == ("none" if expected is None else expected), f.name


def test_none_round_trips_through_toml(tmp_path):
    config = TrainConfig(clip_value=None)
    save_toml(config, tmp_path / "c.toml")
    assert load_toml(tmp_path / "c.toml").clip_value is None


def test_override_coercion():
    values = parse_overrides([
        "--lr_d=1e-4", "--n-critic", "3", "--spectral_norm", "--one_sided_gp=false", "--clip_value=none",
        "--data_params.theta=0.5", "--model.activation=leaky_relu", "--gp_weight", "0.1", "--ema=0",
        "--model.g_width", "64",
    ])
    assert values == {
        "lr_d": 1e-4, "n_critic": 3, "spectral_norm": True, "one_sided_gp": False, "clip_value": None,
        "data_params": {"theta": 0.5}, "model": {"activation": "leaky_relu", "g_width": 64}, "gp_weight": 0.1,
        "ema": 0.0,
    }
    assert isinstance(values["n_critic"], int) and isinstance(values["lr_d"], float)


def test_apply_overrides_returns_a_new_validated_config():
    base = TrainConfig()
    c = apply_overrides(base, ["--data=parallel-lines", "--data_params.theta=-1.5", "--batch_size=32"])
    assert (c.data, c.data_params, c.batch_size) == ("parallel-lines", {"theta": -1.5}, 32)
    assert base.batch_size == 256  # frozen original untouched
    c2 = apply_overrides(c, ["--data=ring"])  # the old dataset's parameters are dropped
    assert c2.data_params == {}


def test_model_table_merges_and_a_new_family_starts_afresh(tmp_path):
    """A [model] entry replaces one field and keeps the others; naming another family drops the old family's
    fields (they belong to it), as changing `data` drops the old data_params."""
    base = apply_overrides(TrainConfig(), ["--model.g_width=64", "--model.d_depth=2"])
    assert base.model == {"family": "auto", "g_width": 64, "d_depth": 2}
    c = apply_overrides(base, ["--model.g_width=32"])
    assert c.model == {"family": "auto", "g_width": 32, "d_depth": 2}
    assert apply_overrides(base, ["--model=other"]).model == {"family": "other"}
    assert apply_overrides(base, ["--model.family=other", "--model.width=8"]).model == {"family": "other", "width": 8}
    path = tmp_path / "c.toml"
    path.write_text('steps = 5\n[model]\ng_width = 16\n')
    loaded = load_toml(path, base=base)
    assert loaded.steps == 5 and loaded.model == {"family": "auto", "g_width": 16, "d_depth": 2}
    assert to_toml(loaded).splitlines()[-4:] == ["[model]", '"family" = "auto"', '"g_width" = 16', '"d_depth" = 2']


def test_float_fields_given_as_ints_become_floats():
    c = TrainConfig(gp_weight=1, lr_d=1)
    assert isinstance(c.gp_weight, float) and isinstance(c.lr_d, float)
    assert "gp_weight = 1.0" in to_toml(c)


def test_unknown_key_refused_with_name_and_suggestion():
    with pytest.raises(ValueError) as exc:
        apply_overrides(TrainConfig(), ["--lr=1e-3"])
    msg = str(exc.value)
    assert "'lr'" in msg and "lr_d" in msg and "lr_g" in msg
    with pytest.raises(ValueError, match="n_critics.*did you mean 'n_critic'"):
        apply_overrides(TrainConfig(), ["--n_critics=3"])
    with pytest.raises(ValueError, match="'bogus'"):
        from_dict({"bogus": 1})


def test_unknown_key_in_toml_refused(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('recipe = "wgan"\nbatchsize = 64\n')
    with pytest.raises(ValueError, match="'batchsize'.*did you mean 'batch_size'"):
        read_toml(p)


def test_missing_and_invalid_toml(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        load_toml(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_toml(bad)


@pytest.mark.parametrize("override, named", [
    ("--lr_d=-1e-4", "lr_d"),
    ("--lr_g=0", "lr_g"),
    ("--lr_d=nan", "lr_d"),
    ("--n_critic=0", "n_critic"),
    ("--clip_value=0", "clip_value"),
    ("--clip_value=-0.01", "clip_value"),
    ("--optimizer=sgd", "optimizer"),
    ("--beta1=1.0", "beta1"),
    ("--beta2=-0.1", "beta2"),
    ("--ema=1", "ema"),
    ("--gp_weight=-10", "gp_weight"),
    ("--batch_size=0", "batch_size"),
    ("--steps=-5", "steps"),
    ("--eval_samples=0", "eval_samples"),
    ("--device=tpu", "device"),
    ("--lr_g=1e-4x", "lr_g"),
    ("--steps=1.5", "steps"),
    ("--spectral_norm=maybe", "spectral_norm"),
    ("--eval_features=fid", "eval_features"),
    ("--eval_weights=weights.pth", "eval_weights"),  # with eval_features = auto: a file without a use
])
def test_impossible_values_refused_naming_them(override, named):
    with pytest.raises(ValueError) as exc:
        apply_overrides(TrainConfig(), [override])
    msg = str(exc.value)
    assert named in msg
    value = override.split("=", 1)[1]
    if named != "bogus":  # an unknown parameter is named; a bad value is shown as given or as parsed
        shown = [value]
        try:
            shown.append(repr(float(value)))
        except ValueError:
            pass
        assert any(v in msg for v in shown), msg


def test_a_classifier_for_evaluation_needs_its_weight_file():
    with pytest.raises(ValueError, match="config field 'eval_weights': expected the path of a `ganlab classifier` "
                                         "weight file with eval_features = 'classifier', got ''"):
        apply_overrides(TrainConfig(), ["--eval_features=classifier"])
    config = apply_overrides(TrainConfig(), ["--eval_features=classifier", "--eval_weights=mine.safetensors"])
    assert (config.eval_features, config.eval_weights) == ("classifier", "mine.safetensors")
    assert apply_overrides(TrainConfig(), ["--eval_features=inception-v3"]).eval_weights == ""  # the env variable


@pytest.mark.parametrize("field_name, value", [("steps", "10"), ("steps", True), ("lr_d", "1e-4"),
                                                ("spectral_norm", 1), ("data_params", [1]), ("model", "mlp"),
                                                ("model", {"family": 3})])
def test_wrong_types_refused(field_name, value):
    with pytest.raises(ValueError, match=field_name):
        TrainConfig(**{field_name: value})


def test_missing_override_value():
    with pytest.raises(ValueError, match="--steps needs a value"):
        parse_overrides(["--steps"])
    with pytest.raises(ValueError, match="--model.g_width needs a value"):
        parse_overrides(["--model.g_width"])
    with pytest.raises(ValueError, match="'steps.x'"):  # only tables take dotted names
        parse_overrides(["--steps.x=3"])
    with pytest.raises(ValueError, match="unexpected argument"):
        parse_overrides(["steps=3"])


def test_default_run_dir():
    assert str(TrainConfig(seed=4).run_dir) == "runs/wgan-gp-toy-ring-s4"
    assert str(TrainConfig(out="x/y").run_dir) == "x/y"
