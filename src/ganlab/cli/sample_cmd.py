"""`ganlab sample RUN_DIR -n N [--out FILE.npz|FILE.png|DIR] [--grid FILE.png]`: draw samples from a trained run.

    --out FILE.npz   the array `samples` (N, *shape) float32, plus `seed` and the run's `step` (any run)
    --out FILE.png   the run's figure: samples over real data with the critic's value surface (2-D data),
                     histograms (1-D data); for an image run the pixel grid that --grid writes
    --out DIR        (no suffix, or a trailing slash) one PNG per sample, DIR/000000.png ...: grey 'L' or
                     'RGB' uint8 pixels round((x + 1) / 2 * 255) clipped, for external evaluators (image runs)
    --grid FILE.png  one PNG grid of the samples, --nrow per row (default 8), pixel for pixel (image runs)

--out and --grid may be given together (the samples are drawn once); at least one is needed. Generators of
image runs output (N, C, H, W) in [-1, 1] (the image data sets are scaled to [-1, 1], as in DCGAN), so
their pixels are (x + 1) / 2 in [0, 1]. Every file is written atomically; a folder appears whole.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run", "IMAGE_RANGE"]

#: The value range of an image run's samples, mapped to pixels 0..255 (`ganlab.report.to_uint8`).
IMAGE_RANGE = (-1.0, 1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `ganlab train`")
    parser.add_argument("-n", "--num-samples", dest="n", type=int, default=2500, help="number of samples (default 2500)")
    parser.add_argument("--out", metavar="FILE|DIR",
                        help="FILE.npz (array), FILE.png (figure; image runs: the grid) or DIR (no suffix, or a "
                             "trailing slash: one PNG per sample, image runs)")
    parser.add_argument("--grid", metavar="FILE.png", help="one PNG grid of the samples (image runs)")
    parser.add_argument("--nrow", type=int, default=8, help="images per row of the grid (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent draws (default 0)")
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator even if the run kept an EMA")


def _out_kind(out: str) -> str:
    """'npz', 'png' or 'folder' for the --out value; ValueError for any other suffix."""
    path = Path(out)
    if out.endswith(("/", "\\")) or path.suffix == "":
        return "folder"
    if path.suffix in (".npz", ".png"):
        return path.suffix[1:]
    raise ValueError(f"--out must end in .npz or .png, or name a folder (no suffix, or a trailing slash) for one "
                     f"PNG per sample; got {out!r}")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ganlab.files import atomic_write
    from ganlab.report import write_png_grid, write_pngs
    from ganlab.runs import load_run
    from ganlab.sampling import draw

    if args.out is None and args.grid is None:
        raise ValueError("nothing to write: give --out FILE.npz|FILE.png|DIR and/or --grid FILE.png")
    kind = _out_kind(args.out) if args.out is not None else None
    if args.grid is not None and Path(args.grid).suffix != ".png":
        raise ValueError(f"--grid must name a .png file, got {args.grid!r}")
    if args.n < 1:
        raise ValueError(f"-n must be a positive number of samples, got {args.n}")
    if args.nrow < 1:
        raise ValueError(f"--nrow must be a positive number of images per row, got {args.nrow}")
    folder = Path(args.out) if kind == "folder" else None
    if folder is not None and folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"--out {args.out!r} exists and is not an empty folder; one PNG per sample goes into a new "
                         f"or empty folder (an evaluator would also read the files already there)")

    run = load_run(args.run_dir, ema=not args.no_ema)
    shape = tuple(run.setup.dataset.shape)
    is_image = len(shape) == 3
    if not is_image and (args.grid is not None or folder is not None):
        what = "--grid" if args.grid is not None else f"--out {args.out!r} (a folder: one PNG per sample)"
        raise ValueError(f"{what} needs an image run (samples (C, H, W)); the run in {str(args.run_dir)!r} draws "
                         f"samples of shape {shape} ({run.config.data}): use --out FILE.npz or FILE.png")

    samples = draw(run.sampler, run.setup.latent_dim, args.n, seed=args.seed)
    written = []
    if kind == "npz":
        arrays = {"samples": samples.numpy(), "seed": np.int64(args.seed), "step": np.int64(run.step)}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a file object: numpy would append .npz to the temporary name
                np.savez(fh, **arrays)

        written.append(str(atomic_write(args.out, write)))
    elif kind == "png" and is_image:
        written.append(str(write_png_grid(args.out, samples, nrow=args.nrow, value_range=IMAGE_RANGE)))
    elif kind == "png":
        from ganlab.report import plot_figure

        config = run.config
        real = run.setup.dataset.sample(min(args.n, 2500), generator=torch.Generator().manual_seed(args.seed + 1))
        plot_figure(args.out, samples, real, critic=run.setup.critic, modes=run.setup.dataset.modes,
                    title=f"{config.recipe} on {config.data}, step {run.step}, {args.n} samples")
        written.append(args.out)
    elif kind == "folder":
        written.append(f"{write_pngs(folder, samples, value_range=IMAGE_RANGE)}/ ({args.n} PNGs)")
    if args.grid is not None:
        written.append(str(write_png_grid(args.grid, samples, nrow=args.nrow, value_range=IMAGE_RANGE)))
    print(f"wrote {args.n} samples of {args.run_dir} (step {run.step}) to {' and '.join(written)}")
    return 0
