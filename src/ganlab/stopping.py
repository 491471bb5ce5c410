"""Stopping a run cleanly: a stop signal is recorded and acted on after the current step.

Ctrl-C (SIGINT), `kill` (SIGTERM) and a closed terminal (SIGHUP) would end a Python process wherever it
is, losing every step since the last checkpoint. Within `stop_signals()` they only set a flag; the training
loop looks at it after each step, checkpoints that step and raises `Interrupted`, which the command turns
into one line and exit status 128 + the signal's number, as a shell reports a process the signal ended.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["STOP_SIGNALS", "Interrupted", "stop_signals"]

#: Signals that stop a run after its current step, with a checkpoint: Ctrl-C, `kill`, a closed terminal.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(RuntimeError):
    """A stop signal arrived; the run saved a checkpoint of the step it had finished and stopped.

    Attributes: signum (the signal), step (the step saved), run_dir, rank (the process that raised it; every
    process of a torchrun job stops).
    """

    def __init__(self, signum: int, step: int, run_dir: str, rank: int = 0) -> None:
        self.signum, self.step, self.run_dir, self.rank = signum, step, run_dir, rank
        super().__init__(f"stopped by {signal.Signals(signum).name} after generator step {step}; its checkpoint "
                         f"is saved: continue with  ganlab train --resume --out {run_dir}")


@contextmanager
def stop_signals() -> Iterator[dict[str, int]]:
    """Within the block, a stop signal is recorded (`received["signum"]`) instead of killing the process."""
    received: dict[str, int] = {}
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield received
        return

    def record(signum: int, frame: FrameType | None) -> None:
        received.setdefault("signum", signum)

    before = {sig: signal.signal(sig, record) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
