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

    from ganlab.checkpoint import load_checkpoint, load_module_tensors
    from ganlab.data.toy import get_toy_dataset
    from ganlab.sampling import sample_from_run
    from ganlab.train import CHECKPOINT_NAME, build_models, stream_seeds

    out = Path(args.out)
    if out.suffix not in (".npz", ".png"):
        raise ValueError(f"--out must end in .npz or .png, got {str(out)!r}")
    if args.n < 1:
        raise ValueError(f"-n must be a positive number of samples, got {args.n}")
    samples = sample_from_run(args.run_dir, args.n, seed=args.seed, ema=not args.no_ema)
    tensors, meta = load_checkpoint(Path(args.run_dir) / CHECKPOINT_NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        np.savez(out, samples=samples.numpy(), seed=np.int64(args.seed), step=np.int64(meta["step"]))
    else:
        from ganlab.config import from_saved_run
        from ganlab.report import plot_samples

        config = from_saved_run(meta["config"], where="checkpoint")
        dataset = get_toy_dataset(config.data, **config.data_params)
        _, critic = build_models(config, dataset.dim, seed=stream_seeds(config.seed)["init"])
        load_module_tensors("critic", critic, tensors)
        real = dataset.sample(min(args.n, 2500), generator=torch.Generator().manual_seed(args.seed + 1))
        plot_samples(out, samples, real, critic=critic, modes=dataset.modes,
                     title=f"{config.recipe} on {config.data}, step {meta['step']}, {args.n} samples")
    print(f"wrote {args.n} samples of {args.run_dir} (step {meta['step']}) to {out}")
    return 0
