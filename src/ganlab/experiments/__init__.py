"""The lectures' claims as experiments: one module each, found by name.

An experiment is a module of this package that defines ``EXPERIMENT = Experiment(...)``: its name on the
command line, the lecture file and slide it reproduces, its parameters with their defaults, and a
``run(params, out, size) -> Result`` function. Adding one is adding one module; nothing else names it.
``ganlab experiment --list`` prints them, ``ganlab experiment NAME`` runs one and writes
``OUT/result.json``.

Helpers an experiment shares with others stay in its module (``disjoint_supports.parallel_lines`` and
``fit_critic`` serve three of them).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

__all__ = ["SIZES", "Experiment", "Result", "check_run", "experiments", "get_experiment"]

#: `smoke`: seconds, for tests; `full`: minutes on 2 cores, for the figures in docs/experiments/.
SIZES: tuple[str, ...] = ("smoke", "full")


def check_run(name: str, params: Mapping[str, Any], size: str, known: Iterable[str]) -> None:
    """What every experiment's `run` checks first: `size` is one of SIZES and no key of `params` lies outside
    `known` (its parameters); ValueError naming the value and the valid ones otherwise."""
    if size not in SIZES:
        raise ValueError(f"size {size!r}: expected one of {list(SIZES)}")
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} of experiment {name!r}; expected {sorted(known)}")


@dataclass(frozen=True)
class Result:
    """What an experiment found: its numbers, the figures it wrote, and whether the lecture's claim held.

    Attributes:
        numbers: JSON-serializable measurements (written to result.json).
        verdict: one sentence: the claim and what was measured against it.
        passed: True when the measurement supports the claim within the experiment's stated margin.
        figures: paths of the PNG files written under the output folder.
    """

    numbers: dict[str, Any]
    verdict: str
    passed: bool
    figures: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Experiment:
    """One lecture claim as a runnable experiment.

    Attributes:
        name: command-line name (`optimal-discriminator`, ...).
        lecture: the lecture file and slide the claim comes from.
        claim: the claim, in one sentence.
        params: parameter names and their defaults (`--key=value` on the command line).
        run: `run(params, out, size) -> Result`; `size` is one of `SIZES`.
    """

    name: str
    lecture: str
    claim: str
    run: Callable[[dict[str, Any], Path, str], Result]
    params: dict[str, Any] = field(default_factory=dict)


def experiments() -> dict[str, Experiment]:
    """Every experiment of this package by name: each module that defines `EXPERIMENT`, imported on demand."""
    found: dict[str, Experiment] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        exp = getattr(module, "EXPERIMENT", None)
        if isinstance(exp, Experiment):
            if exp.name in found:
                raise RuntimeError(f"two experiments are named {exp.name!r}")
            found[exp.name] = exp
    return found


def get_experiment(name: str) -> Experiment:
    """The experiment registered as `name`; ValueError listing the known names otherwise."""
    known = experiments()
    if name not in known:
        listed = ", ".join(known) if known else "none yet"
        raise ValueError(f"unknown experiment {name!r}; expected one of: {listed}")
    return known[name]
