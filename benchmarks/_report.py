"""Write one benchmark's section of docs/BENCHMARKS.md (or of another doc), leaving the other sections alone."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

from ganlab.files import atomic_write

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
HEADER = "# ganlab benchmarks\n\nEvery number here is written by the script named in its section; rerun it to reproduce.\n"


def machine_line(*, threads_in_table: bool = False) -> str:
    """One line naming the machine, torch version and thread count, for every timing table; with
    `threads_in_table`, for a table with a threads column, "torch threads as in the table"."""
    threads = "as in the table" if threads_in_table else torch.get_num_threads()
    return (f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
            f"torch threads {threads}, Python {platform.python_version()}.")


def refuse_quick_write(quick: bool, write: bool) -> None:
    """ValueError when a script's --quick check is asked to --write its numbers into the docs."""
    if quick and write:
        raise ValueError("--quick is a check of the script; its numbers are not written (drop --write or --quick)")


def write_section(name: str, markdown: str, path: Path = BENCHMARKS_MD, *, append: bool = True) -> None:
    """Replace the block between `<!-- BEGIN name -->` and `<!-- END name -->`; where the file has no such
    block, append it (`append=True`) or raise ValueError naming the file and the markers (`append=False`,
    for docs whose sections sit inside prose)."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    text = path.read_text() if path.exists() else HEADER
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    if not append and not (begin in text and end in text):
        raise ValueError(f"{path} has no section {begin} ... {end} to rewrite")
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))


def _time_once(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, calls alternated (order flipped every repeat) after 2 warm-ups."""
    for fn in fns.values():
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats):
        for k in names if r % 2 == 0 else names[::-1]:
            times[k].append(_time_once(fns[k]))
    return {k: statistics.median(v) for k, v in times.items()}
