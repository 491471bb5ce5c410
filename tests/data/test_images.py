"""Image data: bundled digits and their split, array layouts and pixel ranges, image folders, array files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.data.images import (
    ArraySource,
    ImageFolder,
    as_nchw,
    digits_split,
    load_array_file,
    load_digits_images,
    load_digits_split,
    load_labelled_npz,
)


def test_digits_are_sklearn_digits_over_16():
    from sklearn.datasets import load_digits

    images, labels = load_digits_images()
    ref = load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == torch.float32
    np.testing.assert_allclose(images[:, 0].numpy(), ref.images / 16.0, atol=1e-7, rtol=0)
    np.testing.assert_array_equal(labels.numpy(), ref.target)
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0


def test_digits_split_is_a_stratified_partition():
    _, labels = load_digits_images()
    train, test = digits_split(labels)
    assert len(train) == 898 and len(test) == 899
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.union1d(train, test), np.arange(1797))
    counts_train = np.bincount(labels.numpy()[train], minlength=10)
    counts_test = np.bincount(labels.numpy()[test], minlength=10)
    assert np.abs(counts_train - counts_test).max() <= 1  # stratified halves
    x_test, y_test = load_digits_split("test")
    np.testing.assert_array_equal(y_test.numpy(), labels.numpy()[test])
    with pytest.raises(ValueError, match="split"):
        load_digits_split("validation")
    with pytest.raises(ValueError, match="test_fraction"):
        digits_split(labels, test_fraction=1.5)


def test_nhwc_uint8_becomes_nchw_over_255():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(4, 5, 6, 3), dtype=np.uint8)
    out = as_nchw(x)
    assert out.shape == (4, 3, 5, 6) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), x.transpose(0, 3, 1, 2) / 255.0, atol=1e-7, rtol=0)


def test_grey_and_nchw_float_layouts():
    rng = np.random.default_rng(1)
    grey = rng.random((3, 7, 7)).astype(np.float32)
    np.testing.assert_array_equal(as_nchw(grey).numpy(), grey[:, None])
    nchw = rng.random((2, 1, 9, 9))
    np.testing.assert_allclose(as_nchw(nchw).numpy(), nchw, atol=1e-7, rtol=0)


def test_ambiguous_and_unknown_layouts_are_refused():
    with pytest.raises(ValueError, match="NCHW or NHWC"):
        as_nchw(np.zeros((2, 3, 5, 3), dtype=np.uint8))
    assert as_nchw(np.zeros((2, 3, 5, 3), dtype=np.uint8), layout="NHWC").shape == (2, 3, 3, 5)
    with pytest.raises(ValueError, match="not an image batch"):
        as_nchw(np.zeros((2, 4, 5, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="no known layout"):
        as_nchw(np.zeros((2, 1, 3, 5, 5)))
    with pytest.raises(ValueError, match="features"):
        as_nchw(np.zeros((2, 5)))


def test_float_pixels_outside_unit_interval_are_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        as_nchw(np.linspace(-1, 1, 2 * 64).reshape(2, 1, 8, 8))
    with pytest.raises(ValueError, match="255"):
        as_nchw(np.full((1, 1, 4, 4), 200.0))
    with pytest.raises(ValueError, match="NaN"):
        as_nchw(np.full((1, 1, 4, 4), np.nan))
    with pytest.raises(ValueError, match="uint8"):
        as_nchw(np.zeros((1, 1, 4, 4), dtype=np.int32))


def test_array_source_batches_cover_the_array_once():
    x = np.arange(10 * 2, dtype=np.float64).reshape(10, 2)
    src = ArraySource(x)
    assert src.kind == "features" and len(src) == 10 and src.shape == (2,)
    batches = list(src.iter_batches(4))
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(torch.cat(batches).numpy(), x)
    assert [len(b) for b in src.iter_batches(4, limit=5)] == [4, 1]
    imgs = ArraySource(np.zeros((3, 8, 8, 1), dtype=np.uint8))
    assert imgs.kind == "images" and imgs.shape == (1, 8, 8)
    with pytest.raises(ValueError, match="empty"):
        ArraySource(np.zeros((0, 3)))


def _write_images(folder, arrays, mode):
    for name, arr in arrays.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr, mode=mode).save(path)


def test_image_folder_reads_sorted_recursive_png(tmp_path):
    rng = np.random.default_rng(2)
    arrays = {name: rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
              for name in ["b.png", "a.png", "sub/c.png", "sub/d.PNG", "e.png"]}
    _write_images(tmp_path, arrays, "RGB")
    (tmp_path / "notes.txt").write_text("not an image")
    folder = ImageFolder(tmp_path)
    assert len(folder) == 5 and folder.shape == (3, 6, 5)
    order = ["a.png", "b.png", "e.png", "sub/c.png", "sub/d.PNG"]
    assert [str(p.relative_to(tmp_path)) for p in folder.files] == order
    batches = list(folder.iter_batches(2))
    assert [tuple(b.shape) for b in batches] == [(2, 3, 6, 5), (2, 3, 6, 5), (1, 3, 6, 5)]
    got = torch.cat(batches).numpy()
    ref = np.stack([arrays[n].transpose(2, 0, 1) for n in order]) / 255.0
    np.testing.assert_allclose(got, ref, atol=1e-7, rtol=0)  # PNG is lossless


def test_image_folder_grey_images_have_one_channel(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    _write_images(tmp_path, {"x.png": arr}, "L")
    folder = ImageFolder(tmp_path)
    assert folder.shape == (1, 3, 4)
    np.testing.assert_allclose(folder.batch(0, 1)[0, 0].numpy(), arr / 255.0, atol=1e-7, rtol=0)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        ImageFolder(tmp_path / "empty")
    _write_images(tmp_path / "mixed", {"a.png": np.zeros((4, 4, 3), np.uint8),
                                       "b.png": np.zeros((5, 4, 3), np.uint8)}, "RGB")
    folder = ImageFolder(tmp_path / "mixed")
    with pytest.raises(ValueError, match="b.png.*one size"):
        folder.batch(0, 2)


def test_array_files(tmp_path):
    x = np.random.default_rng(3).random((5, 3))
    np.savez(tmp_path / "f.npz", features=x, labels=np.arange(5))
    arr, key = load_array_file(tmp_path / "f.npz")
    assert key == "features"
    np.testing.assert_array_equal(arr, x)
    np.save(tmp_path / "f.npy", x)
    arr, key = load_array_file(tmp_path / "f.npy")
    assert key == "npy" and isinstance(arr, np.memmap)
    np.testing.assert_array_equal(np.asarray(arr), x)
    np.savez(tmp_path / "odd.npz", a=x, b=x)
    with pytest.raises(ValueError, match="expected one of"):
        load_array_file(tmp_path / "odd.npz")
    with pytest.raises(FileNotFoundError):
        load_array_file(tmp_path / "none.npz")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(ValueError, match=".npz or .npy"):
        load_array_file(tmp_path / "x.csv")


def test_labelled_npz(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 2, 0, 1, 2]))
    images, labels = load_labelled_npz(tmp_path / "d.npz")
    assert images.shape == (6, 1, 28, 28)
    np.testing.assert_allclose(images[:, 0].numpy(), x / 255.0, atol=1e-7, rtol=0)
    assert labels.tolist() == [0, 1, 2, 0, 1, 2]
    np.savez(tmp_path / "bad.npz", x=x, y=np.array([0, 1]))
    with pytest.raises(ValueError, match="y must be"):
        load_labelled_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "nolabels.npz", x=x)
    with pytest.raises(ValueError, match="'x'.*'y'"):
        load_labelled_npz(tmp_path / "nolabels.npz")
