"""Fuzzing the way a careless user types: any --key=value for any config field or model field, with
values of every wrong kind, ends in a ValueError (one line on the command line, exit 2) or in a valid
config that builds, never in another exception."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganlab.build import build
from ganlab.cli import main
from ganlab.config import config_fields
from ganlab.models import MLPFields
from ganlab.recipes import resolve_config

KEYS = [k for k in config_fields() if k not in ("model", "out", "threads", "device")] + \
    [f"model.{f.name}" for f in dataclasses.fields(MLPFields)] + ["data_params.radius", "data_params.num_modes",
                                                                   "model", "model.family", "lr", "gp-weight"]
VALUES = st.one_of(
    st.sampled_from(["0", "-1", "1", "2", "0.5", "-0.5", "1e9", "-1e9", "nan", "inf", "-inf", "true", "false",
                     "none", "", "abc", "[1, 2]", '{"a": 1}', "relu", "ring", "wasserstein", "adam", "js",
                     "1e-300", "3.0", "99999999999999999999"]),
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
ARGS = st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ARGS)
def test_any_override_is_a_valid_config_or_one_value_error(args):
    overrides = [f"--{k}={v}" for k, v in args] + ["--model.g_width=4", "--model.d_width=4"]
    try:
        config = resolve_config(overrides=overrides)
        build(config)
    except ValueError as exc:
        message = str(exc)
        assert message and "\n" not in message, message  # one line, naming the problem
    # anything else (TypeError, AttributeError, OverflowError, ...) fails the test


@settings(max_examples=25, deadline=None)
@given(ARGS)
def test_the_command_line_never_shows_a_traceback(tmp_path_factory, args):
    """Through the dispatcher: --steps=0 makes every invocation invalid, so nothing trains; whatever else is
    wrong, the answer is one line and exit status 2."""
    import contextlib
    import io

    err = io.StringIO()
    out = tmp_path_factory.mktemp("run")
    argv = ["train", "--out", str(out / "r"), "--no-progress", "--steps", "0",
            *[f"--{k}={v}" for k, v in args if k != "steps"]]
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own flags (--seed=abc)
            code = exc.code
    assert code == 2
    text = err.getvalue()
    assert text.startswith("ganlab train: error:") and text.count("\n") == 1, text
