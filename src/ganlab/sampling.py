"""Draw samples from a trained run: x = G(z), z ~ N(0, I), with the run's last checkpoint.

`load_generator` rebuilds the generator from the run's own config (stored in the checkpoint) and
loads its weights (the EMA weights when the run kept an EMA and `ema=True`); `sample_from_run`
draws n samples in batches from a seeded latent stream, so the same (run, n, seed, batch_size) always gives
the same points.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ganlab.checkpoint import load_checkpoint, load_module_tensors
from ganlab.config import TrainConfig, from_saved_run

__all__ = ["load_generator", "sample_from_run"]


def load_generator(run_dir: str | Path, *, ema: bool = True) -> tuple[nn.Module, TrainConfig]:
    """(generator in eval mode on the CPU, the run's TrainConfig) from `run_dir`'s last checkpoint.

    With `ema=True` the EMA weights are loaded when the run has them (config.ema > 0), else the raw
    generator's. Raises FileNotFoundError when the folder or its checkpoint is missing.
    """
    from ganlab.data.toy import get_toy_dataset
    from ganlab.train import CHECKPOINT_NAME, build_models, stream_seeds

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {str(run_dir)!r}")
    path = run_dir / CHECKPOINT_NAME
    tensors, meta = load_checkpoint(path)
    if "config" not in meta:
        raise ValueError(f"checkpoint {str(path)!r} has no config")
    config = from_saved_run(meta["config"], where=f"checkpoint {str(path)!r}")
    dataset = get_toy_dataset(config.data, **config.data_params)
    generator, _ = build_models(config, dataset.dim, seed=stream_seeds(config.seed)["init"])
    prefix = "ema" if ema and "ema" in meta.get("modules", []) else "generator"
    load_module_tensors(prefix, generator, tensors)
    return generator.eval(), config


@torch.no_grad()
def sample_from_run(
    run_dir: str | Path,
    n: int,
    *,
    seed: int = 0,
    ema: bool = True,
    batch_size: int = 4096,
) -> Tensor:
    """n samples G(z_i), z_i ~ N(0, I) drawn from `torch.Generator().manual_seed(seed)`.

    Shapes: returns (n, dim) float32 on the CPU (dim of the run's data).
    Raises ValueError for n < 1 or batch_size < 1, FileNotFoundError for a missing run.
    """
    for name, value in (("n", n), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    generator, config = load_generator(run_dir, ema=ema)
    g = torch.Generator().manual_seed(int(seed))
    out = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), config.latent_dim, generator=g)
        out.append(generator(z))
    return torch.cat(out).float()
