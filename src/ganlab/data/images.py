"""Image data for evaluation: the bundled 8x8 digits, image folders and arrays, read lazily in batches.

Every image source hands out float32 batches ``(B, C, H, W)`` in [0, 1] with C in {1, 3}; a
feature source hands out float64 batches ``(B, D)``. Nothing larger than one batch of decoded
pixels is held in memory (an ``.npz`` keeps its raw, usually uint8, array; a ``.npy`` file is
memory-mapped), so 50 000 images can be evaluated on a small machine.

Conventions:
* uint8 pixels map to x / 255 (as ``torchvision.transforms.ToTensor`` does in pytorch-fid);
  float pixels must already lie in [0, 1] (a tanh generator's [-1, 1] output is refused with a
  hint to map it by (x + 1) / 2, rather than silently guessed).
* 4-D arrays are NCHW when axis 1 has 1 or 3 channels and NHWC when the last axis has; an array
  where both could be the channel axis must be given ``layout=``. 3-D arrays are grey (N, H, W);
  2-D arrays are features (N, D).
* The digits are scikit-learn's copy of the UCI optical digits (1797 images of 8x8, values
  0..16, mapped to [0, 1] by / 16); they ship inside scikit-learn, so nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ganlab.files import load_npy, open_npz

__all__ = [
    "IMAGE_EXTENSIONS",
    "DIGITS_TEST_FRACTION",
    "DIGITS_SPLIT_SEED",
    "load_digits_images",
    "digits_split",
    "load_digits_split",
    "as_nchw",
    "ImageFolder",
    "ArraySource",
    "load_array_file",
    "load_labelled_npz",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DIGITS_TEST_FRACTION = 0.5
DIGITS_SPLIT_SEED = 0
_RANGE_TOL = 1e-6


# --------------------------------------------------------------------------------------------
# bundled digits
# --------------------------------------------------------------------------------------------


def load_digits_images() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 scikit-learn digits: images (1797, 1, 8, 8) float32 in [0, 1] (= value / 16), labels (1797,) int64."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    return images, labels


def digits_split(
    labels: torch.Tensor | np.ndarray, *, test_fraction: float = DIGITS_TEST_FRACTION, seed: int = DIGITS_SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test indices (sorted): ``sklearn.model_selection.train_test_split`` with ``random_state=seed``.

    The default (test_fraction 0.5, seed 0) gives 898 train and 899 test digits; it is the split
    the shipped digits classifier was trained on, and the one ``digits:train`` / ``digits:test`` name.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    y = np.asarray(labels)
    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=y)
    return np.sort(train), np.sort(test)


def load_digits_split(split: str = "all") -> tuple[torch.Tensor, torch.Tensor]:
    """Digits of one split of :func:`digits_split` (``"train"``, ``"test"`` or ``"all"``): (images (N,1,8,8), labels (N,))."""
    images, labels = load_digits_images()
    if split == "all":
        return images, labels
    if split not in ("train", "test"):
        raise ValueError(f"digits split must be 'train', 'test' or 'all', got {split!r}")
    train, test = digits_split(labels)
    idx = torch.as_tensor(train if split == "train" else test)
    return images[idx], labels[idx]


# --------------------------------------------------------------------------------------------
# arrays
# --------------------------------------------------------------------------------------------


def _layout_of(shape: tuple[int, ...], layout: str | None) -> str:
    """'NCHW', 'NHWC', 'NHW' or 'features' for an array shape; ValueError when unknown or ambiguous."""
    if layout is not None:
        layout = layout.upper()
        if layout not in ("NCHW", "NHWC", "NHW", "FEATURES"):
            raise ValueError(f"layout must be one of NCHW, NHWC, NHW, features; got {layout!r}")
        want = {"NCHW": 4, "NHWC": 4, "NHW": 3, "FEATURES": 2}[layout]
        if len(shape) != want:
            raise ValueError(f"layout {layout} needs a {want}-D array, got shape {shape}")
        return "features" if layout == "FEATURES" else layout
    if len(shape) == 2:
        return "features"
    if len(shape) == 3:
        return "NHW"
    if len(shape) == 4:
        first, last = shape[1] in (1, 3), shape[3] in (1, 3)
        if first and not last:
            return "NCHW"
        if last and not first:
            return "NHWC"
        if first and last:
            raise ValueError(f"array of shape {shape} could be NCHW or NHWC: pass layout='NCHW' or 'NHWC'")
        raise ValueError(
            f"array of shape {shape} is not an image batch: expected (N, C, H, W) or (N, H, W, C) with C in {{1, 3}}"
        )
    raise ValueError(
        f"array of shape {shape} has no known layout: expected features (N, D), grey images (N, H, W), "
        f"or images (N, C, H, W) / (N, H, W, C) with C in {{1, 3}}"
    )


def _as_tensor(x: np.ndarray) -> torch.Tensor:
    """A NumPy array as a tensor: shared when writable and in native byte order, else a copy (a memory-mapped
    .npy is read-only, torch refuses big-endian arrays, longdouble becomes float64)."""
    a = np.asarray(x)
    if a.flags.writeable and a.dtype.isnative and not (a.dtype.kind == "f" and a.dtype.itemsize > 8):
        return torch.from_numpy(a)
    dtype = np.dtype(np.float64) if a.dtype.kind == "f" and a.dtype.itemsize > 8 else a.dtype.newbyteorder("=")
    return torch.from_numpy(np.array(a, dtype=dtype))


def _to_unit_float(x: np.ndarray | torch.Tensor, *, where: str) -> torch.Tensor:
    """Pixels -> float32 in [0, 1]: uint8 / 255; floats checked to lie in [0, 1].

    A read-only NumPy batch (a memory-mapped .npy) is copied first: the in-place clamp below would write through a
    shared float32 tensor into the read-only mapping (a segmentation fault).
    """
    t = _as_tensor(x) if not isinstance(x, torch.Tensor) else x
    if t.dtype == torch.uint8:
        return t.to(torch.float32) / 255.0
    if not torch.is_floating_point(t):
        raise ValueError(f"{where}: pixels must be uint8 (0..255) or float in [0, 1], got dtype {t.dtype}")
    t = t.to(torch.float32)
    if not torch.isfinite(t).all():
        raise ValueError(f"{where}: pixels contain NaN or inf")
    lo, hi = float(t.min()), float(t.max())
    if lo < -_RANGE_TOL or hi > 1.0 + _RANGE_TOL:
        hint = " (looks like [-1, 1]: map it with (x + 1) / 2)" if lo >= -1.0 - _RANGE_TOL and lo < 0 else ""
        hint = hint or (" (looks like 0..255: store uint8 or divide by 255)" if hi > 1.5 else "")
        raise ValueError(f"{where}: float pixels must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}]{hint}")
    return t.clamp_(0.0, 1.0)


def as_nchw(x: np.ndarray | torch.Tensor, *, layout: str | None = None, where: str = "images") -> torch.Tensor:
    """Image batch in any supported layout -> float32 (N, C, H, W) in [0, 1] (see the module notes)."""
    shape = tuple(x.shape)
    lay = _layout_of(shape, layout)
    if lay == "features":
        raise ValueError(f"{where}: expected images, got a 2-D array of shape {shape} (features)")
    t = _to_unit_float(x, where=where)
    if lay == "NHW":
        t = t.unsqueeze(1)
    elif lay == "NHWC":
        t = t.permute(0, 3, 1, 2)
    return t.contiguous()


class ArraySource:
    """Images or features held in an array (e.g. from ``.npz``/``.npy``), served in batches.

    ``kind`` is "images" (batches (B, C, H, W) float32 in [0, 1]) or "features" (batches (B, D)
    float64). Conversion happens per batch, so a uint8 or memory-mapped array stays compact.
    """

    def __init__(self, array: np.ndarray | torch.Tensor, *, layout: str | None = None, name: str = "array") -> None:
        self.array = array
        self.name = name
        self.layout = _layout_of(tuple(array.shape), layout)
        self.kind = "features" if self.layout == "features" else "images"
        if len(array) == 0:
            raise ValueError(f"{name}: the array is empty (shape {tuple(array.shape)})")
        if isinstance(array, np.ndarray) and (array.dtype.kind not in "biufc" or array.dtype.itemsize > 16):
            raise ValueError(f"{name}: the array holds {array.dtype} values; expected uint8 or float pixels "
                             f"(images) or numbers (features)")

    def __len__(self) -> int:
        return int(self.array.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one item as served: (C, H, W) for images, (D,) for features."""
        s = tuple(int(v) for v in self.array.shape[1:])
        if self.layout == "NHWC":
            return (s[2], s[0], s[1])
        if self.layout == "NHW":
            return (1, s[0], s[1])
        return s

    def batch(self, start: int, stop: int) -> torch.Tensor:
        """Items [start, stop) as a tensor (see ``kind``)."""
        chunk = self.array[start:stop]
        where = f"{self.name}[{start}:{stop}]"
        if self.kind == "features":  # a memory-mapped .npy is read-only: copied (torch warns on sharing it)
            t = _as_tensor(chunk) if not isinstance(chunk, torch.Tensor) else chunk
            if not (torch.is_floating_point(t) or t.dtype in (torch.int32, torch.int64, torch.uint8)):
                raise ValueError(f"{where}: features must be numeric, got dtype {t.dtype}")
            t = t.to(torch.float64)
            if not torch.isfinite(t).all():
                raise ValueError(f"{where}: features contain NaN or inf")
            return t
        return as_nchw(chunk, layout=self.layout, where=where)

    def iter_batches(self, batch_size: int, limit: int | None = None) -> Iterator[torch.Tensor]:
        """Consecutive batches of at most ``batch_size`` items, the first ``limit`` items (all if None)."""
        n = len(self) if limit is None else min(limit, len(self))
        for start in range(0, n, batch_size):
            yield self.batch(start, min(start + batch_size, n))


# --------------------------------------------------------------------------------------------
# image folders
# --------------------------------------------------------------------------------------------


class ImageFolder:
    """All images under a folder (recursively; PNG, JPEG, BMP, WebP, TIFF), sorted by relative path, read lazily.

    The first image fixes the mode and size: grey images ("L", "1", "I", "F" modes) give C = 1,
    anything else is converted to RGB (C = 3, alpha dropped). Every image must have the first
    image's size (no silent resizing; the feature extractor resizes, as the reference does).
    """

    kind = "images"

    def __init__(self, root: str | os.PathLike) -> None:
        from PIL import Image

        self.root = Path(root)
        if not self.root.exists():
            raise FileNotFoundError(f"image folder {str(self.root)!r} does not exist")
        if not self.root.is_dir():
            raise ValueError(f"{str(self.root)!r} is not a folder")
        self.files = sorted(
            p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not self.files:
            raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in folder {str(self.root)!r}")
        try:
            with Image.open(self.files[0]) as im:
                self.mode = "L" if im.mode in ("L", "1", "I", "I;16", "F", "LA") else "RGB"
                self.size = im.size  # (W, H)
        except OSError as exc:  # PIL's UnidentifiedImageError is an OSError, and so is a cut JPEG header
            raise ValueError(f"could not read image {str(self.files[0])!r}: {exc}") from None
        self.channels = 1 if self.mode == "L" else 3

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return (self.channels, self.size[1], self.size[0])

    def read(self, path: Path) -> np.ndarray:
        """One image as uint8 (H, W, C)."""
        from PIL import Image

        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert(self.mode), dtype=np.uint8)
        except OSError as exc:
            raise ValueError(f"could not read image {str(path)!r}: {exc}") from exc
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if (arr.shape[1], arr.shape[0]) != self.size:
            raise ValueError(
                f"image {str(path)!r} is {arr.shape[1]}x{arr.shape[0]}, but the folder's first image "
                f"{str(self.files[0])!r} is {self.size[0]}x{self.size[1]}: all images must have one size"
            )
        return arr

    def batch(self, start: int, stop: int) -> torch.Tensor:
        """Images [start, stop) as float32 (B, C, H, W) in [0, 1]."""
        arr = np.stack([self.read(p) for p in self.files[start:stop]])
        return torch.from_numpy(arr).permute(0, 3, 1, 2).to(torch.float32).div_(255.0).contiguous()

    def iter_batches(self, batch_size: int, limit: int | None = None) -> Iterator[torch.Tensor]:
        """Consecutive batches in sorted order, the first ``limit`` images (all if None)."""
        n = len(self) if limit is None else min(limit, len(self))
        for start in range(0, n, batch_size):
            yield self.batch(start, min(start + batch_size, n))


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------

_ARRAY_KEYS = ("images", "x", "features", "samples", "arr_0")


def load_array_file(path: str | os.PathLike, *, key: str | None = None) -> tuple[np.ndarray, str]:
    """The data array of a ``.npy`` (memory-mapped) or ``.npz`` file; returns (array, key used).

    In an ``.npz`` the array is ``key`` if given, else the first of images, x, features, samples,
    arr_0 present, else the file's only array.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"array file {str(p)!r} does not exist")
    if p.suffix == ".npy":
        return load_npy(p, "array file"), "npy"
    if p.suffix != ".npz":
        raise ValueError(f"{str(p)!r}: expected a .npz or .npy file")
    with open_npz(p, "array file") as z:
        names = list(z.files)
        if key is None:
            key = next((k for k in _ARRAY_KEYS if k in names), names[0] if len(names) == 1 else None)
        if key is None or key not in names:
            raise ValueError(
                f"{str(p)!r} holds arrays {names}; expected one of {list(_ARRAY_KEYS)} (or a single array)"
            )
        return z[key], key


def load_labelled_npz(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Labelled images for classifier training: ``.npz`` with x (N, H, W) or (N, 1, H, W) and y (N,) labels.

    Returns (images float32 (N, 1, H, W) in [0, 1], labels int64 (N,) in 0..C-1).
    """
    p = Path(path)
    with open_npz(p, "labelled data file") as z:
        if "x" not in z.files or "y" not in z.files:
            raise ValueError(f"{str(p)!r} must hold arrays 'x' (images) and 'y' (labels); it holds {z.files}")
        x, y = z["x"], z["y"]
    images = as_nchw(x, layout="NHW" if x.ndim == 3 else None, where=str(p))
    if images.shape[1] != 1:
        raise ValueError(f"{str(p)!r}: the classifier takes grey images (1 channel), got {images.shape[1]} channels")
    if y.ndim != 1 or len(y) != len(images):
        raise ValueError(f"{str(p)!r}: y must be (N,) with N = {len(images)} labels, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError(f"{str(p)!r}: labels must be integers 0..C-1, got dtype {y.dtype}, min {y.min()}")
    return images, torch.as_tensor(y, dtype=torch.int64)
