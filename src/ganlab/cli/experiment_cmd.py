"""`ganlab experiment NAME [--size smoke|full] [--out DIR] [--key=value ...]`: run one of the lectures' claims.

Writes DIR/result.json: the experiment, its lecture slide and claim, the parameters it ran with, the
numbers it measured, its verdict, and the figures it drew (beside result.json); and DIR/index.html, the
same as one self-contained page (`ganlab report`). `--list` prints every experiment with the lecture slide
it comes from. Parameters use --key=value; a list parameter takes comma-separated values (--means=-1.5,1.5).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "parse_params"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ganlab.experiments import SIZES

    parser.description = __doc__.split("\n\n")[1] if __doc__ else None
    parser.add_argument("name", nargs="?", metavar="NAME", help="the experiment (see --list)")
    parser.add_argument("--list", action="store_true", help="print the experiments with their lecture slides and exit")
    parser.add_argument("--size", default="full", choices=SIZES, help="smoke: seconds; full: minutes (default)")
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (default runs/experiments/NAME)")
    parser.set_defaults(_accepts_overrides=True)


def _coerce(key: str, text: str, default: Any) -> Any:
    """`text` parsed as the type of the parameter's default (lists: comma-separated, of the first element's type)."""
    try:
        if isinstance(default, bool):
            if text.lower() in ("true", "1", "yes", "on"):
                return True
            if text.lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, (list, tuple)):
            item = type(default[0]) if default else float
            return [_coerce(key, t.strip(), item()) for t in text.split(",") if t.strip()]
        if default is None or isinstance(default, str):
            return text
        return type(default)(text)
    except ValueError:
        raise ValueError(f"--{key}={text!r}: expected {type(default).__name__} like {default!r}") from None


def parse_params(defaults: dict[str, Any], args: list[str], name: str) -> dict[str, Any]:
    """The experiment's parameters: `defaults` with `--key=value` strings applied; unknown keys refused by name."""
    from ganlab.config import unknown_names_message

    params = dict(defaults)
    unknown = []
    for a in args:
        if not a.startswith("--") or "=" not in a:
            raise ValueError(f"unexpected argument {a!r}; experiment parameters look like --key=value")
        key, text = a[2:].split("=", 1)
        key = key.replace("-", "_")
        if key not in defaults:
            unknown.append(key)
            continue
        params[key] = _coerce(key, text, defaults[key])
    if unknown:
        raise ValueError(unknown_names_message(f"parameter(s) of experiment {name!r}", unknown, list(defaults)))
    return params


def run(args: argparse.Namespace) -> int:
    from ganlab.experiments import experiments, get_experiment
    from ganlab.files import atomic_write
    from ganlab.html_report import write_report

    if args.list:
        found = experiments()
        if not found:
            print("no experiments yet")
        for name, exp in found.items():
            print(f"{name:24s} {exp.lecture}\n{'':24s} {exp.claim}")
        return 0
    if args.name is None:
        raise ValueError("name an experiment (ganlab experiment --list prints them)")
    exp = get_experiment(args.name)
    params = parse_params(exp.params, list(getattr(args, "_extra", [])), exp.name)
    out = Path(args.out) if args.out else Path("runs") / "experiments" / exp.name
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = exp.run(params, out, args.size)
    payload = {"experiment": exp.name, "lecture": exp.lecture, "claim": exp.claim, "size": args.size,
               "wall_seconds": round(time.perf_counter() - t0, 1),
               "params": params, "numbers": result.numbers, "verdict": result.verdict, "passed": result.passed,
               "figures": [str(Path(f).relative_to(out)) if Path(f).is_relative_to(out) else str(f)
                           for f in result.figures]}
    text = json.dumps(payload, indent=2, allow_nan=True) + "\n"
    atomic_write(out / "result.json", lambda tmp: tmp.write_text(text))
    page = write_report([out], out / "index.html", title=f"{exp.name} ({exp.lecture})")
    print(f"{exp.name}: {result.verdict}\n  {'holds' if result.passed else 'does NOT hold'}; wrote {out / 'result.json'}, {page}")
    return 0
