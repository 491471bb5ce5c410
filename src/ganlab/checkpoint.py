"""Checkpoints: one safetensors file per snapshot, written atomically, loaded without running code.

A checkpoint holds every tensor of a training state (generator, critic, EMA generator, optimizer
moments, the states of the data / latent / penalty random generators) as safetensors, and
everything else (step, config, optimizer hyperparameters, wall time) as JSON in the safetensors
header's metadata. Loading reads tensors and JSON only: no pickle, no `torch.load`, so opening a
checkpoint from someone else cannot execute code.

Atomicity (`ganlab.files.atomic_write`): the bytes go to a temporary file in the same folder, are
fsync'ed, and only then `os.replace`d over the old checkpoint (an atomic rename on POSIX and Windows).
A crash at any moment leaves either the old checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _safetensors_load
from safetensors.torch import save as _safetensors_bytes
from torch import nn

from ganlab.files import atomic_write

__all__ = [
    "CHECKPOINT_FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint_meta",
    "tensors_sha256",
    "module_tensors",
    "load_module_tensors",
    "optimizer_to_flat",
    "optimizer_from_flat",
    "save_training_state",
    "load_training_state",
]

#: The format of today's checkpoints. v2: the model family's fields live in the config's `model` table.
CHECKPOINT_FORMAT = "ganlab-checkpoint-v2"
#: Formats ganlab wrote before, and why today's code refuses them.
OLDER_FORMATS: dict[str, str] = {
    "ganlab-checkpoint-v1": "written before the model's fields moved into the config's [model] table",
}


# ----------------------------------------------------------------------------------------------
# files


def _write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` (the step a crash can interrupt; `atomic_write` fsyncs and renames after it)."""
    with open(path, "wb") as fh:
        fh.write(data)


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Atomically write `tensors` (safetensors) and `meta` (JSON in the header) to `path`.

    Tensors are copied to contiguous CPU memory first. `meta` must be JSON-serializable.
    Returns the path written. On any error the temporary file is removed and the previous file at
    `path`, if any, is left untouched.
    """
    path = Path(path)
    flat = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    header = {"format": CHECKPOINT_FORMAT, "meta": json.dumps(meta, sort_keys=True, allow_nan=True),
              "sha256": tensors_sha256(flat)}
    data = _safetensors_bytes(flat, metadata=header)
    atomic_write(path, lambda tmp: _write_bytes(tmp, data))
    return path


def _check_header(path: Path, header: dict[str, str]) -> None:
    if header.get("format") in OLDER_FORMATS:
        raise ValueError(
            f"{str(path)!r} is a checkpoint of an older ganlab (format {header['format']!r}, "
            f"{OLDER_FORMATS[header['format']]}); this version reads {CHECKPOINT_FORMAT!r}: train the run "
            f"again, or use the ganlab release that wrote it"
        )
    if header.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{str(path)!r} is not a ganlab checkpoint (format {header.get('format')!r}, "
            f"expected {CHECKPOINT_FORMAT!r})"
        )


def _meta(path: Path, header: dict[str, str]) -> dict[str, Any]:
    try:
        return json.loads(header["meta"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"checkpoint {str(path)!r} has damaged metadata: {exc}") from None


_HEADER_LIMIT = 100 * 2**20  # safetensors' own bound on a header's size


def _read_header(path: Path, fh: Any) -> dict[str, str]:
    """The `__metadata__` of the safetensors header at the start of the open file `fh`."""
    head = fh.read(8)
    n = int.from_bytes(head, "little") if len(head) == 8 else -1
    if not 0 < n <= _HEADER_LIMIT:
        raise ValueError(f"{str(path)!r} is not a readable safetensors checkpoint (no valid header)")
    try:
        header = json.loads(fh.read(n))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable safetensors checkpoint: {exc}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{str(path)!r} is not a readable safetensors checkpoint (its header is not a JSON object)")
    # the tensors' byte ranges must fill the file exactly: a cut (or grown) file is refused from its size alone,
    # so that `read_checkpoint_meta`, which reads no tensor, does not trust the header of a torn file
    ends = [e["data_offsets"][-1] for k, e in header.items() if k != "__metadata__" and isinstance(e, dict)
            and isinstance(e.get("data_offsets"), list) and e["data_offsets"] and type(e["data_offsets"][-1]) is int]
    size, expected = os.fstat(fh.fileno()).st_size, 8 + n + max(ends, default=0)
    if size != expected:
        raise ValueError(f"checkpoint {str(path)!r} is damaged: its header describes {expected} bytes, the file "
                         f"has {size} (a cut or changed file)")
    meta = header.get("__metadata__")
    return meta if isinstance(meta, dict) else {}


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}")
    return path


def read_checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """The JSON metadata of a checkpoint (step, config, ...) from its header alone: no tensor is read, and
    the checksum is not checked (`load_checkpoint` does both). Raises as `load_checkpoint`."""
    path = _existing(path)
    with open(path, "rb") as fh:
        header = _read_header(path, fh)
    _check_header(path, header)
    return _meta(path, header)


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) from a file written by `save_checkpoint`; tensors on the CPU.

    The file is read once, whole, through one open file: a run that replaces the checkpoint meanwhile
    (an atomic rename) cannot mix the header of one version with the tensors of the next.

    Raises FileNotFoundError for a missing file and ValueError naming the file when it is not a ganlab
    checkpoint of today's format (an older format is named as such), its metadata is damaged, or its
    tensors do not match the checksum stored with them.
    """
    path = _existing(path)
    with open(path, "rb") as fh:
        header = _read_header(path, fh)
        fh.seek(0)
        raw = fh.read()
    _check_header(path, header)
    try:
        tensors = _safetensors_load(raw)
    except SafetensorError as exc:
        raise ValueError(f"{str(path)!r} is not a readable safetensors checkpoint: {exc}") from None
    meta = _meta(path, header)
    if header.get("sha256") != tensors_sha256(tensors):
        raise ValueError(f"checkpoint {str(path)!r} is damaged: its tensors do not match the checksum "
                         f"stored with them (a changed or torn file)")
    return tensors, meta


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order (what a checkpoint stores)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(tensors[name].shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# modules and optimizers <-> flat tensors + JSON


def module_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    """`{prefix.key: tensor}` for every entry of `module.state_dict()` (parameters and buffers)."""
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module_tensors(prefix: str, module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Load the `prefix.*` entries of `tensors` into `module` (strict: every key must match)."""
    p = prefix + "."
    state = {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"checkpoint entries for {prefix!r} do not match the model: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}"
        )


def optimizer_to_flat(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split `optimizer.state_dict()` into tensors (`prefix.state.<param>.<key>`) and JSON (the rest)."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(
    prefix: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    """Inverse of `optimizer_to_flat`: rebuild the state dict and load it into `optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    p = prefix + ".state."
    for name, value in tensors.items():
        if name.startswith(p):
            idx, key = name[len(p):].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    for idx, values in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:  # JSON has no tuples
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# ----------------------------------------------------------------------------------------------
# a whole training state


def save_training_state(
    path: str | Path,
    *,
    step: int,
    config: dict[str, Any],
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    rngs: dict[str, torch.Generator],
    extra: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Checkpoint a training state: models (`modules`, e.g. generator, critic, ema), optimizers and RNGs.

    Everything needed to continue bit-identically: parameters and buffers (spectral-norm u, v and
    batch-norm statistics included), optimizer moments and step counts, and the state of every
    random generator. `config` (a TrainConfig as a dict) and `extra` go into the JSON metadata;
    `extra_tensors` (e.g. other processes' RNG states, `rng.<name>@<rank>`) are stored as they are.
    """
    tensors: dict[str, torch.Tensor] = {}
    opt_meta: dict[str, Any] = {}
    for name, module in modules.items():
        tensors.update(module_tensors(name, module))
    for name, opt in optimizers.items():
        t, m = optimizer_to_flat(name, opt)
        tensors.update(t)
        opt_meta[name] = m
    for name, gen in rngs.items():
        tensors[f"rng.{name}"] = gen.get_state()
    tensors.update(extra_tensors or {})
    meta = {
        "step": int(step),
        "config": config,
        "modules": sorted(modules),
        "optimizers": opt_meta,
        "rngs": sorted(rngs) + sorted(k[len("rng."):] for k in (extra_tensors or {}) if k.startswith("rng.")),
        "torch": torch.__version__,
        **(extra or {}),
    }
    return save_checkpoint(path, tensors, meta)


def load_training_state(
    path: str | Path,
    *,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    rngs: dict[str, torch.Generator],
) -> dict[str, Any]:
    """Load a `save_training_state` file into the given objects (in place); returns its metadata.

    Raises ValueError if the checkpoint lacks one of the requested modules, optimizers or RNGs.
    """
    tensors, meta = load_checkpoint(path)
    for name, module in modules.items():
        if name not in meta.get("modules", []):
            raise ValueError(f"checkpoint {str(path)!r} has no module {name!r} (it has {meta.get('modules')})")
        load_module_tensors(name, module, tensors)
    for name, opt in optimizers.items():
        if name not in meta.get("optimizers", {}):
            raise ValueError(f"checkpoint {str(path)!r} has no optimizer {name!r}")
        optimizer_from_flat(name, opt, tensors, meta["optimizers"][name])
    for name, gen in rngs.items():
        key = f"rng.{name}"
        if key not in tensors:
            raise ValueError(f"checkpoint {str(path)!r} has no random generator state {name!r}")
        gen.set_state(tensors[key])
    return meta
