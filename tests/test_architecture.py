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


def _imports(path: Path, package: str = "") -> set[str]:
    """The ganlab modules a file imports, below ganlab: `from ganlab.x import y`, `import ganlab.x`,
    `from ganlab import x` (x a module), and relative imports resolved against `package`."""
    modules = _modules()
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y, from .. import z
                parts = package.split(".") if package else []
                parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(["ganlab", *parts, *([base] if base else [])])
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            if n.startswith("ganlab."):
                n = n.removeprefix("ganlab.")
                found.add(n if n in modules or "." not in n else n.rsplit(".", 1)[0])
    return {n for n in found if n}


def _violations(module: str, path: Path, layer_of: dict[str, int]) -> list[str]:
    me = _unit(module, layer_of)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    bad = []
    for target in sorted(_imports(path, package)):
        them = _unit(target, layer_of)
        if them != me and layer_of[them] >= layer_of[me]:
            bad.append(f"ganlab.{module} (layer {layer_of[me]}, {me}) imports ganlab.{target} "
                       f"(layer {layer_of[them]}, {them}): only lower layers may be imported")
    return bad


def test_every_module_is_in_a_layer_and_every_listed_module_exists():
    layer_of = _layers()
    modules = _modules()
    for module in modules:
        _unit(module, layer_of)
    for listed in layer_of:
        assert listed in modules, f"docs/ARCHITECTURE.md lists {listed}, which is not a module of ganlab"


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_imports_a_higher_layer_or_a_sibling(module):
    assert _violations(module, _modules()[module], _layers()) == []


def test_config_imports_nothing_above_files():
    assert _imports(SRC / "config.py") <= {"files"}


@pytest.mark.parametrize("source, found", [
    ("def f():\n    from ganlab.recipes import RECIPES\n", ["recipes"]),  # inside a function
    ("import ganlab.train\n", ["train"]),
    ("from ganlab import build\n", ["build"]),
    ("from .. import recipes\n", ["recipes"]),  # relative, from a subpackage
    ("from ..runs import load_run\n", ["runs"]),
    ("from .toy import ring\n", []),  # its own package: allowed
])
def test_the_checker_catches_an_upward_import(tmp_path, source, found):
    """The rule has teeth: a module of the data layer importing higher layers, however written, is refused."""
    bad = tmp_path / "bad.py"
    bad.write_text(source)
    violations = _violations("data.bad", bad, _layers())
    assert [v.split("imports ganlab.")[1].split(" ")[0].split(".")[0] for v in violations] == found
