"""`TrainConfig`: every knob of a training run, as one frozen dataclass with flat fields.

A run is fully described by its config: it is written to `config.toml` in the run folder and into
every checkpoint, and `ganlab train --resume` reads it back. Values come, in increasing priority,
from the field defaults below (WGAN-GP on the 8-mode ring, recipe `wgan-gp-toy`), a named recipe (`ganlab.recipes`), a
TOML file and `--key=value` flags; the layering lives in `ganlab.recipes.resolve_config`.

This is the one place where strings become choices: `loss`, `divergence`, `data`, `optimizer`,
`activation` and the norms are validated here, by name, and every impossible value raises
ValueError naming it and what was expected. Unknown keys are refused with the closest valid names
(difflib), never silently ignored.
"""

from __future__ import annotations

import difflib
import json
import math
import sys
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable

from ganlab.files import atomic_write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "TrainConfig",
    "LOSSES",
    "OPTIMIZERS",
    "LR_DECAYS",
    "CRITIC_BACKWARDS",
    "DEVICES",
    "config_fields",
    "load_toml",
    "read_toml",
    "to_toml",
    "save_toml",
    "from_dict",
    "from_saved_run",
    "PREDATED_FIELDS",
    "apply_overrides",
    "parse_overrides",
]

#: Objectives by name (functions in `ganlab.losses`): the critic loss, then the generator loss.
LOSSES: tuple[str, ...] = ("minimax", "ns", "wasserstein", "fgan", "hinge")
OPTIMIZERS: tuple[str, ...] = ("adam", "rmsprop")
#: Learning-rate schedules: constant, or linear decay to 0 over `steps` (the WGAN-GP authors' CIFAR-10 scripts).
LR_DECAYS: tuple[str, ...] = ("none", "linear")
#: How a critic step is differentiated (`TrainConfig.critic_backward`).
CRITIC_BACKWARDS: tuple[str, ...] = ("auto", "autograd")
DEVICES: tuple[str, ...] = ("cpu", "cuda", "mps")


@dataclass(frozen=True)
class TrainConfig:
    """All settings of one training run. Defaults: WGAN-GP (lecture 001_b56ff7e156eb3bba.txt, "Wasserstein
    GAN with Gradient Penalty", Algorithm 1) as its authors' toy script runs it (gan_toy.py: MLP 512 x 3,
    batch 256, n_critic 5, lambda 0.1, Adam 1e-4 with betas (0.5, 0.9)), on the 8-mode ring: the recipe
    `wgan-gp-toy`, what `ganlab train` runs without arguments.

    What to train:
        recipe: the named set of defaults this config started from (`ganlab.recipes.RECIPES`).
        data: toy dataset name (`ganlab.data.toy.TOY_DATASETS`).
        data_params: keyword arguments of the dataset (e.g. {"theta": 0.5} for `parallel-lines`).
        steps: number of generator updates.
        seed: seeds model initialization and the data, latent and penalty generators.
        out: run folder; "" means `runs/<recipe>-<data>-s<seed>`.
    Networks (`ganlab.models.mlp`):
        batch_size (m), latent_dim, g_width, g_depth, d_width, d_depth (hidden layers), activation,
        g_norm, d_norm ("none" | "batchnorm" | "layernorm").
    Objective:
        loss: "minimax" | "ns" | "wasserstein" | "fgan" | "hinge".
        divergence: f-divergence name for loss="fgan" (`ganlab.divergences.DIVERGENCES`).
        fgan_non_saturating: generator maximizes E g_f(v) instead of minimizing -E f*(g_f(v)).
        n_critic: critic updates per generator update.
        gp_weight: gradient-penalty weight lambda (0 = no penalty).
        one_sided_gp: penalize only gradient norms above 1.
        clip_value: weight clipping c applied after every critic step (None = no clipping).
        spectral_norm: spectral normalization on every critic layer.
    Optimization:
        optimizer: "adam" | "rmsprop"; lr_g, lr_d; beta1, beta2 (Adam only).
        lr_decay: "none" | "linear": both learning rates times ``1 - (t - 1) / steps`` at generator step
            ``t`` (the WGAN-GP authors' CIFAR-10 schedule; ends at ``lr / steps``).
        lr_decay_start: with lr_decay = "linear", the fraction s of the run at the full rates before the
            linear decay starts: factor 1 up to step s·steps, then ``1 - (t - 1 - s·steps) / (steps - s·steps)``
            (CycleGAN's constant-then-linear schedule); 0 = WGAN-GP's decay over the whole run.
        ema: decay of an exponential moving average of the generator's weights (0 = off).
    Bookkeeping:
        log_every, eval_every, ckpt_every (generator steps; eval/ckpt 0 = only at the end),
        eval_samples (2500, the VEEGAN/PacGAN protocol), device, threads (0 = torch's default).
        critic_backward: "auto": a gradient-penalty step of a (leaky) ReLU MLP critic without normalization or
            spectral norm takes its gradients in closed form (`ganlab.models.mlp_backward`), every other
            critic step autograd; "autograd": autograd always (the same gradients up to float rounding; runs
            made before the closed form existed are reproduced with it).
    """

    # what to train
    recipe: str = "wgan-gp-toy"
    data: str = "ring"
    data_params: dict[str, Any] = field(default_factory=dict)
    steps: int = 600
    seed: int = 0
    out: str = ""
    # networks
    batch_size: int = 256
    latent_dim: int = 2
    g_width: int = 512
    g_depth: int = 3
    d_width: int = 512
    d_depth: int = 3
    activation: str = "relu"
    g_norm: str = "none"
    d_norm: str = "none"
    # objective
    loss: str = "wasserstein"
    divergence: str = "js"
    fgan_non_saturating: bool = False
    n_critic: int = 5
    gp_weight: float = 0.1
    one_sided_gp: bool = False
    clip_value: float | None = None
    spectral_norm: bool = False
    # optimization
    optimizer: str = "adam"
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.9
    lr_decay: str = "none"
    lr_decay_start: float = 0.0
    ema: float = 0.0
    # bookkeeping
    log_every: int = 100
    eval_every: int = 200
    eval_samples: int = 2500
    ckpt_every: int = 200
    device: str = "cpu"
    threads: int = 0
    critic_backward: str = "auto"

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def run_dir(self) -> Path:
        """The run folder: `out`, or `runs/<recipe>-<data>-s<seed>` when `out` is empty."""
        return Path(self.out) if self.out else Path("runs") / f"{self.recipe}-{self.data}-s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """Every field by name (a fresh dict; `data_params` copied)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["data_params"] = dict(self.data_params)
        return d


# ----------------------------------------------------------------------------------------------
# validation


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def config_fields() -> list[str]:
    """The names of all TrainConfig fields, in declaration order."""
    return [f.name for f in fields(TrainConfig)]


def _check_type(name: str, value: Any, tp: Any) -> None:
    """Exact types only: an int where a float is expected is fine, a bool where an int is expected is not."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return
        tp = next(a for a in args if a is not type(None))
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
    else:  # dict[str, Any]
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if not ok:
        expected = getattr(tp, "__name__", str(tp))
        raise ValueError(f"config field {name!r} must be of type {expected}, got {value!r} ({type(value).__name__})")


def _need(cond: bool, name: str, value: Any, expected: str) -> None:
    if not cond:
        raise ValueError(f"config field {name!r}: expected {expected}, got {value!r}")


def _validate(c: TrainConfig) -> None:
    types_ = _field_types()
    for f in fields(c):
        _check_type(f.name, getattr(c, f.name), types_[f.name])
    # float fields given as ints are stored as floats, so that to_toml writes "1.0", not "1"
    for f in fields(c):
        v = getattr(c, f.name)
        if types_[f.name] in (float, float | None) and isinstance(v, int):
            object.__setattr__(c, f.name, float(v))

    from ganlab.data.toy import TOY_DATASETS, get_toy_dataset
    from ganlab.divergences import DIVERGENCES
    from ganlab.models.mlp import ACTIVATIONS, NORMS
    from ganlab.recipes import RECIPES

    _need(c.recipe in RECIPES, "recipe", c.recipe, f"a recipe name, one of {', '.join(RECIPES)}")

    _need(c.data in TOY_DATASETS, "data", c.data, f"a toy dataset, one of {sorted(TOY_DATASETS)}")
    try:
        get_toy_dataset(c.data, **c.data_params)
    except ValueError as exc:
        raise ValueError(f"config field 'data_params': {exc}") from None
    except TypeError as exc:  # a parameter of the wrong type
        raise ValueError(f"config field 'data_params' {c.data_params!r} for {c.data!r}: {exc}") from None

    for name in ("steps", "batch_size", "latent_dim", "g_width", "d_width", "n_critic", "log_every", "eval_samples"):
        _need(getattr(c, name) >= 1, name, getattr(c, name), "an integer >= 1")
    for name in ("g_depth", "d_depth", "eval_every", "ckpt_every", "threads", "seed"):
        _need(getattr(c, name) >= 0, name, getattr(c, name), "an integer >= 0")
    _need(c.activation in ACTIVATIONS, "activation", c.activation, f"one of {sorted(ACTIVATIONS)}")
    _need(c.g_norm in NORMS, "g_norm", c.g_norm, f"one of {list(NORMS)}")
    _need(c.d_norm in NORMS, "d_norm", c.d_norm, f"one of {list(NORMS)}")

    _need(c.loss in LOSSES, "loss", c.loss, f"one of {list(LOSSES)}")
    _need(c.divergence in DIVERGENCES, "divergence", c.divergence, f"one of {sorted(DIVERGENCES)}")
    _need(math.isfinite(c.gp_weight) and c.gp_weight >= 0, "gp_weight", c.gp_weight,
          "a finite number >= 0 (0 = no gradient penalty)")
    if c.clip_value is not None:
        _need(math.isfinite(c.clip_value) and c.clip_value > 0, "clip_value", c.clip_value,
              "a finite number > 0, or none for no weight clipping")
    if c.d_norm == "batchnorm" and c.gp_weight > 0:
        raise ValueError(
            "config fields 'd_norm'='batchnorm' and 'gp_weight'>0 cannot be combined: batch norm makes a "
            "critic output depend on the whole batch, so the per-sample gradients of the penalty are wrong "
            "(WGAN-GP Sec. 4); use d_norm='layernorm' or 'none'"
        )
    if c.d_norm == "batchnorm" and c.spectral_norm:
        raise ValueError(
            "config fields 'd_norm'='batchnorm' and 'spectral_norm'=true cannot be combined: batch norm "
            "rescales each layer by batch statistics, undoing the Lipschitz bound; use d_norm='none'"
        )

    _need(c.optimizer in OPTIMIZERS, "optimizer", c.optimizer, f"one of {list(OPTIMIZERS)}")
    for name in ("lr_g", "lr_d"):
        v = getattr(c, name)
        _need(math.isfinite(v) and v > 0, name, v, "a finite learning rate > 0")
    for name in ("beta1", "beta2"):
        v = getattr(c, name)
        _need(math.isfinite(v) and 0.0 <= v < 1.0, name, v, "a number in [0, 1)")
    _need(c.lr_decay in LR_DECAYS, "lr_decay", c.lr_decay, f"one of {list(LR_DECAYS)}")
    _need(math.isfinite(c.lr_decay_start) and 0.0 <= c.lr_decay_start < 1.0, "lr_decay_start", c.lr_decay_start,
          "a fraction of the run in [0, 1)")
    _need(c.critic_backward in CRITIC_BACKWARDS, "critic_backward", c.critic_backward,
          f"one of {list(CRITIC_BACKWARDS)}")
    _need(math.isfinite(c.ema) and 0.0 <= c.ema < 1.0, "ema", c.ema, "a decay in [0, 1) (0 = no EMA)")
    dev = c.device.split(":", 1)[0]
    _need(dev in DEVICES, "device", c.device, f"one of {list(DEVICES)} (optionally with an index, e.g. cuda:1)")


# ----------------------------------------------------------------------------------------------
# dict / TOML


def _unknown_keys_message(unknown: Iterable[str], where: str) -> str:
    valid = config_fields()
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        parts.append(f"{key!r}{hint}")
    return f"unknown config key(s) {', '.join(parts)} in {where}; valid keys: {', '.join(valid)}"


def from_dict(values: dict[str, Any], *, base: TrainConfig | None = None, where: str = "config") -> TrainConfig:
    """`base` (default `TrainConfig()`) with the fields in `values` replaced; unknown keys refused by name."""
    valid = set(config_fields())
    unknown = [k for k in values if k not in valid]
    if unknown:
        raise ValueError(_unknown_keys_message(unknown, where))
    base = TrainConfig() if base is None else base
    values = dict(values)
    if "data" in values and values["data"] != base.data and "data_params" not in values:
        values["data_params"] = {}  # the old dataset's parameters do not apply to the new one
    # TOML has no null: the string "none" stands for None in optional fields
    types_ = _field_types()
    for k, v in list(values.items()):
        if type(None) in typing.get_args(types_[k]) and isinstance(v, str) and v.lower() == "none":
            values[k] = None
    return replace(base, **values)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The key/value pairs of a ganlab TOML config file (keys checked against TrainConfig's fields).

    Raises FileNotFoundError if the file is missing and ValueError for invalid TOML or unknown keys.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file not found: {str(p)!r}")
    try:
        values = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {str(p)!r} is not valid TOML: {exc}") from None
    unknown = [k for k in values if k not in set(config_fields())]
    if unknown:
        raise ValueError(_unknown_keys_message(unknown, f"config file {str(p)!r}"))
    return values


#: Fields added after runs had been saved without them, with the value those runs ran with.
PREDATED_FIELDS: dict[str, Any] = {"critic_backward": "autograd"}


def from_saved_run(values: dict[str, Any], *, where: str) -> TrainConfig:
    """The config of a saved run (its config.toml or checkpoint): a field the run predates takes the value
    the run ran with (`PREDATED_FIELDS`), not today's default, so that resuming it continues it exactly."""
    return from_dict({**PREDATED_FIELDS, **values}, where=where)


def load_toml(path: str | Path, *, base: TrainConfig | None = None) -> TrainConfig:
    """The TrainConfig in a TOML file: `base` (default `TrainConfig()`) with the file's keys replaced."""
    return from_dict(read_toml(path), base=base, where=f"config file {str(path)!r}")


def _toml_value(v: Any) -> str:
    if v is None:
        return '"none"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise ValueError(f"cannot write {v!r} ({type(v).__name__}) to TOML")


def to_toml(config: TrainConfig) -> str:
    """Every field as `key = value`, one per line, in declaration order; `load_toml` reads it back equal."""
    lines = ["# ganlab TrainConfig (the full resolved config of a run)"]
    for k, v in config.to_dict().items():
        lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def save_toml(config: TrainConfig, path: str | Path) -> None:
    """Write `to_toml(config)` to `path` atomically (`ganlab.files.atomic_write`)."""
    text = to_toml(config)
    atomic_write(path, lambda tmp: tmp.write_text(text))


# ----------------------------------------------------------------------------------------------
# --key=value overrides


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _coerce(name: str, text: str, tp: Any) -> Any:
    """Parse the string `text` as a value of field type `tp`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if text.strip().lower() in ("none", "null", ""):
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    try:
        if tp is bool:
            t = text.strip().lower()
            if t in _TRUE:
                return True
            if t in _FALSE:
                return False
            raise ValueError
        if tp is int:
            return int(text.strip())
        if tp is float:
            return float(text.strip())
        if tp is str:
            return text
        return _parse_literal(text)
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number"}.get(tp, getattr(tp, "__name__", str(tp)))
        raise ValueError(f"--{name}={text}: expected {expected}") from None


def _parse_literal(text: str) -> Any:
    """A data parameter value: JSON (numbers, lists, true/false), else the bare string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(args: Iterable[str]) -> dict[str, Any]:
    """`["--lr_d=1e-4", "--n-critic", "5", "--data_params.theta=0.5", "--spectral_norm"]` -> typed values.

    Accepted forms: `--key=value`, `--key value`, a bare `--key` for a boolean field (true), and
    `--data_params.NAME=value` for one dataset parameter. Dashes in keys read as underscores.
    Raises ValueError for unknown keys (with close matches), missing values and unparsable values.
    """
    types_ = _field_types()
    valid = set(types_)
    out: dict[str, Any] = {}
    data_params: dict[str, Any] = {}
    args = list(args)
    i = 0
    unknown: list[str] = []
    while i < len(args):
        a = args[i]
        if not a.startswith("--") or len(a) == 2:
            raise ValueError(f"unexpected argument {a!r}; overrides look like --key=value")
        body = a[2:]
        if "=" in body:
            key, text = body.split("=", 1)
            i += 1
        else:
            key, text = body, None
            i += 1
        key = key.replace("-", "_")
        sub = None
        if key.startswith("data_params."):
            key, sub = "data_params", key.split(".", 1)[1]
        if key not in valid:
            unknown.append(key)
            if text is None and i < len(args) and not args[i].startswith("--"):
                i += 1
            continue
        if text is None:
            nxt = args[i] if i < len(args) else None
            if types_[key] is bool:
                if nxt is not None and nxt.strip().lower() in _TRUE | _FALSE:
                    text, i = nxt, i + 1
                else:
                    text = "true"  # a bare --flag switches a boolean on
            elif nxt is not None and not nxt.startswith("--"):
                text, i = nxt, i + 1
            else:
                raise ValueError(f"--{key} needs a value (write --{key}=VALUE)")
        if key == "data_params" and sub is not None:
            data_params[sub] = _parse_literal(text)
        elif key == "data_params":
            value = _parse_literal(text)
            if not isinstance(value, dict):
                raise ValueError(f"--data_params={text}: expected a JSON object, or use --data_params.NAME=VALUE")
            data_params.update(value)
        else:
            out[key] = _coerce(key, text, types_[key])
    if unknown:
        raise ValueError(_unknown_keys_message(unknown, "the command line"))
    if data_params:
        out["data_params"] = data_params
    return out


def apply_overrides(config: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """`config` with `--key=value` strings applied (types coerced from the field types).

    `--data_params.NAME=VALUE` adds or replaces one dataset parameter; changing `data` without
    `data_params` drops the old dataset's parameters. Raises ValueError naming unknown keys (with
    close matches) and impossible values.
    """
    values = parse_overrides(overrides)
    if "data_params" in values:
        merged = dict(config.data_params) if values.get("data", config.data) == config.data else {}
        merged.update(values["data_params"])
        values["data_params"] = merged
    return from_dict(values, base=config, where="the command line")

