"""`ganlab eval` and `ganlab classifier` through the real dispatcher: outputs, JSON, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import scipy.linalg
import torch

from ganlab.cli import main
from ganlab.data.toy import get_toy_dataset
from ganlab.evaluate import evaluate_sources
from ganlab.sampling import sample_from_run

@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """No test reads or writes the user's ~/.cache/ganlab."""
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "default_cache"))


FAST = ["--no-progress", "--no-cache", "--num-samples", "898"]  # 898 per side: KID subsets are the whole sets


def test_eval_two_sources_prints_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "res.json"
    assert main(["eval", "digits:train", "digits:test", *FAST, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "FID" in text and "KID" in text and "precision" in text and "IS (second source)" in text
    assert "extractor digits" in text
    payload = json.loads(out.read_text())
    direct, _ = evaluate_sources("digits:train", "digits:test", num_samples=898, use_cache=False)
    assert payload["fid"] == pytest.approx(direct.fid, abs=1e-12)
    assert payload["is_mean"] == pytest.approx(direct.is_mean, abs=1e-12)
    assert payload["protocol"]["first"]["n"] == payload["protocol"]["second"]["n"] == 898
    assert payload["protocol"]["extractor"]["weights_sha256"] == direct.protocol["extractor"]["weights_sha256"]


def test_save_stats_then_compare(tmp_path, capsys):
    stats = tmp_path / "train_stats.npz"
    assert main(["eval", "digits:train", *FAST, "--save-stats", str(stats)]) == 0
    text = capsys.readouterr().out
    assert "n = 898" in text and "IS" in text and stats.is_file()
    out = tmp_path / "r.json"
    assert main(["eval", str(stats), "digits:test", *FAST, "--json", str(out)]) == 0
    via_stats = json.loads(out.read_text())
    direct, _ = evaluate_sources("digits:train", "digits:test", num_samples=898, use_cache=False)
    assert via_stats["fid"] == pytest.approx(direct.fid, abs=1e-10)
    assert via_stats["kid_mean"] is None
    assert "no kid" in capsys.readouterr().out


def test_missing_source_exits_2_with_message(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope"), "digits:test", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab eval: error:") and "nope" in err and "does not exist" in err
    assert len(err.strip().splitlines()) == 1


def test_a_source_that_is_not_an_npz_exits_2_naming_it(tmp_path, capsys):
    fake = tmp_path / "stats.npz"
    fake.write_text("mu,sigma\n")  # numpy alone would call this "pickled (object) data"
    assert main(["eval", str(fake), "digits:test", "--no-progress", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab eval: error:") and "stats.npz" in err and "must be an .npz archive" in err
    assert len(err.strip().splitlines()) == 1


def test_mismatched_dims_exit_2(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", features=rng.standard_normal((20, 2)))
    np.savez(tmp_path / "b.npz", features=rng.standard_normal((20, 3)))
    assert main(["eval", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--no-progress", "--no-cache"]) == 2
    assert "dimension" in capsys.readouterr().err


def test_wrong_inception_weight_file_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GANLAB_INCEPTION_WEIGHTS", raising=False)
    bogus = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    bogus.write_bytes(b"not the weights")
    args = ["eval", "digits:train", "digits:test", "--extractor", "inception-v3", "--no-progress", "--no-cache"]
    assert main([*args, "--inception-weights", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert "6726825d" in err and "--inception-sha256" in err
    assert main([*args, "--inception-weights", str(tmp_path / "missing.pth")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "pt_inception-2015-12-05-6726825d.pth" in err
    assert main(args) == 2
    assert "GANLAB_INCEPTION_WEIGHTS" in capsys.readouterr().err


def test_bad_flag_values_exit_2(capsys):
    assert main(["eval", "digits:test", "--num-samples", "0"]) == 2
    assert "--num-samples" in capsys.readouterr().err
    assert main(["eval", "a", "b", "c"]) == 2
    assert "one or two sources" in capsys.readouterr().err


def test_single_run_folder_prints_the_runs_evaluation(tmp_path, capsys, monkeypatch):
    calls = []

    def evaluate_run(run_dir, n=2500):
        calls.append((str(run_dir), n))
        return {"modes": 8, "high_quality": 0.97, "reverse_kl": 0.01, "w1": 0.02}

    fake = types.ModuleType("ganlab.runs")
    fake.evaluate_run = evaluate_run
    monkeypatch.setitem(sys.modules, "ganlab.runs", fake)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text("recipe = 'wgan-gp'\n")
    out = tmp_path / "run.json"
    assert main(["eval", str(run), "--json", str(out)]) == 0
    assert calls == [(str(run), 2500)]
    text = capsys.readouterr().out
    assert "modes" in text and "0.97" in text
    assert json.loads(out.read_text())["evaluation"]["modes"] == 8


def test_classifier_command_trains_and_the_weights_serve_as_extractor(tmp_path, capsys):
    rng = np.random.default_rng(1)
    n = 80
    y = rng.integers(0, 2, n)
    x = (rng.random((n, 28, 28)) * 0.2).astype(np.float32)
    for i in range(n):  # class 0: bright top half, class 1: bright bottom half
        x[i, :14] += 0.7 * (y[i] == 0)
        x[i, 14:] += 0.7 * (y[i] == 1)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    weights = tmp_path / "clf.safetensors"
    assert main(["classifier", "--data", str(tmp_path / "data.npz"), "--out", str(weights), "--epochs", "3"]) == 0
    record = json.loads(weights.with_suffix(".json").read_text())
    assert record["test_accuracy"] >= 0.9 and record["n_train"] + record["n_test"] == n
    assert "test accuracy" in capsys.readouterr().out
    np.savez(tmp_path / "imgs.npz", images=x[:, None])
    out = tmp_path / "r.json"
    assert main(["eval", str(tmp_path / "imgs.npz"), str(tmp_path / "imgs.npz"), "--extractor", "classifier",
                 "--classifier-weights", str(weights), "--no-progress", "--no-cache", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["fid"] == pytest.approx(0.0, abs=1e-8)
    assert payload["protocol"]["extractor"]["weights_sha256"] == record["sha256"]
    assert main(["classifier", "--data", str(tmp_path / "missing.npz"), "--out", str(weights)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_eval_of_a_real_trained_run(tmp_path, capsys):
    """Integration: a tiny `ganlab train` run, then `ganlab eval toy:ring RUN` samples it through ganlab.sampling."""
    run = tmp_path / "run"
    assert main(["train", "--steps", "5", "--out", str(run), "--model.g_width=8", "--model.d_width=8", "--eval_every=5"]) == 0
    capsys.readouterr()
    out = tmp_path / "r.json"
    assert main(["eval", "toy:ring", str(run), "--num-samples", "500", "--no-progress", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    real = get_toy_dataset("ring").sample(500, generator=torch.Generator().manual_seed(0)).double().numpy()
    fake = sample_from_run(run, 500, seed=1).double().numpy()  # source 2 draws with seed + 1
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    ref = ((real.mean(0) - fake.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert payload["fid"] == pytest.approx(ref, rel=1e-8, abs=1e-10)
    assert payload["protocol"]["second"]["source"] == f"run {run}"


def test_json_naming_a_folder_and_a_failed_write_lose_nothing(tmp_path, capsys, monkeypatch):
    """--json naming a folder is one line, exit 2; a write that fails midway (a full disk) leaves the
    previous result file whole, and the command says so in one line instead of exiting 0."""
    folder = tmp_path / "adir"
    folder.mkdir()
    assert main(["eval", "digits:train", *FAST, "--json", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and err.count("\n") == 1
    out = tmp_path / "res.json"
    out.write_text('{"previous": true}\n')
    import errno
    import pathlib

    def full_disk(self, data, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(pathlib.Path, "write_text", full_disk)
    assert main(["eval", "digits:train", *FAST, "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and err.count("\n") == 1
    monkeypatch.undo()
    assert out.read_text() == '{"previous": true}\n'
    assert not list(tmp_path.glob(".res.json.tmp-*"))
