"""Run the lectures' experiments at full size into docs/experiments/ and write its index (docs/experiments/README.md).

Each experiment runs through the command line exactly as a user runs it,

    ganlab experiment NAME --size full --out docs/experiments/NAME

one at a time, and the index lists its lecture slide, claim, verdict, whether the claim held, the wall time and
the command. The wall time is the experiment's own (`ganlab experiment` records it in result.json as
`wall_seconds`, the run without the process start); the index reads it from there, so a row keeps its time when
only the index is rewritten, and shows "-" for a result.json written before wall times were recorded. The
figures, result.json and index.html are what is kept: training runs (`runs/`) and sample arrays that an
experiment writes beside them are deleted afterwards.

    python benchmarks/experiments.py                 # all of them
    python benchmarks/experiments.py mode-seeking    # one (the index keeps the others' rows)
    python benchmarks/experiments.py --index-only    # rewrite the index from the result.json files already there
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "experiments"


def _wall(seconds: object) -> str:
    """'95 s' or '12.5 min' for a recorded wall time, '-' when none was recorded."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
        return "-"
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.1f} min"


def _row(name: str) -> str | None:
    result = OUT / name / "result.json"
    if not result.is_file():
        return None
    r = json.loads(result.read_text())
    figures = ", ".join(f"[{Path(f).stem}]({name}/{f})" for f in r.get("figures", []))
    held = "yes" if r["passed"] else "**no**"
    wall = _wall(r.get("wall_seconds"))
    return (f"| [`{name}`]({name}/index.html) | {r['lecture']} | {r['verdict']} | {held} | {wall} | {figures} |")


def _prune(out: Path, keep: set[str]) -> None:
    """Delete what an experiment left in `out` besides `keep` (paths relative to it): training runs (`runs/`),
    sample arrays (`snapshots.npz`), ..."""
    for path in out.iterdir():
        if path.name not in keep:
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def write_index(names: list[str]) -> Path:
    lines = [
        "# The lectures' claims as experiments",
        "",
        "Each row was made by `ganlab experiment NAME --size full --out docs/experiments/NAME` (all of them: "
        "`python benchmarks/experiments.py`); `result.json` in each folder holds every number, the parameters and "
        "the verdict, `index.html` the page with its figures. `ganlab experiment --list` prints them; every "
        "parameter can be changed with `--key=value`. Wall: the experiment's wall-clock time on this 2-core machine, "
        "as `ganlab experiment` records it in result.json (`wall_seconds`; \"-\": made before wall times were "
        "recorded).",
        "",
        "| experiment | lecture slide | verdict | claim held | wall | figures |",
        "| --- | --- | --- | --- | ---: | --- |",
    ]
    lines += [row for name in names if (row := _row(name))]
    path = OUT / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    from ganlab.experiments import experiments

    known = list(experiments())
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=known, help="experiments to run (default: all)")
    parser.add_argument("--index-only", action="store_true",
                        help="run nothing: rewrite docs/experiments/README.md from the result.json files there")
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in known]
    if unknown:  # before anything runs
        raise SystemExit(f"unknown experiment(s) {', '.join(map(repr, unknown))}; expected one of {', '.join(known)}")
    for name in [] if args.index_only else args.names:
        out = OUT / name
        if out.exists():
            shutil.rmtree(out)
        subprocess.run([sys.executable, "-m", "ganlab", "experiment", name, "--size", "full", "--out", str(out)],
                       check=True)
        data = json.loads((out / "result.json").read_text())
        _prune(out, keep={"result.json", "index.html", *data.get("figures", [])})
        print(f"{name}: {_wall(data.get('wall_seconds'))}", flush=True)
    print(f"wrote {write_index(known)}")


if __name__ == "__main__":
    main()
