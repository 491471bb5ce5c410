"""The feature networks of evaluation on the CPU: the domain classifier's pooling and batch size, Inception's layout.

    images/s = N / t(features and logits of N images)     median over interleaved repeats

Every FID / KID / IS and every Stacked-MNIST mode count runs a feature network over all the samples (3 x 26 000
grey images per Stacked-MNIST evaluation). Two tables, each timing variants that give the same numbers:
- the shipped MNIST classifier (`ganlab.metrics.classifier.SmallCNN`, 28 x 28 grey) with torch's
  `F.max_pool2d(h, 2)` and with ganlab's `max_pool2` (two element-wise maxima of strided views), at several
  batch sizes (the evaluators use `EVAL_BATCH`);
- the FID Inception-v3 (`ganlab.metrics.inception`, 299 x 299 after the resize), its activations in torch's
  default (N, C, H, W) layout and channels-last, as `InceptionExtractor` runs it. No weights are downloaded:
  it runs seeded random weights (`randomized_inception`), and the time does not depend on their values.
'max diff' is the largest |difference| of the variants' logits (Inception: relative to their largest value).
The variants alternate after two warm-up calls each, the order flipped every repeat, so other jobs on the
machine slow them alike.

    python benchmarks/feature_speed.py --threads 1 2 --repeats 5 --write
    python benchmarks/feature_speed.py --quick          # a few seconds, prints only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

import ganlab.metrics.classifier as classifier_module
from ganlab.metrics.classifier import EVAL_BATCH, load_shipped_classifier
from ganlab.metrics.inception import randomized_inception

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import interleaved  # noqa: E402  (benchmarks/ is not a package)

BATCHES = [64, 128, 256, 1024]


def _torch_pool(h: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(h, 2)


def classifier_logits(model: torch.nn.Module, images: torch.Tensor, batch: int, pool: Callable) -> torch.Tensor:
    """The classifier's logits of `images`, `batch` at a time, with `pool` as its 2 x 2 max pooling."""
    saved = classifier_module.max_pool2
    classifier_module.max_pool2 = pool
    try:
        with torch.no_grad():
            return torch.cat([model.features_and_logits(x)[1] for x in images.split(batch)])
    finally:
        classifier_module.max_pool2 = saved


def measure_classifier(images: torch.Tensor, repeats: int) -> dict:
    model, _ = load_shipped_classifier("mnist")
    pools = {"max_pool2d": _torch_pool, "max_pool2": classifier_module.max_pool2}
    diff = float((classifier_logits(model, images, 256, pools["max_pool2d"])
                  - classifier_logits(model, images, 256, pools["max_pool2"])).abs().max())
    fns = {(name, b): (lambda pool=pool, b=b: classifier_logits(model, images, b, pool))
           for b in BATCHES for name, pool in pools.items()}
    return {"median": interleaved(fns, repeats), "diff": diff}


def measure_inception(images: torch.Tensor, repeats: int) -> dict:
    nchw = randomized_inception(seed=0)
    last = randomized_inception(seed=0).to(memory_format=torch.channels_last)
    x_last = images.contiguous(memory_format=torch.channels_last)

    def run(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([model(b)[1] for b in x.split(50)])

    a, b = run(nchw, images), run(last, x_last)
    diff = float((a - b).abs().max() / a.abs().max())
    median = interleaved({"nchw": lambda: run(nchw, images), "channels_last": lambda: run(last, x_last)}, repeats)
    return {"median": median, "diff": diff}


def markdown(command: str, machine: str, rows: list, n: int, n_inception: int, repeats: int) -> str:
    lines = [
        "## Feature networks of evaluation: pooling, batch size and layout",
        "",
        f"Command: `{command}`",
        "",
        machine,
        "",
        f"The shipped MNIST classifier (SmallCNN, 28 x 28 grey: every MNIST and Stacked-MNIST evaluation), features "
        f"and logits of {n} images (uniform in [0, 1]) under no_grad, in thousands of images per second, median over "
        f"{repeats} interleaved repeats. 'max_pool2d': torch's `F.max_pool2d(h, 2)`; 'max_pool2': "
        "`ganlab.metrics.classifier.max_pool2`, the same values ('max diff': the largest |difference| of the logits). "
        f"The evaluators use batches of {EVAL_BATCH}.",
        "",
        "| threads | batch | max_pool2d: k img/s | max_pool2: k img/s | speed-up | max diff |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for threads, c, _ in rows:
        for b in BATCHES:
            slow, fast = n / c["median"][("max_pool2d", b)] / 1e3, n / c["median"][("max_pool2", b)] / 1e3
            lines.append(f"| {threads} | {b} | {slow:.2f} | {fast:.2f} | {fast / slow:.2f}x | {c['diff']:.1e} |")
    lines += [
        "",
        f"The FID Inception-v3 on {n_inception} images of 299 x 299 (batches of 50, seeded random weights), images "
        "per second: activations in torch's default layout against channels-last (`InceptionExtractor`); 'max "
        "diff': the largest |difference| of the logits over their largest |value|.",
        "",
        "| threads | (N, C, H, W): img/s | channels-last: img/s | speed-up | max diff |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for threads, _, inc in rows:
        slow, fast = n_inception / inc["median"]["nchw"], n_inception / inc["median"]["channels_last"]
        lines.append(f"| {threads} | {slow:.2f} | {fast:.2f} | {fast / slow:.2f}x | {inc['diff']:.1e} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=6144, help="grey 28 x 28 images per classifier call (6144)")
    parser.add_argument("--inception-images", type=int, default=50, help="299 x 299 images per Inception call (50)")
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds: 1 thread, 1 repeat, 512 and 4 images, prints only")
    parser.add_argument("--write", action="store_true", help="rewrite the section feature_speed of docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    from _report import machine_line, refuse_quick_write, write_section

    refuse_quick_write(args.quick, args.write)
    if args.quick:
        args.repeats, args.threads, args.images, args.inception_images = 1, [1], 512, 4
    if min(args.repeats, args.images, args.inception_images, *args.threads) < 1:
        raise ValueError(f"--repeats, --images, --inception-images and --threads must be >= 1, got {args.repeats}, "
                         f"{args.images}, {args.inception_images} and {args.threads}")
    grey = torch.rand(args.images, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    rgb = torch.rand(args.inception_images, 3, 299, 299, generator=torch.Generator().manual_seed(1)) * 2 - 1
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        c, inc = measure_classifier(grey, args.repeats), measure_inception(rgb, args.repeats)
        rows.append((threads, c, inc))
        print(f"threads {threads}: " + ", ".join(f"{name} b{b} {args.images / t / 1e3:.2f} k img/s"
                                                 for (name, b), t in c["median"].items())
              + "; inception " + ", ".join(f"{k} {args.inception_images / t:.2f} img/s"
                                           for k, t in inc["median"].items()), flush=True)
    command = (f"python benchmarks/feature_speed.py --threads {' '.join(map(str, args.threads))} "
               + ("--quick" if args.quick else f"--repeats {args.repeats}"
                  + (f" --images {args.images}" if args.images != 6144 else "")
                  + (f" --inception-images {args.inception_images}" if args.inception_images != 50 else "")))
    md = markdown(command, machine_line(threads_in_table=True), rows, args.images, args.inception_images,
                  args.repeats)
    print(md)
    if args.write:
        write_section("feature_speed", md)


if __name__ == "__main__":
    main()
