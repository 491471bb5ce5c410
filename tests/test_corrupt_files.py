"""Truncated and garbage files of every kind ganlab reads end in one ValueError (or FileNotFoundError) line that
names the file, never in a traceback from zipfile, PIL, safetensors or numpy; through the command line they
exit with status 2 and one line on stderr.

Kinds: .npz images, .npy arrays, IDX (raw and gzipped), PNG and JPEG in a folder (the training `folder` data
set and `ganlab eval`'s ImageFolder), a checkpoint, a classifier's .safetensors, a statistics .npz. Damages:
the first half of the file, its first 10 bytes, seeded random bytes of the same length, an empty file.
"""

from __future__ import annotations

import gzip
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ganlab.build import build
from ganlab.checkpoint import load_checkpoint, read_checkpoint_meta, save_training_state
from ganlab.cli import main
from ganlab.config import save_toml
from ganlab.data import get_dataset
from ganlab.data.idx import read_idx
from ganlab.data.images import ImageFolder, load_array_file, load_labelled_npz
from ganlab.evaluate import SourceStats, load_stats, open_source, save_stats
from ganlab.metrics.classifier import digits_classifier_paths, load_classifier
from ganlab.recipes import resolve_config
from ganlab.runs import CHECKPOINT_NAME, load_run

DAMAGES = ("half", "head", "garbage", "empty")


def _damaged(raw: bytes, damage: str) -> bytes:
    if damage == "half":
        return raw[: len(raw) // 2]
    if damage == "head":
        return raw[:10]
    if damage == "garbage":
        return np.random.default_rng(len(raw)).integers(0, 256, len(raw), dtype=np.uint8).tobytes()
    return b""


def _write(path: Path, raw: bytes, damage: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_damaged(raw, damage))
    return path


def _one_line_naming(call, path: Path) -> str:
    with pytest.raises((ValueError, FileNotFoundError)) as err:
        call()
    message = str(err.value)
    assert str(path) in message and "\n" not in message, message
    return message


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "cache"))


def _images(n: int = 6, side: int = 8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, side, side), dtype=np.uint8)


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _image_bytes(fmt: str, side: int = 16) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_images(1, side)[0]).save(buf, format=fmt)
    return buf.getvalue()


# ---- arrays: .npz, .npy, IDX


@pytest.mark.parametrize("damage", DAMAGES)
def test_npz_images(tmp_path, damage):
    raw = _npz_bytes(x_train=_images(), y_train=np.arange(6), x_test=_images(), y_test=np.arange(6))
    path = _write(tmp_path / "images.npz", raw, damage)
    for call in (lambda: get_dataset("npz", path=str(path)), lambda: get_dataset("mnist", path=str(path)),
                 lambda: load_array_file(path), lambda: load_labelled_npz(path), lambda: open_source(str(path))):
        _one_line_naming(call, path)


def test_npz_members_that_numpy_would_misread(tmp_path):
    """A member whose data are shorter than its header says, and a member that is not a .npy array at all (numpy
    would hand its raw bytes out): refused on opening, naming the file and the member."""
    whole = np.lib.format.header_data_from_array_1_0(np.zeros((4, 8, 8), np.uint8))
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, whole)
    short = tmp_path / "short.npz"
    with zipfile.ZipFile(short, "w") as z:
        z.writestr("x.npy", b"\x93NUMPY\x01\x00" + head.getvalue()[8:] + bytes(100))  # 256 bytes promised
    message = _one_line_naming(lambda: load_array_file(short), short)
    assert "array 'x' of shape (4, 8, 8) needs" in message
    foreign = tmp_path / "foreign.npz"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("x.txt", b"1 2 3")
    assert "'x.txt', which is not a .npy array" in _one_line_naming(lambda: get_dataset("npz", path=str(foreign)),
                                                                    foreign)


def test_garbled_zip_fields_and_npy_headers(tmp_path):
    """Errors from outside ValueError that a flipped byte provokes: zipfile reads flag bit 6 as "strong encryption"
    (NotImplementedError) and hands a member whose method byte now says bzip2 to bz2 (OSError), and numpy's parser
    for Python-2 headers raises tokenize's TokenError on an unclosed bracket, in a .npy as in an .npz member."""
    raw = bytearray(_npz_bytes(mu=np.zeros(3), sigma=np.eye(3)))
    raw[raw.index(b"PK\x01\x02") + 8] |= 0x40  # the central directory's flags of the first member
    encrypted = tmp_path / "stats.npz"
    encrypted.write_bytes(bytes(raw))
    assert "damaged .npz archive: strong encryption" in _one_line_naming(lambda: load_stats(encrypted), encrypted)
    buf = io.BytesIO()
    np.savez_compressed(buf, x=_images())
    raw = bytearray(buf.getvalue())
    raw[raw.index(b"PK\x01\x02") + 10] = 12  # compression method deflate (8) -> bzip2 (12): bz2 raises OSError
    bzip = tmp_path / "images.npz"
    bzip.write_bytes(bytes(raw))
    assert "damaged .npz archive" in _one_line_naming(lambda: get_dataset("npz", path=str(bzip)), bzip)
    buf = io.BytesIO()
    np.save(buf, np.zeros((10, 8, 8), np.float32))
    unclosed = buf.getvalue().replace(b"(10, 8, 8)", b"(10, 8, 8 ", 1)  # the same length: only the ")" is gone
    npy = tmp_path / "images.npy"
    npy.write_bytes(unclosed)
    assert "cannot be read as a .npy array" in _one_line_naming(lambda: load_array_file(npy), npy)
    member = tmp_path / "member.npz"
    with zipfile.ZipFile(member, "w") as z:
        z.writestr("x.npy", unclosed)
    assert "array 'x' has no valid .npy header" in _one_line_naming(lambda: load_array_file(member), member)


def test_npy_of_strings_is_refused_and_big_endian_pixels_are_read(tmp_path):
    """A .npy of strings is refused naming the file (torch would raise TypeError); big-endian float32 pixels
    (torch refuses their byte order) are read, equal to the native array."""
    strings = tmp_path / "strings.npy"
    np.save(strings, np.full((4, 8, 8), "ab"))
    assert "holds <U2 values" in _one_line_naming(lambda: open_source(str(strings)), strings)
    pixels = np.random.default_rng(0).random((5, 8, 8)).astype(np.float32)
    np.save(tmp_path / "big.npy", pixels.astype(">f4"))
    (batch,) = open_source(str(tmp_path / "big.npy")).iter_batches(8)
    assert np.array_equal(batch.numpy(), pixels[:, None])


def test_a_float32_npy_is_read_from_its_read_only_memory_map(tmp_path):
    """`ganlab eval` memory-maps a .npy read-only; pixels already float32 in [0, 1] used to be clamped in place
    through a tensor sharing that mapping: a segmentation fault. Now such a batch is copied, the map untouched."""
    pixels = np.random.default_rng(1).random((7, 8, 8)).astype(np.float32)
    np.save(tmp_path / "float.npy", pixels)
    source = open_source(str(tmp_path / "float.npy"))
    assert isinstance(source.data.array, np.memmap) and not source.data.array.flags.writeable
    batches = list(source.iter_batches(4))
    assert np.array_equal(np.concatenate([b.numpy() for b in batches]), pixels[:, None])


@pytest.mark.parametrize("damage", DAMAGES)
def test_npy_array(tmp_path, damage):
    buf = io.BytesIO()
    np.save(buf, _images().astype(np.float32) / 255)
    path = _write(tmp_path / "images.npy", buf.getvalue(), damage)
    _one_line_naming(lambda: load_array_file(path), path)
    _one_line_naming(lambda: open_source(str(path)), path)


@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize("damage", DAMAGES)
def test_idx(tmp_path, damage, gzipped):
    raw = b"\x00\x00\x08\x03" + (6).to_bytes(4, "big") + (8).to_bytes(4, "big") * 2 + _images().tobytes()
    raw = gzip.compress(raw, mtime=0) if gzipped else raw
    path = _write(tmp_path / "train-images-idx3-ubyte", raw, damage)
    _one_line_naming(lambda: read_idx(path), path)
    _one_line_naming(lambda: get_dataset("idx", path=str(path)), path)


# ---- images in a folder


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("first", [True, False], ids=["bad-first", "bad-second"])
def test_image_in_a_folder(tmp_path, fmt, suffix, damage, first):
    """Both readers of image folders, with the damaged image sorted first (it sets the folder's mode and size
    in ImageFolder) or after a good one."""
    raw = _image_bytes(fmt)
    folder = tmp_path / "images"
    (folder / ("b" if first else "a")).mkdir(parents=True)
    (folder / ("b" if first else "a") / f"good{suffix}").write_bytes(raw)
    path = _write(folder / ("a" if first else "b") / f"bad{suffix}", raw, damage)
    _one_line_naming(lambda: get_dataset("folder", path=str(folder)), path)
    _one_line_naming(lambda: list(ImageFolder(folder).iter_batches(10)), path)
    _one_line_naming(lambda: list(open_source(str(folder)).iter_batches(10)), path)


# ---- checkpoints, classifier weights, statistics


def _run(tmp_path: Path) -> Path:
    """A run folder with its complete config.toml and a real checkpoint of the untrained networks (step 1)."""
    run = tmp_path / "run"
    setup = build(resolve_config(overrides=["--model.g_width=8", "--model.d_width=8", f"--out={run}"]))
    save_toml(setup.config, run / "config.toml")
    save_training_state(run / CHECKPOINT_NAME, step=1, config=setup.config.to_dict(),
                        modules={"generator": setup.generator, "critic": setup.critic},
                        optimizers={"opt_g": setup.opt_g, "opt_d": setup.opt_d}, rngs=setup.rngs)
    return run


@pytest.mark.parametrize("damage", DAMAGES)
def test_checkpoint(tmp_path, damage, capsys):
    run = _run(tmp_path)
    ckpt = run / CHECKPOINT_NAME
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "ok.npz")]) == 0  # whole, it works
    capsys.readouterr()
    _write(ckpt, ckpt.read_bytes(), damage)
    for reader in (load_checkpoint, read_checkpoint_meta):  # the header reader checks the size too
        _one_line_naming(lambda: reader(ckpt), ckpt)
    _one_line_naming(lambda: load_run(run), ckpt)
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "s.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab sample: error:") and err.count("\n") == 1 and str(ckpt) in err, err


def test_a_checkpoint_cut_by_one_byte_is_refused_from_its_header(tmp_path):
    """read_checkpoint_meta reads no tensor, but the header's byte ranges must fill the file exactly."""
    ckpt = _run(tmp_path) / CHECKPOINT_NAME
    raw = ckpt.read_bytes()
    assert read_checkpoint_meta(ckpt)["step"] == 1
    ckpt.write_bytes(raw[:-1])
    n = int.from_bytes(raw[:8], "little")
    message = _one_line_naming(lambda: read_checkpoint_meta(ckpt), ckpt)
    assert f"its header describes {len(raw)} bytes, the file has {len(raw) - 1}" in message and 8 + n < len(raw)
    ckpt.write_bytes(raw + b"\x00")
    assert f"the file has {len(raw) + 1}" in _one_line_naming(lambda: load_checkpoint(ckpt), ckpt)


@pytest.mark.parametrize("damage", DAMAGES)
def test_classifier_weights(tmp_path, damage, capsys):
    weights, _ = digits_classifier_paths()
    path = _write(tmp_path / "classifier.safetensors", weights.read_bytes(), damage)
    _one_line_naming(lambda: load_classifier(path), path)
    argv = ["eval", "digits:train", "digits:test", "--extractor", "classifier", "--classifier-weights", str(path),
            "--no-progress", "--no-cache"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err, err


@pytest.mark.parametrize("damage", DAMAGES)
def test_statistics_file(tmp_path, damage):
    good = tmp_path / "good.npz"
    rng = np.random.default_rng(0)
    save_stats(SourceStats(mu=rng.standard_normal(4), sigma=np.eye(4), n=10, extractor="identity",
                           weights_sha256=None), good)
    path = _write(tmp_path / "stats.npz", good.read_bytes(), damage)
    _one_line_naming(lambda: load_stats(path), path)
    _one_line_naming(lambda: open_source(str(path)), path)


# ---- through the command line


def test_cli_train_on_a_cut_npz(tmp_path, capsys):
    path = _write(tmp_path / "images.npz", _npz_bytes(x=_images()), "half")
    argv = ["train", "--data", "npz", f"--data_params.path={path}", "--out", str(tmp_path / "r"), "--steps", "1",
            "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab train: error:") and err.count("\n") == 1
    assert err.endswith(f"image file {str(path)!r} is a damaged .npz archive: File is not a zip file\n"), err


@pytest.mark.parametrize("name, raw", [
    ("images.npz", _npz_bytes(x=_images())),
    ("images.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, 'shape': (6, 8, 8), }" + b" " * 60),
    ("stats.npz", _npz_bytes(mu=np.zeros(3), sigma=np.eye(3))),
])
@pytest.mark.parametrize("damage", ["half", "garbage"])
def test_cli_eval_on_a_damaged_source(tmp_path, capsys, name, raw, damage):
    path = _write(tmp_path / name, raw, damage)
    for argv in (["eval", str(path), "digits:test"], ["eval", "digits:test", str(path)]):
        assert main([*argv, "--no-progress", "--no-cache"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ganlab eval: error:") and err.count("\n") == 1 and str(path) in err, err


def test_cli_eval_on_a_folder_with_a_damaged_image(tmp_path, capsys):
    folder = tmp_path / "images"
    path = _write(folder / "a.png", _image_bytes("PNG", side=8), "half")
    shutil.copyfile(path, folder / "b.png")
    assert main(["eval", "digits:test", str(folder), "--no-progress", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab eval: error:") and err.count("\n") == 1 and str(path) in err, err
