"""Draw samples from a trained run: x = G(z), z ~ N(0, I), with the run's last checkpoint.

`sample_from_run` rebuilds the run from its folder (`ganlab.runs.load_run`: the EMA generator when
the run kept one and `ema=True`) and draws n samples in batches from a seeded latent stream, so the
same (run, n, seed, batch_size) always gives the same points.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ganlab.runs import load_run

__all__ = ["sample_from_run", "draw"]


def _check_counts(n: int, batch_size: int) -> None:
    for name, value in (("n", n), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


@torch.no_grad()
def draw(generator: torch.nn.Module, latent_dim: int, n: int, *, seed: int = 0, batch_size: int = 4096) -> Tensor:
    """n samples G(z_i), z_i ~ N(0, I) from `torch.Generator().manual_seed(seed)`, in batches, on the CPU (float32)."""
    _check_counts(n, batch_size)
    g = torch.Generator().manual_seed(int(seed))
    out = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), latent_dim, generator=g)
        out.append(generator(z).float())
    return torch.cat(out)


def sample_from_run(run_dir: str | Path, n: int, *, seed: int = 0, ema: bool = True, batch_size: int = 4096) -> Tensor:
    """n samples of the run in `run_dir` (see `draw`). Shapes: returns (n, *data shape) float32 on the CPU.

    Raises ValueError for n < 1 or batch_size < 1, FileNotFoundError for a missing run.
    """
    _check_counts(n, batch_size)
    run = load_run(run_dir, ema=ema)
    return draw(run.sampler, run.setup.latent_dim, n, seed=seed, batch_size=batch_size)
