"""The evaluation classifier on the CPU: torch's max_pool2d against `max_pool2`, and the batch size.

    images/s = N / t(features and logits of N grey 28 x 28 images)     median over interleaved repeats

Every FID / KID / IS and every Stacked-MNIST mode count runs the shipped MNIST-size classifier
(`ganlab.metrics.classifier.SmallCNN`, 28 x 28) over all the samples: 3 x 26 000 grey images per Stacked-MNIST
evaluation. The script times its forward pass (features and logits, no_grad) on the same N images in [0, 1]
with two poolings, torch's `F.max_pool2d(h, 2)` and ganlab's `max_pool2` (two element-wise maxima of strided
views; the table's 'max diff' is the largest |difference| of their logits), at several batch sizes. The
variants alternate, the order flipped every repeat, so other jobs on the machine slow them alike. The evaluators
read `EVAL_BATCH` grey images per forward.

    python benchmarks/classifier_speed.py --threads 1 2 --repeats 5 --write
    python benchmarks/classifier_speed.py --quick          # a few seconds, prints only
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

import ganlab.metrics.classifier as classifier_module
from ganlab.metrics.classifier import EVAL_BATCH, load_shipped_classifier

BATCHES = [64, 128, 256, 1024]


def _torch_pool(h: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(h, 2)


def logits(model: torch.nn.Module, images: torch.Tensor, batch: int, pool: Callable) -> torch.Tensor:
    """The classifier's logits of `images`, `batch` at a time, with `pool` as its 2 x 2 max pooling."""
    saved = classifier_module.max_pool2
    classifier_module.max_pool2 = pool
    try:
        with torch.no_grad():
            return torch.cat([model.features_and_logits(x)[1] for x in images.split(batch)])
    finally:
        classifier_module.max_pool2 = saved


def measure(model: torch.nn.Module, images: torch.Tensor, batches: list[int], repeats: int) -> dict:
    """{(pool, batch): median seconds} over `repeats` interleaved rounds (one warm-up), and the max |diff| of
    the two poolings' logits."""
    variants = {(name, b): (pool, b) for b in batches
                for name, pool in (("max_pool2d", _torch_pool), ("max_pool2", classifier_module.max_pool2))}
    diff = float((logits(model, images, 256, _torch_pool) - logits(model, images, 256, classifier_module.max_pool2))
                 .abs().max())
    times: dict = {k: [] for k in variants}
    keys = list(variants)
    for r in range(repeats + 1):
        for k in keys if r % 2 == 0 else keys[::-1]:
            t0 = time.perf_counter()
            logits(model, images, variants[k][1], variants[k][0])
            if r > 0:
                times[k].append(time.perf_counter() - t0)
    return {"median": {k: statistics.median(v) for k, v in times.items()}, "diff": diff}


def markdown(command: str, machine: str, rows: list, n: int, repeats: int) -> str:
    lines = [
        "## The evaluation classifier: pooling and batch size",
        "",
        f"Command: `{command}`",
        "",
        machine,
        "",
        f"The shipped MNIST classifier (SmallCNN, 28 x 28 grey, the one of every MNIST and Stacked-MNIST "
        f"evaluation), features and logits of {n} images (uniform in [0, 1]) under no_grad: thousands of images "
        f"per second, median over {repeats} interleaved repeats. 'max_pool2d': torch's `F.max_pool2d(h, 2)`; "
        "'max_pool2': `ganlab.metrics.classifier.max_pool2` (two element-wise maxima of strided views), the same "
        f"values ('max diff': the largest |difference| of the logits). The evaluators use batches of {EVAL_BATCH}.",
        "",
        "| threads | batch | max_pool2d: k img/s | max_pool2: k img/s | speed-up | max diff |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for threads, m in rows:
        for b in sorted({b for _, b in m["median"]}):
            slow, fast = n / m["median"][("max_pool2d", b)] / 1e3, n / m["median"][("max_pool2", b)] / 1e3
            lines.append(f"| {threads} | {b} | {slow:.2f} | {fast:.2f} | {fast / slow:.2f}x | {m['diff']:.1e} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=6144, help="grey images per timed call (default 6144)")
    parser.add_argument("--quick", action="store_true", help="a few seconds: 1 thread, 1 repeat, 512 images, prints only")
    parser.add_argument("--write", action="store_true", help="rewrite the section classifier_speed of docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import machine_line, refuse_quick_write, write_section

    refuse_quick_write(args.quick, args.write)
    if args.quick:
        args.repeats, args.threads, args.images = 1, [1], 512
    if args.repeats < 1 or args.images < 1 or any(t < 1 for t in args.threads):
        raise ValueError(f"--repeats, --images and --threads must be >= 1, got {args.repeats}, {args.images} and "
                         f"{args.threads}")
    model, _ = load_shipped_classifier("mnist")
    images = torch.rand(args.images, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        m = measure(model, images, BATCHES, args.repeats)
        rows.append((threads, m))
        print(f"threads {threads}: " + ", ".join(f"{name} b{b} {args.images / t / 1e3:.2f} k img/s"
                                                 for (name, b), t in m["median"].items()), flush=True)
    command = (f"python benchmarks/classifier_speed.py --threads {' '.join(map(str, args.threads))} "
               + ("--quick" if args.quick else f"--repeats {args.repeats}"
                  + (f" --images {args.images}" if args.images != 6144 else "")))
    md = markdown(command, machine_line(threads_in_table=True), rows, args.images, args.repeats)
    print(md)
    if args.write:
        write_section("classifier_speed", md)


if __name__ == "__main__":
    main()
