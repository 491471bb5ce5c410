"""The toy_modes command lines in benchmarks/toy_modes_table.sh still produce the runs saved beside them.

docs/BENCHMARKS.md and docs/TOY_SUITE.md quote numbers from benchmarks/results/toy_modes/<tag>/*.json and
say that the command lines in toy_modes_table.sh reproduce them. The shipped configs change as tuning goes
on, so each line must pin whatever it ran with: here every line is resolved as toy_modes.py resolves it
(config file, then --steps, then --set) and compared, field by field, with the config saved in every run
of its tag.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from ganlab.config import from_saved_run
from ganlab.recipes import resolve_config

ROOT = Path(__file__).resolve().parents[1]
RUN_FIELDS_THAT_MAY_DIFFER = {"out", "seed", "threads", "eval_every", "ckpt_every", "log_every"}


def _command_lines() -> list[list[str]]:
    lines = []
    for raw in (ROOT / "benchmarks" / "toy_modes_table.sh").read_text().splitlines():
        text = raw.strip().rstrip("\\").strip().strip('"')
        if text.startswith("python benchmarks/toy_modes.py --tag") and "--config" in text:
            lines.append(shlex.split(text.split("   #")[0])[2:])
    return lines


def _differences(config, ran: dict) -> dict:
    """{field: (now, as run)} for the fields of a saved run's config that `config` resolves differently.

    The saved config is read as ganlab reads a saved run (`from_saved_run`): a field the run predates takes its
    default, or its PREDATED_FIELDS value where the default changed what runs do; "none" is None."""
    ran = from_saved_run(ran, where="a saved run's config").to_dict()
    return {k: (getattr(config, k), v) for k, v in ran.items()
            if k not in RUN_FIELDS_THAT_MAY_DIFFER and getattr(config, k) != v}


def _value(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def _set_overrides(args: list[str]) -> list[str]:
    if "--set" not in args:
        return []
    out = []
    for item in args[args.index("--set") + 1:]:
        if item.startswith("--"):
            break
        out.append(f"--{item}")
    return out


@pytest.mark.parametrize("args", _command_lines(), ids=lambda a: f"{_value(a, '--tag')}-{_value(a, '--data')}")
def test_documented_command_line_resolves_to_the_saved_runs_config(args):
    tag, data = _value(args, "--tag"), _value(args, "--data")
    overrides = ([f"--steps={_value(args, '--steps')}"] if "--steps" in args else []) + _set_overrides(args)
    config = resolve_config(config_file=ROOT / _value(args, "--config"), overrides=overrides)
    saved = sorted((ROOT / "benchmarks" / "results" / "toy_modes" / tag).glob(f"{data}__{data}__s*.json"))
    seeds = args[args.index("--seeds") + 1:]
    seeds = {int(x) for x in seeds[:next((i for i, x in enumerate(seeds) if x.startswith("--")), len(seeds))]}
    on_disk = {json.loads(p.read_text())["seed"] for p in saved}
    assert on_disk == seeds, f"{tag}/{data}: the line names seeds {sorted(seeds)}, saved runs have {sorted(on_disk)}"
    for path in saved:
        differ = _differences(config, json.loads(path.read_text())["config"])
        assert not differ, f"{path.name} of {tag!r}: the command line gives {differ} (now, as run)"


def test_every_saved_toy_modes_sweep_has_a_command_line():
    tags = {_value(a, "--tag") for a in _command_lines()} | {"screen"}  # screen: the all-recipes line, no --config
    on_disk = {p.name for p in (ROOT / "benchmarks" / "results" / "toy_modes").iterdir() if p.is_dir()}
    assert on_disk <= tags, f"sweeps without a command line in toy_modes_table.sh: {sorted(on_disk - tags)}"


def test_every_grid_tuning_variant_resolves_to_the_config_it_ran_with():
    """benchmarks/grid_tuning.py pins each variant's settings on its command line; with today's
    configs/toy/grid.toml every one of them must still resolve to the config saved with its run."""
    import shlex
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from grid_tuning import OUT, VARIANTS
    finally:
        sys.path.pop(0)
    records = json.loads(OUT.read_text())
    assert {r["name"] for r in records} == set(VARIANTS), "saved tuning runs and VARIANTS differ"
    for r in records:
        seed, _, overrides = VARIANTS[r["name"]]
        config = resolve_config(config_file=ROOT / "configs" / "toy" / "grid.toml", overrides=shlex.split(overrides))
        differ = _differences(config, r["config"])
        assert seed == r["seed"] and not differ, f"{r['name']}: the command line gives {differ} (now, as run)"
