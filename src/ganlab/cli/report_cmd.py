"""`ganlab report [DIR ...] --out FILE.html`: one self-contained HTML page for runs and experiments.

Each DIR is a run folder (summary.json or metrics.jsonl, from `ganlab train`) or an experiment folder
(result.json, from `ganlab experiment`); the kind is detected. With no DIR: every run folder directly under
runs/ and every experiment folder under runs/experiments/. The page embeds every figure and needs nothing
else: open it offline, mail it, archive it.

Examples:
    ganlab report
    ganlab report runs/wgan-gp-toy-ring-s0 runs/wgan-ring-s0 --out compare.html
    ganlab report runs/experiments/* --out experiments.html --title "the lectures' claims"
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n", 1)[1] if __doc__ else None
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("dirs", nargs="*", metavar="DIR",
                        help="run or experiment folders (default: every run under runs/ and every experiment "
                             "under runs/experiments/)")
    parser.add_argument("--out", default="report.html", metavar="FILE.html", help="the page (default report.html)")
    parser.add_argument("--title", default="ganlab report", help="the page's title (default 'ganlab report')")


def run(args: argparse.Namespace) -> int:
    from ganlab.html_report import find_folders, write_report

    folders = [Path(d) for d in args.dirs] or find_folders("runs")
    if not folders:
        raise ValueError("no run or experiment folders under 'runs' (expected runs/NAME/summary.json or "
                         "metrics.jsonl, runs/experiments/NAME/result.json); name them: ganlab report DIR ...")
    out = write_report(folders, args.out, title=args.title)
    print(f"{len(folders)} folder(s) -> {out}")
    return 0
