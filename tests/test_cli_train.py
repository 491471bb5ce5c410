"""`ganlab train` and `ganlab sample` through the real dispatcher: summaries, exit codes, files."""

import json

import numpy as np
import pytest
import torch

from ganlab.cli import main
from ganlab.sampling import sample_from_run

TINY = ["--model.g_width=16", "--model.d_width=16", "--model.g_depth=1", "--model.d_depth=1", "--batch_size=32", "--eval_samples=200",
        "--threads", "1", "--no-progress", "--n_critic=1"]


@pytest.fixture()
def trained(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--steps", "6", "--out", str(out), *TINY]) == 0
    return out, capsys.readouterr().out


@pytest.fixture()
def run_dir(trained):
    return trained[0]


def test_train_prints_summary_and_writes_the_run(trained):
    run_dir, printed = trained
    summary = json.loads((run_dir / "summary.json").read_text())
    assert f"modes captured   {summary['modes']}/8" in printed
    assert "high quality" in printed and "reverse KL" in printed and "W1 to data" in printed
    assert "1 threads" in printed and summary["threads"] == 1
    # no --recipe: the default run's recipe (wgan-gp-quick: MLP 64 x 3, EMA, one thread)
    assert summary["recipe"] == "wgan-gp-quick" and summary["data"] == "ring" and summary["steps"] == 6
    assert summary["ema"] is True


def test_resume_through_the_cli(run_dir, capsys):
    assert main(["train", "--resume", "--out", str(run_dir), "--steps", "8", "--no-progress"]) == 0
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 8
    assert "8 generator steps" in capsys.readouterr().out


def test_a_run_of_an_older_checkpoint_format_is_refused_by_name(run_dir, capsys):
    """A checkpoint of format v1 (flat model fields, before the [model] table) is refused with one line naming
    its format and today's, by resume, sample and eval alike; nothing in the folder is changed."""
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    path = run_dir / "checkpoints" / "last.safetensors"
    with safe_open(str(path), framework="pt") as fh:
        header = dict(fh.metadata())
    save_file(load_file(str(path)), str(path), metadata={**header, "format": "ganlab-checkpoint-v1"})
    before = path.read_bytes()
    for argv in (["train", "--resume", "--out", str(run_dir), "--steps", "9", "--no-progress"],
                 ["sample", str(run_dir), "-n", "5", "--out", str(run_dir.parent / "s.npz")],
                 ["eval", str(run_dir)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "older ganlab (format 'ganlab-checkpoint-v1'" in err and "ganlab-checkpoint-v2" in err, err
        assert err.count("\n") == 1
    assert path.read_bytes() == before


@pytest.mark.parametrize("argv, message", [
    (["--lr=1e-3"], "unknown config key(s) 'lr'"),
    (["--n_critic=0"], "'n_critic': expected an integer >= 1, got 0"),
    (["--recipe", "wgangp"], "unknown recipe 'wgangp'"),
    (["--data", "moons"], "unknown data set 'moons'"),
    (["--loss=wgan"], "unknown objective (loss) 'wgan'"),
    (["--divergence=kl2"], "unknown divergence 'kl2' (did you mean 'kl'"),
    (["--model.widht=3"], "unknown model field(s) 'widht'"),
    (["--model=resnt"], "unknown model family 'resnt'"),
    (["--model.activation=gelu2"], "model.activation: expected one of"),
    (["--data_params.bogus=1"], "'bogus'"),
    (["--model.d_norm=batchnorm"], "a batch-norm critic cannot take a gradient penalty"),
    (["--device=cuda:abc"], "'cuda:abc' is not a device"),
    (["--steps", "-3"], "'steps'"),
    (["--clip_value=0"], "'clip_value'"),
    (["--config", "/nonexistent/c.toml"], "config file not found"),
    (["--resume"], "--resume needs --out"),
    (["--spectral_norm=perhaps"], "--spectral_norm='perhaps': expected true or false"),
])
def test_bad_flags_exit_2_with_one_line(tmp_path, capsys, argv, message):
    code = main(["train", "--out", str(tmp_path / "x"), *argv] if argv != ["--resume"] else ["train", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.startswith("ganlab train: error:") and err.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "x").exists()


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--steps", "many"])
    assert exc.value.code == 2
    assert "--steps" in capsys.readouterr().err


def test_sample_npz_and_png(run_dir, tmp_path, capsys):
    npz = tmp_path / "s.npz"
    assert main(["sample", str(run_dir), "-n", "500", "--out", str(npz), "--seed", "2"]) == 0
    data = np.load(npz)
    assert data["samples"].shape == (500, 2) and int(data["step"]) == 6
    np.testing.assert_array_equal(data["samples"], sample_from_run(run_dir, 500, seed=2).numpy())
    png = tmp_path / "s.png"
    assert main(["sample", str(run_dir), "-n", "300", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote 300 samples" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["-n", "10", "--out", "x.txt"], "must end in .npz or .png"),
    (["-n", "0", "--out", "x.npz"], "-n must be a positive"),
])
def test_sample_bad_arguments(run_dir, capsys, argv, message):
    assert main(["sample", str(run_dir), *argv]) == 2
    assert message in capsys.readouterr().err


def test_sample_missing_run(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "none"), "--out", str(tmp_path / "s.npz")]) == 2
    assert "not found" in capsys.readouterr().err


def test_non_finite_run_exits_nonzero(tmp_path, capsys, monkeypatch):
    from ganlab.losses import OBJECTIVES, Objective

    monkeypatch.setitem(OBJECTIVES, "wasserstein",
                        Objective(lambda d_real, d_fake: (d_real - d_fake).mean() * float("inf"),
                                  lambda d_fake: -d_fake.mean(), "poisoned"))
    code = main(["train", "--steps", "3", "--out", str(tmp_path / "bad"), *TINY])
    err = capsys.readouterr().err
    assert code == 1
    assert "non-finite critic loss" in err and "step 1" in err


def test_list_recipes(capsys):
    assert main(["train", "--list-recipes"]) == 0
    out = capsys.readouterr().out
    assert "wgan-gp-toy" in out and "Gulrajani" in out and "fgan-kl" in out


def test_seeded_runs_are_reproducible(tmp_path):
    for name in ("a", "b"):
        assert main(["train", "--steps", "3", "--seed", "5", "--out", str(tmp_path / name), *TINY]) == 0
    xa = sample_from_run(tmp_path / "a", 100)
    assert torch.equal(xa, sample_from_run(tmp_path / "b", 100))


def test_a_run_folder_of_an_older_ganlab_is_refused_by_name(tmp_path, capsys):
    """A config.toml from before the [model] table (flat g_width, critic_backward): --resume names it as an
    older ganlab's run; as a --config file its flat keys are refused with the way to write them now."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.toml").write_text('recipe = "wgan-gp-toy"\ndata = "ring"\ng_width = 64\ncritic_backward = "auto"\n')
    assert main(["train", "--resume", "--out", str(old), "--steps", "9", "--no-progress"]) == 2
    assert "was written by an older ganlab (its config.toml has no [model] table)" in capsys.readouterr().err
    assert main(["train", "--config", str(old / "config.toml"), "--out", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert "'g_width'" in err and "go in the [model] table (--model.NAME=VALUE)" in err
    assert main(["train", "--resume", "--out", str(tmp_path / "none"), "--no-progress"]) == 2
    assert "cannot resume: no run in" in capsys.readouterr().err


def test_sample_out_naming_a_folder_is_one_line(run_dir, tmp_path, capsys):
    (tmp_path / "s.npz").mkdir()
    assert main(["sample", str(run_dir), "-n", "5", "--out", str(tmp_path / "s.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab sample: error:") and "s.npz" in err and err.count("\n") == 1
