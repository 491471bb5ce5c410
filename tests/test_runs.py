"""The run folder: one writer at a time, stale temporary files cleaned, unwritable folders refused before any
training, damaged checkpoints named, load_run rebuilding a run from its folder."""

from __future__ import annotations

import fcntl
import json
import math
import signal
import subprocess
import sys
import time

import pytest
import torch

import ganlab.steps as steps_mod
from ganlab.checkpoint import load_checkpoint
from ganlab.cli import main
from ganlab.recipes import resolve_config
from ganlab.train import NonFiniteLossError, train

TINY = ["--model.g_width=8", "--model.d_width=8", "--model.g_depth=1", "--model.d_depth=1", "--batch_size=16",
        "--eval_samples=50", "--threads=1", "--n_critic=1"]


def _config(tmp_path, *overrides, name="run"):
    return resolve_config(overrides=[*TINY, f"--out={tmp_path / name}", *overrides])


def test_a_second_writer_is_refused_and_nothing_is_interleaved(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with open(run / ".lock", "a") as held:  # another process holding the run
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ValueError, match="another ganlab process is writing the run"):
            train(_config(tmp_path, "--steps=2"), progress=False)
    assert not (run / "metrics.jsonl").exists()
    train(_config(tmp_path, "--steps=2"), progress=False)  # released: the run goes ahead, and releases it too
    with open(run / ".lock", "a") as again:
        fcntl.flock(again, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_resume_cleans_temporary_files_of_killed_writes(tmp_path):
    train(_config(tmp_path, "--steps=2"), progress=False)
    stale = [tmp_path / "run" / "checkpoints" / ".last.safetensors.tmp-99999", tmp_path / "run" / ".summary.json.tmp-7"]
    for p in stale:
        p.write_bytes(b"x" * 1000)
    train(_config(tmp_path, "--steps=3"), resume=True, progress=False)
    assert not any(p.exists() for p in stale)


def test_an_unusable_run_folder_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "afile").write_text("not a folder")
    assert main(["train", "--out", str(tmp_path / "afile"), "--steps", "2", "--no-progress", *TINY]) == 2
    err = capsys.readouterr().err
    assert "cannot create the run folder" in err and "afile" in err and err.count("\n") == 1
    assert main(["train", "--out", str(tmp_path / "afile" / "sub"), "--steps", "2", "--no-progress", *TINY]) == 2
    assert "cannot create the run folder" in capsys.readouterr().err


def test_a_changed_checkpoint_fails_its_checksum(tmp_path):
    train(_config(tmp_path, "--steps=2"), progress=False)
    path = tmp_path / "run" / "checkpoints" / "last.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # two bytes of the last tensor's data flipped
    data[-40] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is damaged: its tensors do not match the checksum"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="damaged"):
        train(_config(tmp_path, "--steps=4"), resume=True, progress=False)


def test_corrupt_metadata_is_named(tmp_path):
    train(_config(tmp_path, "--steps=2"), progress=False)
    path = tmp_path / "run" / "checkpoints" / "last.safetensors"
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = raw[8:8 + n].replace(b'\\"step\\": 2', b'\\"step\\": 2,,')
    path.write_bytes(len(header).to_bytes(8, "little") + header + raw[8 + n:])
    with pytest.raises(ValueError, match=f"{path.name}.*damaged metadata"):
        load_checkpoint(path)


def test_inf_in_the_optimizer_state_stops_the_run(tmp_path, monkeypatch):
    """Adam's second moment overflowing to inf leaves losses and weights finite for a while: the checkpoint
    check finds it and keeps the last good checkpoint."""
    real_step = steps_mod.generator_step
    calls = {"n": 0}

    def overflowing(setup, z, world):
        loss = real_step(setup, z, world)
        calls["n"] += 1
        if calls["n"] == 5:
            next(iter(setup.opt_g.state.values()))["exp_avg_sq"].fill_(math.inf)
        return loss

    monkeypatch.setattr("ganlab.train.generator_step", overflowing)
    with pytest.raises(NonFiniteLossError, match="non-finite optimizer state .* step 6.*step 3"):
        train(_config(tmp_path, "--steps=9", "--ckpt_every=3"), progress=False)
    _, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 3


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_saves_a_checkpoint_and_says_how_to_resume(tmp_path, sig, code):
    """A real process, killed politely mid-run: it finishes its step, checkpoints it, exits 128 + signal with
    one line naming the resume command; the resume goes on from that step."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ganlab", "train", "--steps", "100000", "--out", str(out), "--no-progress",
           "--log_every=1", "--eval_every=0", "--ckpt_every=0", *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the loop is running
        metrics = out / "metrics.jsonl"
        if metrics.is_file() and metrics.read_text().count("\n") >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert f"stopped by {signal.Signals(sig).name}" in err and f"ganlab train --resume --out {out}" in err
    _, meta = load_checkpoint(out / "checkpoints" / "last.safetensors")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == meta["step"] >= 3
    assert main(["train", "--resume", "--out", str(out), "--steps", str(meta["step"] + 2), "--no-progress"]) == 0
    assert load_checkpoint(out / "checkpoints" / "last.safetensors")[1]["step"] == meta["step"] + 2


def test_sigkill_at_random_moments_never_tears_a_checkpoint(tmp_path):
    """A real run killed with SIGKILL (no warning, no handler) again and again, at random moments, with a
    checkpoint at every step so that kills land during writes: after every kill the newest checkpoint
    loads (its checksum holds), it never goes back, the run resumes from it and loses at most one checkpoint
    interval of logged steps. Bounded to about a minute."""
    import random

    rng = random.Random(0)
    out = tmp_path / "run"
    ckpt = out / "checkpoints" / "last.safetensors"
    base = [sys.executable, "-m", "ganlab", "train", "--steps", "1000000", "--out", str(out), "--no-progress",
            "--log_every=1", "--eval_every=0", "--ckpt_every=1", *TINY]
    last_step, kills, torn_writes, deadline = 0, 0, 0, time.monotonic() + 60
    while time.monotonic() < deadline and kills < 12:
        proc = subprocess.Popen(base + (["--resume"] if ckpt.exists() else []), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        started = time.monotonic()
        while time.monotonic() - started < 30 and not (ckpt.exists() and load_checkpoint(ckpt)[1]["step"] > last_step):
            time.sleep(0.05)  # until this process has made progress of its own
        time.sleep(rng.uniform(0.0, 0.4))
        proc.kill()
        proc.wait()
        kills += 1
        torn_writes += bool(list(ckpt.parent.glob(".last.safetensors.tmp-*")))
        tensors, meta = load_checkpoint(ckpt)  # raises if torn
        assert meta["step"] >= last_step
        logged = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines() if line]
        assert max(logged) - meta["step"] <= 1 + 1  # at most one interval, plus the step being logged
        last_step = meta["step"]
    assert kills >= 5, kills
    # the run goes on from the newest checkpoint and finishes normally
    assert main(["train", "--resume", "--out", str(out), "--steps", str(last_step + 3), "--no-progress"]) == 0
    assert load_checkpoint(ckpt)[1]["step"] == last_step + 3
    assert not list(ckpt.parent.glob(".last.safetensors.tmp-*"))  # what the kills left was cleaned up
    print(f"{kills} SIGKILLs, {torn_writes} during a checkpoint write, last checkpoint step {last_step}")


def test_ctrl_c_under_torchrun_stops_every_process_after_one_step_with_a_checkpoint(tmp_path):
    """Ctrl-C in a terminal sends SIGINT to the whole process group: torchrun and its two workers. Both workers
    finish the same step, process 0 checkpoints it and prints the resume line once, no worker prints a traceback
    (torchrun itself then reports its own SignalException), and the run resumes under torchrun from that step."""
    import os
    import socket

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    out = tmp_path / "run"
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    args = ["-m", "ganlab", "train", "--out", str(out), "--no-progress", "--log_every=1", "--eval_every=0",
            "--ckpt_every=0", "--n_critic=1", *TINY]
    proc = subprocess.Popen([*launch, f"--master_port={free_port()}", *args, "--steps", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until both workers are in the loop
        metrics = out / "metrics.jsonl"
        if metrics.is_file() and metrics.read_text().count("\n") >= 3:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    _, err = proc.communicate(timeout=120)
    _, meta = load_checkpoint(out / "checkpoints" / "last.safetensors")
    assert err.count(f"stopped by SIGINT after generator step {meta['step']}") == 1, err[-3000:]
    assert err.count(f"ganlab train --resume --out {out}") == 1
    worker_tracebacks = [block for block in err.split("Traceback (most recent call last):")[1:]
                         if "SignalException" not in block]
    assert worker_tracebacks == [], err[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == meta["step"] >= 3 and meta["world_size"] == 2
    resumed = subprocess.run([*launch, f"--master_port={free_port()}", *args, "--resume",
                              "--steps", str(meta["step"] + 2)], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert load_checkpoint(out / "checkpoints" / "last.safetensors")[1]["step"] == meta["step"] + 2
