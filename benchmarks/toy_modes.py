"""Mode coverage of every recipe on the 2-D `ring` (8 modes) and `grid` (25 modes), over seeds.

Each run trains one recipe with `ganlab.train.train` in its own process (torch threads = 1, so
`--jobs N` uses N cores) and is scored on 2500 samples by `ganlab.metrics.modes.mode_metrics`:

    modes captured = #{k : some sample lies within 3 sigma_k of mu_k (nearest mode)}
    high quality   = fraction of samples within 3 sigma of their nearest mode
    reverse KL     = sum_k q_k log(K q_k) over the high-quality histogram q
    W1             = exact Wasserstein-1 to a seeded real sample

(definitions of VEEGAN, Srivastava et al. 2017, Sec. 5.1, as in PacGAN's metric logger; lecture
004_a72885b194f54592.txt "Mode collapse" for the phenomenon). Every run's summary and resolved
config are saved as one JSON file under `benchmarks/results/toy_modes/<tag>/`, so the markdown
table of docs/BENCHMARKS.md (section `toy_modes`) can be rebuilt without training
(`--from-results`). Runs whose JSON already exists are skipped, so an interrupted sweep resumes.
Each finished ring / grid run is also scored on 20 000 held-out latents (`fresh` in its JSON), which
neither its evaluation nor any tuning saw.

    # screening: every recipe, small nets, fixed short budget
    python benchmarks/toy_modes.py --tag screen --steps 1500 --width 128 --seeds 0 1 2 3 4 --jobs 2
    # the tuned recipe at full budget, from its TOML file
    python benchmarks/toy_modes.py --tag best --config configs/toy/ring.toml --data ring --seeds 0 1 2 3 4
    # rebuild the markdown from the saved JSON and write it
    python benchmarks/toy_modes.py --from-results --write
    # held-out scores (20 000 latents) for saved runs whose folders were kept with --runs-dir DIR
    python benchmarks/toy_modes.py --add-fresh DIR
    # seconds-long smoke run (2 recipes, 1 seed, 30 steps)
    python benchmarks/toy_modes.py --quick
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ganlab.files import atomic_write

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "toy_modes"

#: The recipes of the issue: the classic GANs, both WGANs, SN-GAN and f-GAN for every divergence.
BASE_RECIPES = ("gan", "nsgan", "wgan", "wgan-gp", "sngan")

#: Published numbers on the same datasets and metrics (/work/shared/REFERENCES.md):
#: (method, source, modes, high quality %, reverse KL or None).
PUBLISHED: dict[str, list[tuple[str, str, float, float, float | None]]] = {
    "ring": [
        ("GAN", "VEEGAN Table 1 (5 runs)", 1.0, 99.3, None),
        ("Unrolled GAN", "VEEGAN Table 1", 7.6, 35.6, None),
        ("VEEGAN", "VEEGAN Table 1", 8.0, 52.9, None),
        ("GAN", "PacGAN Table 1 (10 trials)", 6.3, 98.2, 0.45),
        ("PacGAN2", "PacGAN Table 1", 7.9, 95.6, 0.07),
        ("WGAN-GP", "GDPP Table 1", 6.8, 59.6, None),
    ],
    "grid": [
        ("GAN", "VEEGAN Table 1 (5 runs)", 3.3, 0.5, None),
        ("Unrolled GAN", "VEEGAN Table 1", 23.6, 16.0, None),
        ("VEEGAN", "VEEGAN Table 1", 24.6, 40.0, None),
        ("GAN", "PacGAN Table 1 (10 trials)", 17.3, 94.8, 0.70),
        ("PacGAN4", "PacGAN Table 1", 24.8, 93.6, 0.04),
        ("WGAN-GP", "GDPP Table 1", 24.2, 28.7, None),
    ],
}
#: High-quality fraction of real data under the 3-sigma rule in 2-D: 1 - exp(-9/2).
REAL_CEILING = 1.0 - math.exp(-4.5)
#: Held-out scoring: the final generator on FRESH_N latents drawn with FRESH_SEED, which no run evaluates
#: or is tuned on (the 2500-latent evaluation batch of the protocol also chose the tuned settings).
FRESH_N, FRESH_SEED = 20_000, 123
FRESH_COLUMN = "high quality %, " + f"{FRESH_N:,}".replace(",", " ") + " held-out latents"


def all_recipes() -> list[str]:
    """BASE_RECIPES followed by `fgan-<div>` for every divergence of `ganlab.divergences`."""
    from ganlab.divergences import DIVERGENCES

    return [*BASE_RECIPES, *(f"fgan-{d}" for d in DIVERGENCES)]


# ----------------------------------------------------------------------------------------------
# one run (in its own process)


def _result_path(tag: str, recipe: str, data: str, seed: int, results: Path) -> Path:
    return results / tag / f"{recipe}__{data}__s{seed}.json"


def score_fresh(run_dir: str | Path, config: Any) -> dict[str, Any]:
    """Mode metrics (no W1) of a finished run's final generator (EMA when it has one) on FRESH_N held-out latents;
    `config` is the run's TrainConfig (it names the dataset)."""
    from ganlab.data.toy import get_toy_dataset
    from ganlab.metrics.modes import mode_metrics
    from ganlab.sampling import sample_from_run

    dataset = get_toy_dataset(config.data, **config.data_params)
    m = mode_metrics(sample_from_run(run_dir, FRESH_N, seed=FRESH_SEED), dataset, compute_w1=False)
    return {"n": FRESH_N, "seed": FRESH_SEED, "modes": m.modes, "high_quality": m.high_quality,
            "reverse_kl": m.reverse_kl}


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (recipe, data, seed) and return the row saved as JSON. Runs in a fresh process."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from ganlab.recipes import resolve_config
    from ganlab.train import NonFiniteLossError, train

    load_before = os.getloadavg()[0]
    overrides = [f"--{k}={v}" for k, v in job["overrides"].items()]
    config = resolve_config(recipe=job["recipe"], config_file=job["config_file"], overrides=overrides,
                            data=job["data"], seed=job["seed"], steps=job["steps"], out=job["out"], threads=1)
    row: dict[str, Any] = {"tag": job["tag"], "name": job["name"], "recipe": config.recipe, "data": job["data"],
                           "seed": job["seed"], "config_file": job["config_file"], "overrides": job["overrides"],
                           "config": config.to_dict(), "load_before": load_before}
    t0 = time.perf_counter()
    try:
        summary = train(config, progress=False)
        row.update(status="ok", summary=summary)
    except NonFiniteLossError as exc:
        row.update(status="diverged", error=str(exc))
    row["process_seconds"] = time.perf_counter() - t0
    row["cpu_seconds"] = time.process_time()
    row["load_after"] = os.getloadavg()[0]
    row["torch_threads"] = torch.get_num_threads()
    if row["status"] == "ok" and config.data in ("ring", "grid"):
        row["fresh"] = score_fresh(config.run_dir, config)  # after the timing: not part of a run's cost
    return row


def add_fresh(runs_dir: Path, results: Path) -> int:
    """Give saved rows without a `fresh` score one, from their run folders under `runs_dir/<tag>/` (kept by
    --runs-dir). Returns how many rows were updated."""
    from ganlab.config import from_saved_run, read_toml

    updated = 0
    for path in sorted(results.glob("*/*.json")):
        row = json.loads(path.read_text())
        if "fresh" in row or row["status"] != "ok":
            continue
        found = sorted((runs_dir / row["tag"]).glob(f"{row['name']}-{row['data']}-s{row['seed']}-*"))
        if len(found) != 1:
            continue
        folder_config = from_saved_run(read_toml(found[0] / "config.toml"), where=str(found[0]))
        saved_config = from_saved_run(row["config"], where=str(path))
        if {k: v for k, v in folder_config.to_dict().items() if k != "out"} != \
                {k: v for k, v in saved_config.to_dict().items() if k != "out"}:
            raise ValueError(f"{found[0]} holds a run with another config than {path}")
        row["fresh"] = score_fresh(found[0], folder_config)
        text = json.dumps(row, indent=1, allow_nan=True) + "\n"
        atomic_write(path, lambda tmp: tmp.write_text(text))
        updated += 1
    return updated


def build_jobs(args: argparse.Namespace, runs_dir: Path) -> list[dict[str, Any]]:
    """One job per (recipe, data, seed) not yet saved under `args.results / args.tag`."""
    overrides: dict[str, Any] = {}
    if args.width is not None:
        overrides.update(g_width=args.width, d_width=args.width)
    if args.depth is not None:
        overrides.update(g_depth=args.depth, d_depth=args.depth)
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    for kv in args.set or []:
        if "=" not in kv:
            raise ValueError(f"--set {kv!r}: expected KEY=VALUE (a TrainConfig field)")
        k, v = kv.split("=", 1)
        overrides[k] = v
    overrides.update(eval_every=0, ckpt_every=0, log_every=10**9)
    recipes = args.recipes or ([None] if args.config else all_recipes())
    jobs = []
    for data in args.data:
        for recipe in recipes:
            seeds = args.seeds
            if recipe is not None and recipe.startswith("fgan-") and args.fgan_seeds is not None:
                seeds = args.seeds[: args.fgan_seeds]
            for seed in seeds:
                name = recipe or Path(args.config).stem
                path = _result_path(args.tag, name, data, seed, args.results)
                if path.exists() and not args.force:
                    continue
                jobs.append({"tag": args.tag, "recipe": recipe, "data": data, "seed": seed, "steps": args.steps,
                             "config_file": args.config, "overrides": dict(overrides), "name": name,
                             "out": str(runs_dir / args.tag / f"{name}-{data}-s{seed}-{os.getpid()}"),
                             "result": str(path)})
    return jobs


def run_jobs(jobs: list[dict[str, Any]], n_jobs: int) -> None:
    """Run the jobs, `n_jobs` processes at a time, each process used for one run only."""
    ctx = get_context("spawn")
    done = 0
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx, max_tasks_per_child=1) as pool:
        futures = {pool.submit(run_one, job): job for job in jobs}
        for fut in as_completed(futures):
            job = futures[fut]
            row = fut.result()
            row["jobs"] = n_jobs
            path = Path(job["result"])
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(row, indent=1, allow_nan=True) + "\n"
            atomic_write(path, lambda tmp, text=text: tmp.write_text(text))
            done += 1
            s = row.get("summary", {})
            print(f"[{done}/{len(jobs)}] {job['name']} {job['data']} s{job['seed']}: {row['status']} "
                  f"modes {s.get('modes')} hq {s.get('high_quality', float('nan')):.3f} "
                  f"rKL {s.get('reverse_kl', float('nan')):.3f} {s.get('wall_seconds', float('nan')):.1f} s "
                  f"(load {row['load_after']:.1f})", flush=True)


# ----------------------------------------------------------------------------------------------
# tables


def load_results(results: Path) -> list[dict[str, Any]]:
    """Every saved run row under `results/<tag>/*.json`."""
    rows = []
    for p in sorted(results.glob("*/*.json")):
        rows.append(json.loads(p.read_text()))
    return rows


def _ms(xs: list[float], fmt: str) -> str:
    if not xs:
        return "–"
    if len(xs) == 1:
        return format(xs[0], fmt)
    return f"{format(statistics.fmean(xs), fmt)} ± {format(statistics.stdev(xs), fmt)}"


def _setting(row: dict[str, Any]) -> str:
    c = row["config"]
    penalty = f", λ {c['gp_weight']:g}" if c.get("gp_weight", 0) > 0 else ""
    # Adam's beta2 where it is not the toy script's 0.9
    beta2 = f", β2 {c['beta2']:g}" if c.get("optimizer") == "adam" and c.get("beta2", 0.9) != 0.9 else ""
    decay = ""
    if c.get("lr_decay", "none") == "linear":  # the rates' linear decay and where it starts (0: from step 1)
        decay = f", lr linear decay from {c.get('lr_decay_start', 0.0):g} of the run"
    return (f"{c['g_width']}x{c['g_depth']} / {c['d_width']}x{c['d_depth']}, m {c['batch_size']}{penalty}{beta2}"
            f"{decay}, {c['steps']} steps")


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (tag, recipe or config name, data): mean ± std over seeds of every metric."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        name = r["recipe"] if not r.get("config_file") else f"{r['recipe']} (`{r['config_file']}`)"
        key = (r["tag"], name, r["data"])
        groups.setdefault(key, []).append(r)
    order = {r: i for i, r in enumerate(all_recipes())}
    out = []
    for (tag, name, data), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], -1), kv[0][1])):
        ok = [r for r in rs if r["status"] == "ok"]
        s = [r["summary"] for r in ok]
        k = s[0]["num_modes"] if s else None
        out.append({
            "tag": tag, "name": name, "data": data, "n": len(rs), "n_ok": len(ok),
            "seeds": sorted(r["seed"] for r in rs),
            "modes": [x["modes"] for x in s], "hq": [100 * x["high_quality"] for x in s],
            "hq_fresh": [100 * r["fresh"]["high_quality"] for r in ok if "fresh" in r],
            "rkl": [x["reverse_kl"] for x in s], "w1": [x["w1"] for x in s],
            "wall": [x["wall_seconds"] for x in s], "cpu": [r["cpu_seconds"] for r in ok],
            "all_modes": sum(1 for x in s if x["modes"] == x["num_modes"]), "K": k,
            "setting": _setting(rs[0]), "jobs": rs[0].get("jobs"), "threads": rs[0].get("torch_threads"),
            "load": [r["load_after"] for r in rs],
        })
    return out


def table(lines: list[dict[str, Any]], data: str) -> str:
    lines = [a for a in lines if a["data"] == data]
    fresh = any(a["hq_fresh"] for a in lines)  # the column appears where some run has a held-out score
    head = ("| recipe | runs (ok / seeds) | modes | all modes | high quality % | "
            + (f"{FRESH_COLUMN} | " if fresh else "")
            + "reverse KL | W1 | wall s / run | CPU s / run | settings |\n| --- | --- | ---: | ---: | ---: | "
            + ("---: | " if fresh else "") + "---: | ---: | ---: | ---: | --- |")
    body = []
    for a in lines:
        held_out = ""
        if fresh:
            n_fresh = len(a["hq_fresh"])
            held_out = ("– | " if not n_fresh else f"{_ms(a['hq_fresh'], '.1f')} | " if n_fresh == a["n_ok"]
                        else f"{_ms(a['hq_fresh'], '.1f')} ({n_fresh} runs) | ")
        body.append(f"| {a['name']} | {a['n_ok']} / {a['n']} | {_ms(a['modes'], '.1f')} | {a['all_modes']}/{a['n_ok']} | "
                    f"{_ms(a['hq'], '.1f')} | {held_out}{_ms(a['rkl'], '.3f')} | {_ms(a['w1'], '.3f')} | "
                    f"{_ms(a['wall'], '.0f')} | {_ms(a['cpu'], '.0f')} | {a['setting']} |")
    return head + "\n" + "\n".join(body)


def published_table(data: str) -> str:
    rows = ["| method | source | modes | high quality % | reverse KL |", "| --- | --- | ---: | ---: | ---: |"]
    for method, src, modes, hq, rkl in PUBLISHED[data]:
        rows.append(f"| {method} | {src} | {modes:g} | {hq:g} | {'–' if rkl is None else f'{rkl:g}'} |")
    rows.append(f"| real data | 3-sigma rule in 2-D, 1 - e^(-4.5) | {8 if data == 'ring' else 25} | "
                f"{100 * REAL_CEILING:.1f} | 0 |")
    return "\n".join(rows)


def markdown(rows: list[dict[str, Any]], commands: list[str], note: str = "") -> str:
    """The `toy_modes` section of docs/BENCHMARKS.md from saved run rows."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import machine_line

    agg = aggregate(rows)
    tags = sorted({a["tag"] for a in agg}, key=lambda t: (t != "best", t))
    loads = [x for a in agg for x in a["load"]]
    parts = [
        "## Mode coverage on the 2-D ring and grid (VEEGAN / PacGAN protocol)",
        "",
        "Written by `benchmarks/toy_modes.py` from the JSON files in `benchmarks/results/toy_modes/` "
        "(one per run; `python benchmarks/toy_modes.py --from-results --write` rebuilds this section). "
        "Metrics on 2500 samples of the final generator (the EMA generator where the config has one): "
        "modes captured (>= 1 sample within 3 sigma), % high quality (within 3 sigma of the nearest mode), "
        "reverse KL of the high-quality histogram to uniform, exact W1 to 2500 real samples. "
        "Mean ± std over the seeds listed; 'all modes' counts the seeds that captured every mode. "
        f"Where a table has it, '{FRESH_COLUMN}' scores the same final generators on "
        f"{FRESH_N} latents drawn with seed {FRESH_SEED}, which no run was evaluated or tuned on "
        "(`--add-fresh RUNS_DIR` adds it to saved runs whose folders were kept with --runs-dir). "
        "docs/TOY_SUITE.md says what limits these numbers.",
        "",
        "Commands:",
        "",
        *[f"    {c}" for c in commands],
        "",
        machine_line().replace(f"torch threads {__import__('torch').get_num_threads()}", "torch threads 1 per run"),
        f"Each run is one process with torch threads = 1; `jobs` processes ran at once on a machine shared with "
        f"other work (1-min load average over runs {min(loads, default=float('nan')):.1f} to "
        f"{max(loads, default=float('nan')):.1f} on 2 cores), so wall seconds are inflated and only comparable "
        f"within a table. 'CPU s / run' is the process time of the run's process (imports included).",
        *(["", note] if note else []),
    ]
    for tag in tags:
        lines = [a for a in agg if a["tag"] == tag]
        jobs = sorted({a["jobs"] for a in lines if a["jobs"]})
        for data in ("ring", "grid"):
            if not any(a["data"] == data for a in lines):
                continue
            parts += ["", f"### {data}: `{tag}` runs (jobs {', '.join(map(str, jobs))}, 1 thread each)", "",
                      table(lines, data)]
    for data in ("ring", "grid"):
        parts += ["", f"### {data}: published numbers (not rerun here)", "", published_table(data)]
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------------------------


def _check_args(args: argparse.Namespace) -> None:
    """ValueError (FileNotFoundError for --config) naming the bad value, before any process starts."""
    from ganlab.data.toy import TOY_DATASETS
    from ganlab.recipes import get_recipe

    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    if args.fgan_seeds is not None and args.fgan_seeds < 1:
        raise ValueError(f"--fgan-seeds must be >= 1, got {args.fgan_seeds}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if any(s < 0 for s in args.seeds):
        raise ValueError(f"--seeds must be non-negative integers, got {args.seeds}")
    for d in args.data:
        if d not in TOY_DATASETS:
            raise ValueError(f"--data {d!r}: expected toy datasets, one of {sorted(TOY_DATASETS)}")
    for r in args.recipes or []:
        get_recipe(r)  # ValueError listing the known recipes
    if args.config is not None and not Path(args.config).is_file():
        raise FileNotFoundError(f"--config {args.config!r}: no such file")
    if args.config is not None and args.recipes:
        raise ValueError("--config and --recipes exclude each other (the TOML file names its recipe)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipes", nargs="+", default=None, help="recipe names (default: all of the issue)")
    p.add_argument("--config", default=None, help="TOML config file (e.g. configs/toy/ring.toml) instead of recipes")
    p.add_argument("--data", nargs="+", default=["ring", "grid"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--fgan-seeds", type=int, default=None, help="run only the first N seeds for fgan-* recipes")
    p.add_argument("--steps", type=int, default=None, help="generator steps (default: recipe's / config's)")
    p.add_argument("--width", type=int, default=None, help="hidden width of both nets")
    p.add_argument("--depth", type=int, default=None, help="hidden layers of both nets")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--set", nargs="*", default=None, metavar="KEY=VALUE", help="other TrainConfig fields")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (one process, one thread each)")
    p.add_argument("--tag", default="screen", help="name of this sweep (results subfolder and table)")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--runs-dir", type=Path, default=None, help="where run folders go (default: a temp dir)")
    p.add_argument("--force", action="store_true", help="rerun runs whose JSON exists")
    p.add_argument("--quick", action="store_true", help="smoke size: gan + wgan-gp, ring, 1 seed, 30 steps, width 32")
    p.add_argument("--from-results", action="store_true", help="no training: rebuild the table from saved JSON")
    p.add_argument("--add-fresh", type=Path, default=None, metavar="RUNS_DIR",
                   help="no training: score saved runs that lack it on held-out latents, from their kept run folders")
    p.add_argument("--write", action="store_true", help="write the table into docs/BENCHMARKS.md (section toy_modes)")
    p.add_argument("--command-log", nargs="*", default=None, help="command lines to print in the section")
    p.add_argument("--note", default="", help="a paragraph added under the commands (e.g. what ran concurrently)")
    args = p.parse_args(argv)
    _check_args(args)
    if args.quick:
        args.recipes, args.data, args.seeds, args.steps = ["gan", "wgan-gp"], ["ring"], [0], 30
        args.width, args.depth, args.tag = 32, 2, "quick"
        args.results = Path(tempfile.mkdtemp(prefix="toy_modes_quick_"))
        args.write = False
    if args.add_fresh is not None:
        print(f"added held-out scores to {add_fresh(args.add_fresh, args.results)} saved runs", flush=True)
        args.from_results = True
    if not args.from_results:
        runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="toy_modes_runs_"))
        jobs = build_jobs(args, runs_dir)
        print(f"{len(jobs)} runs to do, {args.jobs} at a time; results in {args.results / args.tag}", flush=True)
        t0 = time.perf_counter()
        run_jobs(jobs, args.jobs)
        print(f"sweep wall time {time.perf_counter() - t0:.0f} s", flush=True)
    rows = load_results(args.results)
    commands = args.command_log or [" ".join(["python", "benchmarks/toy_modes.py", *(argv or sys.argv[1:])])]
    md = markdown(rows, commands, args.note)
    print(md)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _report import write_section

        write_section("toy_modes", md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
