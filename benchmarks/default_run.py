"""The default run (`ganlab train`, no arguments) idle and next to one busy PyTorch process, and the thread choice.

Four measurements, one after another, each a fresh `ganlab train --no-progress` in its own process:

1. the default run on an idle machine: wall time and its mode metrics;
2. the same while another process runs 2-thread float32 matmuls non-stop (a PyTorch job using both cores);
3. and 4. steps per second at `--threads 2` (torch's default on 2 cores), idle and next to the busy process,
   each for `--probe` seconds of training (`--time_limit`), so that a 30-50x slowdown cannot stall the script.

The slowdown of each thread count is busy / idle; the default (one thread) must stay <= 2.5x.

    python benchmarks/default_run.py --write
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAINING_MD = ROOT / "docs" / "TRAINING.md"


def _busy(stop: mp.Event) -> None:
    """Another PyTorch job using both cores: 2-thread 512 x 512 float32 matmuls until told to stop."""
    import torch

    torch.set_num_threads(2)
    a = torch.randn(512, 512)
    while not stop.is_set():
        for _ in range(20):
            a = torch.tanh(a @ a * 1e-3)


def _train(out: Path, *extra: str) -> tuple[dict, float]:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ganlab", "train", "--no-progress", "--out", str(out), *extra],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out / "summary.json").read_text()), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probe", type=float, default=30.0, help="seconds of training of the 2-thread probes")
    parser.add_argument("--write", action="store_true", help="rewrite the section default_run of docs/TRAINING.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ganlab-default-"))
    results: dict[str, tuple[dict, float]] = {}
    stop = mp.Event()
    for load in ("idle", "busy"):
        busy = None
        if load == "busy":
            busy = mp.Process(target=_busy, args=(stop,), daemon=True)
            busy.start()
            time.sleep(2.0)
        try:
            results[f"default-{load}"] = _train(work / f"default-{load}")
            results[f"t2-{load}"] = _train(work / f"t2-{load}", "--threads", "2", f"--time_limit={args.probe}")
        finally:
            if busy is not None:
                stop.set()
                busy.join(10)
    d_idle, w_idle = results["default-idle"]
    d_busy, w_busy = results["default-busy"]
    t2_idle, t2_busy = results["t2-idle"][0], results["t2-busy"][0]
    rate = {k: results[k][0]["steps_per_second"] for k in results}
    lines = [
        f"Machine: {os.cpu_count()} CPU cores; `python benchmarks/default_run.py --probe {args.probe:g} --write` "
        f"(the busy process: 2-thread float32 512 x 512 matmuls, non-stop).",
        "",
        "| run | threads | load | wall (s) | steps/s | modes | high quality | reverse KL | W1 |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in (("default-idle", "`ganlab train`"), ("default-busy", "`ganlab train`")):
        s, wall = results[key]
        lines.append(f"| {label} | {s['threads']} | {key.split('-')[1]} | {wall:.1f} | {s['steps_per_second']:.1f} | "
                     f"{s['modes']}/8 | {100 * s['high_quality']:.1f} % | {s['reverse_kl']:.3f} | {s['w1']:.4f} |")
    for key in ("t2-idle", "t2-busy"):
        s = results[key][0]
        lines.append(f"| `ganlab train --threads 2 --time_limit={args.probe:g}` | 2 | {key.split('-')[1]} | "
                     f"| {s['steps_per_second']:.1f} | | | | |")
    lines += [
        "",
        f"Slowdown next to the busy process (idle steps/s over busy steps/s): one thread (the default) "
        f"**{rate['default-idle'] / rate['default-busy']:.2f}x**, two threads "
        f"**{rate['t2-idle'] / rate['t2-busy']:.2f}x**; idle, two threads run at "
        f"{rate['t2-idle'] / rate['default-idle']:.2f}x the speed of one.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _report import write_section

        write_section("default_run", table, TRAINING_MD, append=False)


if __name__ == "__main__":
    main()
