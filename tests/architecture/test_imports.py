"""The import graph of the library: no cycles, no arrow up the layers, no private names.

Walks every module of ``src/smartmeter_proto`` with :mod:`ast` (nothing is imported), so a
new cycle, an import of another module's ``_private`` name, or a protocol layer reaching
up into the adapters, simulators, command line or head end fails here and cannot land.
The layers are drawn in ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "src" / "smartmeter_proto"
PACKAGE = "smartmeter_proto"
#: Packages that drive, simulate or present the protocol layers: nothing below imports them.
UPPER = frozenset({"cli", "conformance", "hes", "hems", "sim", "transport"})
#: Modules that sit above every layer (the entry point).
TOP = frozenset({"__main__"})


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str) -> Iterator[tuple[str, str, int]]:
    """(target module, imported name or "", line) for each in-package import of ``module``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield sub, "", node.lineno
                else:
                    yield target, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, "", node.lineno


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _name, _line in _imports(module):
            if target in MODULES and target != module:
                edges[module].add(target)
    return edges


def _is_package_face(module: str, target: str) -> bool:
    """A package's ``__init__`` handing on its own submodules' names is no cycle."""
    path = MODULES.get(module)
    return path is not None and path.name == "__init__.py" and target.startswith(module + ".")


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if _is_package_face(node, child):
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_walk_sees_the_whole_library() -> None:
    assert len(MODULES) > 150
    edges = _edges()
    assert sum(len(t) for t in edges.values()) > 300
    # A known arrow, so a broken resolver cannot pass the tests below vacuously.
    assert "smartmeter_proto.echonet.frame" in edges["smartmeter_proto.echonet.session"]


def test_no_import_cycles() -> None:
    assert _cycles(_edges()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": set()}) == [
        ["a.x", "a.y", "a.z"]
    ]


def test_no_private_name_imported_from_another_module() -> None:
    private = [
        f"{module}:{line} imports {target}.{name}"
        for module in MODULES
        for target, name, line in _imports(module)
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert private == []


@pytest.mark.parametrize("layer", sorted(UPPER))
def test_upper_layers_exist(layer: str) -> None:
    assert f"{PACKAGE}.{layer}" in MODULES


def test_no_protocol_layer_imports_an_upper_layer() -> None:
    upward = [
        f"{module}:{line} imports {target}"
        for module in MODULES
        if _layer(module) not in UPPER | TOP
        for target, _name, line in _imports(module)
        if _layer(target) in UPPER
    ]
    assert upward == []
