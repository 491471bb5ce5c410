"""Figures of a training run: samples over the data with the critic's value surface, and curves.

`plot_samples` draws generated points over real points; for 2-D data it adds the contours of the
critic's value f(x) on a grid (what the WGAN-GP paper's Figure 1a shows), for 1-D data it draws
histograms and f(x) as a line. `plot_curves` reads a run's `metrics.jsonl` and draws the losses
and, where present, the evaluation metrics against the generator step. Matplotlib with the Agg
backend (no display needed); every figure is closed after saving.

`write_png_grid` and `write_pngs` write images pixel for pixel with PIL (no figure): one grid, or one PNG
per image for external evaluators (`ganlab sample --grid`, `--out DIR`); `to_uint8` is their pixel map.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ganlab.files import atomic_write
from ganlab.models.pack import packing_of

__all__ = ["critic_surface", "plot_samples", "plot_image_grid", "plot_figure", "plot_curves", "read_metrics",
           "to_uint8", "image_grid", "write_png_grid", "write_pngs", "pyplot", "save_figure"]


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported only when a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, *, tight: bool = False) -> Path:
    """Write `fig` to `path` as a PNG, atomically (a crash leaves the old file or the new one), and close it,
    also when drawing or writing fails; `tight` runs `fig.tight_layout()` first. Returns the path written."""
    try:
        if tight:
            fig.tight_layout()
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        pyplot().close(fig)


def _limits(points: np.ndarray, pad: float = 0.15) -> tuple[float, float, float, float]:
    lo, hi = np.nanmin(points, axis=0), np.nanmax(points, axis=0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - pad * span, hi + pad * span
    return float(lo[0]), float(hi[0]), float(lo[-1]), float(hi[-1])


@torch.no_grad()
def critic_surface(
    critic: Callable[[torch.Tensor], torch.Tensor],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    *,
    resolution: int = 96,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f(x) on a resolution x resolution grid over xlim x ylim: returns (X, Y, F), each (R, R)."""
    xs = torch.linspace(xlim[0], xlim[1], resolution, dtype=torch.float64)
    ys = torch.linspace(ylim[0], ylim[1], resolution, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1).to(device=device, dtype=dtype)
    values = critic(pts).reshape(resolution, resolution).to("cpu", torch.float64)
    return gx.numpy(), gy.numpy(), values.numpy()


def plot_samples(
    path: str | Path,
    samples: torch.Tensor | np.ndarray,
    real: torch.Tensor | np.ndarray,
    *,
    critic: torch.nn.Module | None = None,
    title: str = "",
    modes: np.ndarray | None = None,
) -> Path:
    """Scatter (2-D) or histogram (1-D) of `samples` (N, D) over `real` (M, D), with the critic's values.

    The critic is evaluated in eval mode (spectral norm frozen, batch norm on running statistics)
    and put back in the mode it was in; a packed critic (PacGAN), whose value belongs to k points at once, is
    not drawn. Returns the path of the PNG written.
    """
    if critic is not None and packing_of(critic) > 1:
        critic = None
    plt = pyplot()
    fake = samples.detach().cpu().double().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples, float)
    data = real.detach().cpu().double().numpy() if isinstance(real, torch.Tensor) else np.asarray(real, float)
    fake = fake[np.isfinite(fake).all(axis=1)]
    dim = data.shape[1]
    fig, ax = plt.subplots(figsize=(5, 5) if dim == 2 else (6, 4), dpi=90)
    param = next(iter(critic.parameters()), None) if critic is not None else None
    device = param.device if param is not None else "cpu"
    dtype = param.dtype if param is not None else torch.float32
    was_training = critic.training if critic is not None else False
    try:
        if critic is not None:
            critic.eval()
        if dim == 2:
            x0, x1, y0, y1 = _limits(np.concatenate([data, fake]) if len(fake) else data)
            if critic is not None:
                gx, gy, fv = critic_surface(critic, (x0, x1), (y0, y1), device=device, dtype=dtype)
                cs = ax.contour(gx, gy, fv, levels=12, linewidths=0.7, cmap="viridis")
                ax.clabel(cs, fontsize=6, inline=True, fmt="%.2g")
            ax.scatter(data[:, 0], data[:, 1], s=4, c="tab:orange", marker="+", label="data", alpha=0.6)
            ax.scatter(fake[:, 0], fake[:, 1], s=4, c="tab:green", marker="+", label="generated", alpha=0.6)
            if modes is not None:
                ax.scatter(modes[:, 0], modes[:, 1], s=25, facecolors="none", edgecolors="k", linewidths=0.6)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            ax.set_aspect("equal")
        else:
            x0, x1, _, _ = _limits(np.concatenate([data[:, :1], fake[:, :1]]) if len(fake) else data[:, :1])
            bins = np.linspace(x0, x1, 80)
            ax.hist(data[:, 0], bins=bins, density=True, alpha=0.5, color="tab:orange", label="data")
            ax.hist(fake[:, 0], bins=bins, density=True, alpha=0.5, color="tab:green", label="generated")
            if critic is not None:
                xs = torch.linspace(x0, x1, 200, dtype=dtype, device=device)[:, None]
                with torch.no_grad():
                    fv = critic(xs).reshape(-1).cpu().double().numpy()
                ax2 = ax.twinx()
                ax2.plot(xs.cpu().numpy()[:, 0], fv, color="tab:blue", lw=1, label="critic f(x)")
                ax2.set_ylabel("critic f(x)")
        ax.legend(loc="upper right", fontsize=7)
        ax.set_title(title, fontsize=9)
        path = save_figure(fig, path, tight=True)
    finally:
        plt.close(fig)  # when drawing failed (save_figure has closed it otherwise; closing twice does nothing)
        if critic is not None:
            critic.train(was_training)
    return path


def plot_image_grid(path: str | Path, images: torch.Tensor | np.ndarray, *, nrow: int | None = None,
                    title: str = "") -> Path:
    """A grid of images (N, C, H, W) with values in [0, 1] (C = 1 grey, C = 3 RGB), `nrow` per row
    (default about sqrt(N)), one pixel of white between them. Returns the path of the PNG written."""
    x = images.detach().cpu().float().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, np.float32)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] < 1:
        raise ValueError(f"images must be (N, C, H, W) with C = 1 or 3, got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    nrow = max(1, int(math.ceil(math.sqrt(n)))) if nrow is None else int(nrow)
    rows = int(math.ceil(n / nrow))
    grid = np.ones((c, rows * (h + 1) + 1, nrow * (w + 1) + 1), dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, 1 + r * (h + 1):1 + r * (h + 1) + h, 1 + col * (w + 1):1 + col * (w + 1) + w] = x[i]
    grid = np.clip(np.nan_to_num(grid, nan=0.0), 0.0, 1.0).transpose(1, 2, 0)
    plt = pyplot()
    fig = plt.figure(figsize=(grid.shape[1] / 50, grid.shape[0] / 50 + (0.3 if title else 0)), dpi=100)
    try:
        ax = fig.add_axes((0, 0, 1, grid.shape[0] / (grid.shape[0] + (15 if title else 0))))
        ax.imshow(grid[..., 0] if c == 1 else grid, cmap="gray" if c == 1 else None, vmin=0, vmax=1,
                  interpolation="nearest")
        ax.axis("off")
        if title:
            fig.suptitle(title, fontsize=8)
        return save_figure(fig, path)
    finally:
        plt.close(fig)  # when drawing failed (save_figure has closed it otherwise)


def to_uint8(images: torch.Tensor | np.ndarray, *, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """p = clip(rint((x - lo) / (hi - lo) * 255), 0, 255): images (N, C, H, W) -> uint8 pixels (N, H, W, C).

    The map is computed in float64 in that order, rint rounding half to even (as Python's round), so that
    generator outputs in [-1, 1] (value_range (-1, 1)) become exactly round((x + 1) / 2 * 255); values
    outside the range are clipped. C = 1 (grey) or 3 (RGB).

    Raises ValueError for another shape, non-finite values (a diverged generator) or lo >= hi.
    """
    lo, hi = (float(v) for v in value_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"value_range must be two finite numbers lo < hi, got {value_range!r}")
    x = (images.detach().to("cpu", torch.float64).numpy() if isinstance(images, torch.Tensor)
         else np.asarray(images, dtype=np.float64))
    if x.ndim != 4 or x.shape[1] not in (1, 3) or min(x.shape) < 1:
        raise ValueError(f"images must be (N, C, H, W) with C = 1 or 3 and N, H, W >= 1, got shape {tuple(x.shape)}")
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise ValueError(f"images hold {bad} non-finite values (nan/inf); expected finite pixel values")
    pixels = np.clip(np.rint((x - lo) / (hi - lo) * 255.0), 0.0, 255.0).astype(np.uint8)
    return np.ascontiguousarray(pixels.transpose(0, 2, 3, 1))


def image_grid(pixels: np.ndarray, *, nrow: int = 8, padding: int = 1, pad_value: int = 255) -> np.ndarray:
    """Images (N, H, W, C) uint8 tiled row by row, min(nrow, N) per row, `padding` pixels of `pad_value` between
    and around them: returns (rows (H + padding) + padding, cols (W + padding) + padding, C) uint8.

    Image i sits at row i // nrow, column i % nrow; cells after the last image hold `pad_value`.
    """
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 4 or min(pixels.shape) < 1:
        raise ValueError(f"pixels must be a uint8 array (N, H, W, C), got {getattr(pixels, 'dtype', type(pixels))} "
                         f"of shape {tuple(getattr(pixels, 'shape', ()))}")
    for name, value, low, high in (("nrow", nrow, 1, None), ("padding", padding, 0, None), ("pad_value", pad_value, 0, 255)):
        if (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low
                or (high is not None and value > high)):
            raise ValueError(f"{name} must be an integer >= {low}{'' if high is None else f' and <= {high}'}, "
                             f"got {value!r}")
    n, h, w, c = pixels.shape
    cols = min(int(nrow), n)
    rows = -(-n // cols)
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value, dtype=np.uint8)
    for i in range(n):
        top, left = padding + (i // cols) * (h + padding), padding + (i % cols) * (w + padding)
        grid[top:top + h, left:left + w] = pixels[i]
    return grid


def _save_png(pixels: np.ndarray, target: Path) -> None:
    """One (H, W, C) uint8 image as a PNG: grey ('L') for C = 1, 'RGB' for C = 3."""
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)).save(target, format="PNG")


def write_png_grid(path: str | Path, images: torch.Tensor | np.ndarray, *, nrow: int = 8,
                   value_range: tuple[float, float] = (0.0, 1.0), padding: int = 1) -> Path:
    """One PNG of `image_grid(to_uint8(images, value_range=value_range), nrow=nrow, padding=padding)`, written
    atomically: images (N, C, H, W), `nrow` per row, white padding. Pixel-exact (no figure, no resampling),
    unlike `plot_image_grid`. Returns the path."""
    grid = image_grid(to_uint8(images, value_range=value_range), nrow=nrow, padding=padding)
    return atomic_write(path, lambda tmp: _save_png(grid, tmp))


def write_pngs(folder: str | Path, images: torch.Tensor | np.ndarray, *,
               value_range: tuple[float, float] = (0.0, 1.0), chunk: int = 1024) -> Path:
    """One PNG per image, `folder/000000.png`, `000001.png`, ... (six digits, more when N > 10^6): images
    (N, C, H, W) mapped by `to_uint8`, grey ('L') for C = 1, 'RGB' for C = 3: what external evaluators
    (pytorch-fid, torch-fidelity, clean-fid) read from a folder. Returns the folder.

    The folder must not exist or be empty: an evaluator reads every image in it, so files of an earlier,
    larger export must not stay beside these (ValueError otherwise).

    Note: the PNGs are written into a temporary folder beside `folder`, which is renamed to `folder` when
    all are written: a crash leaves no half-filled folder. The files are not fsync'ed one by one (tens of
    thousands of fsyncs would dominate the time); the rename is.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "is not a folder" if not folder.is_dir() else "is not empty"
        raise ValueError(f"{str(folder)!r} {what}; expected a new or empty folder for the PNGs")
    if not isinstance(images, (torch.Tensor, np.ndarray)):
        images = np.asarray(images)
    to_uint8(images[:1], value_range=value_range)  # the shape and range checks before any file is made
    n = int(images.shape[0])
    width = max(6, len(str(n - 1)))
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for start in range(0, n, chunk):
            for i, pixels in enumerate(to_uint8(images[start:start + chunk], value_range=value_range), start):
                _save_png(pixels, tmp / f"{i:0{width}d}.png")
        if folder.exists():
            folder.rmdir()  # empty, checked above
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        fd = os.open(folder.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - folders cannot be fsync'ed on some platforms
        pass
    return folder


def plot_figure(path: str | Path, samples: torch.Tensor, real: torch.Tensor, *, critic: torch.nn.Module | None = None,
                title: str = "", modes: np.ndarray | None = None) -> Path:
    """The figure that fits the data's shape: samples over data with the critic (`plot_samples`) for vectors
    (N, D) with D <= 2, an image grid of the samples (`plot_image_grid`) for images (N, C, H, W)."""
    if samples.ndim == 4:
        return plot_image_grid(path, samples[:64], title=title)
    if samples.ndim == 2 and samples.shape[1] in (1, 2):
        return plot_samples(path, samples, real, critic=critic, title=title, modes=modes)
    raise ValueError(f"no figure for samples of shape {tuple(samples.shape)}: expected (N, 1), (N, 2) or (N, C, H, W)")


def read_metrics(path: str | Path) -> list[dict]:
    """The JSON objects of a `metrics.jsonl` file, one per line (blank lines skipped)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"metrics file not found: {str(p)!r}")
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


_CURVES: Sequence[tuple[str, str]] = (
    ("d_loss", "critic loss"),
    ("g_loss", "generator loss"),
    ("critic_gap", "E f(real) - E f(fake), training batch"),
    ("modes", "modes captured"),
    ("high_quality", "high-quality fraction"),
    ("reverse_kl", "reverse KL"),
    ("w1", "W1 to data"),
    ("fid", "FID"),
    ("mode_kl", "KL(q || uniform), Stacked MNIST"),
)


def plot_curves(metrics_path: str | Path, path: str | Path, *, title: str = "") -> Path:
    """One panel per quantity found in `metrics.jsonl` (losses, critic gap, mode metrics, W1, FID, Stacked-MNIST
    KL) vs step."""
    plt = pyplot()
    rows = read_metrics(metrics_path)
    panels = [(k, label) for k, label in _CURVES if any(k in r for r in rows)]
    if not panels:
        raise ValueError(f"{str(metrics_path)!r} has no quantity to plot")
    cols = min(3, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.8 * nrows), dpi=90, squeeze=False)
    for ax, (key, label) in zip(axes.flat, panels):
        pts = [(r["step"], r[key]) for r in rows if key in r and r[key] is not None]
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, lw=1)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("generator step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, tight=True)
