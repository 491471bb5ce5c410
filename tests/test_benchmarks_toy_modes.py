"""benchmarks/toy_modes.py's tables and benchmarks/_report.py's section writer, on made-up runs (no training)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _report  # noqa: E402
import toy_modes  # noqa: E402


def _run(name: str, seed: int, hq: float, *, modes: int = 8, rkl: float = 0.001, cpu: float = 150.0,
         status: str = "ok") -> dict:
    k = 8 if name == "ring" else 25
    row = {"part": "shipped", "name": name, "data": "", "seed": seed, "status": status, "cpu_seconds": cpu, "jobs": 2}
    if status == "ok":
        row["summary"] = {"data": name, "steps": 100, "threads": 1, "modes": modes, "num_modes": k,
                          "high_quality": hq, "reverse_kl": rkl, "w1": 0.03, "wall_seconds": cpu - 3}
        row["held_out"] = {"modes": modes, "high_quality": hq - 0.001, "reverse_kl": rkl}
    return row


def test_target_table_names_every_miss():
    rows = [_run("ring", 0, 0.98), _run("ring", 1, 0.975),
            _run("grid", 0, 0.99, modes=25), _run("grid", 1, 0.96, modes=24, rkl=0.03, cpu=301.0),
            _run("grid", 2, 0.0, status="diverged")]
    ring, grid = toy_modes.target_markdown(rows, "cmd").splitlines()[-2:]
    assert ring.endswith("| 8/8 in 2/2 | 98.0, 97.5 | 97.9, 97.4 | 0.001 | 150 | yes |")
    assert "| 25/25 in 1/3 |" in grid
    assert grid.endswith("| no: seed 1: modes, high quality 96.0 %, reverse KL 0.030, 301 CPU-s; seed 2: diverged |")


def test_mean_and_std_use_ddof_1():
    assert toy_modes._ms([1.0, 2.0, 3.0], ".2f") == "2.00 ± 1.00"
    assert toy_modes._ms([1.0], ".1f") == "1.0"
    assert toy_modes._ms([], ".1f") == "–"


def test_shipped_table_has_a_line_per_seed_and_their_mean():
    md = toy_modes.shipped_markdown([_run("ring", 1, 0.97), _run("ring", 0, 0.99)], "python x.py")
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| 0", "| 1", "| seeds 0, 1"]
    assert "| 98.0 ± 1.4 |" in lines[-1]
    assert "Command: `python x.py`" in md


def test_write_section_replaces_only_its_block_and_refuses_a_missing_one(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- BEGIN t -->\nold\n<!-- END t -->\noutro\n")
    _report.write_section("t", "new\n", doc, append=False)
    assert doc.read_text() == "intro\n<!-- BEGIN t -->\nnew\n<!-- END t -->\noutro\n"
    with pytest.raises(ValueError, match="no section <!-- BEGIN u -->"):
        _report.write_section("u", "x", doc, append=False)
    _report.write_section("u", "x", doc)  # the default appends, as fid_speed.py and toy_speed.py expect
    assert doc.read_text().endswith("<!-- BEGIN u -->\nx\n<!-- END u -->\n")
