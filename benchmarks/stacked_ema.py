"""A Stacked-MNIST run's EMA generator scored four ways, to tell a batch-norm mismatch from the average's lag.

    θ_ema ← d θ_ema + (1 − d) θ at every generator step (`ganlab.steps.ema_update_`); the batch-norm running
    statistics are copied from the raw generator, so the EMA weights are sampled with statistics of other weights.

The four samplers, each scored on the same 26 000 latents (seed 1) by the Stacked-MNIST mode metric (modes, KL to
uniform, and the part of the KL that is the channels' digit imbalance):
  1. the raw generator in eval mode (what `raw_modes`, `raw_mode_kl` in metrics.jsonl score);
  2. the EMA generator in eval mode with the copied running statistics (what ganlab evaluates and samples);
  3. the EMA generator in train mode (each batch of 64 normalized by its own statistics);
  4. the EMA generator in eval mode after its running statistics are recomputed for its own weights: reset, then
     the cumulative average (momentum None) over 100 batches of 64 latents (seed 123) in train mode.
If 3 and 4 score like 1, the copied statistics were the EMA's problem; if they score like 2, the averaged
weights themselves are.

    ganlab train --recipe=nsgan --data=stacked-mnist --model=dcgan --batch_size=64 --steps=10000000 \\
        --time_limit=600 --eval_every=0 --threads=1 --eval_samples=26000 --ema=0.999 --out=runs/stacked-ema
    python benchmarks/stacked_ema.py runs/stacked-ema
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from ganlab.evaluators import StackedMNISTEvaluator
from ganlab.metrics.classifier import load_shipped_classifier
from ganlab.metrics.stacked_mnist import StackedModes
from ganlab.runs import load_run
from ganlab.sampling import draw

N_SAMPLES = 26000
SAMPLE_SEED = 1
RECOMPUTE_BATCHES, RECOMPUTE_BATCH, RECOMPUTE_SEED = 100, 64, 123


@torch.no_grad()
def recompute_batch_norm_(generator: nn.Module, latent_dim: int) -> None:
    """Reset every batch norm's running statistics and refill them with the cumulative average over
    RECOMPUTE_BATCHES batches of G(z) in train mode; in place, the generator left in eval mode."""
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ValueError("the generator has no batch norm whose statistics could be recomputed")
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    generator.train()
    g = torch.Generator().manual_seed(RECOMPUTE_SEED)
    for _ in range(RECOMPUTE_BATCHES):
        generator(torch.randn(RECOMPUTE_BATCH, latent_dim, generator=g))
    generator.eval()


def score(generator: nn.Module, latent_dim: int, evaluator: StackedMNISTEvaluator, *,
          batch_size: int = 4096) -> StackedModes:
    """The mode metric of N_SAMPLES draws G(z), z from seed SAMPLE_SEED, in batches of `batch_size`, in the mode
    the generator is in."""
    return evaluator.modes(draw(generator, latent_dim, N_SAMPLES, seed=SAMPLE_SEED, batch_size=batch_size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a Stacked-MNIST run trained with --ema > 0")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ema_run = load_run(args.run_dir, ema=True)
    if ema_run.setup.ema is None or ema_run.config.data != "stacked-mnist":
        raise SystemExit(f"{args.run_dir!r} is not a Stacked-MNIST run with an EMA generator (train one with "
                         "--ema=0.999, as above)")
    dim = ema_run.setup.latent_dim
    raw = ema_run.setup.generator.eval()  # load_run filled the raw generator's weights too
    ema = ema_run.sampler
    classifier, sha = load_shipped_classifier("mnist")
    ev = StackedMNISTEvaluator(ema_run.setup.dataset, torch.zeros(N_SAMPLES, dim), seed=0, classifier=classifier,
                               weights_sha256=sha)
    rows = [("raw generator, eval mode", score(raw, dim, ev)),
            ("EMA, eval mode, the raw generator's batch-norm statistics", score(ema.eval(), dim, ev)),
            ("EMA, train mode (batches of 64)", score(ema.train(), dim, ev, batch_size=64))]
    recompute_batch_norm_(ema, dim)  # after the train-mode row, whose batches moved the running statistics
    rows.append(("EMA, eval mode, statistics recomputed for its weights", score(ema, dim, ev)))
    print(f"{args.run_dir} at step {ema_run.step}, EMA decay {ema_run.config.ema:g}, {N_SAMPLES} samples, "
          f"{args.threads} thread(s)\n")
    print("| sampler | modes | KL | channels' imbalance |\n| --- | ---: | ---: | ---: |")
    for name, r in rows:
        print(f"| {name} | {r.modes} | {r.kl:.3f} | {sum(r.channel_kl):.3f} |")


if __name__ == "__main__":
    main()
