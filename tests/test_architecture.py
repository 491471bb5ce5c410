"""The layering of docs/ARCHITECTURE.md is the code's: no module imports one of a higher layer or of its own.

The layers are read from the block between the `layers` markers of docs/ARCHITECTURE.md (one line per layer,
lowest first: its number, then its modules). Every import of a ganlab module anywhere in a file counts,
inside functions too (an import deferred into a function still ties the two modules together). A module may
import the modules of lower layers and the other modules of its own package (metrics.fid -> metrics._checks).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "ganlab"


def _layers() -> dict[str, int]:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    block = re.search(r"<!-- layers -->\s*```\n(.*?)```\s*<!-- /layers -->", text, re.S)
    assert block, "docs/ARCHITECTURE.md has no <!-- layers --> block"
    layer_of = {}
    for line in block[1].splitlines():
        number, *modules = line.split("#")[0].split()
        for module in modules:
            assert module not in layer_of, f"{module} is listed twice"
            layer_of[module] = int(number)
    return layer_of


def _modules() -> dict[str, Path]:
    """Every module of the package by its dotted name below ganlab (`metrics.fid`; a package by its name)."""
    out = {}
    for p in SRC.rglob("*.py"):
        parts = p.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            out[".".join(parts)] = p
    return out


def _unit(module: str, layer_of: dict[str, int]) -> str:
    """The entry of the layer table a module belongs to: itself or its nearest listed package."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in layer_of:
            return ".".join(parts[:i])
    raise AssertionError(f"ganlab.{module} is in no layer of docs/ARCHITECTURE.md")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        found |= {n.removeprefix("ganlab.") for n in names if n.startswith("ganlab.")}
    return found


def test_every_module_is_in_a_layer_and_every_listed_module_exists():
    layer_of = _layers()
    modules = _modules()
    for module in modules:
        _unit(module, layer_of)
    for listed in layer_of:
        assert listed in modules, f"docs/ARCHITECTURE.md lists {listed}, which is not a module of ganlab"


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_imports_a_higher_layer_or_a_sibling(module):
    layer_of = _layers()
    me = _unit(module, layer_of)
    for target in sorted(_imports(_modules()[module])):
        them = _unit(target, layer_of)
        if them == me:
            continue  # inside one package
        assert layer_of[them] < layer_of[me], (
            f"ganlab.{module} (layer {layer_of[me]}, {me}) imports ganlab.{target} "
            f"(layer {layer_of[them]}, {them}): only lower layers may be imported")


def test_config_imports_nothing_above_files():
    assert _imports(SRC / "config.py") <= {"files"}


def test_the_checker_catches_an_upward_import(tmp_path):
    """The rule has teeth: a lower module importing a higher one, even inside a function, is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ganlab.recipes import RECIPES\n    import ganlab.train\n")
    layer_of = _layers()
    assert {_unit(t, layer_of) for t in _imports(bad)} == {"recipes", "train"}
    assert layer_of["recipes"] > layer_of["config"] and layer_of["train"] > layer_of["build"]
