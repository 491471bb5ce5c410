"""Throughput of data parallelism: one process against two gloo processes, gradients all-reduced during the
backward (overlap) or after it.

    rate = T / (t_{1+T} - t_1)        generator steps/s of process 0 over T timed steps after one warm-up step
    images/s = world_size · batch · rate          speed-up = images/s of 2 processes / images/s of 1 process

Every configuration runs ganlab's real `ganlab.train.train` loop in fresh processes started by
torch.multiprocessing (as tests/test_distributed.py does), each process with 1 torch thread and its own data,
latent and penalty streams: `--model=dcgan` (the DCGAN paper's widths) with batch 64 per process, for the recipes
`wgan-gp` (n_critic 5, gradient penalty 10, layer-norm critic) and `nsgan` (n_critic 1, no penalty), on the 8 x 8
digits and on Fashion-MNIST 28 x 28 (its rows are skipped when `ganlab.data.get_dataset('fashion-mnist')` finds
no files). Two processes run with `GANLAB_DDP_OVERLAP=1` (buckets of `ganlab.distributed.BUCKET_CAP_BYTES`
all-reduced from hooks during the backward) and `=0` (one all-reduce per dtype after it). The rate comes from
the `wall_seconds` stamps of process 0's metrics.jsonl at step 1 and step 1 + T, as in benchmarks/image_speed.py
(setup, process start and the checkpoint at the end are outside the window); the run's evaluator and its
end-of-run figures and report are replaced by no-ops, as in the tests. nsgan runs 5 T steps, so that every run
does about the same number of critic updates. Each process counts its all-reduces (`World.launched_in_backward`,
`World.reduced_after_backward`), reported per generator step of the whole run.

The configurations of a (data, recipe) pair alternate within each repeat (the order rotated every repeat), so
that other jobs on the machine slow them alike; the table gives medians over the repeats.

    python benchmarks/distributed_speed.py --repeats 3 --steps 8 --write
    python benchmarks/distributed_speed.py --steps 2 --repeats 1                # a quick check, prints only
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.multiprocessing as mp

from ganlab.distributed import BUCKET_CAP_BYTES, OVERLAP_ENV
from ganlab.recipes import RECIPES

TIMED_RECIPES: tuple[str, ...] = ("wgan-gp", "nsgan")
DATA: tuple[str, ...] = ("digits", "fashion-mnist")
BATCH = 64
SECTION = "distributed_speed"
RELIABILITY_MD = Path(__file__).resolve().parent.parent / "docs" / "RELIABILITY.md"
DATA_PARALLEL_HEADING = "## Data parallel"


class Setting(NamedTuple):
    """How many processes, and whether they overlap the all-reduces with the backward (None: one process)."""

    processes: int
    overlap: bool | None

    def label(self) -> str:
        return "none" if self.overlap is None else ("during the backward" if self.overlap else "after the backward")


SETTINGS = (Setting(1, None), Setting(2, False), Setting(2, True))


def timed_steps(recipe: str, steps: int) -> int:
    """Timed generator steps of a run of `recipe`: `steps` for n_critic 5, scaled by 5 / n_critic (nsgan: 5x)."""
    return steps * max(1, 5 // RECIPES[recipe].fields["n_critic"])


def overrides(recipe: str, data: str, out: Path, steps: int) -> list[str]:
    """ganlab's run: `recipe` with the DCGAN family on `data`, batch 64 per process, 1 thread, logged only at step 1
    and at the last step 1 + steps, evaluated and checkpointed only at the end."""
    return [f"--recipe={recipe}", f"--data={data}", "--model=dcgan", f"--batch_size={BATCH}", f"--steps={1 + steps}",
            f"--log_every={2 + steps}", "--eval_every=0", "--ckpt_every=0", "--eval_samples=64", "--threads=1",
            f"--out={out}"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoEvaluation:
    """Stands in for the run's evaluator: the end-of-run evaluation is outside the timing and only costs time."""

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[dict, None]:
        return {}, None

    def figure(self, *args: Any, **kwargs: Any) -> None:
        pass


def _worker(rank: int, size: int, port: int, argv: list[str], overlap: bool, cap: int, counts: str) -> None:
    """Process `rank` of `size`: train `argv` and, on process 0, write its all-reduce counts to the file `counts`."""
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(size), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), OVERLAP_ENV: "1" if overlap else "0",
                       "OMP_NUM_THREADS": "1"})
    torch.set_num_threads(1)
    import ganlab.distributed as distributed
    import ganlab.train as train_mod
    from ganlab.recipes import resolve_config

    distributed.BUCKET_CAP_BYTES = cap
    worlds: list[distributed.World] = []
    build = train_mod.build

    class CountedWorld(distributed.World):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            worlds.append(self)

    def lean_build(*args: Any, **kwargs: Any) -> Any:
        setup = build(*args, **kwargs)
        setup.evaluator = _NoEvaluation()
        return setup

    train_mod.World, train_mod.build, train_mod._finish = CountedWorld, lean_build, lambda *a, **k: {}
    train_mod.train(resolve_config(overrides=argv), progress=False)
    if rank == 0:
        Path(counts).write_text(json.dumps({"launched_in_backward": worlds[0].launched_in_backward,
                                            "reduced_after_backward": worlds[0].reduced_after_backward}))


def run_rate(recipe: str, data: str, setting: Setting, steps: int, cap: int) -> dict[str, float]:
    """One run of `setting`: generator steps/s of process 0 over `steps` steps after its first, and its
    all-reduces per generator step (in the backward, after it)."""
    processes, overlap = setting
    with tempfile.TemporaryDirectory() as tmp:
        out, counts = Path(tmp) / "run", Path(tmp) / "counts.json"
        mp.spawn(_worker, args=(processes, _free_port(), overrides(recipe, data, out, steps), bool(overlap), cap,
                                str(counts)), nprocs=processes, join=True)
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        c = json.loads(counts.read_text())
    t = {r["step"]: r["wall_seconds"] for r in rows if "wall_seconds" in r}
    return {"rate": steps / (t[1 + steps] - t[1]), "in_backward": c["launched_in_backward"] / (1 + steps),
            "after": c["reduced_after_backward"] / (1 + steps)}


def available(data: str) -> bool:
    """Whether the data set `data` loads here (Fashion-MNIST needs its files installed)."""
    from ganlab.data import get_dataset

    try:
        get_dataset(data)
    except (FileNotFoundError, ValueError) as exc:
        print(f"skipping {data}: {exc}", flush=True)
        return False
    return True


# ----------------------------------------------------------------------------------------------
# report


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def speed_table(results: dict[tuple[str, str, Setting], list[dict[str, float]]]) -> list[str]:
    """Markdown rows per (data, recipe, setting): steps/s median (range), images/s, the speed-up of 2 processes
    over 1 in images/s, overlap against no overlap, and the all-reduces per generator step."""
    lines = ["| data | recipe | processes | gradients all-reduced | generator steps/s, median (range) | images/s | "
             "images/s vs 1 process | overlap vs after | all-reduces per step: in backward / after |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for (data, recipe, setting), runs in results.items():
        processes, overlap = setting
        rate = statistics.median(r["rate"] for r in runs)
        one = results.get((data, recipe, Setting(1, None)))
        speedup = (f"{processes * rate / statistics.median(r['rate'] for r in one):.2f}x"
                   if one and processes > 1 else "")
        after = results.get((data, recipe, Setting(2, False)))
        versus = f"{rate / statistics.median(r['rate'] for r in after):.2f}x" if overlap and after else ""
        reduces = (f"{statistics.median(r['in_backward'] for r in runs):.1f} / "
                   f"{statistics.median(r['after'] for r in runs):.1f}" if processes > 1 else "")
        lines.append(f"| {data} | {recipe} | {processes} | {setting.label()} | {_spread([r['rate'] for r in runs])} | "
                     f"{processes * BATCH * rate:.0f} | {speedup} | {versus} | {reduces} |")
    return lines


def markdown(command: str, machine: str, results: dict[tuple[str, str, Setting], list[dict[str, float]]],
             skipped: list[str], *, repeats: int, steps: int, cap: int) -> str:
    """The section `distributed_speed` of docs/RELIABILITY.md."""
    lines = [
        "### Throughput: one process or two, overlap on or off",
        "",
        f"Command: `{command}`",
        "",
        machine,
        "",
        f"ganlab's `train` loop, `--model=dcgan` (the DCGAN paper's widths), batch {BATCH} per process, each process "
        "1 torch thread and its own data; two processes are gloo processes started by torch.multiprocessing on "
        f"this machine's CPU cores, with gradient buckets of {cap / 1024:g} KiB all-reduced during the backward "
        f"(`{OVERLAP_ENV}=1`, the default) or every gradient after it (`{OVERLAP_ENV}=0`). wgan-gp: n_critic 5, "
        "lambda 10, layer-norm critic; nsgan: n_critic 1. Rate of process 0 from the `wall_seconds` stamps of "
        f"metrics.jsonl at step 1 and at step 1 + T, T = {steps} for wgan-gp and {timed_steps('nsgan', steps)} for "
        f"nsgan; medians over {repeats} repeat{'s' * (repeats != 1)}, the three settings of a row group alternated within each repeat. "
        "images/s = processes x batch x steps/s; 'vs 1 process' is the speed-up in images/s; 'overlap vs after' the "
        "ratio of generator steps/s of the two 2-process settings. All-reduces per generator step: bucket "
        "all-reduces launched from hooks during backwards, and synchronous ones after them (the first call for "
        "each network is synchronous).",
        "",
        *speed_table(results),
    ]
    if skipped:
        lines += ["", f"Skipped (not installed): {', '.join(skipped)}."]
    return "\n".join(lines)


def ensure_markers(path: Path = RELIABILITY_MD) -> None:
    """Put an empty `distributed_speed` block at the end of the "Data parallel" section of `path` if it has none;
    ValueError naming the file if that section is missing."""
    begin, end = f"<!-- BEGIN {SECTION} -->", f"<!-- END {SECTION} -->"
    text = path.read_text()
    if begin in text and end in text:
        return
    lines = text.split("\n")
    heads = [i for i, line in enumerate(lines) if line.startswith(DATA_PARALLEL_HEADING)]
    if not heads:
        raise ValueError(f"{path} has no section {DATA_PARALLEL_HEADING!r} to hold {begin} ... {end}")
    nxt = next((i for i in range(heads[0] + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    while nxt > heads[0] + 1 and not lines[nxt - 1].strip():
        nxt -= 1
    lines[nxt:nxt] = ["", begin, end]
    from ganlab.files import atomic_write

    new = "\n".join(lines)
    atomic_write(path, lambda tmp: tmp.write_text(new))


# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8,
                        help="timed wgan-gp generator steps per run, after one warm-up step (nsgan: 5x)")
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=DATA)
    parser.add_argument("--recipes", nargs="+", default=list(TIMED_RECIPES), choices=TIMED_RECIPES)
    parser.add_argument("--bucket-bytes", type=int, default=BUCKET_CAP_BYTES,
                        help="gradient bytes per bucket (ganlab.distributed.BUCKET_CAP_BYTES by default)")
    parser.add_argument("--write", action="store_true",
                        help=f"rewrite the section {SECTION} of docs/RELIABILITY.md (in its 'Data parallel' part)")
    args = parser.parse_args(argv)
    for name in ("repeats", "steps", "bucket_bytes"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")

    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import machine_line, write_section

    datasets = [d for d in args.data if available(d)]
    skipped = [d for d in args.data if d not in datasets]
    results: dict[tuple[str, str, Setting], list[dict[str, float]]] = {}
    for rep in range(args.repeats):
        for data in datasets:
            for recipe in args.recipes:
                order = SETTINGS[rep % len(SETTINGS):] + SETTINGS[:rep % len(SETTINGS)]
                for setting in order:
                    r = run_rate(recipe, data, setting, timed_steps(recipe, args.steps), args.bucket_bytes)
                    results.setdefault((data, recipe, setting), []).append(r)
                    print(f"repeat {rep} {data} {recipe} {setting[0]} process(es), all-reduce {setting.label()}: "
                          f"{r['rate']:.2f} steps/s", flush=True)
    results = {key: results[key] for key in sorted(results, key=lambda k: (DATA.index(k[0]),
                                                                            TIMED_RECIPES.index(k[1]),
                                                                            SETTINGS.index(k[2])))}
    command = f"python benchmarks/distributed_speed.py --repeats {args.repeats} --steps {args.steps}"
    if args.data != list(DATA):
        command += f" --data {' '.join(args.data)}"
    if args.recipes != list(TIMED_RECIPES):
        command += f" --recipes {' '.join(args.recipes)}"
    if args.bucket_bytes != BUCKET_CAP_BYTES:
        command += f" --bucket-bytes {args.bucket_bytes}"
    machine = machine_line().replace("torch threads 1", "torch threads 1 per process")
    md = markdown(command, machine, results, skipped, repeats=args.repeats, steps=args.steps, cap=args.bucket_bytes)
    print(md)
    if args.write:
        ensure_markers(RELIABILITY_MD)
        write_section(SECTION, md, RELIABILITY_MD, append=False)


if __name__ == "__main__":
    main()
