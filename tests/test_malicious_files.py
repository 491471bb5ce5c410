"""Files that would run code when unpickled, fed to every loader ganlab has: each refuses them in one line that
names the file, and none of them runs the payload.

The payload is a pickle whose loading calls ``open(SENTINEL, "w")``: harmless, and visible afterwards. It comes
in four containers: (a) an ``.npz`` holding an object array (``np.savez`` pickles it), (b) a ``.npy`` object
array, (c) a ``torch.save`` file, (d) a raw pickle named ``.safetensors``. `test_the_payloads_are_live`
proves that each container really runs it when opened the unsafe way, so the refusals below are not vacuous.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.build import build
from ganlab.checkpoint import load_checkpoint, read_checkpoint_meta
from ganlab.cli import main
from ganlab.config import save_toml
from ganlab.data import get_dataset
from ganlab.data.idx import read_idx
from ganlab.data.images import ImageFolder, load_array_file, load_labelled_npz
from ganlab.evaluate import compute_source_stats, load_stats, open_source
from ganlab.metrics.classifier import load_classifier
from ganlab.metrics.features import get_extractor
from ganlab.metrics.inception import build_inception, load_inception_state_dict, sha256_of_file
from ganlab.recipes import resolve_config
from ganlab.runs import CHECKPOINT_NAME, load_run, read_run_config

KINDS = ("npz", "npy", "pt", "safetensors")


class _Payload:
    """Unpickling it calls open(sentinel, "w"), creating an empty file: the proof that code ran."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (open, (self.sentinel, "w"))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def bad(tmp_path):
    """{kind: path} of the four malicious files, and the sentinel path (absent)."""
    sentinel = tmp_path / "SENTINEL"
    folder = tmp_path / "malicious"
    folder.mkdir()
    payload = _Payload(sentinel)
    files = {k: folder / f"weights.{k}" for k in KINDS}
    np.savez(files["npz"], x=np.array([payload, 1], dtype=object))  # allow_pickle is on when writing
    np.save(files["npy"], np.array([payload, 1], dtype=object))
    torch.save({"weight": payload}, files["pt"])
    files["safetensors"].write_bytes(pickle.dumps(payload))
    assert not sentinel.exists()
    return files, sentinel


def _refused(call, path: Path, sentinel: Path) -> str:
    """Run `call`, which must raise ValueError / FileNotFoundError in one line naming `path`, and leave no sentinel."""
    with pytest.raises((ValueError, FileNotFoundError)) as err:
        call()
    message = str(err.value)
    assert str(path) in message and "\n" not in message, message
    assert not sentinel.exists(), f"the payload ran: {message}"
    return message


def test_the_payloads_are_live(bad):
    """Opened the unsafe way, each container runs the payload (so the tests below test something)."""
    files, sentinel = bad
    openers = {
        "npz": lambda p: np.load(p, allow_pickle=True)["x"],
        "npy": lambda p: np.load(p, allow_pickle=True),
        "pt": lambda p: torch.load(p, weights_only=False),
        "safetensors": lambda p: pickle.loads(p.read_bytes()),
    }
    for kind, path in files.items():
        openers[kind](path)
        assert sentinel.exists(), kind
        sentinel.unlink()


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_readers_refuse(bad, kind):
    files, sentinel = bad
    for reader in (load_checkpoint, read_checkpoint_meta):
        message = _refused(lambda: reader(files[kind]), files[kind], sentinel)
        assert "checkpoint" in message


def _run_folder(path: Path, checkpoint: Path) -> Path:
    """A run folder as `ganlab train` leaves it (its complete config.toml), with `checkpoint` as its checkpoint."""
    config = build(resolve_config(overrides=["--model.g_width=8", "--model.d_width=8", f"--out={path}"])).config
    save_toml(config, path / "config.toml")
    (path / CHECKPOINT_NAME).parent.mkdir(parents=True)
    shutil.copyfile(checkpoint, path / CHECKPOINT_NAME)
    return path / CHECKPOINT_NAME


@pytest.mark.parametrize("kind", KINDS)
def test_a_run_whose_checkpoint_was_replaced_is_refused(bad, kind, tmp_path, capsys):
    """load_run, read_run_config, and the commands that open a run: sample, eval (alone and as a source),
    train --resume."""
    files, sentinel = bad
    run = tmp_path / "run"
    ckpt = _run_folder(run, files[kind])
    _refused(lambda: load_run(run), ckpt, sentinel)
    _refused(lambda: read_run_config(run), ckpt, sentinel)
    for argv in (["sample", str(run), "-n", "4", "--out", str(tmp_path / "s.npz")],
                 ["eval", str(run), "--no-progress"],
                 ["eval", "toy:ring", str(run), "--no-progress", "--num-samples", "50"],
                 ["train", "--resume", "--out", str(run), "--steps", "3", "--no-progress"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(ckpt) in err and err.startswith(f"ganlab {argv[0]}: error:"), err
        assert not sentinel.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_training_data_sets_refuse(bad, kind, tmp_path):
    """The data sets that read a user's file: npz, mnist, idx (images and labels), folder."""
    files, sentinel = bad
    path = files[kind]
    _refused(lambda: get_dataset("npz", path=str(path)), path, sentinel)
    _refused(lambda: get_dataset("mnist", path=str(path)), path, sentinel)
    _refused(lambda: get_dataset("idx", path=str(path)), path, sentinel)
    _refused(lambda: read_idx(path), path, sentinel)
    gz = tmp_path / "images-idx3-ubyte.gz"  # gzipped: read_idx decompresses by the magic bytes, then refuses
    gz.write_bytes(gzip.compress(path.read_bytes()))
    _refused(lambda: read_idx(gz), gz, sentinel)
    folder = tmp_path / "images"
    folder.mkdir()
    as_png = folder / "a.png"
    shutil.copyfile(path, as_png)
    _refused(lambda: get_dataset("folder", path=str(folder)), as_png, sentinel)


def test_the_cli_refuses_a_training_file(bad, tmp_path, capsys):
    files, sentinel = bad
    for kind, path in files.items():
        for data in ("npz", "mnist", "idx"):
            argv = ["train", "--data", data, f"--data_params.path={path}", "--out", str(tmp_path / "r"),
                    "--steps", "1", "--no-progress"]
            assert main(argv) == 2, (kind, data)
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and str(path) in err, err
    assert not sentinel.exists() and not (tmp_path / "r" / "metrics.jsonl").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_evaluation_readers_refuse(bad, kind, tmp_path):
    """data/images.py (load_array_file, load_labelled_npz, ImageFolder), evaluate.py (sources, statistics)."""
    files, sentinel = bad
    path = files[kind]
    _refused(lambda: load_array_file(path), path, sentinel)
    _refused(lambda: load_labelled_npz(path), path, sentinel)
    _refused(lambda: load_stats(path), path, sentinel)
    _refused(lambda: open_source(str(path)), path, sentinel)
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copyfile(path, folder / "a.png")
    _refused(lambda: ImageFolder(folder), folder / "a.png", sentinel)
    _refused(lambda: open_source(str(folder)), folder / "a.png", sentinel)


def test_a_poisoned_statistics_cache_is_refused(bad, tmp_path):
    """The cache file of a source, replaced by a malicious .npz, is refused when the cache is read."""
    files, sentinel = bad
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "feats.npz", features=rng.standard_normal((30, 3)))
    source = open_source(str(tmp_path / "feats.npz"))
    cache = tmp_path / "stats_cache"
    # a fresh extractor per call, as each `ganlab eval` has: the identity's width, part of the key, is learnt on use
    assert compute_source_stats(source, get_extractor("identity"), cache_dir=cache).origin == "computed"
    assert compute_source_stats(source, get_extractor("identity"), cache_dir=cache).origin == "cache"
    (cache_file,) = cache.glob("stats-*.npz")
    shutil.copyfile(files["npz"], cache_file)
    _refused(lambda: compute_source_stats(source, get_extractor("identity"), cache_dir=cache), cache_file, sentinel)


def test_ganlab_eval_refuses_sources_and_statistics(bad, capsys):
    files, sentinel = bad
    for path in files.values():
        for argv in (["eval", str(path), "digits:test"], ["eval", "digits:test", str(path)], ["eval", str(path)]):
            assert main([*argv, "--no-progress", "--no-cache"]) == 2, argv
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and str(path) in err, err
    assert not sentinel.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_classifier_weights_are_refused(bad, kind, capsys):
    files, sentinel = bad
    path = files[kind]
    _refused(lambda: load_classifier(path), path, sentinel)
    argv = ["eval", "digits:train", "digits:test", "--extractor", "classifier", "--classifier-weights", str(path),
            "--no-progress", "--no-cache"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and not sentinel.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_inception_weights_are_refused_even_with_their_own_hash(bad, kind, capsys):
    """Without --inception-sha256 the hash check refuses any file but pytorch-fid's before reading it; with the
    file's own hash given, torch.load(weights_only=True) or safetensors refuses it, unrun."""
    files, sentinel = bad
    path = files[kind]
    assert "does not start with '6726825d'" in _refused(lambda: load_inception_state_dict(path), path, sentinel)
    digest = sha256_of_file(path)
    message = _refused(lambda: load_inception_state_dict(path, sha256=digest), path, sentinel)
    assert "could not read" in message
    _refused(lambda: build_inception(path, sha256=digest), path, sentinel)
    argv = ["eval", "digits:train", "digits:test", "--extractor", "inception-v3", "--inception-weights", str(path),
            "--inception-sha256", digest, "--no-progress", "--no-cache"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and not sentinel.exists()
