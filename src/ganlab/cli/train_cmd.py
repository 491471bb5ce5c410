"""`ganlab train`: train a GAN on a toy distribution and print its mode metrics.

With no arguments: WGAN-GP (lecture 001 Algorithm 1) as its authors' toy script runs it (recipe
wgan-gp-toy: MLP 512 x 3, lambda 0.1, Adam betas (0.5, 0.9)) on the 8-mode ring, 600 generator
steps, in about a minute on 2 idle CPU cores. The config is resolved as
TrainConfig defaults < --recipe < --config FILE < these flags < --key=value overrides
(any TrainConfig field, e.g. --lr_d=2e-4 --n_critic=3 --data_params.theta=0.5).

Examples:
    ganlab train
    ganlab train --recipe wgan --data grid --steps 5000
    ganlab train --recipe fgan-kl --data mixture-1d --ema=0.999
    ganlab train --resume --out runs/wgan-gp-toy-ring-s0 --steps 3000
    torchrun --nproc_per_node=2 -m ganlab train --steps 2000     (data parallel)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "format_summary"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[1] if __doc__ else None
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "Any TrainConfig field can be set with --key=value; see docs/TRAINING.md."
    parser.add_argument("--config", default=None, metavar="FILE", help="TOML file with TrainConfig fields")
    parser.add_argument("--recipe", default=None, help="named defaults: wgan-gp-toy (default), wgan-gp, wgan, gan, "
                                                       "nsgan, sngan, sngan-hinge, fgan-<divergence>")
    parser.add_argument("--data", default=None, help="toy dataset: ring (default), grid, 8gaussians, "
                                                     "25gaussians, swissroll, parallel-lines, mixture-1d")
    parser.add_argument("--steps", type=int, default=None, help="generator steps")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    parser.add_argument("--out", default=None, metavar="DIR", help="run folder (default runs/<recipe>-<data>-s<seed>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default=None, help="cpu (default), cuda, cuda:1, mps")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-recipes", action="store_true", help="print the recipes with their sources and exit")
    parser.set_defaults(_accepts_overrides=True)


def format_summary(summary: dict[str, Any]) -> str:
    """The few lines printed at the end of a run."""
    lines = [f"{summary['recipe']} on {summary['data']}: {summary['steps']} generator steps "
             f"in {summary['wall_seconds']:.1f} s ({summary['threads']} threads, {summary['device']})"]
    if summary.get("num_modes"):
        lines.append(f"  modes captured   {summary['modes']}/{summary['num_modes']}")
        lines.append(f"  high quality     {100 * summary['high_quality']:.1f} %")
        lines.append(f"  reverse KL       {summary['reverse_kl']:.3f}")
    lines.append(f"  W1 to data       {summary['w1']:.4f}")
    lines.append(f"  critic estimate  {summary['critic_w']:.4f}  (E f(real) - E f(fake))")
    lines.append(f"  run folder       {summary['run_dir']}  ({summary['eval_samples']} samples"
                 f"{', EMA generator' if summary.get('ema') else ''})")
    return "\n".join(lines)


def _list_recipes() -> str:
    from ganlab.recipes import RECIPES

    return "\n".join(f"{name:18s} {r.source}" for name, r in RECIPES.items())


def run(args: argparse.Namespace) -> int:
    from ganlab.config import apply_overrides, from_dict, from_saved_run, read_toml
    from ganlab.recipes import resolve_config
    from ganlab.train import NonFiniteLossError, train

    if args.list_recipes:
        print(_list_recipes())
        return 0
    extra = list(getattr(args, "_extra", []))
    flags = {"data": args.data, "steps": args.steps, "seed": args.seed, "out": args.out,
             "threads": args.threads, "device": args.device}
    if args.resume:
        if args.out is None:
            raise ValueError("--resume needs --out DIR, the run folder to continue")
        if args.recipe is not None or args.config is not None:
            raise ValueError("--resume takes the run's own config.toml; drop --recipe/--config")
        config_path = Path(args.out) / "config.toml"
        if not config_path.is_file():
            raise FileNotFoundError(f"cannot resume: no run in {args.out!r} (missing {str(config_path)!r})")
        config = from_saved_run(read_toml(config_path), where=f"config file {str(config_path)!r}")
        config = from_dict({k: v for k, v in flags.items() if v is not None}, base=config, where="arguments")
        config = apply_overrides(config, extra)
    else:
        config = resolve_config(recipe=args.recipe, config_file=args.config, overrides=extra, **flags)
    try:
        summary = train(config, resume=args.resume, progress=not args.no_progress)
    except NonFiniteLossError as exc:
        print(f"ganlab train: error: {exc}", file=sys.stderr)
        return 1
    if "rank" not in summary:  # under torchrun only process 0 reports
        print(format_summary(summary))
    return 0
