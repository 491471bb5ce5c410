"""ganlab.files.atomic_write: the new file appears whole, a failing writer leaves the old one and no debris."""

import pytest

from ganlab.files import atomic_write


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
