"""The run folder: what a run writes, how it resumes, and how a finished run is loaded again.

    runs/<name>/
      config.toml                   the complete config (every model field filled in)
      metrics.jsonl                 one JSON object per logged step: the source of truth
      checkpoints/last.safetensors  the newest training state (`ganlab.checkpoint`, atomic, no pickle)
      samples/step_NNNNNNN.png      the evaluator's figure at each evaluation
      tensorboard/events.out.*      with `tensorboard = true`: every numeric field of metrics.jsonl as a scalar
                                    at its step, each evaluation's figure as an image (`TensorBoardLog`)
      curves.png, summary.json      written when the run ends

Every file is written atomically (`ganlab.files.atomic_write`): a crash leaves the old version or
the new one. `load_run(dir)` rebuilds a run from its folder alone (config → `ganlab.build.build` →
the checkpoint's weights): sampling, evaluation and `ganlab sample` all go through it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganlab.build import Setup, build, eval_latents
from ganlab.checkpoint import (load_checkpoint, load_module_tensors, load_training_state, read_checkpoint_meta,
                               save_training_state)
from ganlab.config import TrainConfig, from_dict, read_toml, save_toml
from ganlab.evaluators import make_evaluator
from ganlab.files import atomic_write

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, a second writer is not detected
    fcntl = None

__all__ = [
    "CHECKPOINT_NAME",
    "RESUMABLE_FIELDS",
    "LoadedRun",
    "RunFolder",
    "TensorBoardLog",
    "check_resumable",
    "evaluate_run",
    "load_run",
    "read_run_config",
]

CHECKPOINT_NAME = "checkpoints/last.safetensors"
#: Fields that may change when a run is resumed; every other field must match the checkpoint. The failure handling
#: is among them (they change nothing before the next NaN): a run stopped by a NaN may resume with
#: on_nonfinite = "rollback"; the learning-rate scale of earlier rollbacks comes from the checkpoint.
RESUMABLE_FIELDS = frozenset({"steps", "log_every", "eval_every", "ckpt_every", "device", "threads", "out",
                              "time_limit", "tensorboard", "on_nonfinite", "rollback_lr_factor", "max_rollbacks"})


def _config_from_meta(meta: dict[str, Any], where: str) -> TrainConfig:
    if "config" not in meta:
        raise ValueError(f"{where} has no config")
    return from_dict(meta["config"], where=where)


def read_run_config(run_dir: str | Path) -> TrainConfig:
    """The config of the run in `run_dir` (its config.toml), after checking that its checkpoint, if any, is
    of today's format (an older run is refused by name). FileNotFoundError when there is no run."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.toml"
    if not config_path.is_file():
        raise FileNotFoundError(f"no run in {str(run_dir)!r} (missing {str(config_path)!r})")
    if (run_dir / CHECKPOINT_NAME).is_file():
        read_checkpoint_meta(run_dir / CHECKPOINT_NAME)  # refuses older formats by name
    values = read_toml(config_path, check_keys=False)
    if "model" not in values:
        raise ValueError(f"the run in {str(run_dir)!r} was written by an older ganlab (its config.toml has no "
                         f"[model] table): train it again, or use the ganlab release that wrote it")
    return from_dict(values, where=f"config file {str(config_path)!r}")


def check_resumable(saved: TrainConfig, config: TrainConfig) -> None:
    """ValueError unless `config` continues `saved`: only `RESUMABLE_FIELDS` may differ, and a run whose
    learning rates decay over its length keeps its length."""
    new = config.to_dict()
    differ = [k for k, v in saved.to_dict().items() if k not in RESUMABLE_FIELDS and new[k] != v]
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


class TensorBoardLog:
    """TensorBoard event files in `log_dir` (`torch.utils.tensorboard.SummaryWriter`), a copy of metrics.jsonl.

    `log(row)` writes every numeric field of a row (bools and `step` excepted) as a scalar tagged by its name at
    `row["step"]`; `image(step, png)` the figure in a PNG file at that step. `purge_step`: a resumed run passes
    its checkpoint's step + 1, so that TensorBoard drops the events an earlier session logged past the
    checkpoint (as `RunFolder` drops those lines of metrics.jsonl). Raises ValueError naming `pip install
    tensorboard` when the package is missing.
    """

    def __init__(self, log_dir: Path, *, purge_step: int | None = None) -> None:
        self.writer = self.summary_writer_class()(log_dir=str(log_dir), purge_step=purge_step, flush_secs=10)

    @staticmethod
    def summary_writer_class() -> Any:
        """`torch.utils.tensorboard.SummaryWriter`, imported here (it loads tensorboard, slow, optional)."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError("config field 'tensorboard' is true but the tensorboard package is not installed: "
                             "pip install tensorboard (or pip install 'ganlab[tensorboard]')") from None
        return SummaryWriter

    def log(self, row: dict[str, Any]) -> None:
        step = int(row["step"])
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)

    def image(self, step: int, png: Path) -> None:
        from matplotlib.image import imread

        pixels = imread(png)  # (H, W, 3 or 4) floats in [0, 1]
        self.writer.add_image("samples", pixels[..., :3], step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


class RunFolder:
    """The files of one run. Only the writing process (`writer`, process 0) touches the disk.

    Used as a context manager: while a run is inside it, its writer holds an exclusive lock on
    `<run>/.lock`, so that a second process started on the same folder is refused instead of interleaving
    its lines with the first's.
    """

    def __init__(self, path: Path, *, writer: bool) -> None:
        self.path, self.writer = Path(path), writer
        self.checkpoint = self.path / CHECKPOINT_NAME
        self.metrics = self.path / "metrics.jsonl"
        self._lock: Any = None
        self.tensorboard: TensorBoardLog | None = None

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def _claim(self) -> None:
        """Create the folder, lock it, check that it takes files, and remove the temporary files of writes
        that a killed process left behind (nobody else can be writing them: we hold the lock)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create the run folder {str(self.path)!r}: {exc.strerror or exc}") from None
        try:
            self._lock = open(self.path / ".lock", "a")
            if fcntl is not None:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise ValueError(f"another ganlab process is writing the run in {str(self.path)!r} (it holds "
                             f"{str(self.path / '.lock')!r}); wait for it to end or choose another --out") from None
        except OSError as exc:
            raise ValueError(f"cannot write to the run folder {str(self.path)!r}: {exc.strerror or exc}") from None
        for stale in [*self.path.glob(".*.tmp-*"), *self.path.glob("*/.*.tmp-*")]:
            stale.unlink(missing_ok=True)
        probe = self.path / f".write-test-{os.getpid()}"
        try:
            atomic_write(probe, lambda tmp: tmp.write_bytes(b"0" * 4096))
            probe.unlink()
        except OSError as exc:
            raise ValueError(f"cannot write to the run folder {str(self.path)!r}: {exc.strerror or exc}") from None

    def start(self, setup: Setup, *, resume: bool, world_size: int,
              rngs: dict[str, torch.Generator]) -> dict[str, Any]:
        """Begin a fresh run (refusing a folder that holds one) or load the last checkpoint into `setup`
        (refusing a changed config, `rewind`); returns the checkpoint's metadata ({"step": 0} for a fresh run):
        "step" reached, and what the loop saved as `extra` ("wall_seconds", "lr_scale", ...)."""
        config = setup.config
        meta: dict[str, Any] = {"step": 0}
        if config.tensorboard and self.writer:
            TensorBoardLog.summary_writer_class()  # a missing package refused before the folder is touched
        if resume:
            if not self.checkpoint.is_file():
                raise FileNotFoundError(f"cannot resume: no checkpoint at {str(self.checkpoint)!r}")
            if self.writer:
                self._claim()
            saved = read_checkpoint_meta(self.checkpoint)
            check_resumable(_config_from_meta(saved, f"checkpoint {str(self.checkpoint)!r}"), config)
            if saved.get("world_size", 1) != world_size:
                raise ValueError(f"the checkpoint was written by {saved.get('world_size', 1)} process(es); "
                                 f"resume it with the same number, not {world_size}")
            if int(saved["step"]) >= config.steps:
                raise ValueError(f"the run in {str(self.path)!r} is already at step {saved['step']}; "
                                 f"pass steps > {saved['step']} to continue")
            meta = self.rewind(setup, rngs=rngs)
        else:
            if self.writer:
                self._claim()  # first, so that of two runs started on one folder at once the second is refused
            if self.checkpoint.exists():
                raise ValueError(f"{str(self.path)!r} already holds a run (it has {CHECKPOINT_NAME}); "
                                 f"resume it with --resume or choose another --out")
            if self.writer:
                atomic_write(self.metrics, lambda tmp: tmp.write_text(""))
        if self.writer:
            save_toml(config, self.path / "config.toml")
            if config.tensorboard:
                self.tensorboard = TensorBoardLog(self.path / "tensorboard",
                                                  purge_step=int(meta["step"]) + 1 if resume else None)
        return meta

    def rewind(self, setup: Setup, *, rngs: dict[str, torch.Generator]) -> dict[str, Any]:
        """Load the last checkpoint into `setup` in place (weights, EMA, optimizer state, the random streams
        `rngs`) and drop what was logged after its step (lines of metrics.jsonl; TensorBoard events, by a new
        writer with `purge_step`); returns its metadata. What `--resume` does, and a rollback (`ganlab.train`)."""
        meta = load_training_state(self.checkpoint, modules=_modules(setup), rngs=rngs,
                                   optimizers={"opt_g": setup.opt_g, "opt_d": setup.opt_d})
        step = int(meta["step"])
        if self.writer:
            self._truncate_metrics(step)
            if self.tensorboard is not None:  # a rollback: hide the events logged past the checkpoint
                self.tensorboard.close()
                self.tensorboard = TensorBoardLog(self.path / "tensorboard", purge_step=step + 1)
        return meta

    def log(self, row: dict[str, Any], *, image: Path | None = None) -> None:
        """Append one JSON line to metrics.jsonl; with TensorBoard on, also its numbers and the figure `image`
        (a PNG written at this step, or None)."""
        if self.writer:
            with open(self.metrics, "a") as fh:
                fh.write(json.dumps(row, allow_nan=True) + "\n")
            if self.tensorboard is not None:
                self.tensorboard.log(row)
                if image is not None:
                    self.tensorboard.image(int(row["step"]), image)

    def _truncate_metrics(self, step: int) -> None:
        """Drop the lines logged after `step` (the run died after them, before its next checkpoint)."""
        if self.metrics.is_file():
            keep = [ln for ln in self.metrics.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
            atomic_write(self.metrics, lambda tmp: tmp.write_text("".join(ln + "\n" for ln in keep)))

    def save(self, setup: Setup, *, step: int, rngs: dict[str, torch.Generator], extra_tensors: dict[str, torch.Tensor],
             extra: dict[str, Any]) -> None:
        """Checkpoint the training state of `setup` at `step` (atomically)."""
        if self.writer:
            save_training_state(self.checkpoint, step=step, config=setup.config.to_dict(), modules=_modules(setup),
                                optimizers={"opt_g": setup.opt_g, "opt_d": setup.opt_d}, rngs=rngs,
                                extra_tensors=extra_tensors, extra=extra)

    def write_summary(self, summary: dict[str, Any]) -> None:
        text = json.dumps(summary, indent=2, allow_nan=True) + "\n"
        atomic_write(self.path / "summary.json", lambda tmp: tmp.write_text(text))


def _modules(setup: Setup) -> dict[str, torch.nn.Module]:
    return {"generator": setup.generator, "critic": setup.critic, **({"ema": setup.ema} if setup.ema is not None else {})}


@dataclass
class LoadedRun:
    """A run rebuilt from its folder: `setup` with the last checkpoint's weights (generator, critic, EMA).

    Attributes:
        setup: built on the CPU from the run's config.
        step: the generator step of the checkpoint.
        sampler: the generator to draw from (the EMA generator when asked for and kept), in eval mode.
    """

    setup: Setup
    step: int
    sampler: torch.nn.Module

    @property
    def config(self) -> TrainConfig:
        return self.setup.config


def load_run(run_dir: str | Path, *, ema: bool = True) -> LoadedRun:
    """The run in `run_dir` rebuilt from its checkpoint's config and weights, on the CPU.

    With `ema=True` the EMA weights are sampled when the run kept them. Raises FileNotFoundError when the
    folder or its checkpoint is missing and ValueError for a checkpoint of another format or shapes.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {str(run_dir)!r}")
    path = run_dir / CHECKPOINT_NAME
    tensors, meta = load_checkpoint(path)
    config = _config_from_meta(meta, f"checkpoint {str(path)!r}")
    setup = build(config, device="cpu")
    for name, module in _modules(setup).items():
        if name in meta.get("modules", []):
            load_module_tensors(name, module, tensors)
    use_ema = ema and setup.ema is not None
    sampler = setup.ema if use_ema else setup.generator
    return LoadedRun(setup=setup, step=int(meta["step"]), sampler=sampler.eval())


def evaluate_run(run_dir: str | Path, n: int = 2500) -> dict[str, Any]:
    """The evaluation of a run's last checkpoint on n samples (EMA generator when the run has one).

    Uses the run's own evaluation latents and real batch (seeded from its config), so with
    n = config.eval_samples it reproduces the run's final evaluation. Returns {"step", "n", "ema", metrics...}.
    Raises FileNotFoundError when the run folder has no checkpoint.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer number of samples, got {n!r}")
    run = load_run(run_dir)
    setup = run.setup
    z_eval = eval_latents(setup.seeds, setup.latent_dim, n)
    evaluator = make_evaluator(setup.dataset, z_eval, seed=setup.seeds["eval"], features=setup.config.eval_features,
                               weights=setup.config.eval_weights)
    metrics, _ = evaluator(run.sampler, setup.critic, step=run.step)
    return {"step": run.step, "n": n, "ema": setup.ema is not None, **metrics}
