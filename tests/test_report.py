"""Figures: an image grid's pixels, and the figure chosen by the data's shape."""

import numpy as np
import pytest
import torch

import ganlab.report as report
from ganlab.report import plot_figure, plot_image_grid


def _capture_grid(monkeypatch):
    """The array the next saved figure shows (its first image), filled in when it is saved."""
    shown = {}
    real_savefig = report.pyplot().Figure.savefig

    def capture(fig, *args, **kw):
        shown["array"] = fig.axes[0].images[0].get_array().data
        return real_savefig(fig, *args, **kw)

    monkeypatch.setattr(report.pyplot().Figure, "savefig", capture)
    return shown


def test_image_grid_places_each_image_in_its_cell(tmp_path, monkeypatch):
    """Five 2x3 RGB images, 2 per row: a 3 x 2 grid of cells with a one-pixel white border; image i sits at
    row i // 2, column i % 2, and the unused sixth cell stays white."""
    images = torch.stack([torch.full((3, 2, 3), 0.1 * (i + 1)) for i in range(5)])
    shown = _capture_grid(monkeypatch)
    path = plot_image_grid(tmp_path / "g.png", images, nrow=2, title="five")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grid = shown["array"]
    assert grid.shape == (3 * 3 + 1, 2 * 4 + 1, 3)
    for i in range(5):
        r, c = divmod(i, 2)
        cell = grid[1 + 3 * r:1 + 3 * r + 2, 1 + 4 * c:1 + 4 * c + 3]
        np.testing.assert_allclose(cell, 0.1 * (i + 1), atol=1e-7)
    np.testing.assert_array_equal(grid[7:9, 5:8], 1.0)  # the empty cell
    np.testing.assert_array_equal(grid[0], 1.0)  # the border


def test_grey_images_and_clipping(tmp_path, monkeypatch):
    images = torch.tensor([[[[-1.0, 0.5], [2.0, float("nan")]]]])
    shown = _capture_grid(monkeypatch)
    plot_image_grid(tmp_path / "g.png", images)
    np.testing.assert_array_equal(shown["array"][1:3, 1:3], [[0.0, 0.5], [1.0, 0.0]])


@pytest.mark.parametrize("shape", [(4, 2, 5, 5), (4, 5, 5), (0, 1, 3, 3)])
def test_image_grid_refuses_other_shapes(tmp_path, shape):
    with pytest.raises(ValueError, match="images must be \\(N, C, H, W\\)"):
        plot_image_grid(tmp_path / "g.png", torch.zeros(shape))


def test_the_figure_follows_the_data_shape(tmp_path):
    assert plot_figure(tmp_path / "a.png", torch.rand(10, 1, 4, 4), None).is_file()
    assert plot_figure(tmp_path / "b.png", torch.randn(50, 2), torch.randn(50, 2)).is_file()
    assert plot_figure(tmp_path / "c.png", torch.randn(50, 1), torch.randn(50, 1)).is_file()
    with pytest.raises(ValueError, match="no figure for samples of shape \\(5, 3\\)"):
        plot_figure(tmp_path / "d.png", torch.randn(5, 3), torch.randn(5, 3))


def test_save_figure_writes_a_png_atomically_and_closes_the_figure(tmp_path):
    from ganlab.report import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "f.png", tight=True)
    assert path == tmp_path / "f.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.number not in plt.get_fignums()
    fig = plt.figure()
    fig.savefig = lambda *a, **k: (_ for _ in ()).throw(OSError("disk full"))  # the write fails half-way
    with pytest.raises(OSError, match="disk full"):
        save_figure(fig, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.number not in plt.get_fignums()
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]  # the old file kept, no temporary file left
