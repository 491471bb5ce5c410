"""Mode coverage on the 2-D ring (8 modes) and grid (25 modes): today's tables from today's code and configs.

Two parts; every run is one `ganlab train` process with 1 torch thread, and `--jobs N` runs N at once:

    shipped   configs/toy/ring.toml and configs/toy/grid.toml at their own settings, seeds 0-4;
    recipes   every recipe that `ganlab train --list-recipes` prints, on ring and on grid, at the recipe's
              own settings for --steps generator steps (default 1000), seed 0.

Each run is scored by the protocol of VEEGAN (Srivastava et al. 2017, Sec. 5.1, Table 1) and PacGAN
(Lin et al. 2018, Table 1) on its 2500 evaluation samples of the final generator (the EMA generator where
the config has one), as its summary.json reports them:

    modes captured = #{k : some sample lies within 3 sigma_k of mu_k, its nearest mode}
    high quality   = fraction of samples within 3 sigma of their nearest mode (real data: 1 - e^-4.5 = 98.9 %)
    reverse KL     = sum_k q_k log(K q_k) over the high-quality histogram q
    W1             = exact Wasserstein-1 to 2500 real samples

and again, for modes / high quality / reverse KL, on 20 000 held-out latents (seed 123) that neither the
run's evaluation nor the tuning of configs/toy/*.toml saw. docs/MATH.md, "Toy datasets and mode metrics",
has the definitions; docs/TOY_SUITE.md what the numbers mean.

    python benchmarks/toy_modes.py --jobs 2 --write                  # both parts; rewrites the doc tables
    python benchmarks/toy_modes.py --only shipped --jobs 2 --write   # 10 runs, ~35 CPU-minutes
    python benchmarks/toy_modes.py --only recipes --write            # 36 runs of 1000 steps, ~30 CPU-minutes
    python benchmarks/toy_modes.py --only recipes --recipes gan wgan-gp --steps 20   # smoke size, seconds

The recipes' 1000 steps are a budget, not convergence (the papers train 10^4-10^5 steps). They are chosen for
~30 CPU-minutes in all on 1 thread per run, estimated (not yet measured) from each recipe's FLOPs per step at
its 512 x 3 nets against the measured WGAN-GP loop (docs/BENCHMARKS.md, toy_speed: 7.7 steps/s on 1 thread):
~35 CPU-s for the 14 recipes with one critic step, ~95 for sngan-hinge, ~135 for wgan-gp and wgan-gp-toy,
5 s of imports, evaluation and figures included. Each section reports the CPU time it measured.
Raw per-run JSON, logs and run folders go to --work (default: a new temporary folder, printed); a run whose
JSON is already there is not run again, so an interrupted sweep resumes with the same --work.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOY_SUITE_MD = ROOT / "docs" / "TOY_SUITE.md"
SHIPPED = ("configs/toy/ring.toml", "configs/toy/grid.toml")
SHIPPED_SEEDS, RECIPE_SEEDS, RECIPE_DATA, RECIPE_STEPS = (0, 1, 2, 3, 4), (0,), ("ring", "grid"), 1000
HELD_OUT_N, HELD_OUT_SEED = 20_000, 123
#: The target the shipped configs were tuned for: every mode in every seed, >= 97 % high quality,
#: reverse KL <= 0.02, <= 5 CPU-minutes per run.
TARGET_HQ, TARGET_RKL, TARGET_CPU_S = 0.97, 0.02, 300.0
CLI = (sys.executable, "-m", "ganlab", "train")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Job:
    part: str  # "shipped" or "recipes"
    name: str  # the config file's stem or the recipe
    data: str  # "" for a config file: it names its own data set
    seed: int
    args: tuple[str, ...]  # the `ganlab train` arguments that choose the settings

    @property
    def key(self) -> str:
        return f"{self.part}__{self.name}{'__' + self.data if self.data else ''}__s{self.seed}"


def list_recipes() -> list[str]:
    """The recipe names, in the order `ganlab train --list-recipes` prints them (name, then source)."""
    out = subprocess.run([*CLI, "--list-recipes"], check=True, capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def build_jobs(args: argparse.Namespace, recipes: list[str]) -> list[Job]:
    """One job per run of the chosen parts, seeds and recipes."""
    jobs = []
    if args.only in (None, "shipped"):
        for path in SHIPPED:
            for seed in args.seeds or SHIPPED_SEEDS:
                jobs.append(Job("shipped", Path(path).stem, "", seed, ("--config", path)))
    if args.only in (None, "recipes"):
        for recipe in args.recipes or recipes:
            for data in RECIPE_DATA:
                for seed in args.seeds or RECIPE_SEEDS:
                    jobs.append(Job("recipes", recipe, data, seed,
                                    ("--recipe", recipe, "--data", data, "--steps", str(args.steps))))
    return jobs


def train(job: Job, work: Path) -> dict[str, Any]:
    """Run one `ganlab train` process; its exit status and its own CPU time (os.wait4: user + system)."""
    out = work / "runs" / job.key
    shutil.rmtree(out, ignore_errors=True)  # an interrupted earlier attempt: `ganlab train` refuses a used folder
    cmd = [*CLI, *job.args, "--seed", str(job.seed), "--out", str(out), "--threads", "1", "--no-progress",
           "--eval_every=0", "--ckpt_every=0"]
    log = work / "logs" / f"{job.key}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **ONE_THREAD})
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {**asdict(job), "key": job.key, "command": shlex.join(["ganlab", "train", *cmd[len(CLI):]]),
            "run_dir": str(out), "log": str(log), "returncode": proc.returncode,
            "cpu_seconds": usage.ru_utime + usage.ru_stime, "process_seconds": time.perf_counter() - t0}


def score(row: dict[str, Any]) -> dict[str, Any]:
    """Add the run's summary.json and its held-out score (`held_out`), or its status when it failed."""
    from ganlab.data.toy import get_toy_dataset
    from ganlab.metrics.modes import mode_metrics
    from ganlab.sampling import sample_from_run

    summary = Path(row["run_dir"]) / "summary.json"
    if row["returncode"] != 0 or not summary.is_file():
        # `ganlab train` exits 1 on a non-finite loss and 2 on a bad value (see the log)
        return {**row, "status": "diverged" if row["returncode"] == 1 else f"failed ({row['returncode']})"}
    s = json.loads(summary.read_text())
    samples = sample_from_run(row["run_dir"], HELD_OUT_N, seed=HELD_OUT_SEED)
    m = mode_metrics(samples, get_toy_dataset(s["data"]), compute_w1=False)
    held_out = {"n": HELD_OUT_N, "seed": HELD_OUT_SEED, "modes": m.modes, "high_quality": m.high_quality,
                "reverse_kl": m.reverse_kl}
    return {**row, "status": "ok", "summary": s, "held_out": held_out}


def run_all(jobs: list[Job], work: Path, n_jobs: int) -> list[dict[str, Any]]:
    """Every job's row, in the jobs' order: read from work/results/ when there, else trained (n_jobs at a time),
    scored and saved there."""
    import torch

    torch.set_num_threads(1)  # the held-out scoring runs here, beside the training processes
    rows, todo = [], []
    for job in jobs:
        path = work / "results" / f"{job.key}.json"
        if path.is_file():
            rows.append(json.loads(path.read_text()))
        else:
            todo.append(job)
    print(f"{len(todo)} runs to do ({len(rows)} found), {n_jobs} at a time; work folder {work}", flush=True)
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        futures = {pool.submit(train, job, work): job for job in todo}
        for i, fut in enumerate(as_completed(futures), 1):
            row = {**score(fut.result()), "jobs": n_jobs}
            path = work / "results" / f"{futures[fut].key}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(row, indent=1, allow_nan=True) + "\n")
            s = row.get("summary", {})
            print(f"[{i}/{len(todo)}] {row['name']} {s.get('data', row['data'])} s{row['seed']}: {row['status']}, "
                  f"modes {s.get('modes')}, high quality {100 * s.get('high_quality', float('nan')):.1f} %, "
                  f"{row['cpu_seconds']:.0f} CPU-s", flush=True)
            rows.append(row)
    order = {job.key: i for i, job in enumerate(jobs)}
    return sorted(rows, key=lambda r: order[r["key"]])  # the jobs' order: configs, then recipes as listed


# ----------------------------------------------------------------------------------------------
# tables


def _ms(xs: list[float], fmt: str) -> str:
    """mean ± std (ddof 1) of xs; the value alone for one, – for none."""
    if len(xs) < 2:
        return format(xs[0], fmt) if xs else "–"
    return f"{format(statistics.fmean(xs), fmt)} ± {format(statistics.stdev(xs), fmt)}"


def _ok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] == "ok"]


def _seeds(rows: list[dict[str, Any]]) -> str:
    return ", ".join(str(r["seed"]) for r in rows)


def preamble(rows: list[dict[str, Any]], command: str, note: str = "") -> list[str]:
    """The command, the machine and how the runs were timed."""
    jobs = ", ".join(map(str, sorted({r["jobs"] for r in rows})))
    threads = ", ".join(map(str, sorted({r["summary"]["threads"] for r in _ok(rows)})))
    machine = re.sub(r"torch threads \d+", f"torch threads {threads} per run", machine_line())
    cpu_minutes = sum(r["cpu_seconds"] for r in rows) / 60
    held_out = f"{HELD_OUT_N:,}".replace(",", " ")
    return [f"Command: `{command}`", "", machine, "",
            f"{len(rows)} runs, {jobs} at once, {cpu_minutes:.0f} CPU-minutes in all. 'CPU s': user + system time "
            "of the run's `ganlab train` process (imports, final evaluation and figures included); 'wall s': the "
            "run's `wall_seconds` (training and its evaluation); 'held out': the final generator on "
            f"{held_out} latents of seed {HELD_OUT_SEED}. Mean ± std (ddof 1) over seeds; 'all modes' counts "
            "the runs that captured every mode.", *(["", note] if note else [])]


HEAD = ("| {what} | ok runs | modes | all modes | high quality % | held out % | reverse KL | W1 | wall s | CPU s |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def table_row(label: str, rows: list[dict[str, Any]]) -> str:
    """One line of HEAD over `rows` (one run, or the seeds of one setting)."""
    ok = _ok(rows)
    bad = sorted({r["status"] for r in rows} - {"ok"})

    def col(key: str, fmt: str, where: str = "summary", scale: float = 1.0) -> str:
        return _ms([scale * r[where][key] for r in ok], fmt)

    all_modes = sum(r["summary"]["modes"] == r["summary"]["num_modes"] for r in ok)
    return (f"| {label} | {len(ok)}/{len(rows)}{' (' + ', '.join(bad) + ')' if bad else ''} | {col('modes', '.1f')} | "
            f"{all_modes}/{len(ok)} | {col('high_quality', '.1f', scale=100)} | "
            f"{col('high_quality', '.1f', 'held_out', 100)} | {col('reverse_kl', '.3f')} | {col('w1', '.3f')} | "
            f"{col('wall_seconds', '.0f')} | {_ms([r['cpu_seconds'] for r in ok], '.0f')} |")


def shipped_markdown(rows: list[dict[str, Any]], command: str, note: str = "") -> str:
    """docs/BENCHMARKS.md, section toy_modes_shipped: per config file, one line per seed and their mean ± std."""
    parts = ["### The shipped configs (configs/toy/*.toml)", "", *preamble(rows, command, note)]
    for path in SHIPPED:
        mine = sorted((r for r in rows if r["name"] == Path(path).stem), key=lambda r: r["seed"])
        if mine:
            steps = ", ".join(sorted({str(r["summary"]["steps"]) for r in _ok(mine)}))
            parts += ["", f"#### `{path}`, {steps} steps", "", HEAD.format(what="seed"),
                      *(table_row(str(r["seed"]), [r]) for r in mine),
                      table_row(f"seeds {_seeds(mine)}", mine)]
    return "\n".join(parts) + "\n"


def recipes_markdown(rows: list[dict[str, Any]], command: str, note: str = "") -> str:
    """docs/BENCHMARKS.md, section toy_modes_recipes: per data set, one line per recipe (mean ± std over seeds)."""
    steps = ", ".join(sorted({str(r["summary"]["steps"]) for r in _ok(rows)}))
    parts = [f"### Every recipe at its own settings, {steps} steps", "", *preamble(rows, command, note)]
    names = list(dict.fromkeys(r["name"] for r in rows))
    for data in RECIPE_DATA:
        mine = [r for r in rows if r["data"] == data]
        if mine:
            parts += ["", f"#### {data}, seeds {', '.join(map(str, sorted({r['seed'] for r in mine})))}", "",
                      HEAD.format(what="recipe"), *(table_row(n, [r for r in mine if r["name"] == n]) for n in names)]
    return "\n".join(parts) + "\n"


def misses(row: dict[str, Any]) -> list[str]:
    """Where one run falls short of the target ([] when it meets it)."""
    if row["status"] != "ok":
        return [row["status"]]
    s, cpu = row["summary"], row["cpu_seconds"]
    checks = [("modes", s["modes"] < s["num_modes"]),
              (f"high quality {100 * s['high_quality']:.1f} %", s["high_quality"] < TARGET_HQ),
              (f"reverse KL {s['reverse_kl']:.3f}", s["reverse_kl"] > TARGET_RKL),
              (f"{cpu:.0f} CPU-s", cpu > TARGET_CPU_S)]
    return [what for what, short in checks if short]


def target_markdown(rows: list[dict[str, Any]], command: str) -> str:
    """docs/TOY_SUITE.md, section toy_modes_target: each shipped file's seeds against the target."""
    out = [f"Written by `{command}` (every column of every run: docs/BENCHMARKS.md).", "",
           "| data | file, seeds | modes, every seed | high quality % | held out % | reverse KL, max | CPU s, max "
           "| target met |", "| --- | --- | --- | --- | --- | ---: | ---: | --- |"]
    for path in SHIPPED:
        mine = sorted((r for r in rows if r["name"] == Path(path).stem), key=lambda r: r["seed"])
        ok = _ok(mine)
        if not ok:
            continue
        k = ok[0]["summary"]["num_modes"]
        full = sum(r["summary"]["modes"] == k for r in ok)
        short = "; ".join(f"seed {r['seed']}: {', '.join(misses(r))}" for r in mine if misses(r))
        out.append(f"| {ok[0]['summary']['data']} | `{path}`, seeds {_seeds(mine)} | {k}/{k} in {full}/{len(mine)} | "
                   + ", ".join(f"{100 * r['summary']['high_quality']:.1f}" for r in ok) + " | "
                   + ", ".join(f"{100 * r['held_out']['high_quality']:.1f}" for r in ok) + " | "
                   f"{max(r['summary']['reverse_kl'] for r in ok):.3f} | {max(r['cpu_seconds'] for r in ok):.0f} | "
                   f"{'yes' if not short else 'no: ' + short} |")
    return "\n".join(out) + "\n"


def write_docs(rows: list[dict[str, Any]], command: str, note: str = "") -> None:
    """Rewrite the sections of docs/BENCHMARKS.md and docs/TOY_SUITE.md whose part is in `rows`."""
    shipped = [r for r in rows if r["part"] == "shipped"]
    recipes = [r for r in rows if r["part"] == "recipes"]
    if shipped:
        write_section("toy_modes_shipped", shipped_markdown(shipped, command, note), append=False)
        write_section("toy_modes_target", target_markdown(shipped, command), TOY_SUITE_MD, append=False)
    if recipes:
        write_section("toy_modes_recipes", recipes_markdown(recipes, command, note), append=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("shipped", "recipes"), default=None, help="one part (default: both)")
    p.add_argument("--seeds", nargs="+", type=int, default=None,
                   help=f"seeds (default: shipped {' '.join(map(str, SHIPPED_SEEDS))}, recipes 0)")
    p.add_argument("--steps", type=int, default=RECIPE_STEPS, help="generator steps of every recipe run "
                   f"(default {RECIPE_STEPS}; the shipped configs keep their own)")
    p.add_argument("--recipes", nargs="+", default=None, help="some recipes only (default: every one)")
    p.add_argument("--jobs", type=int, default=1, help="runs at once, each one process with 1 torch thread")
    p.add_argument("--work", type=Path, default=None, help="folder for run folders, logs and per-run JSON "
                   "(default: a new temporary folder); runs with JSON there are not run again")
    p.add_argument("--write", action="store_true",
                   help="rewrite the tables in docs/BENCHMARKS.md and docs/TOY_SUITE.md")
    args = p.parse_args(argv)
    if args.jobs < 1 or args.steps < 1 or any(s < 0 for s in args.seeds or ()):
        p.error(f"--jobs and --steps must be >= 1 and seeds >= 0, got {args.jobs}, {args.steps}, {args.seeds}")
    if args.recipes and args.only == "shipped":
        p.error("--recipes selects runs of the recipes part; drop it or --only shipped")
    known = list_recipes() if args.only != "shipped" else []
    if unknown := sorted(set(args.recipes or ()) - set(known)):
        p.error(f"unknown recipe(s) {unknown}; expected some of {', '.join(known)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="toy_modes_"))
    t0 = time.perf_counter()
    rows = run_all(build_jobs(args, known), work, args.jobs)
    print(f"done in {time.perf_counter() - t0:.0f} s wall; per-run JSON in {work / 'results'}", flush=True)
    given = list(sys.argv[1:] if argv is None else argv)
    for i, a in reversed(list(enumerate(given))):  # where the raw files went does not change a number
        if a == "--work":
            del given[i:i + 2]
        elif a.startswith("--work="):
            del given[i]
    command = shlex.join(["python", "benchmarks/toy_modes.py", *given])
    shipped = [r for r in rows if r["part"] == "shipped"]
    recipes = [r for r in rows if r["part"] == "recipes"]
    if shipped:
        print(shipped_markdown(shipped, command), target_markdown(shipped, command), sep="\n")
    if recipes:
        print(recipes_markdown(recipes, command))
    if args.write:
        write_docs(rows, command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
