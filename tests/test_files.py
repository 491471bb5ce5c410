"""ganlab.files: atomic writes (the new file appears whole, a failing writer leaves the old one and no debris)
and numpy readers that never unpickle and name every bad file."""

import numpy as np
import pytest

from ganlab.files import atomic_write, load_npy, open_npz


def test_atomic_write_replaces_the_file_and_creates_the_folder(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    assert atomic_write(target, lambda tmp: tmp.write_text("one")) == target
    atomic_write(target, lambda tmp: tmp.write_text("two"))
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_failing_writer_keeps_the_previous_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")

    def torn(tmp):
        tmp.write_bytes(b"ne")  # half of the new content, then the crash
        raise OSError("power cut")

    with pytest.raises(OSError, match="power cut"):
        atomic_write(target, torn)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


# ---- open_npz / load_npy: numpy files read without pickle, every bad file named in one clear error


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_open_npz_and_load_npy_read_what_numpy_wrote(tmp_path):
    with open_npz(_npz(tmp_path / "a.npz", mu=np.arange(3.0)), "statistics file") as z:
        assert z.files == ["mu"] and z["mu"].tolist() == [0.0, 1.0, 2.0]
    np.save(tmp_path / "b.npy", np.eye(2))
    assert np.array_equal(load_npy(tmp_path / "b.npy"), np.eye(2))
    assert isinstance(load_npy(tmp_path / "b.npy"), np.memmap)
    assert not isinstance(load_npy(tmp_path / "b.npy", mmap=False), np.memmap)


@pytest.mark.parametrize("content, found", [
    (b"mu,sigma\n1,2\n", "a file starting with b'mu,sig'"),  # numpy alone: "contains pickled (object) data"
    (b"", "an empty file"),
    (b"\x93NUMPY\x01\x00", "a .npy array"),
])
def test_open_npz_names_the_file_and_what_it_found(tmp_path, content, found):
    path = tmp_path / "stats.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        with open_npz(path, "statistics file"):
            pass
    assert str(err.value) == f"statistics file {str(path)!r} must be an .npz archive (numpy.savez), got {found}"


def test_open_npz_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^labelled data file '.*nope\.npz' does not exist$"):
        with open_npz(tmp_path / "nope.npz", "labelled data file"):
            pass


def test_open_npz_truncated_or_corrupt_archive(tmp_path):
    whole = _npz(tmp_path / "whole.npz", x=np.arange(1000.0)).read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole[: len(whole) // 2])  # the zip directory at the end is gone
    with pytest.raises(ValueError, match=r"cut\.npz' is a damaged \.npz archive"):
        with open_npz(cut):
            pass
    flipped = bytearray(whole)
    start = whole.index(b"\x93NUMPY")  # the stored member's bytes: damage its data, keep the directory
    flipped[start + 200] ^= 0xFF
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=r"bad\.npz' is a damaged \.npz archive"):  # zip CRC check on read
        with open_npz(bad) as z:
            z["x"]


def test_load_npy_refuses_other_formats_and_short_data(tmp_path):
    npz = _npz(tmp_path / "a.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match=r"must be a \.npy array \(numpy\.save\), got an \.npz archive"):
        load_npy(npz, "array file")
    np.save(tmp_path / "b.npy", np.zeros(100))
    short = tmp_path / "short.npy"
    short.write_bytes((tmp_path / "b.npy").read_bytes()[:-80])
    for mmap in (True, False):
        with pytest.raises(ValueError, match=r"short\.npy' cannot be read as a \.npy array"):
            load_npy(short, "array file", mmap=mmap)
