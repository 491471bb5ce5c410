"""`ganlab sample` for image runs (--grid, --out DIR) and the pixel writers under it (ganlab.report).

Every PNG is read back with PIL and compared pixel for pixel with round((x + 1) / 2 * 255) clipped to 0..255,
computed here with Python's own round (half to even) on the float64 value of each sample. Image runs are
made in seconds from a tiny in-memory data set and a tiny model family plugged into the registries (the
seam tests/test_build.py uses); the bundled `digits` with the `dcgan` family run when both are registered.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import ganlab.report
from ganlab.cli import main
from ganlab.data import DATASETS, TensorDataset
from ganlab.models import MODELS
from ganlab.report import image_grid, to_uint8, write_png_grid, write_pngs
from ganlab.sampling import sample_from_run

FAST = ["--threads", "1", "--no-progress", "--n_critic=1", "--batch_size=4", "--eval_samples=16", "--eval_every=0",
        "--ckpt_every=0"]


def expected_pixels(x: torch.Tensor) -> np.ndarray:
    """round((x + 1) / 2 * 255) clipped to [0, 255], element by element with Python's round, as uint8, same shape."""
    flat = [min(255, max(0, round((float(v) + 1.0) / 2.0 * 255.0))) for v in x.reshape(-1).tolist()]
    return np.array(flat, dtype=np.uint8).reshape(tuple(x.shape))


def read_png(path) -> tuple[str, np.ndarray]:
    with Image.open(path) as im:
        return im.mode, np.array(im)


# =========================================================================== the pixel map and the grid


def test_to_uint8_values_by_hand():
    x = torch.tensor([-1.0, 1.0, 0.0, -0.5, 1.5, -3.0, 0.25]).view(1, 1, 1, 7)
    # 0, 255, 127.5 -> 128 (half to even), 63.75 -> 64, clipped 255 and 0, 159.375 -> 159
    np.testing.assert_array_equal(to_uint8(x, value_range=(-1.0, 1.0)).ravel(), [0, 255, 128, 64, 255, 0, 159])
    # [0, 1]: 0.2 * 255 = 51 exactly (in float64 up to rounding), 0.5 -> 127.5 -> 128
    np.testing.assert_array_equal(to_uint8(np.array([0.2, 0.5, 1.0]).reshape(1, 1, 1, 3)).ravel(), [51, 128, 255])
    # (N, C, H, W) -> (N, H, W, C): channel c of pixel (i, j) keeps its value
    rgb = torch.zeros(1, 3, 2, 2)
    rgb[0, 0], rgb[0, 1], rgb[0, 2] = 1.0, 0.0, -1.0
    assert to_uint8(rgb, value_range=(-1, 1)).shape == (1, 2, 2, 3)
    assert to_uint8(rgb, value_range=(-1, 1))[0, 1, 0].tolist() == [255, 128, 0]


@pytest.mark.parametrize("images, kwargs, match", [
    (torch.zeros(2, 2, 4, 4), {}, r"C = 1 or 3.*got shape \(2, 2, 4, 4\)"),
    (torch.zeros(4, 4), {}, r"got shape \(4, 4\)"),
    (torch.zeros(0, 1, 4, 4), {}, r"got shape \(0, 1, 4, 4\)"),
    (torch.full((1, 1, 2, 2), float("nan")), {}, "4 non-finite values"),
    (torch.zeros(1, 1, 2, 2), {"value_range": (1.0, 1.0)}, "lo < hi"),
])
def test_to_uint8_refuses_bad_images(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        to_uint8(images, **kwargs)


def test_image_grid_layout_by_hand():
    # three 2 x 2 grey images holding 10, 20, 30; nrow 2 -> 2 columns, 2 rows, 1 pixel of 255 around each
    pixels = np.stack([np.full((2, 2, 1), v, np.uint8) for v in (10, 20, 30)])
    grid = image_grid(pixels, nrow=2)[..., 0]
    expected = np.array([
        [255, 255, 255, 255, 255, 255, 255],
        [255, 10, 10, 255, 20, 20, 255],
        [255, 10, 10, 255, 20, 20, 255],
        [255, 255, 255, 255, 255, 255, 255],
        [255, 30, 30, 255, 255, 255, 255],
        [255, 30, 30, 255, 255, 255, 255],
        [255, 255, 255, 255, 255, 255, 255],
    ], dtype=np.uint8)
    np.testing.assert_array_equal(grid, expected)
    # fewer images than nrow: one row of N; no padding: the images side by side
    assert image_grid(pixels, nrow=8).shape == (4, 10, 1)
    np.testing.assert_array_equal(image_grid(pixels, nrow=3, padding=0)[..., 0],
                                  np.repeat(np.array([[10, 10, 20, 20, 30, 30]], np.uint8), 2, axis=0))
    with pytest.raises(ValueError, match="nrow must be an integer >= 1, got 0"):
        image_grid(pixels, nrow=0)
    with pytest.raises(ValueError, match="uint8"):
        image_grid(pixels.astype(np.float32))


def test_write_pngs_grey_reads_back_exactly(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 1, 8, 8, generator=g) * 2.2 - 1.1  # some values beyond [-1, 1] are clipped
    folder = write_pngs(tmp_path / "pngs", x, value_range=(-1.0, 1.0), chunk=5)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"{i:06d}.png" for i in range(12)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pngs"]  # no temporary folder left
    ref = expected_pixels(x)
    for i in range(12):
        mode, pixels = read_png(folder / f"{i:06d}.png")
        assert mode == "L" and pixels.shape == (8, 8)
        np.testing.assert_array_equal(pixels, ref[i, 0])


def test_write_pngs_rgb_keeps_the_channel_order(tmp_path):
    x = torch.linspace(-1, 1, 3 * 3 * 4 * 5).reshape(3, 3, 4, 5)  # non-square, every channel different
    write_pngs(tmp_path / "rgb", x, value_range=(-1.0, 1.0))
    ref = expected_pixels(x)
    for i in range(3):
        mode, pixels = read_png(tmp_path / "rgb" / f"{i:06d}.png")
        assert mode == "RGB" and pixels.shape == (4, 5, 3)
        for c in range(3):  # PIL's channel 0 is R = the tensor's channel 0
            np.testing.assert_array_equal(pixels[..., c], ref[i, c])


def test_write_pngs_refuses_a_folder_with_files_and_leaves_it(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="'.*full' is not empty; expected a new or empty folder"):
        write_pngs(tmp_path / "full", torch.zeros(2, 1, 4, 4))
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["old.png"]
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is not a folder"):
        write_pngs(tmp_path / "file", torch.zeros(2, 1, 4, 4))
    (tmp_path / "empty").mkdir()
    write_pngs(tmp_path / "empty", torch.zeros(2, 1, 4, 4))  # an empty folder is filled
    assert len(list((tmp_path / "empty").iterdir())) == 2


def test_write_png_grid_reads_back_exactly(tmp_path):
    x = torch.rand(5, 3, 3, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    mode, grid = read_png(write_png_grid(tmp_path / "g.png", x, nrow=2, value_range=(-1.0, 1.0)))
    assert mode == "RGB" and grid.shape == (3 * 4 + 1, 2 * 3 + 1, 3)
    ref = expected_pixels(x).transpose(0, 2, 3, 1)
    for i in range(5):
        top, left = 1 + (i // 2) * 4, 1 + (i % 2) * 3
        np.testing.assert_array_equal(grid[top:top + 3, left:left + 2], ref[i])
    assert (grid[9:12, 4:6] == 255).all()  # the empty sixth cell


# =========================================================================== `ganlab sample` on image runs


@dataclasses.dataclass(frozen=True)
class _TinyFields:
    latent_dim: int = 3


def _build_tiny(fields, shape):
    """A linear generator with tanh (outputs in [-1, 1], as an image generator's) and a linear critic."""
    n = int(np.prod(shape))
    generator = nn.Sequential(nn.Linear(fields.latent_dim, n), nn.Tanh(), nn.Unflatten(1, tuple(shape)))
    critic = nn.Sequential(nn.Flatten(), nn.Linear(n, 1), nn.Flatten(0))
    return generator, critic


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A grey (1, 8, 8) and an RGB (3, 4, 4) image run and a 2-D toy run, 2 generator steps each."""
    g = torch.Generator().manual_seed(0)
    grey = torch.rand(20, 1, 8, 8, generator=g) * 2 - 1
    rgb = torch.rand(20, 3, 4, 4, generator=g) * 2 - 1
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(DATASETS, "tiny-grey", lambda: TensorDataset(grey, name="tiny-grey"))
        mp.setitem(DATASETS, "tiny-rgb", lambda: TensorDataset(rgb, name="tiny-rgb"))
        mp.setitem(MODELS, "tiny", MODELS["mlp"].__class__(_TinyFields, _build_tiny, "a test family"))
        # the run's curves.png (matplotlib, seconds on this machine) plays no part in sampling
        mp.setattr(ganlab.report, "plot_curves", lambda *args, **kwargs: None)
        for name, argv in (("grey", ["--data", "tiny-grey", "--model=tiny"]),
                           ("rgb", ["--data", "tiny-rgb", "--model=tiny"]),
                           ("toy", ["--model.g_width=8", "--model.d_width=8", "--model.g_depth=1",
                                    "--model.d_depth=1"])):
            assert main(["train", "--steps", "2", "--out", str(root / name), *argv, *FAST]) == 0, name
        yield {name: root / name for name in ("grey", "rgb", "toy")}


def test_sample_out_folder_writes_one_exact_png_per_sample(runs, tmp_path, capsys):
    capsys.readouterr()
    assert main(["sample", str(runs["grey"]), "-n", "10", "--seed", "3", "--out", str(tmp_path / "pngs")]) == 0
    assert "(10 PNGs)" in capsys.readouterr().out
    samples = sample_from_run(runs["grey"], 10, seed=3)
    assert samples.shape == (10, 1, 8, 8) and samples.min() >= -1 and samples.max() <= 1
    ref = expected_pixels(samples)
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == [f"{i:06d}.png" for i in range(10)]
    for i in range(10):
        mode, pixels = read_png(tmp_path / "pngs" / f"{i:06d}.png")
        assert mode == "L"
        np.testing.assert_array_equal(pixels, ref[i, 0])
    # a trailing slash names a folder whatever its suffix
    assert main(["sample", str(runs["grey"]), "-n", "2", "--out", str(tmp_path / "set.v2") + "/"]) == 0
    assert len(list((tmp_path / "set.v2").iterdir())) == 2


def test_sample_rgb_run_folder_keeps_r_g_b(runs, tmp_path):
    assert main(["sample", str(runs["rgb"]), "-n", "4", "--out", str(tmp_path / "rgb")]) == 0
    ref = expected_pixels(sample_from_run(runs["rgb"], 4, seed=0))
    for i in range(4):
        mode, pixels = read_png(tmp_path / "rgb" / f"{i:06d}.png")
        assert mode == "RGB"
        np.testing.assert_array_equal(pixels.transpose(2, 0, 1), ref[i])


def test_sample_grid_with_npz_draws_once_and_writes_both(runs, tmp_path):
    grid_path, npz = tmp_path / "grid.png", tmp_path / "s.npz"
    assert main(["sample", str(runs["grey"]), "-n", "10", "--nrow", "4", "--out", str(npz), "--grid",
                 str(grid_path)]) == 0
    samples = np.load(npz)["samples"]
    np.testing.assert_array_equal(samples, sample_from_run(runs["grey"], 10).numpy())
    mode, grid = read_png(grid_path)
    assert mode == "L" and grid.shape == (3 * 9 + 1, 4 * 9 + 1)  # 10 images, 4 per row: 3 rows
    ref = expected_pixels(torch.from_numpy(samples))
    for i in range(10):
        top, left = 1 + (i // 4) * 9, 1 + (i % 4) * 9
        np.testing.assert_array_equal(grid[top:top + 8, left:left + 8], ref[i, 0])
    assert (grid[19:27, 19:37] == 255).all()  # the two empty cells of the last row


def test_sample_out_png_of_an_image_run_is_the_grid_of_8_per_row(runs, tmp_path):
    assert main(["sample", str(runs["rgb"]), "-n", "9", "--out", str(tmp_path / "s.png")]) == 0
    mode, grid = read_png(tmp_path / "s.png")
    assert mode == "RGB" and grid.shape == (2 * 5 + 1, 8 * 5 + 1, 3)
    ref = expected_pixels(sample_from_run(runs["rgb"], 9))
    np.testing.assert_array_equal(grid[6:10, 1:5].transpose(2, 0, 1), ref[8])  # the ninth image opens row 2


@pytest.mark.parametrize("argv, message", [
    (["--grid", "{tmp}/g.png"], "--grid needs an image run (samples (C, H, W)); the run in"),
    (["--out", "{tmp}/pngs"], "(a folder: one PNG per sample) needs an image run"),
])
def test_sample_refuses_image_outputs_for_a_toy_run(runs, tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["sample", str(runs["toy"]), "-n", "5", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "shape (2,)" in err and "--out FILE.npz or FILE.png" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_sample_toy_run_keeps_npz_and_figure(runs, tmp_path):
    assert main(["sample", str(runs["toy"]), "-n", "50", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["sample", str(runs["toy"]), "-n", "50", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["samples"].shape == (50, 2)


@pytest.mark.parametrize("argv, message", [
    ([], "nothing to write: give --out"),
    (["--out", "x.txt"], "--out must end in .npz or .png, or name a folder"),
    (["--grid", "g.jpg"], "--grid must name a .png file, got 'g.jpg'"),
    (["--grid", "g.png", "--nrow", "0"], "--nrow must be a positive number of images per row, got 0"),
    (["--out", "x.npz", "-n", "0"], "-n must be a positive number of samples, got 0"),
])
def test_sample_bad_arguments_are_one_line(runs, capsys, argv, message):
    assert main(["sample", str(runs["grey"]), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_sample_refuses_a_folder_that_holds_files(runs, tmp_path, capsys):
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "000000.png").write_bytes(b"old")
    assert main(["sample", str(runs["grey"]), "-n", "3", "--out", str(tmp_path / "pngs")]) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert [p.read_bytes() for p in (tmp_path / "pngs").iterdir()] == [b"old"]


def test_sample_digits_dcgan_run_end_to_end(tmp_path):
    """The bundled digits (1, 8, 8) in [-1, 1] with the dcgan family, when both are registered."""
    missing = [what for what, ok in (("data set 'digits' in ganlab.data.DATASETS", "digits" in DATASETS),
                                     ("model family 'dcgan' in ganlab.models.MODELS", "dcgan" in MODELS)) if not ok]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (being added in parallel)")
    run = tmp_path / "run"
    assert main(["train", "--steps", "1", "--data", "digits", "--model=dcgan", "--out", str(run), *FAST]) == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 1
    assert main(["sample", str(run), "-n", "6", "--out", str(tmp_path / "pngs"), "--grid", str(tmp_path / "g.png")]) == 0
    ref = expected_pixels(sample_from_run(run, 6))
    assert ref.shape == (6, 1, 8, 8)
    for i in range(6):
        mode, pixels = read_png(tmp_path / "pngs" / f"{i:06d}.png")
        assert mode == "L"
        np.testing.assert_array_equal(pixels, ref[i, 0])
