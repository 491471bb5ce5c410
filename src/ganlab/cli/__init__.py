"""`ganlab <command> ...`: the one place where strings become functions.

Each command lives in its own module under `ganlab.cli` and exposes
`add_arguments(parser)` and `run(args) -> int`. Errors a user can fix
(bad values, missing files, a file that cannot be written) are printed as
one line and exit with status 2; they never end in a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

COMMANDS: dict[str, str] = {
    "train": "train a GAN (default: WGAN-GP on the 8-mode ring)",
    "sample": "draw samples from a trained run",
    "eval": "evaluate a run or compare two sources (FID, IS, KID, precision/recall)",
    "experiment": "run one of the lectures' claims as an experiment (--list prints them)",
    "classifier": "train the small classifier used for domain FID/IS on bundled digits or your own 28x28 data",
    "report": "one self-contained HTML page for runs and experiments (default: everything under runs/)",
}


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in ganlab's one-line form (no usage block: --help shows it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ganlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"ganlab.cli.{name}_cmd")
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "_accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args._extra = extra
    try:
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"ganlab {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the user named cannot be written: a folder, read-only, a full disk
        where = f": {exc.filename!r}" if exc.filename else ""
        print(f"ganlab {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ganlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
