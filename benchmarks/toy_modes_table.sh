#!/usr/bin/env bash
# Rebuilds the toy_modes section of docs/BENCHMARKS.md from the saved JSON in benchmarks/results/toy_modes/
# (no training). The command lines below are the ones that produced those JSON files; run any of them to redo
# its runs (add --force to overwrite saved ones). The grid's `best`, `long`, `wide` and `deep` sweeps predate parts of
# today's configs/toy/grid.toml (the 128-wide, 4-layer generator; lambda = 1; Adam beta2 = 0.999), or tried a change to it (batch 512, a 96-wide
# critic), so their lines pin the generator, the step counts, the lambda, the batch size and beta2 they ran with.
# Every sweep before `cf` ran before the closed-form critic step existed (ganlab.models.mlp_backward), so its line
# pins critic_backward=autograd, which reproduces it exactly.
# configs/toy/grid.toml's late learning-rate decay (lr_decay = linear from 0.667 of the run) came after every grid
# sweep before `late`, so their lines pin lr_decay=none and lr_decay_start=0.
# Its 27 000 steps came with `late-27k`: every grid line before it pins the steps it ran (18 000 where the file had them).
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/toy_modes.py --from-results --write \
  --command-log \
  "python benchmarks/toy_modes.py --tag screen --steps 1000 --width 64 --seeds 0 1 2 3 4 --fgan-seeds 2 --set critic_backward=autograd --jobs 2   # then the same without --fgan-seeds: f-GAN seeds 2-4" \
  "python benchmarks/toy_modes.py --tag best --config configs/toy/ring.toml --data ring --seeds 0 1 2 3 4 --steps 6000 --set g_width=64 beta2=0.9 critic_backward=autograd --jobs 1" \
  "python benchmarks/toy_modes.py --tag best --config configs/toy/grid.toml --data grid --seeds 0 1 2 3 4 --steps 6000 --set g_width=64 g_depth=3 gp_weight=0.1 batch_size=256 beta2=0.9 critic_backward=autograd lr_decay=none lr_decay_start=0 --jobs 1" \
  "python benchmarks/toy_modes.py --tag long --config configs/toy/ring.toml --data ring --seeds 0 1 2 3 4 --steps 18000 --set g_width=64 beta2=0.9 critic_backward=autograd --jobs 1" \
  "python benchmarks/toy_modes.py --tag long --config configs/toy/grid.toml --data grid --seeds 0 1 2 3 4 --steps 18000 --set g_width=64 g_depth=3 gp_weight=0.1 batch_size=256 beta2=0.9 critic_backward=autograd lr_decay=none lr_decay_start=0 --jobs 1" \
  "python benchmarks/toy_modes.py --tag wide --config configs/toy/grid.toml --data grid --seeds 0 1 2 3 4 --steps 20000 --set g_depth=3 gp_weight=0.1 batch_size=256 beta2=0.9 critic_backward=autograd lr_decay=none lr_decay_start=0 --jobs 2" \
  "python benchmarks/toy_modes.py --tag deep --config configs/toy/grid.toml --data grid --seeds 0 1 2 3 4 --steps 18000 --set gp_weight=0.1 batch_size=256 beta2=0.9 critic_backward=autograd lr_decay=none lr_decay_start=0 --jobs 2" \
  "python benchmarks/toy_modes.py --tag gp1 --config configs/toy/grid.toml --data grid --seeds 0 1 2 3 4 --steps 18000 --set beta2=0.9 critic_backward=autograd lr_decay=none lr_decay_start=0 --jobs 2" \
  "python benchmarks/toy_modes.py --tag gp1-b512 --config configs/toy/grid.toml --data grid --seeds 0 1 2 3 4 --steps 15000 --set batch_size=512 beta2=0.9 critic_backward=autograd lr_decay=none lr_decay_start=0 --jobs 2" \
  "python benchmarks/toy_modes.py --tag dw96 --config configs/toy/grid.toml --data grid --seeds 3 0 1 2 4 --steps 16000 --set d_width=96 beta2=0.9 critic_backward=autograd lr_decay=none lr_decay_start=0 --jobs 2" \
  "python benchmarks/toy_modes.py --tag b2-99 --config configs/toy/grid.toml --data grid --seeds 1 2 4 3 0 --steps 18000 --set beta2=0.99 critic_backward=autograd lr_decay=none lr_decay_start=0 --jobs 2" \
  "python benchmarks/toy_modes.py --tag b2-999 --config configs/toy/grid.toml --data grid --seeds 0 1 4 2 3 --steps 18000 --set critic_backward=autograd lr_decay=none lr_decay_start=0 --jobs 2" \
  "python benchmarks/toy_modes.py --tag b2-999 --config configs/toy/ring.toml --data ring --seeds 2 0 1 3 4 --set critic_backward=autograd --jobs 2" \
  "python benchmarks/toy_modes.py --tag cf --config configs/toy/grid.toml --data grid --seeds 0 1 2 3 4 5 6 7 8 9 --steps 18000 --set lr_decay=none lr_decay_start=0 --jobs 2   # seeds 5-9 in a second call" \
  "python benchmarks/toy_modes.py --tag cf --config configs/toy/ring.toml --data ring --seeds 0 1 2 3 4 --jobs 2" \
  "python benchmarks/toy_modes.py --tag late --config configs/toy/grid.toml --data grid --seeds 0 1 2 3 4 5 6 7 8 9 --steps 18000 --jobs 2" \
  "python benchmarks/toy_modes.py --tag late-27k --config configs/toy/grid.toml --data grid --seeds 7 9 0 1 2 3 4 5 6 8 --jobs 2" \
  "bash benchmarks/toy_modes_table.sh   # this section, from the saved JSON" \
  --note "Concurrency: the screening sweep ran 2 processes at once (f-GAN seeds 0-1 with the other recipes while other jobs shared the machine; f-GAN seeds 2-4 later on a quieter machine, so their wall seconds are lower); the two 'best' sweeps (ring, grid) ran at the same time as each other and, for their first runs, as the end of the screening sweep; the two 'long' sweeps ran side by side (seed 0 in one session step, seeds 1-4 later, the first of those beside the f-GAN screening), and the ring's was rerun later, one process at a time on an otherwise idle machine, with --force --runs-dir to add the held-out scores (every run's metrics came out bit-identical to the saved ones; its times are the rerun's); the 'wide' (128-wide generator, 20 000 steps), 'deep' (128 x 4 generator, 18 000 steps), 'gp1' ('deep' with lambda = 1), 'gp1-b512' ('gp1' with batch 512, 15 000 steps), 'dw96' ('gp1' with a 96-wide critic, 16 000 steps), 'b2-99' ('gp1' with Adam beta2 = 0.99) and 'b2-999' ('gp1' with beta2 = 0.999, the grid file of round 4) grid sweeps each ran 2 processes at once on an otherwise idle machine; the ring's 'b2-999' sweep (the current configs/toy/ring.toml: 'long' with beta2 = 0.999) ran the same way. The 'cf' sweeps (grid seeds 0-4, then ring, then grid seeds 5-9) are the same two files run with the closed-form critic step (critic_backward = auto, ganlab.models.mlp_backward), which 'b2-999' predates: the same gradients up to float rounding, so the same settings on new trajectories; each ran 2 processes at once on an otherwise idle machine. The grid's 'late' sweep ('cf' with both learning rates constant for 2/3 of the run, then decaying linearly to 0) and 'late-27k' (the current configs/toy/grid.toml: 'late' with 27 000 steps) ran the same way. Every recipe ran 5 seeds in the screening table. Target of the issue: 8/8 and 25/25 modes in every seed, >= 97 % high quality, reverse KL <= 0.02, <= 5 CPU-minutes per run; reached and not reached: docs/TOY_SUITE.md."
