"""Stacked-MNIST modes and KL along one long run: how many generator steps the KL <= 0.1 target takes.

Each seed trains `--recipe` (DCGAN 3 x 28 x 28, batch 64 unless a --train-flag sets another, the recipe's
defaults) for `--steps` generator steps, evaluated every `--eval-every` steps on 26 000 samples (the VEEGAN /
PacGAN protocol; the same fixed latents at every evaluation), each channel labelled by the shipped MNIST classifier. The table lists, per evaluation, the
seconds of training so far (wall time less the evaluations before it), the modes and the KL to uniform, split into
the channels' digit imbalance and their dependence (`ganlab.metrics.stacked_mnist`), under the floor row of
26 000 real training triples. A fixed number of steps, not a time budget, so a busy machine changes the seconds
column only; the seconds say how far the steps are from a CPU budget on this machine.

    python benchmarks/stacked_horizon.py --steps 40000 --eval-every 5000 --threads 1 --write
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from images import _batch, _real_stacked_floor, _run_all  # benchmarks/ is the script's folder

TARGET_KL = 0.1


def trajectory(run_dir: Path) -> list[dict]:
    """The evaluation rows of a run's metrics.jsonl, each with `train_seconds`: its wall_seconds stamp (taken
    before its own evaluation) less the evaluation seconds of the rows before it."""
    rows, evals_before = [], 0.0
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "mode_kl" not in row:
            continue
        rows.append({**row, "train_seconds": row["wall_seconds"] - evals_before})
        evals_before += row["eval_seconds"]
    return rows


def first_below(rows: list[dict], kl: float) -> dict | None:
    """The first evaluation row whose KL is at most `kl`, or None."""
    return next((r for r in rows if r["mode_kl"] <= kl), None)


def table(args: argparse.Namespace, work: Path) -> str:
    floor = _real_stacked_floor()
    specs = [dict(recipe=args.recipe, data="stacked-mnist", budget=0, threads=args.threads, seed=seed,
                  eval_samples=26000, work=work,
                  extra=[f"--steps={args.steps}", f"--eval_every={args.eval_every}", *args.train_flag])
             for seed in args.seeds]
    summaries = _run_all(specs, args.jobs)
    at_once = f", {args.jobs} runs at once" if args.jobs > 1 else ""
    flags = f" with `{' '.join(args.train_flag)}`" if args.train_flag else ""
    lines = [
        f"Stacked MNIST (1000 modes), `{args.recipe}`, DCGAN 3 x 28 x 28 (batch {_batch(args)}){flags}, {args.steps} generator "
        f"steps per seed on {args.threads} thread(s){at_once}, evaluated every {args.eval_every} steps on 26 000 "
        "samples (the same latents each time), each channel labelled by the shipped MNIST classifier. 'training s': "
        "wall seconds of training up to that step, evaluations excluded.",
        "",
        "| seed | step | training s | modes (of 1000) | KL(q ‖ uniform) | = channels' imbalance | + dependence |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| real (floor) | | | {floor.modes} | {floor.kl:.3f} | {sum(floor.channel_kl):.3f} | "
        f"{floor.dependence:.3f} |",
    ]
    verdicts = []
    for spec, s in zip(specs, summaries):
        seed = spec["seed"]
        rows = trajectory(Path(s["run_dir"]))
        for r in rows:
            dependence = max(r["mode_kl"] - r["mode_kl_channels"], 0.0)  # as StackedModes.dependence
            lines.append(f"| {seed} | {r['step']} | {r['train_seconds']:.0f} | {r['modes']:.0f} | {r['mode_kl']:.3f} "
                         f"| {r['mode_kl_channels']:.3f} | {dependence:.3f} |")
        if "error" in s:
            lines.append(f"| {seed} | {s['steps']} | | stopped: non-finite value | | | |")
        hit = first_below(rows, TARGET_KL)
        best = min(rows, key=lambda r: r["mode_kl"]) if rows else None
        verdicts.append(
            f"seed {seed}: KL <= {TARGET_KL} first at step {hit['step']} ({hit['train_seconds']:.0f} s of training)"
            if hit else f"seed {seed}: KL <= {TARGET_KL} not reached in {s['steps']} steps"
            + (f" (lowest {best['mode_kl']:.3f} at step {best['step']})" if best else ""))
        print(verdicts[-1], flush=True)
    lines += ["", "; ".join(verdicts) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="nsgan")
    parser.add_argument("--steps", type=int, default=40000)
    parser.add_argument("--eval-every", type=int, default=4000)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, each in its own process (default 1)")
    parser.add_argument("--train-flag", action="append", default=[], metavar="FLAG",
                        help="one more `ganlab train` flag for every run (repeat it for more)")
    parser.add_argument("--work", default=None, help="run folders (default: a temporary folder)")
    parser.add_argument("--write", action="store_true", help="rewrite the section of docs/BENCHMARKS.md")
    parser.add_argument("--suffix", default="", help="appended to the section name (stacked_horizon)")
    args = parser.parse_args()
    for name, value in (("--steps", args.steps), ("--eval-every", args.eval_every)):
        if value < 1:
            raise SystemExit(f"{name} must be a positive number of generator steps, got {value}")
    torch.set_num_threads(args.threads)
    # a folder of its own inside --work: the run folders' names are those of benchmarks/images.py's runs
    work = (Path(args.work) / "horizon") if args.work else Path(tempfile.mkdtemp(prefix="ganlab-horizon-"))
    command = "python benchmarks/stacked_horizon.py " + " ".join(
        ([f"--recipe {args.recipe}"] if args.recipe != "nsgan" else [])
        + [f"--steps {args.steps}", f"--eval-every {args.eval_every}"]
        + (["--seeds", *map(str, args.seeds)] if args.seeds != [0] else [])
        + [f"--threads {args.threads}"] + ([f"--jobs {args.jobs}"] if args.jobs > 1 else [])
        + [f"--train-flag={flag}" for flag in args.train_flag]
        + ([f"--suffix {args.suffix}"] if args.suffix else []) + ["--write"])
    from _report import machine_line, write_section

    t0 = time.perf_counter()
    text = f"{machine_line()}\n\n    {command}\n\n{table(args, work)}\n"
    print(text)
    if args.write:
        write_section(f"stacked_horizon{args.suffix}", text)
    print(f"{time.perf_counter() - t0:.0f} s in all; run folders in {work}")


if __name__ == "__main__":
    main()
