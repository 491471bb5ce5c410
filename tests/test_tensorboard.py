"""`tensorboard = true`: the run folder's TensorBoard events are metrics.jsonl's numbers and the sample figures,
read back with TensorBoard's own EventAccumulator; a resume drops the events logged past its checkpoint."""

from __future__ import annotations

import json
import math
import sys

import pytest

from ganlab.config import TrainConfig, apply_overrides
from ganlab.recipes import resolve_config
from ganlab.train import train

pytest.importorskip("tensorboard", reason="the tensorboard package (pip install 'ganlab[tensorboard]')")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

TINY = ["--model.g_width=16", "--model.d_width=16", "--model.g_depth=2", "--model.d_depth=2", "--batch_size=32",
        "--eval_samples=200", "--threads=1", "--n_critic=1"]


def _events(run_dir):
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_every_numeric_field_of_metrics_jsonl_is_a_scalar_and_each_figure_an_image(tmp_path):
    run = tmp_path / "run"
    config = resolve_config(overrides=[*TINY, "--steps=6", "--log_every=2", "--eval_every=3", "--ckpt_every=0",
                                       "--tensorboard", f"--out={run}"])
    assert config.tensorboard is True
    train(config, progress=False)
    rows, acc = _rows(run), _events(run)
    expected: dict[str, dict[int, float]] = {}
    for r in rows:
        for key, value in r.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                expected.setdefault(key, {})[r["step"]] = float(value)
    assert {"d_loss", "g_loss", "critic_gap", "gp", "wall_seconds", "modes", "w1", "diag_grad_norm",
            "diag_diversity"} <= set(expected)
    assert set(acc.Tags()["scalars"]) == set(expected)
    for key, by_step in expected.items():
        events = acc.Scalars(key)
        assert [e.step for e in events] == sorted(by_step), key  # each step once, in order
        for e in events:  # TensorBoard keeps float32
            assert e.value == pytest.approx(by_step[e.step], rel=1e-6, abs=1e-30) or (
                math.isnan(e.value) and math.isnan(by_step[e.step])), (key, e.step)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 6]  # evaluations at 3 and 6
    images = acc.Images("samples")
    assert [im.step for im in images] == [3, 6]
    from matplotlib.image import imread

    height, width = imread(run / "samples" / "step_0000006.png").shape[:2]
    assert (images[-1].height, images[-1].width) == (height, width)
    assert images[-1].encoded_image_string.startswith(b"\x89PNG")


def test_a_run_without_the_flag_writes_no_events(tmp_path):
    train(resolve_config(overrides=[*TINY, "--steps=2", "--ckpt_every=0", f"--out={tmp_path / 'run'}"]),
          progress=False)
    assert not (tmp_path / "run" / "tensorboard").exists()


def test_a_resume_replaces_the_events_logged_past_the_checkpoint(tmp_path):
    """A session that died after logging step 5 past its checkpoint at 4 left an event at 5; the resumed session
    logs step 5 again, and TensorBoard shows only the new value (`purge_step`), as metrics.jsonl does."""
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "run"
    base = [*TINY, "--log_every=1", "--eval_every=0", "--ckpt_every=0", "--tensorboard", f"--out={run}"]
    train(resolve_config(overrides=[*base, "--steps=4"]), progress=False)
    dead = SummaryWriter(log_dir=str(run / "tensorboard"))  # what the dead session had written after step 4
    dead.add_scalar("d_loss", 999.0, 5)
    dead.close()
    train(resolve_config(overrides=[*base, "--steps=6"]), resume=True, progress=False)
    logged = {r["step"]: r["d_loss"] for r in _rows(run)}
    events = _events(run).Scalars("d_loss")
    assert [e.step for e in events] == [1, 2, 3, 4, 5, 6]
    assert all(e.value == pytest.approx(logged[e.step], rel=1e-6) for e in events)


def test_the_field_is_checked_and_a_missing_package_is_named(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="--tensorboard='maybe': expected true or false"):
        apply_overrides(TrainConfig(), ["--tensorboard=maybe"])
    with pytest.raises(ValueError, match="'tensorboard' must be of type bool"):
        TrainConfig(tensorboard=1)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as without the package
    with pytest.raises(ValueError, match="pip install tensorboard"):
        train(resolve_config(overrides=[*TINY, "--steps=2", "--tensorboard", f"--out={tmp_path / 'run'}"]),
              progress=False)
    assert not (tmp_path / "run").exists()  # refused before the folder was made
