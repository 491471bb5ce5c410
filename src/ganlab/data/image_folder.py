"""A folder of PNG / JPEG images read into one uint8 (N, C, H, W) tensor for training.

    shorter side -> size (bilinear, antialiased), then the centre size x size crop

Every file under the folder (recursively, sorted by relative path; hidden files and folders, whose
names start with ".", are skipped) must be an 8-bit image PIL can open: a stray text file, a 16-bit or
float image, an empty folder, or images of different sizes without `size` are refused with the file
named. Unlike `ganlab.data.images.ImageFolder` (evaluation, which reads lazily and never resizes), the
images are decoded once and held in memory, resized if asked: a training set is drawn from many times.

The resize is PIL's bilinear filter, which widens its support when shrinking (antialiasing), as
`torchvision.transforms.Resize` does on PIL images; the crop starts at floor((side - size) / 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["GREY_MODES", "read_image_folder", "resize_crop"]

#: PIL modes read as grey (one channel); alpha is dropped.
GREY_MODES = ("1", "L", "LA")
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # 16/32-bit and float pixels: not 8-bit images


def resize_crop(image: Image.Image, size: int) -> Image.Image:
    """The image with its shorter side resized to `size` (aspect kept, bilinear), then centre-cropped to size x size."""
    from PIL import Image

    w, h = image.size
    if min(w, h) != size:
        scale = size / min(w, h)
        w, h = max(size, round(w * scale)), max(size, round(h * scale))
        image = image.resize((w, h), Image.Resampling.BILINEAR)
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def _image_files(root: Path) -> list[Path]:
    if not root.exists():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise ValueError(f"{str(root)!r} is not a folder; expected a folder of PNG or JPEG images")
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise ValueError(f"image folder {str(root)!r} is empty; expected PNG or JPEG images")
    return files


def read_image_folder(
    root: str | os.PathLike, *, size: int | None = None, channels: int | None = None
) -> tuple[Tensor, list[Path]]:
    """All images under `root` as uint8 (N, C, H, W), resized and centre-cropped to size x size if `size` is
    given, with C = `channels` (default 1 if every image is grey, 3 if every image is colour); returns (pixels,
    sorted files).

    Raises FileNotFoundError for a missing folder; ValueError for size < 4 or channels not in {1, 3}, naming
    the file for a file that is not an 8-bit image, and naming two files when sizes differ and `size` is None
    or when grey and colour images mix and `channels` is None.
    """
    from PIL import Image, UnidentifiedImageError

    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 4):
        raise ValueError(f"size must be an integer >= 4 (pixels), got {size!r}")
    if channels is not None and (isinstance(channels, bool) or channels not in (1, 3)):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    root = Path(root)
    files = _image_files(root)
    heads = []
    for f in files:
        try:
            with Image.open(f) as im:
                heads.append((im.mode, im.size))
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"file {str(f)!r} in image folder {str(root)!r} is not an image PIL can open "
                             f"({type(exc).__name__}); the folder must hold only images") from None
        if heads[-1][0] in _WIDE_MODES:
            raise ValueError(f"image {str(f)!r} has {heads[-1][0]} pixels (16-bit or float); "
                             f"expected 8-bit grey or colour images")
    if channels is None:
        grey = [mode in GREY_MODES for mode, _ in heads]
        if any(grey) and not all(grey):
            g, c = files[grey.index(True)], files[grey.index(False)]
            raise ValueError(
                f"image folder {str(root)!r} mixes grey and colour images ({str(g)!r} is "
                f"{heads[grey.index(True)][0]}, {str(c)!r} is {heads[grey.index(False)][0]}): pass "
                f"--data_params.channels=3 to read all as RGB or --data_params.channels=1 to read all as grey")
        channels = 1 if all(grey) else 3
    if size is None:
        first = heads[0][1]
        for f, (_, wh) in zip(files, heads):
            if wh != first:
                raise ValueError(
                    f"image {str(f)!r} is {wh[0]}x{wh[1]} but {str(files[0])!r} is {first[0]}x{first[1]}: "
                    f"pass --data_params.size=S to resize (shorter side) and centre-crop all to SxS"
                )
    mode = "L" if channels == 1 else "RGB"
    arrays = []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert(mode)
                arrays.append(np.asarray(im if size is None else resize_crop(im, size), dtype=np.uint8))
        except OSError as exc:  # a truncated or corrupt image body
            raise ValueError(f"image {str(f)!r} in image folder {str(root)!r} cannot be decoded: {exc}") from None
    pixels = np.stack(arrays)  # (N, H, W) or (N, H, W, 3)
    t = torch.from_numpy(pixels)
    t = t.unsqueeze(1) if channels == 1 else t.permute(0, 3, 1, 2)
    return t.contiguous(), files
