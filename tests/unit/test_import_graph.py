"""The import graph of app/ and signaling/, read with ast: no cycles, no hidden imports.

A module-level cycle makes import order matter and hides which module is the base; a
function-level import of a project module is how such a cycle is usually dodged, so both
fail here. Imports under `if TYPE_CHECKING:` are for annotations only and are not edges.
The server's modules must not import client-side libraries (aiortc, the asyncio
`websockets` client, uvloop): those belong to signaling.client and signaling.bench.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "signaling")
CLIENT_LIBRARIES = ("aiortc", "aioice", "av", "websockets", "uvloop")
CLIENT_SIDE = ("signaling.client", "signaling.bench")
# A server module may use these parts of a client-side package: a C helper, not a client.
SERVER_SAFE = {
    "websockets.speedups": "its C apply_mask unmasks client frames (signaling.transport.websocket)",
}

# Function-level project imports kept on purpose, each for an optional extra, never a cycle.
OPTIONAL = {
    ("signaling.client.probe", "signaling.client.media"): "aiortc is the optional `media` extra",
}
# The load tool's subcommands load their extras (aiortc, uvloop) only when run.
LAZY_PACKAGES = ("signaling.bench",)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The absolute names an import statement reaches: `from x import y` reaches the
    module x.y when there is one, else x (y is an attribute of x)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    modules = _modules()
    return [
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
        for alias in node.names
    ]


def _imports(module: str, path: Path) -> tuple[set[str], list[tuple[str, int]]]:
    """(names imported at module level, [(name, line)] imported inside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    top: set[str] = set()
    nested: list[tuple[str, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other, in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for name in _targets(child, module, is_package):
                    if in_function:
                        nested.append((name, child.lineno))
                    else:
                        top.add(name)
                continue
            inner = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            visit(child, inner)

    visit(tree, False)
    return top, nested


def _project(name: str, modules: dict[str, Path]) -> str | None:
    """The project module `name` lands on (itself, or the module holding attribute `name`)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        top, _nested = _imports(module, path)
        edges = {_project(name, modules) for name in top}
        graph[module] = {edge for edge in edges if edge is not None and edge != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_app_and_signaling_have_no_import_cycle():
    assert _cycles(_graph()) == []


def test_no_function_level_import_of_a_project_module():
    modules = _modules()
    hidden = []
    for module, path in modules.items():
        if module.startswith(LAZY_PACKAGES):
            continue
        _top, nested = _imports(module, path)
        for name, line in nested:
            target = _project(name, modules)
            if target is not None and (module, target) not in OPTIONAL:
                hidden.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert hidden == []


def test_app_never_imports_signaling():
    graph = _graph()
    leaks = [f"{m} -> {t}" for m, ts in graph.items() if m.startswith("app") for t in ts]
    assert [leak for leak in leaks if "-> signaling" in leak] == []


@pytest.mark.parametrize("library", CLIENT_LIBRARIES)
def test_no_server_module_imports_a_client_side_library(library):
    offenders = []
    for module, path in _modules().items():
        if module.startswith(CLIENT_SIDE):
            continue
        top, nested = _imports(module, path)
        names = (top | {name for name, _line in nested}) - set(SERVER_SAFE)
        if any(name == library or name.startswith(library + ".") for name in names):
            offenders.append(module)
    assert offenders == []
