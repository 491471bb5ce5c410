"""Run the lectures' experiments at full size into docs/experiments/ and write its index (docs/experiments/README.md).

Each experiment runs through the command line exactly as a user runs it,

    ganlab experiment NAME --size full --out docs/experiments/NAME

one at a time, and the index lists its lecture slide, claim, verdict, whether the claim held, the wall time and
the command. Run folders of training runs inside an experiment's folder (`runs/`) are deleted afterwards: the
figures, result.json and index.html are what is kept.

    python benchmarks/experiments.py                 # all of them
    python benchmarks/experiments.py mode-seeking    # one (the index keeps the others' rows)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "experiments"


def _row(name: str) -> str | None:
    result = OUT / name / "result.json"
    if not result.is_file():
        return None
    r = json.loads(result.read_text())
    figures = ", ".join(f"[{Path(f).stem}]({name}/{f})" for f in r.get("figures", []))
    held = "yes" if r["passed"] else "**no**"
    seconds = r.get("wall_seconds")
    wall = f"{seconds:.0f} s" if isinstance(seconds, (int, float)) else ""
    return (f"| [`{name}`]({name}/index.html) | {r['lecture']} | {r['verdict']} | {held} | {wall} | {figures} |")


def write_index(names: list[str]) -> Path:
    lines = [
        "# The lectures' claims as experiments",
        "",
        "Each row was made by `ganlab experiment NAME --size full --out docs/experiments/NAME` (all of them: "
        "`python benchmarks/experiments.py`); `result.json` in each folder holds every number, the parameters and "
        "the verdict, `index.html` the page with its figures. `ganlab experiment --list` prints them; every "
        "parameter can be changed with `--key=value`.",
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
    args = parser.parse_args()
    for name in args.names:
        if name not in known:
            raise SystemExit(f"unknown experiment {name!r}; expected one of {', '.join(known)}")
        out = OUT / name
        if out.exists():
            shutil.rmtree(out)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ganlab", "experiment", name, "--size", "full", "--out", str(out)],
                       check=True)
        seconds = time.perf_counter() - t0
        result = out / "result.json"
        data = json.loads(result.read_text())
        data["wall_seconds"] = seconds
        result.write_text(json.dumps(data, indent=2) + "\n")
        shutil.rmtree(out / "runs", ignore_errors=True)
        print(f"{name}: {seconds:.0f} s", flush=True)
    print(f"wrote {write_index(known)}")


if __name__ == "__main__":
    main()
