"""The experiments registry finds experiment modules by themselves, and `ganlab experiment` runs one."""

import json
import sys

import pytest

import ganlab.experiments as experiments_pkg
from ganlab.cli import main
from ganlab.cli.experiment_cmd import parse_params
from ganlab.experiments import Experiment, experiments, get_experiment

MODULE = '''
from ganlab.experiments import Experiment, Result


def run(params, out, size):
    figure = out / "f.png"
    figure.write_bytes(b"png")
    total = sum(params["means"]) * params["scale"]
    return Result({"total": total, "size": size}, f"total {total}", total > 0, (figure,))


EXPERIMENT = Experiment("toy-sum", "lecture 000, slide 'none'", "means add up", run,
                        params={"means": [-1.5, 1.5], "scale": 2.0, "label": "x", "flag": False})
'''


@pytest.fixture()
def with_a_toy_experiment(tmp_path, monkeypatch):
    """A module that defines EXPERIMENT, put in a folder of the package's path: nothing else names it."""
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "toy_sum.py").write_text(MODULE)
    (folder / "helpers_only.py").write_text("X = 1\n")  # a module without EXPERIMENT is not an experiment
    monkeypatch.setattr(experiments_pkg, "__path__", [*experiments_pkg.__path__, str(folder)])
    yield
    for name in ("ganlab.experiments.toy_sum", "ganlab.experiments.helpers_only"):
        sys.modules.pop(name, None)


def test_one_module_is_one_experiment(with_a_toy_experiment):
    found = experiments()
    assert "toy-sum" in found and isinstance(found["toy-sum"], Experiment)
    assert get_experiment("toy-sum").lecture == "lecture 000, slide 'none'"
    with pytest.raises(ValueError, match="unknown experiment 'toy-summ'.*toy-sum"):
        get_experiment("toy-summ")


def test_the_command_writes_result_json(with_a_toy_experiment, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["experiment", "toy-sum", "--size", "smoke", "--out", str(out), "--means=1,2.5", "--scale=3"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["numbers"] == {"total": 10.5, "size": "smoke"} and result["passed"] is True
    assert result["params"] == {"means": [1.0, 2.5], "scale": 3.0, "label": "x", "flag": False}
    assert result["figures"] == ["f.png"] and result["lecture"] == "lecture 000, slide 'none'"
    assert "total 10.5" in capsys.readouterr().out
    assert main(["experiment", "--list"]) == 0
    assert "toy-sum" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--scal=2"], "unknown parameter(s) of experiment 'toy-sum' 'scal' (did you mean 'scale'"),
    (["--scale=big"], "--scale='big': expected float"),
    (["--means=1,x"], "--means='1,x': expected"),
    (["--flag=maybe"], "--flag='maybe': expected bool"),
    (["scale=2"], "unexpected argument 'scale=2'"),
])
def test_bad_parameters_exit_2_with_one_line(with_a_toy_experiment, tmp_path, capsys, argv, message):
    assert main(["experiment", "toy-sum", "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_parse_params_types_follow_the_defaults():
    got = parse_params({"n": 3, "w": [0.5], "name": "a", "on": True}, ["--n=7", "--w=-1,2", "--name=b", "--on=no"], "e")
    assert got == {"n": 7, "w": [-1.0, 2.0], "name": "b", "on": False}
    assert isinstance(got["n"], int)


def test_no_experiment_named(capsys):
    assert main(["experiment"]) == 2
    assert "name an experiment" in capsys.readouterr().err


def test_two_modules_with_one_name_are_refused(with_a_toy_experiment, tmp_path, monkeypatch):
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "toy_sum_again.py").write_text(MODULE)
    monkeypatch.setattr(experiments_pkg, "__path__", [*experiments_pkg.__path__, str(twin)])
    try:
        with pytest.raises(RuntimeError, match="two experiments are named 'toy-sum'"):
            experiments()
    finally:
        sys.modules.pop("ganlab.experiments.toy_sum_again", None)


def test_check_run_names_a_bad_size_and_unknown_parameters():
    from ganlab.experiments import check_run

    check_run("toy", {"a": 1}, "smoke", {"a": 0, "b": 0})  # a known subset at a known size passes
    with pytest.raises(ValueError, match=r"^size 'medium': expected one of \['smoke', 'full'\]$"):
        check_run("toy", {}, "medium", {"a": 0})
    with pytest.raises(ValueError, match=r"^unknown parameter\(s\) \['c', 'd'\] of experiment 'toy'; "
                                         r"expected \['a', 'b'\]$"):
        check_run("toy", {"d": 1, "a": 1, "c": 2}, "full", {"b": 0, "a": 0})
