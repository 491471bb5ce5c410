"""Grid tuning, rounds 2 to 4: one change at a time against the wgan-gp-toy grid setting (docs/TOY_SUITE.md).

Each variant is one `ganlab train` process (1 torch thread) with every setting pinned on its command line,
evaluated every `eval_every` steps so its high-quality trajectory is kept, and timed with the process's
user CPU seconds. `--jobs N` runs N at once. Finished runs (a `summary.json` in their folder) are skipped.

    python benchmarks/grid_tuning.py --jobs 2                     # all variants, then the JSON
    python benchmarks/grid_tuning.py --only gw128-s0 gw128-s1     # some of them
    python benchmarks/grid_tuning.py --collect                    # only rebuild the JSON from the run folders
    python benchmarks/grid_tuning.py --rescore RUN_DIR ...        # high quality with / without the EMA,
                                                                  # on three other batches of 2500 latents
    python benchmarks/grid_tuning.py --diagnose RUN_DIR ...       # where the low-quality samples lie
                                                                  # (ganlab.metrics.modes.low_quality_profile)

Output: benchmarks/results/toy_modes_grid_tuning.json, one record per run (resolved config, final metrics,
trajectory, wall and CPU seconds); runs finished in --runs-dir replace their record, the others are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ganlab.files import atomic_write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (tomli is a dependency there)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "toy_modes_grid_tuning.json"

# Rounds 2 and 3 ran with the toy script's lambda = 0.1, batch 256 and Adam beta2 = 0.9; configs/toy/grid.toml now
# holds round 3's lambda = 1 and round 4's beta2 = 0.999, so every base pins all three (a later flag wins:
# `--gp_weight=1` after it is a round-3 change, `--beta2=0.99` a round-4 one). All of them ran before the closed-form
# critic step (ganlab.models.mlp_backward), so the bases pin critic_backward = autograd too, and before the grid
# file's late learning-rate decay, so they pin lr_decay = none and lr_decay_start = 0 (the lrlin variants' later
# --lr_decay=linear wins: they decayed over the whole run).
_GP = "--gp_weight=0.1 --batch_size=256 --beta2=0.9 --critic_backward=autograd --lr_decay=none --lr_decay_start=0"
_G64 = f"--g_width=64 --g_depth=3 --steps=18000 {_GP}"  # the `long` setting round 2 started from
_G128 = f"--g_width=128 --g_depth=3 --steps=20000 {_GP}"  # the `wide` setting
_DEEP = f"--g_width=128 --g_depth=4 --steps=18000 {_GP}"  # the `deep` setting (round 3's base)
_GP1 = f"{_DEEP} --gp_weight=1"  # `gp1` (round 4's base)

#: name -> (seed, eval_every, pinned overrides); the seed is also in the name.
VARIANTS: dict[str, tuple[int, int, str]] = {
    **{f"lat8-s{s}": (s, 3000, f"{_G64} --latent_dim=8") for s in (0, 1)},
    **{f"lrlin-s{s}": (s, 3000, f"{_G64} --lr_decay=linear") for s in (0, 1)},
    **{f"nc2-s{s}": (s, 3000, f"{_G64} --n_critic=2 --steps=36000") for s in (0, 1)},
    **{f"gw128-s{s}": (s, 3000, f"--g_width=128 --g_depth=3 --steps=18000 {_GP}") for s in (0, 1)},
    **{f"gw256-s{s}": (s, 3000, f"--g_width=256 --g_depth=3 --steps=18000 {_GP}") for s in (0, 1)},
    **{f"gw128nc2-s{s}": (s, 3000, f"--g_width=128 --g_depth=3 --n_critic=2 --steps=36000 {_GP}") for s in (0, 1)},
    "w-gp10-s0": (0, 3000, f"{_G128} --gp_weight=10"),
    **{f"w-ema999-s{s}": (s, 3000, f"{_G128} --ema=0.999") for s in (0, 3)},
    **{f"w-lrlin-s{s}": (s, 3000, f"{_G128} --lr_decay=linear") for s in (0, 3)},
    **{f"w-dw128-s{s}": (s, 3000, f"{_G128} --d_width=128 --steps=14000") for s in (0, 3)},
    **{f"w-gd4-s{s}": (s, 3000, f"{_G128} --g_depth=4") for s in (0, 3)},
    **{f"w-b512-s{s}": (s, 3000, f"{_G128} --batch_size=512 --steps=14000") for s in (0, 3)},
    **{f"d-b512-s{s}": (s, 2500, f"{_DEEP} --batch_size=512 --steps=15000") for s in (1, 4)},
    **{f"d-lrg5-s{s}": (s, 2500, f"{_DEEP} --lr_g=5e-4") for s in (1, 4)},
    **{f"d-lrg2-s{s}": (s, 2500, f"{_DEEP} --lr_g=2e-3") for s in (1, 4)},
    **{f"d-20k-s{s}": (s, 2500, f"{_DEEP} --steps=20000") for s in (1, 4)},
    # round 3: on the deep setting's two weakest seeds
    **{f"d-gd5-s{s}": (s, 2500, f"{_DEEP} --g_depth=5") for s in (1, 4)},
    **{f"d-gp1-s{s}": (s, 2500, f"{_DEEP} --gp_weight=1") for s in (1, 4)},
    **{f"d-gp003-s{s}": (s, 2500, f"{_DEEP} --gp_weight=0.03") for s in (1, 4)},
    **{f"d-leaky-s{s}": (s, 2500, f"{_DEEP} --activation=leaky_relu") for s in (1, 4)},
    # round 3, after the 5-seed `gp1` sweep (lambda = 1): larger lambdas on its two weakest seeds
    **{f"d-gp2-s{s}": (s, 2500, f"{_DEEP} --gp_weight=2") for s in (2, 3)},
    **{f"d-gp3-s{s}": (s, 2500, f"{_DEEP} --gp_weight=3") for s in (2, 3)},
    **{f"d-gp1-20k-s{s}": (s, 2500, f"{_DEEP} --gp_weight=1 --steps=20000") for s in (2, 3)},
    **{f"d-gp1-b512-s{s}": (s, 2500, f"{_DEEP} --gp_weight=1 --batch_size=512 --steps=15000") for s in (2, 3)},
    **{f"d-gp05-s{s}": (s, 2500, f"{_DEEP} --gp_weight=0.5") for s in (2, 3)},
    **{f"d-gp15-s{s}": (s, 2500, f"{_DEEP} --gp_weight=1.5") for s in (2, 3)},
    **{f"d-gp1-b0-s{s}": (s, 2500, f"{_DEEP} --gp_weight=1 --beta1=0") for s in (2, 3)},
    **{f"d-gp1-ema998-s{s}": (s, 2500, f"{_DEEP} --gp_weight=1 --ema=0.998") for s in (2, 3)},
    # round 4, against `gp1` on its weakest seed (3) and the seed batch 512 broke (0): the knobs never tuned
    **{f"g1-b2-99-s{s}": (s, 2500, f"{_GP1} --beta2=0.99") for s in (3, 0)},
    **{f"g1-dd4-s{s}": (s, 2500, f"{_GP1} --d_depth=4") for s in (3, 0)},
    # round 4, after the 5-seed `b2-99` sweep: PyTorch's default beta2 on its weakest seed (2) and on seed 3
    **{f"g1-b2-999-s{s}": (s, 2500, f"{_GP1} --beta2=0.999") for s in (2, 3)},
}


def command(name: str, run_dir: Path) -> list[str]:
    seed, eval_every, overrides = VARIANTS[name]
    return [sys.executable, "-m", "ganlab", "train", "--config", str(ROOT / "configs" / "toy" / "grid.toml"),
            "--seed", str(seed), "--threads", "1", "--no-progress", f"--eval_every={eval_every}", "--ckpt_every=0",
            "--log_every=1000", "--out", str(run_dir), *overrides.split()]


def run(name: str, runs_dir: Path) -> None:
    run_dir = runs_dir / name
    if (run_dir / "summary.json").is_file():
        return
    if run_dir.exists():
        raise SystemExit(f"{run_dir} holds an unfinished run: remove it first")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log = run_dir.with_name(name + ".log")
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(command(name, run_dir), stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, even when several run at once
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name} failed; see {log}")
    timing = {"wall_seconds": time.perf_counter() - t0, "user_cpu_seconds": usage.ru_utime}
    (run_dir / "timing.json").write_text(json.dumps(timing) + "\n")
    print(f"{name}: done", flush=True)


def record(run_dir: Path) -> dict:
    """One JSON record from a finished run folder and its timing.json (written by `run`)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    config = tomllib.loads((run_dir / "config.toml").read_text())
    rows = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    timing_file = run_dir / "timing.json"
    if timing_file.is_file():
        timing = json.loads(timing_file.read_text())
    else:  # finished but stopped before `run` could time it
        timing = {"wall_seconds": summary.get("wall_seconds"), "user_cpu_seconds": None}
    return {
        "name": run_dir.name, "overrides": VARIANTS.get(run_dir.name, (None, None, None))[2],
        "seed": config["seed"], "steps": config["steps"],
        **{k: summary[k] for k in ("modes", "high_quality", "reverse_kl", "w1")}, **timing,
        "trajectory": [(r["step"], r["modes"], r["high_quality"], round(r["reverse_kl"], 4))
                       for r in rows if "high_quality" in r],
        "config": config,
    }


def rescore(run_dirs: list[str]) -> None:
    import torch

    from ganlab.data.toy import get_toy_dataset
    from ganlab.metrics.modes import mode_metrics
    from ganlab.sampling import sample_from_run

    torch.set_num_threads(1)
    dataset = get_toy_dataset("grid")
    for run_dir in run_dirs:
        cells = [f"{'ema' if ema else 'raw'} latents {seed}: "
                 f"{100 * mode_metrics(sample_from_run(run_dir, 2500, seed=seed, ema=ema), dataset).high_quality:.1f}"
                 for ema in (True, False) for seed in (0, 1, 2)]
        print(Path(run_dir).name, "; ".join(cells))


def diagnose(run_dirs: list[str]) -> None:
    """High quality, the low-quality bands, the largest bridges and the spread of each run's final generator,
    with and without the EMA, on toy_modes.py's held-out latents (FRESH_N of seed FRESH_SEED)."""
    import torch
    from toy_modes import FRESH_N, FRESH_SEED

    from ganlab.data.toy import get_toy_dataset
    from ganlab.metrics.modes import low_quality_profile, mode_metrics, spread_of_real_data
    from ganlab.sampling import sample_from_run

    torch.set_num_threads(1)
    dataset = get_toy_dataset("grid")
    print(f"real data: high quality 98.89 %, spread {spread_of_real_data(2):.3f}")
    for run_dir in run_dirs:
        for ema in (True, False):
            x = sample_from_run(run_dir, FRESH_N, seed=FRESH_SEED, ema=ema)
            hq = mode_metrics(x, dataset, compute_w1=False).high_quality
            p = low_quality_profile(x, dataset)
            top = ", ".join(f"{a}-{b} {100 * f:.2f}" for (a, b), f in p.bridges[:4])
            print(f"{Path(run_dir).name} {'ema' if ema else 'raw'}: high quality {100 * hq:.2f} %, "
                  f"3-4 std {100 * p.near:.2f} %, 4-6 std {100 * p.mid:.2f} %, >= 6 std {100 * p.far:.2f} % "
                  f"on {len(p.bridges)} mode pairs (largest: {top}); spread {p.spread:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=sorted(VARIANTS), help="run these variants (default: all)")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (one process, one thread each)")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "grid_tuning")
    p.add_argument("--collect", action="store_true", help="no training: update the JSON from --runs-dir")
    p.add_argument("--rescore", nargs="+", metavar="RUN_DIR", help="no training: EMA vs raw high quality")
    p.add_argument("--diagnose", nargs="+", metavar="RUN_DIR", help="no training: where the low-quality samples lie")
    args = p.parse_args()
    if args.diagnose:
        diagnose(args.diagnose)
        return
    if args.rescore:
        rescore(args.rescore)
        return
    if not args.collect:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(lambda n: run(n, args.runs_dir), args.only or list(VARIANTS)))
    # Runs finished in --runs-dir replace their saved record; saved records of runs not on disk are kept.
    saved = {r["name"]: r for r in json.loads(OUT.read_text())} if OUT.is_file() else {}
    saved.update({n: record(args.runs_dir / n) for n in VARIANTS if (args.runs_dir / n / "summary.json").is_file()})
    # every record shows today's command line of its variant (tests/test_benchmark_commands.py checks that it
    # still resolves to the config the run saved)
    records = [{**saved[n], "overrides": VARIANTS[n][2]} for n in VARIANTS if n in saved]
    text = json.dumps(records, indent=1) + "\n"
    atomic_write(OUT, lambda tmp: tmp.write_text(text))
    for r in records:
        cpu = "?" if r["user_cpu_seconds"] is None else f"{r['user_cpu_seconds']:.0f}"
        print(f"{r['name']:12s} modes {r['modes']:2d}  high quality {100 * r['high_quality']:5.1f} %  "
              f"rKL {r['reverse_kl']:.4f}  CPU s {cpu}")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(records)} runs)")


if __name__ == "__main__":
    main()
