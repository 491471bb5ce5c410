"""A generator's image layer on the CPU: torch's convolution (oneDNN) against the matmul + fold form.

    speed-up = t(torch layer) / t(Fold layer)       median over interleaved repeats, same weights and input

For each generator family and image shape the script builds the image layer twice, as torch's
`nn.ConvTranspose2d` / `nn.Conv2d` and as ganlab's `FoldConvTranspose2d` / `FoldConv2d` (`ganlab.models.fold_conv`)
with the same weights, checks that both give the same output (max |difference| in the table), and times, on
a batch of 64 inputs the shape the generator feeds that layer:
- "forward": the layer under no_grad, as the generator runs in every critic step;
- "forward + backward": with gradients for the input and the weights, as in the generator step.
The two variants alternate (the order flipped every repeat), so other jobs on the machine slow both alike.

    python benchmarks/image_layers.py --threads 1 2 --repeats 21 --write
    python benchmarks/image_layers.py --quick          # a few seconds, prints only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from ganlab.models.fold_conv import FoldConv2d, FoldConvTranspose2d

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import interleaved  # noqa: E402  (benchmarks/ is not a package)

BATCH = 64

# (family, image shape (C, S, S), the torch layer, the fold layer, the layer's input shape); the layers are those
# `DCGANGenerator` / `ResNetGenerator` give these shapes with their default widths (ngf 64; g_width 256).
LAYERS: list[tuple[str, tuple[int, int, int], Callable[[], nn.Module], Callable[[], nn.Module], tuple[int, ...]]] = [
    *[("dcgan", (c, s, s), lambda c=c: nn.ConvTranspose2d(64, c, 4, stride=2, padding=1),
       lambda c=c: FoldConvTranspose2d(64, c, 4, stride=2, padding=1), (64, s // 2, s // 2))
      for c, s in ((1, 28), (1, 32), (3, 28), (3, 32), (3, 64))],
    *[("resnet", (c, s, s), lambda c=c: nn.Conv2d(256, c, 3, padding=1),
       lambda c=c: FoldConv2d(256, c, 3, padding=1), (256, s, s))
      for c, s in ((1, 28), (3, 32), (3, 64))],
]


def measure(make_torch: Callable[[], nn.Module], make_fold: Callable[[], nn.Module], in_shape: tuple[int, ...],
            repeats: int) -> dict[str, float]:
    """Forward (no_grad) and forward + backward medians (ms) of both layers, and their max output difference."""
    torch.manual_seed(0)
    ref, fold = make_torch(), make_fold()
    fold.load_state_dict(ref.state_dict())
    x = torch.randn(BATCH, *in_shape)
    x_grad = x.clone().requires_grad_(True)
    with torch.no_grad():
        diff = (ref(x) - fold(x)).abs().max().item()

    def forward(m: nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                m(x)
        return run

    def forward_backward(m: nn.Module) -> Callable[[], None]:
        def run() -> None:
            y: Tensor = m(x_grad)
            y.backward(torch.ones_like(y))
        return run

    f = interleaved({"torch": forward(ref), "fold": forward(fold)}, repeats)
    fb = interleaved({"torch": forward_backward(ref), "fold": forward_backward(fold)}, repeats)
    return {"diff": diff, "f_torch": f["torch"] * 1e3, "f_fold": f["fold"] * 1e3,
            "fb_torch": fb["torch"] * 1e3, "fb_fold": fb["fold"] * 1e3}


def markdown(command: str, machine: str, rows: list[tuple[int, str, str, str, dict[str, float]]],
             repeats: int) -> str:
    lines = [
        "## A generator's image layer: torch's convolution against the matmul + fold form",
        "",
        f"Command: `{command}`",
        "",
        machine,
        "",
        "The last layer of each generator (the one with the image's 1 or 3 output channels), at the default widths "
        f"(DCGAN ngf 64: ConvTranspose2d k4 s2 p1; SN-ResNet g_width 256: Conv2d k3 p1), batch {BATCH}: torch's "
        "`nn.ConvTranspose2d` / `nn.Conv2d` (oneDNN) against `FoldConvTranspose2d` / `FoldConv2d` "
        "(`ganlab.models.fold_conv`: one matmul and a col2im, torch's own backward) with the same weights. "
        f"Median ms over {repeats} interleaved calls each. 'forward': under no_grad (the generator in a critic "
        "step); 'forward + backward': gradients for the input and the weights (the generator step). "
        "'max diff': the largest |difference| between the two layers' outputs (float32).",
        "",
        "| threads | model | image | layer | max diff | forward: torch ms | fold ms | speed-up | "
        "forward + backward: torch ms | fold ms | speed-up |",
        "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for threads, family, image, layer, m in rows:
        lines.append(f"| {threads} | {family} | {image} | {layer} | {m['diff']:.1e} | {m['f_torch']:.2f} | "
                     f"{m['f_fold']:.2f} | {m['f_torch'] / m['f_fold']:.2f}x | {m['fb_torch']:.2f} | "
                     f"{m['fb_fold']:.2f} | {m['fb_torch'] / m['fb_fold']:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="a few seconds: --repeats 3, 1 thread, prints only")
    parser.add_argument("--write", action="store_true", help="rewrite the section image_layers of docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    from _report import machine_line, refuse_quick_write, write_section

    refuse_quick_write(args.quick, args.write)
    if args.quick:
        args.repeats, args.threads = 3, [1]
    if args.repeats < 1 or any(t < 1 for t in args.threads):
        raise ValueError(f"--repeats and --threads must be >= 1, got {args.repeats} and {args.threads}")

    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for family, (c, s, _), make_torch, make_fold, in_shape in LAYERS:
            probe = make_torch()
            layer = (f"{type(probe).__name__}({probe.in_channels} -> {probe.out_channels}, "
                     f"k{probe.kernel_size[0]} s{probe.stride[0]} p{probe.padding[0]}), {in_shape[1]} -> {s}")
            m = measure(make_torch, make_fold, in_shape, args.repeats)
            rows.append((threads, family, f"{c} x {s} x {s}", layer, m))
            print(f"threads {threads} {family} {c}x{s}x{s}: forward {m['f_torch']:.2f} / {m['f_fold']:.2f} ms, "
                  f"forward+backward {m['fb_torch']:.2f} / {m['fb_fold']:.2f} ms, max diff {m['diff']:.1e}",
                  flush=True)
    command = (f"python benchmarks/image_layers.py --threads {' '.join(map(str, args.threads))} "
               + ("--quick" if args.quick else f"--repeats {args.repeats}"))
    machine = machine_line(threads_in_table=True)
    md = markdown(command, machine, rows, args.repeats)
    print(md)
    if args.write:
        write_section("image_layers", md)


if __name__ == "__main__":
    main()
