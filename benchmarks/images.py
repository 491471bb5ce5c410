"""Every recipe on real images for a fixed CPU budget per run, judged by FID / KID / IS; Stacked-MNIST mode counts.

Fashion-MNIST (28x28, Debian's `dataset-fashion-mnist`): each recipe trains the DCGAN family (batch 64, the
recipe's objective, optimizer and Lipschitz constraint unchanged) until `--budget` seconds of training are
spent (`time_limit`), then its generator is judged on `--eval-samples` samples against the 10 000 test images
with the shipped Fashion-MNIST classifier (`ganlab.evaluators.ImageEvaluator`). The ceiling beside them is
real against real: as many training images, drawn with seed 0, scored the same way.

Stacked MNIST (three MNIST digits as R, G, B: 1000 modes; the MNIST .npz of `benchmarks/mnist_npz.py`): each
of `--stacked-recipes` trains for the same budget per seed; 26 000 samples (the VEEGAN / PacGAN protocol) are
labelled channel by channel by the shipped MNIST classifier; modes captured and KL(q || uniform), split into the
channels' digit imbalance and their dependence, beside a floor row (26 000 real training triples scored the same
way) and the published table (`ganlab.metrics.stacked_mnist.PUBLISHED`).

A run that stops on a non-finite value is a row that says so, with the step it reached.

Sample grids (64 samples of each run's last evaluation) are copied to docs/images/. The budget is wall time,
so another busy process on the machine means fewer steps (the tables list the steps each run reached and the
load average while it ran). `--jobs N` runs N trainings at once in separate processes, each on `--threads`
threads: keep jobs x threads at most the number of cores (2 jobs of 1 thread on 2 cores).

    python benchmarks/images.py --budget 150 --threads 2 --write
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from ganlab.data import get_dataset
from ganlab.evaluators import ImageEvaluator, StackedMNISTEvaluator
from ganlab.metrics.classifier import load_shipped_classifier
from ganlab.metrics.features import get_extractor
from ganlab.metrics.stacked_mnist import PUBLISHED, StackedModes
from ganlab.recipes import RECIPES, resolve_config
from ganlab.train import NonFiniteLossError, train

ROOT = Path(__file__).resolve().parent.parent
IMAGES_DIR = ROOT / "docs" / "images"
RECIPES_SHOWN = ["gan", "nsgan", "lsgan", "wgan", "wgan-gp", "sngan", "sngan-hinge"]
STACKED_RECIPES = ["nsgan", "wgan-gp", "sngan", "pacgan"]


def _run(recipe: str, data: str, *, budget: float, threads: int, seed: int, eval_samples: int, work: Path,
         extra: list[str] = ()) -> dict:
    out = work / f"{recipe}-{data}-s{seed}"
    if out.exists():
        shutil.rmtree(out)
    overrides = [f"--recipe={recipe}", f"--data={data}", "--model=dcgan", "--batch_size=64", "--steps=10000000",
                 f"--time_limit={budget}", "--eval_every=0", "--ckpt_every=0", "--log_every=100",
                 f"--threads={threads}", f"--eval_samples={eval_samples}", f"--seed={seed}", f"--out={out}", *extra]
    load_before = os.getloadavg()[0]
    try:
        summary = train(resolve_config(overrides=overrides), progress=False)
    except NonFiniteLossError as exc:  # a row that says where the run stopped, not a lost table
        last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
        summary = {"steps": last["step"], "error": str(exc), "run_dir": str(out),
                   **{key: float("nan") for key in ("fid", "kid", "is", "modes", "mode_kl")}}
    summary["load"] = (load_before + os.getloadavg()[0]) / 2
    summary["command_overrides"] = overrides
    return summary


def _run_all(specs: list[dict], jobs: int) -> list[dict]:
    """`_run(**spec)` for every spec, `jobs` at a time in fresh processes (in this process when jobs is 1); the
    summaries in the order of `specs`."""
    if jobs <= 1:
        return [_run(**spec) for spec in specs]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_run, **spec) for spec in specs]
        return [f.result() for f in futures]


def _at_once(args: argparse.Namespace) -> str:
    return f", {args.jobs} runs at once" if args.jobs > 1 else ""


def _flags(args: argparse.Namespace) -> str:
    return f" with `{' '.join(args.train_flag)}`" if args.train_flag else ""


def _batch(args: argparse.Namespace) -> str:
    """The batch size the runs train with: 64, unless a --train-flag sets another (the last one wins)."""
    sizes = [flag.split("=", 1)[1] for flag in ["--batch_size=64", *args.train_flag] if flag.startswith("--batch_size=")]
    return sizes[-1]


def _real_ceiling(data: str, n: int) -> dict[str, float]:
    """FID / KID / IS of n training images against the test split, with the same evaluator."""
    ds = get_dataset(data)
    ev = ImageEvaluator(ds, torch.zeros(n, 1), seed=0, extractor=get_extractor(data))
    real = ds.sample(n, generator=torch.Generator().manual_seed(0))
    return ev.scores(real)


def _real_stacked_floor(n: int = 26000) -> StackedModes:
    """The mode metric of n real Stacked-MNIST training triples (seed 0), with the same evaluator."""
    ds = get_dataset("stacked-mnist")
    model, sha = load_shipped_classifier("mnist")
    ev = StackedMNISTEvaluator(ds, torch.zeros(n, 1), seed=0, classifier=model, weights_sha256=sha)
    return ev.modes(ds.sample(n, generator=torch.Generator().manual_seed(0)))


def fashion_table(args: argparse.Namespace, work: Path) -> str:
    rows = []
    ceiling = _real_ceiling("fashion-mnist", args.eval_samples)
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    specs = [dict(recipe=recipe, data="fashion-mnist", budget=args.budget, threads=args.threads, seed=0,
                  eval_samples=args.eval_samples, work=work, extra=args.train_flag) for recipe in args.recipes]
    for recipe, s in zip(args.recipes, _run_all(specs, args.jobs)):
        rows.append((recipe, s))
        if "error" in s:
            print(f"{recipe}: {s['error']}", flush=True)
            continue
        grid = Path(s["run_dir"]) / "samples" / f"step_{s['steps']:07d}.png"
        if args.write:  # the committed grids change only with the tables that link them
            shutil.copyfile(grid, IMAGES_DIR / f"fashion-mnist-{recipe}{args.suffix}.png")
        print(f"{recipe}: {s['steps']} steps, FID {s['fid']:.2f}, KID {s['kid']:.4f}, IS {s['is']:.2f}", flush=True)
    lines = [
        f"Fashion-MNIST 28x28, DCGAN (batch {_batch(args)}){_flags(args)}, {args.budget:g} s of training per run on {args.threads} "
        f"thread(s){_at_once(args)}, seed 0; FID / KID / IS of {args.eval_samples} samples against the 10 000 test images with the "
        "shipped Fashion-MNIST classifier's features (`src/ganlab/assets/fashion-mnist_classifier.json`; not "
        "comparable with Inception-feature numbers of papers).",
        "",
        "| recipe | steps reached | FID | KID | IS | load avg | samples |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| real train vs test (ceiling) | | {ceiling['fid']:.2f} | {ceiling['kid']:.4f} | {ceiling['is']:.2f} | | |",
    ]
    for recipe, s in sorted(rows, key=lambda r: ("error" in r[1], r[1]["fid"])):
        if "error" in s:
            lines.append(f"| `{recipe}` | {s['steps']} | stopped: non-finite value | | | {s['load']:.1f} | |")
            continue
        lines.append(f"| `{recipe}` | {s['steps']} | {s['fid']:.2f} | {s['kid']:.4f} | {s['is']:.2f} | "
                     f"{s['load']:.1f} | [grid](images/fashion-mnist-{recipe}{args.suffix}.png) |")
    return "\n".join(lines)


def stacked_table(args: argparse.Namespace, work: Path) -> str:
    lines = [
        f"Stacked MNIST (1000 modes), DCGAN 3 x 28 x 28 (batch {_batch(args)}){_flags(args)}, {args.budget:g} s of training per run on "
        f"{args.threads} thread(s){_at_once(args)}; 26 000 samples, each channel labelled by the shipped MNIST classifier "
        "(`src/ganlab/assets/mnist_classifier.json`). The KL splits exactly into the channels' digit imbalance, "
        "sum_c KL(q_c ‖ U_10), and their dependence (`ganlab.metrics.stacked_mnist`); the floor row is 26 000 real "
        "training triples scored the same way.",
        "",
        "| recipe | seed | steps reached | modes (of 1000) | KL(q ‖ uniform) | = channels' imbalance | + dependence "
        "| load avg |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    floor = _real_stacked_floor()
    lines.append(f"| real Stacked MNIST (floor) | | | {floor.modes} | {floor.kl:.3f} | {sum(floor.channel_kl):.3f} | "
                 f"{floor.dependence:.3f} | |")
    specs = [dict(recipe=recipe, data="stacked-mnist", budget=args.budget, threads=args.threads, seed=seed,
                  eval_samples=26000, work=work, extra=args.train_flag)
             for recipe in args.stacked_recipes for seed in args.seeds]
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    for spec, s in zip(specs, _run_all(specs, args.jobs)):
        recipe, seed = spec["recipe"], spec["seed"]
        if "error" in s:
            lines.append(f"| `{recipe}` | {seed} | {s['steps']} | stopped: non-finite value | | | | {s['load']:.1f} |")
            print(f"stacked {recipe} s{seed}: {s['error']}", flush=True)
            continue
        if seed == args.seeds[0] and args.write:
            grid = Path(s["run_dir"]) / "samples" / f"step_{s['steps']:07d}.png"
            shutil.copyfile(grid, IMAGES_DIR / f"stacked-mnist-{recipe}{args.suffix}.png")
        dependence = max(s["mode_kl"] - s["mode_kl_channels"], 0.0)  # as StackedModes.dependence
        lines.append(f"| `{recipe}` | {seed} | {s['steps']} | {s['modes']:.0f} | {s['mode_kl']:.3f} | "
                     f"{s['mode_kl_channels']:.3f} | {dependence:.3f} | {s['load']:.1f} |")
        print(f"stacked {recipe} s{seed}: {s['modes']:.0f} modes, KL {s['mode_kl']:.3f}", flush=True)
        if "raw_mode_kl" in s:  # with --ema the rows above score the EMA generator; this one the raw weights
            raw_dependence = max(s["raw_mode_kl"] - s["raw_mode_kl_channels"], 0.0)
            lines.append(f"| `{recipe}`, raw generator | {seed} | {s['steps']} | {s['raw_modes']:.0f} | "
                         f"{s['raw_mode_kl']:.3f} | {s['raw_mode_kl_channels']:.3f} | {raw_dependence:.3f} | "
                         f"{s['load']:.1f} |")
    lines += ["", "Published (same protocol, GPU budgets of hours):", "",
              "| model | modes | KL | source |", "| --- | ---: | ---: | --- |"]
    for name, p in PUBLISHED.items():
        lines.append(f"| {name} | {p.modes:g} | {p.kl:g} | {p.source} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=900.0, help="seconds of training per run (default 900)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, each in its own process (default 1)")
    parser.add_argument("--eval-samples", type=int, default=10000)
    parser.add_argument("--recipes", nargs="+", default=RECIPES_SHOWN,
                        help=f"recipes on Fashion-MNIST ('all' = every recipe; default {' '.join(RECIPES_SHOWN)})")
    parser.add_argument("--stacked-recipes", nargs="*", default=STACKED_RECIPES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="Stacked-MNIST seeds")
    parser.add_argument("--only", choices=("fashion", "stacked"), default=None)
    parser.add_argument("--train-flag", action="append", default=[], metavar="FLAG",
                        help="one more `ganlab train` flag for every run, e.g. --train-flag=--model.g_width=32 "
                             "(repeat it for more)")
    parser.add_argument("--work", default=None, help="run folders (default: a temporary folder)")
    parser.add_argument("--write", action="store_true", help="rewrite the sections of docs/BENCHMARKS.md")
    parser.add_argument("--suffix", default="", help="appended to the section names (images_fashion, images_stacked) "
                        "and the sample grids' file names, e.g. '_long' for a second table at another budget")
    args = parser.parse_args()
    if args.recipes == ["all"]:
        args.recipes = list(RECIPES)
    unknown = [r for r in [*args.recipes, *args.stacked_recipes] if r not in RECIPES]
    if unknown:
        raise SystemExit(f"unknown recipe(s) {unknown}; expected names of ganlab.recipes.RECIPES")
    torch.set_num_threads(args.threads)  # the ceiling's evaluation here, and the thread count the tables report
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ganlab-images-"))
    command = "python benchmarks/images.py " + " ".join(
        [f"--budget {args.budget:g}", f"--threads {args.threads}"] + ([f"--jobs {args.jobs}"] if args.jobs > 1 else [])
        + [f"--eval-samples {args.eval_samples}"]
        + ([f"--only {args.only}"] if args.only else []) + (["--recipes", *args.recipes]
                                                            if args.recipes != RECIPES_SHOWN else [])
        + (["--stacked-recipes", *args.stacked_recipes] if args.stacked_recipes != STACKED_RECIPES else [])
        + (["--seeds", *map(str, args.seeds)] if args.seeds != [0, 1, 2] else [])
        + [f"--train-flag={flag}" for flag in args.train_flag]
        + ([f"--suffix {args.suffix}"] if args.suffix else []) + ["--write"])
    from _report import machine_line, write_section

    t0 = time.perf_counter()
    sections = {}
    if args.only in (None, "fashion"):
        sections[f"images_fashion{args.suffix}"] = fashion_table(args, work)
    if args.only in (None, "stacked") and args.stacked_recipes:
        sections[f"images_stacked{args.suffix}"] = stacked_table(args, work)
    for name, table in sections.items():
        text = f"{machine_line()}\n\n    {command}\n\n{table}\n"
        print(text)
        if args.write:
            write_section(name, text)
    print(f"{time.perf_counter() - t0:.0f} s in all; run folders in {work}")
    (work / "tables.json").write_text(json.dumps(sections, indent=2))


if __name__ == "__main__":
    main()
