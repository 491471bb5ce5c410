"""`ganlab sample RUN_DIR -n N --out FILE.npz|.png`: draw samples from a trained run.

A `.npz` file gets the array `samples` (N, D) float32 (plus `seed` and the run's `step`); a `.png`
gets a scatter of the samples over real data with the critic's value surface (2-D data) or
histograms (1-D data).
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `ganlab train`")
    parser.add_argument("-n", "--num-samples", dest="n", type=int, default=2500, help="number of samples (default 2500)")
    parser.add_argument("--out", required=True, metavar="FILE", help="output file, .npz (array) or .png (figure)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent draws (default 0)")
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator even if the run kept an EMA")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ganlab.files import atomic_write
    from ganlab.runs import load_run
    from ganlab.sampling import draw

    out = Path(args.out)
    if out.suffix not in (".npz", ".png"):
        raise ValueError(f"--out must end in .npz or .png, got {str(out)!r}")
    if args.n < 1:
        raise ValueError(f"-n must be a positive number of samples, got {args.n}")
    run = load_run(args.run_dir, ema=not args.no_ema)
    samples = draw(run.sampler, run.setup.latent_dim, args.n, seed=args.seed)
    if out.suffix == ".npz":
        arrays = {"samples": samples.numpy(), "seed": np.int64(args.seed), "step": np.int64(run.step)}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a file object: numpy would append .npz to the temporary name
                np.savez(fh, **arrays)

        atomic_write(out, write)
    else:
        from ganlab.report import plot_figure

        config = run.config
        real = run.setup.dataset.sample(min(args.n, 2500), generator=torch.Generator().manual_seed(args.seed + 1))
        plot_figure(out, samples, real, critic=run.setup.critic, modes=run.setup.dataset.modes,
                    title=f"{config.recipe} on {config.data}, step {run.step}, {args.n} samples")
    print(f"wrote {args.n} samples of {args.run_dir} (step {run.step}) to {out}")
    return 0
