"""The shape of the code, checked: no import circle, every import points down the layers, no
module over 400 lines, and docs/architecture.md names every module (and none that is gone).

The layers, from the bottom: the words and tools everything uses; the calendar maths; the
config; the edges (datastores, submitters); the store; the views (what the CLI's --json and
the daemon's API show); the engine; the command line. A module may import from its own layer
and below, never from above (``if TYPE_CHECKING:`` imports, which never run, are not counted).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "triggerd"
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
MAX_LINES = 400

LAYERS: list[tuple[str, ...]] = [
    (  # the words and the tools every layer uses
        "triggerd",
        "triggerd.errors",
        "triggerd.redact",
        "triggerd.humanize",
        "triggerd.timezones",
        "triggerd.clock",
        "triggerd.runs",
        "triggerd.observability",
    ),
    ("triggerd.recurrence", "triggerd.timetable", "triggerd.cron"),
    ("triggerd.config", "triggerd.settings"),
    ("triggerd.datastores", "triggerd.submitters"),
    ("triggerd.store",),
    ("triggerd.views",),
    ("triggerd.engine",),
    ("triggerd.cli", "triggerd.__main__"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(p): p
    for p in sorted(PACKAGE.rglob("*.py"))
    if "migrations" not in p.parts  # alembic's scripts, loaded by alembic
}


def layer_of(module: str) -> int:
    best, found = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    assert found >= 0, f"{module} is in no layer: add it to LAYERS"
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: str) -> Iterator[str]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:  # a submodule by its own name, else the module itself
                sub = f"{base}.{alias.name}"
                yield sub if sub in MODULES else base
        else:
            yield from _imports(node, package)


def imports_of(module: str) -> set[str]:
    """The triggerd modules ``module`` imports (at any depth of its code)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {name for name in _imports(tree, package) if name in MODULES and name != module}


GRAPH = {module: imports_of(module) for module in MODULES}
assert GRAPH["triggerd.engine.daemon"], "the import scan finds nothing: it is broken"


def test_the_import_graph_has_no_circle() -> None:
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for target in sorted(GRAPH[module]):
            if seen.get(target) == 1:
                circle = [*path[path.index(target) :], target] if target in path else [target]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if target not in seen:
                visit(target, [*path, target])
        seen[module] = 2

    for module in sorted(MODULES):
        if module not in seen:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_import_points_down_the_layers(module: str) -> None:
    upward = sorted(t for t in GRAPH[module] if layer_of(t) > layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports from above: {upward}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_400_lines(module: str) -> None:
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(ROOT)} has {lines} lines"


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in MODULES.values()))
def test_the_architecture_page_names_every_module(path: str) -> None:
    if path.endswith("__init__.py") and MODULES[module_name(ROOT / path)].stat().st_size < 400:
        return  # a package's face: its folder is named
    assert f"`{path}`" in ARCHITECTURE, f"docs/architecture.md does not name `{path}`"


def test_the_architecture_page_names_no_module_that_is_gone() -> None:
    named = set(re.findall(r"`(triggerd/[\w/]+\.py)`", ARCHITECTURE))
    gone = sorted(p for p in named if not (ROOT / p).exists())
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"
