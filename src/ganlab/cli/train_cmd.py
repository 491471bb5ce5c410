"""`ganlab train`: train a GAN and print its evaluation.

With no arguments: WGAN-GP (lecture 001 Algorithm 1) on the 8-mode ring with the tuned toy settings
(recipe wgan-gp-quick: the authors' toy script with MLP 64 x 3, Adam lr 1e-3, a generator EMA, one
thread), in about a minute, to 8/8 modes and >= 95 % high-quality samples. The config is resolved as
recipe (named, else wgan-gp-quick) < --config FILE < these flags < --key=value overrides
(any config field, e.g. --lr_d=2e-4 --n_critic=3 --data_params.theta=0.5 --model.g_width=64).

Examples:
    ganlab train
    ganlab train --recipe wgan --data grid --steps 5000
    ganlab train --recipe fgan-kl --data mixture-1d --ema=0.999
    ganlab train --config configs/toy/ring.toml --seed 1
    ganlab train --resume --out runs/wgan-gp-quick-ring-s0 --steps 12000
    torchrun --nproc_per_node=2 -m ganlab train --steps 2000     (data parallel)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

__all__ = ["add_arguments", "run", "format_summary"]


def _epilog() -> str:
    """What the registries hold, so that the help never falls behind the code."""
    from ganlab.lipschitz import LIPSCHITZ
    from ganlab.losses import OBJECTIVES
    from ganlab.models import MODELS

    lines = ["objectives (--loss=NAME):"]
    lines += [f"  {name:<14s}{obj.summary}" for name, obj in OBJECTIVES.items()]
    lines.append("Lipschitz constraints (compose freely):")
    lines += [f"  {name:<18s}{kind}: {', '.join(f'--{f}' for f in fields)}  ({source})"
              for name, (kind, fields, source) in LIPSCHITZ.items()]
    lines.append("model families (--model=NAME, fields as --model.FIELD=VALUE):")
    for name, family in MODELS.items():
        fields = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(family.fields))
        lines.append(f"  {name:<6s}{family.summary}\n        {fields}")
    lines.append("Every other config field: --key=value; see docs/TRAINING.md.")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ganlab.data import DATASETS
    from ganlab.recipes import DEFAULT_RECIPE, RECIPES

    parser.description = __doc__.split("\n\n")[1] if __doc__ else None
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _epilog()
    parser.add_argument("--config", default=None, metavar="FILE", help="TOML file with config fields")
    parser.add_argument("--recipe", default=None,
                        help=f"named defaults (default {DEFAULT_RECIPE}): {', '.join(RECIPES)}")
    parser.add_argument("--data", default=None, help=f"data set (default ring): {', '.join(DATASETS)}")
    parser.add_argument("--steps", type=int, default=None, help="generator steps")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    parser.add_argument("--out", default=None, metavar="DIR", help="run folder (default runs/<recipe>-<data>-s<seed>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the recipe's; 0 = torch's choice)")
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
    if "w1" in summary:
        lines.append(f"  W1 to data       {summary['w1']:.4f}")
    lines.append(f"  critic estimate  {summary['critic_w']:.4f}  (E f(real) - E f(fake))")
    lines.append(f"  run folder       {summary['run_dir']}  ({summary['eval_samples']} samples"
                 f"{', EMA generator' if summary.get('ema') else ''})")
    return "\n".join(lines)


def _list_recipes() -> str:
    from ganlab.recipes import RECIPES

    return "\n".join(f"{name:18s} {r.source}" for name, r in RECIPES.items())


def run(args: argparse.Namespace) -> int:
    from ganlab.config import apply_overrides, from_dict
    from ganlab.recipes import DEFAULT_RECIPE, resolve_config
    from ganlab.runs import read_run_config
    from ganlab.train import Interrupted, NonFiniteLossError, train

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
        try:
            config = read_run_config(args.out)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"cannot resume: {exc}") from None
        config = from_dict({k: v for k, v in flags.items() if v is not None}, base=config, where="arguments")
        config = apply_overrides(config, extra)
    else:
        config = resolve_config(recipe=args.recipe, config_file=args.config, overrides=extra,
                                default=DEFAULT_RECIPE, **flags)
    try:
        summary = train(config, resume=args.resume, progress=not args.no_progress)
    except NonFiniteLossError as exc:
        print(f"ganlab train: error: {exc}", file=sys.stderr)
        return 1
    except Interrupted as exc:  # 128 + the signal number, as a shell reports a process that the signal ended
        if exc.rank == 0:  # under torchrun every process stops; process 0 says so
            print(f"ganlab train: {exc}", file=sys.stderr)
        return 128 + exc.signum
    if "rank" not in summary:  # under torchrun only process 0 reports
        print(format_summary(summary))
        print(f"report: {summary['report']}")
    return 0
