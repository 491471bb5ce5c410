"""`TrainConfig`: every knob of a training run, as one frozen dataclass.

A run is fully described by its config: it is written to `config.toml` in the run folder and into
every checkpoint, and `ganlab train --resume` reads it back. Values come, in increasing priority,
from the field defaults below (WGAN-GP on the 8-mode ring, recipe `wgan-gp-toy`), a named recipe
(`ganlab.recipes`), a TOML file and `--key=value` flags; the layering lives in
`ganlab.recipes.resolve_config`.

The fields common to every run are flat. The model family's own fields live in one table, `model`
(`[model]` in TOML, `--model.NAME=VALUE` on the command line): its `family` names an entry of
`ganlab.models.MODELS`, the rest are that family's fields, so a new family brings its fields without
touching the common ones. `data_params` holds the dataset's keyword arguments the same way.

This module checks types and ranges and refuses unknown keys with the closest valid names
(difflib). It imports nothing from ganlab above `ganlab.files`: the names that refer to registries
(`recipe`, `data`, `loss`, `divergence`, `model.family` and the family's fields) are checked against
those registries by `ganlab.build`, the one place where names become objects.
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
    "OPTIMIZERS",
    "LR_DECAYS",
    "DEVICES",
    "PRECISIONS",
    "NONFINITE_ACTIONS",
    "EVAL_FEATURES",
    "TABLES",
    "config_fields",
    "load_toml",
    "read_toml",
    "to_toml",
    "save_toml",
    "from_dict",
    "apply_overrides",
    "parse_overrides",
    "unknown_names_message",
]

OPTIMIZERS: tuple[str, ...] = ("adam", "rmsprop")
#: Learning-rate schedules: constant, or linear decay to 0 over `steps` (the WGAN-GP authors' CIFAR-10 scripts).
LR_DECAYS: tuple[str, ...] = ("none", "linear")
DEVICES: tuple[str, ...] = ("cpu", "cuda", "mps")
#: Precision of the networks' forwards in training: float32, or bfloat16 autocast ("bf16"; `ganlab.steps`).
PRECISIONS: tuple[str, ...] = ("float32", "bf16")
#: What a NaN / inf in a loss, the weights, the optimizer state or the samples does (`ganlab.train`): stop the run,
#: or roll back to the last good checkpoint with lower learning rates.
NONFINITE_ACTIONS: tuple[str, ...] = ("stop", "rollback")
#: The features of FID / KID / IS during training on images (`ganlab.evaluators.make_evaluator`): the data set's
#: shipped classifier ("auto"), the FID Inception-v3 or a `ganlab classifier` file (`eval_weights`), or none.
EVAL_FEATURES: tuple[str, ...] = ("auto", "inception-v3", "classifier", "none")
#: Fields that are tables of named values, set one entry at a time with `--TABLE.NAME=VALUE`.
TABLES: tuple[str, ...] = ("data_params", "model")
#: The model family of a config whose `model` table names none: "auto" is resolved by `ganlab.build` from the
#: data's shape (the MLP for vectors, DCGAN for images) and the completed config records the family chosen.
DEFAULT_MODEL_FAMILY = "auto"


@dataclass(frozen=True)
class TrainConfig:
    """All settings of one training run. Defaults: WGAN-GP (lecture 001_b56ff7e156eb3bba.txt, "Wasserstein
    GAN with Gradient Penalty", Algorithm 1) as its authors' toy script runs it (gan_toy.py: MLP 512 x 3,
    batch 256, n_critic 5, lambda 0.1, Adam 1e-4 with betas (0.5, 0.9)), on the 8-mode ring: the recipe
    `wgan-gp-toy`, what `ganlab train` runs without arguments.

    What to train:
        recipe: the named set of defaults this config started from (`ganlab.recipes.RECIPES`).
        data: dataset name (`ganlab.data.DATASETS`); data_params: its keyword arguments
            (e.g. {"theta": 0.5} for `parallel-lines`).
        model: the model family and its fields: {"family": "mlp", "g_width": 512, ...}
            (`ganlab.models.MODELS`); fields left out take the family's defaults.
        steps: number of generator updates.
        seed: seeds model initialization and the data, latent and penalty generators.
        out: run folder; "" means `runs/<recipe>-<data>-s<seed>`.
        batch_size: m, critic inputs per critic or generator update (per process): m samples, or with pack k,
            m packed inputs of k samples each (k·m samples drawn).
        pack: k, samples the critic judges at once, concatenated along channels (images) or features (vectors):
            PacGAN (Lin et al. 2018, arXiv:1712.04086; `ganlab.models.pack`); 1 = an ordinary critic.
    Objective:
        loss: an objective of `ganlab.losses.OBJECTIVES` ("minimax", "ns", "wasserstein", "fgan", "hinge").
        divergence: f-divergence name for loss="fgan" (`ganlab.divergences.DIVERGENCES`).
        fgan_non_saturating: generator maximizes E g_f(v) instead of minimizing -E f*(g_f(v)).
        n_critic: critic updates per generator update.
    Lipschitz constraint (`ganlab.lipschitz`; the three compose freely):
        gp_weight: gradient-penalty weight lambda (0 = no penalty); one_sided_gp: penalize only norms above 1.
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
        eval_features: the features of FID / KID / IS on images, against the data's held-out split: "auto" (the
            data set's shipped classifier: digits, MNIST, Fashion-MNIST, Stacked MNIST's modes; other images get
            the critic's estimate only), "inception-v3" (the FID network; its weight file at eval_weights or
            $GANLAB_INCEPTION_WEIGHTS, hash-checked), "classifier" (a `ganlab classifier` file at eval_weights)
            or "none"; eval_weights: that file's path. Both are fixed for the life of a run, so that every FID
            of its metrics.jsonl (and the diagnostics that compare them) comes from the same network.
        precision: "float32" | "bf16": with "bf16" the networks' forwards in the critic and generator steps
            and the critic phase's fakes run under bfloat16 autocast; weights, optimizer state, EMA, losses,
            the gradient penalty and evaluation stay float32 (`ganlab.steps`); a penalized MLP critic then
            takes the autograd step, not the closed-form one. A run keeps its precision on resume.
        time_limit: seconds of training (counted over resumes) after which the step running is the last one:
            evaluated, checkpointed and summarized like the `steps`-th (0 = no limit); a fixed budget per run.
        tensorboard: also write TensorBoard event files under <run>/tensorboard/ (every numeric field of
            metrics.jsonl as a scalar, each evaluation's sample figure as an image; `ganlab.runs`); needs the
            `tensorboard` package. metrics.jsonl stays the source of truth.
    Non-finite values (a NaN / inf loss, weights, optimizer moments or samples; `ganlab.train`):
        on_nonfinite: "stop" (the run stops, naming the step and the last good checkpoint) | "rollback": reload
            the last good checkpoint, multiply both learning rates by rollback_lr_factor (in (0, 1)) for the
            rest of the run and go on from its step; after max_rollbacks (>= 1, counted over resumes) it stops.
    """

    # what to train
    recipe: str = "wgan-gp-toy"
    data: str = "ring"
    data_params: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=lambda: {"family": DEFAULT_MODEL_FAMILY})
    steps: int = 600
    seed: int = 0
    out: str = ""
    batch_size: int = 256
    pack: int = 1
    # objective
    loss: str = "wasserstein"
    divergence: str = "js"
    fgan_non_saturating: bool = False
    n_critic: int = 5
    # Lipschitz constraint
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
    eval_features: str = "auto"
    eval_weights: str = ""
    ckpt_every: int = 200
    device: str = "cpu"
    precision: str = "float32"
    threads: int = 0
    time_limit: float = 0.0
    tensorboard: bool = False
    # non-finite values
    on_nonfinite: str = "stop"
    rollback_lr_factor: float = 0.5
    max_rollbacks: int = 3

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def run_dir(self) -> Path:
        """The run folder: `out`, or `runs/<recipe>-<data>-s<seed>` when `out` is empty."""
        return Path(self.out) if self.out else Path("runs") / f"{self.recipe}-{self.data}-s{self.seed}"

    @property
    def model_family(self) -> str:
        """`model["family"]` (default `DEFAULT_MODEL_FAMILY`)."""
        return self.model.get("family", DEFAULT_MODEL_FAMILY)

    def to_dict(self) -> dict[str, Any]:
        """Every field by name (a fresh dict; the tables copied)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for table in TABLES:
            d[table] = dict(d[table])
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

    for name in ("recipe", "data", "loss", "divergence"):
        _need(bool(getattr(c, name)), name, getattr(c, name), "a name")
    _need(isinstance(c.model_family, str) and bool(c.model_family), "model.family", c.model_family,
          "a model family name")
    for name in ("steps", "batch_size", "pack", "n_critic", "log_every", "eval_samples", "max_rollbacks"):
        _need(getattr(c, name) >= 1, name, getattr(c, name), "an integer >= 1")
    for name in ("eval_every", "ckpt_every", "threads", "seed"):
        _need(getattr(c, name) >= 0, name, getattr(c, name), "an integer >= 0")
    _need(math.isfinite(c.time_limit) and c.time_limit >= 0, "time_limit", c.time_limit,
          "a finite number of seconds >= 0 (0 = no limit)")
    _need(math.isfinite(c.gp_weight) and c.gp_weight >= 0, "gp_weight", c.gp_weight,
          "a finite number >= 0 (0 = no gradient penalty)")
    if c.clip_value is not None:
        _need(math.isfinite(c.clip_value) and c.clip_value > 0, "clip_value", c.clip_value,
              "a finite number > 0, or none for no weight clipping")
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
    _need(math.isfinite(c.ema) and 0.0 <= c.ema < 1.0, "ema", c.ema, "a decay in [0, 1) (0 = no EMA)")
    _need(c.precision in PRECISIONS, "precision", c.precision, f"one of {list(PRECISIONS)}")
    _need(c.eval_features in EVAL_FEATURES, "eval_features", c.eval_features, f"one of {list(EVAL_FEATURES)}")
    if c.eval_features == "classifier":
        _need(bool(c.eval_weights), "eval_weights", c.eval_weights,
              "the path of a `ganlab classifier` weight file with eval_features = 'classifier'")
    if c.eval_features in ("auto", "none"):
        _need(not c.eval_weights, "eval_weights", c.eval_weights,
              f"empty with eval_features = {c.eval_features!r} (a weight file goes with 'inception-v3' or 'classifier')")
    _need(c.on_nonfinite in NONFINITE_ACTIONS, "on_nonfinite", c.on_nonfinite, f"one of {list(NONFINITE_ACTIONS)}")
    _need(math.isfinite(c.rollback_lr_factor) and 0.0 < c.rollback_lr_factor < 1.0, "rollback_lr_factor",
          c.rollback_lr_factor, "a factor in (0, 1) for the learning rates after a rollback")
    dev = c.device.split(":", 1)[0]
    _need(dev in DEVICES, "device", c.device, f"one of {list(DEVICES)} (optionally with an index, e.g. cuda:1)")


# ----------------------------------------------------------------------------------------------
# dict / TOML


def unknown_names_message(what: str, unknown: Iterable[str], valid: Iterable[str], where: str = "") -> str:
    """"unknown WHAT 'x' (did you mean 'y'?) [in WHERE]; valid: a, b, c": the one wording of every refusal."""
    valid = list(valid)
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), valid, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        parts.append(f"{key!r}{hint}")
    place = f" in {where}" if where else ""
    return f"unknown {what} {', '.join(parts)}{place}; valid: {', '.join(valid) if valid else 'none'}"


def _unknown_keys_message(unknown: Iterable[str], where: str) -> str:
    return (unknown_names_message("config key(s)", unknown, config_fields(), where)
            + "; the model family's fields go in the [model] table (--model.NAME=VALUE)")


def from_dict(values: dict[str, Any], *, base: TrainConfig | None = None, where: str = "config") -> TrainConfig:
    """`base` (default `TrainConfig()`) with the fields in `values` replaced; unknown keys refused by name.

    `model` merges into the base's table (a TOML file that sets `[model] g_width` keeps the family's
    other fields), unless it names another family, whose fields start afresh. `data_params` replaces
    the base's and is dropped when `data` changes without new parameters (they belong to the old dataset).
    """
    valid = set(config_fields())
    unknown = [k for k in values if k not in valid]
    if unknown:
        raise ValueError(_unknown_keys_message(unknown, where))
    base = TrainConfig() if base is None else base
    values = dict(values)
    if "data" in values and values["data"] != base.data and "data_params" not in values:
        values["data_params"] = {}  # the old dataset's parameters do not apply to the new one
    if "model" in values:
        model = values["model"]
        if not isinstance(model, dict):
            raise ValueError(f"config field 'model' in {where} must be a table of model fields, got {model!r}")
        family = model.get("family", base.model_family)
        values["model"] = {**(base.model if family == base.model_family else {}), **model, "family": family}
    # TOML has no null: the string "none" stands for None in optional fields (in the model table it stays a
    # string, a value of its own there: g_norm = "none"; a model family has no optional fields)
    types_ = _field_types()
    for k, v in list(values.items()):
        if type(None) in typing.get_args(types_[k]) and isinstance(v, str) and v.lower() == "none":
            values[k] = None
    return replace(base, **values)


def read_toml(path: str | Path, *, check_keys: bool = True) -> dict[str, Any]:
    """The key/value pairs of a ganlab TOML config file (keys checked against TrainConfig's fields unless
    `check_keys` is false: `from_dict` checks them again).

    Raises FileNotFoundError if the file is missing and ValueError for invalid TOML or unknown keys.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file not found: {str(p)!r}")
    try:
        values = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"config file {str(p)!r} is not valid TOML: {exc}") from None
    unknown = [k for k in values if k not in set(config_fields())]
    if unknown and check_keys:
        raise ValueError(_unknown_keys_message(unknown, f"config file {str(p)!r}"))
    return values


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
    """Every field as `key = value` in declaration order, the model's fields as a `[model]` table at the
    end (TOML puts tables after plain keys); `load_toml` reads it back equal."""
    d = config.to_dict()
    model = d.pop("model")
    lines = ["# ganlab TrainConfig (the full resolved config of a run)"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in d.items()]
    lines += ["", "[model]"] + [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in model.items()]
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
        raise ValueError(f"--{name}={text!r}: expected {expected}") from None


def _parse_literal(text: str) -> Any:
    """A table entry's value: JSON (numbers, lists, true/false), else the bare string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(args: Iterable[str]) -> dict[str, Any]:
    """`["--lr_d=1e-4", "--n-critic", "5", "--data_params.theta=0.5", "--model.g_width=64", "--spectral_norm"]`
    -> typed values.

    Accepted forms: `--key=value`, `--key value`, a bare `--key` for a boolean field (true),
    `--TABLE.NAME=value` for one entry of a table (`data_params`, `model`), and `--model=NAME` for the
    model family. Dashes in keys read as underscores. Table entries are parsed as JSON where they parse
    (numbers, lists, booleans), else kept as strings; their names are checked by `ganlab.build`.
    Raises ValueError for unknown keys (with close matches), missing values and unparsable values.
    """
    types_ = _field_types()
    valid = set(types_)
    out: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    args = list(args)
    i = 0
    unknown: list[str] = []
    while i < len(args):
        a = args[i]
        if not a.startswith("--") or len(a) == 2:
            raise ValueError(f"unexpected argument {a!r}; overrides look like --key=value")
        body = a[2:]
        key, text = body.split("=", 1) if "=" in body else (body, None)
        i += 1
        key = key.replace("-", "_")
        sub = None
        if "." in key:
            key, sub = key.split(".", 1)
        if key not in valid or (sub is not None and key not in TABLES):
            unknown.append(key if sub is None else f"{key}.{sub}")
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
                raise ValueError(f"--{key if sub is None else f'{key}.{sub}'} needs a value (write --KEY=VALUE)")
        if key in TABLES and sub is not None:
            tables.setdefault(key, {})[sub] = text if sub == "family" else _parse_literal(text)
        elif key == "model":
            tables.setdefault("model", {})["family"] = text
        elif key == "data_params":
            value = _parse_literal(text)
            if not isinstance(value, dict):
                raise ValueError(f"--data_params={text!r}: expected a JSON object, or use --data_params.NAME=VALUE")
            tables.setdefault("data_params", {}).update(value)
        else:
            out[key] = _coerce(key, text, types_[key])
    if unknown:
        raise ValueError(_unknown_keys_message(unknown, "the command line"))
    out.update(tables)
    return out


def apply_overrides(config: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """`config` with `--key=value` strings applied (types coerced from the field types).

    `--data_params.NAME=VALUE` adds or replaces one dataset parameter; changing `data` without
    `data_params` drops the old dataset's parameters. `--model.NAME=VALUE` sets one model field
    (`--model=NAME` or `--model.family=NAME` another family, whose fields start from its defaults).
    Raises ValueError naming unknown keys (with close matches) and impossible values.
    """
    values = parse_overrides(overrides)
    if "data_params" in values:
        merged = dict(config.data_params) if values.get("data", config.data) == config.data else {}
        merged.update(values["data_params"])
        values["data_params"] = merged
    return from_dict(values, base=config, where="the command line")
