"""YAML to a tree of values that remember their line numbers.

PyYAML's safe loader, changed in three ways so that a config file means what it says:

- no implicit timestamps: ``start_time: 2019-11-01T09:00:00`` stays a string (we parse it, and an
  offset is an error instead of a silent conversion to UTC);
- no YAML 1.1 base-60 numbers: ``time_of_day: 18:30`` stays the string ``"18:30"`` (not 1110);
- a key given twice in one mapping is a problem, not "the last one wins".

Every mapping key and sequence item keeps its line, so each problem can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from triggerd.errors import ConfigProblem

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
# PyYAML's own patterns minus the base-60 alternative.
_INT_RE = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


def _resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    replaced = {_INT: _INT_RE, _FLOAT: _FLOAT_RE}
    return {
        first: [(tag, replaced.get(tag, regexp)) for tag, regexp in entries if tag != _TIMESTAMP]
        for first, entries in _Base.yaml_implicit_resolvers.items()
    }


class ConfigLoader(_Base):  # type: ignore[valid-type,misc]
    """SafeLoader (the C one when available) without timestamps and base-60 numbers."""

    yaml_implicit_resolvers = _resolvers()


@dataclass
class Node:
    """A YAML value and its line (1-based). Mappings hold Nodes by key, sequences a list."""

    value: Any
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)

    def plain(self) -> Any:
        """The value as plain Python data (dicts, lists, scalars)."""
        if isinstance(self.value, dict):
            return {key: node.plain() for key, node in self.value.items()}
        if isinstance(self.value, list):
            return [node.plain() for node in self.value]
        return self.value

    def line_at(self, path: tuple[str | int, ...]) -> int:
        """The line of the deepest key or item of ``path`` that exists."""
        node, line = self, self.line
        for part in path:
            if isinstance(node.value, dict) and isinstance(part, str) and part in node.value:
                line = node.key_lines[part]
                node = node.value[part]
            elif isinstance(node.value, list) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.line
            else:
                break
        return line


def format_path(path: tuple[str | int, ...], prefix: str = "") -> str:
    """``("schedules", 0, "recurrence")`` -> ``schedules[0].recurrence``."""
    text = prefix
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.problems: list[ConfigProblem] = []
        self._active: set[int] = set()
        self._scalars: dict[str | None, Any] = type(loader).yaml_constructors  # tag -> constructor

    def build(self, node: yaml.Node, path: tuple[str | int, ...]) -> Node:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):  # most nodes: no recursion, no caching needed
            construct = self._scalars.get(node.tag)
            if construct is not None:
                return Node(construct(self.loader, node), line)
            return Node(self.loader.construct_object(node, deep=True), line)
        if id(node) in self._active:
            self._problem(path, "an alias refers to itself; YAML recursion is not supported", line)
            return Node(None, line)
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                items = [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
                return Node(items, line)
            return Node(self.loader.construct_object(node, deep=True), line)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: tuple[str | int, ...]) -> Node:
        result = Node({}, node.start_mark.line + 1)
        merged: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE:
                many = isinstance(value_node, yaml.SequenceNode)
                sources = value_node.value if many else [value_node]
                if not all(isinstance(source, yaml.MappingNode) for source in sources):
                    message = "'<<' merges a mapping or a list of mappings"
                    self._problem((*path, "<<"), message, key_line)
                merged.extend(s for s in sources if isinstance(s, yaml.MappingNode))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(path, "a mapping key must be a plain string", key_line)
                continue
            key = str(key_node.value)
            if key in result.value:
                first = result.key_lines[key]
                message = f"key '{key}' is defined twice (lines {first} and {key_line})"
                self._problem((*path, key), message, key_line)
                continue
            result.value[key] = self.build(value_node, (*path, key))
            result.key_lines[key] = key_line
        for source in merged:  # ``<<: *defaults``: keys given here win over merged ones
            built = self.build(source, path)
            for key, value in built.value.items():
                if key not in result.value:
                    result.value[key] = value
                    result.key_lines[key] = built.key_lines[key]
        return result

    def _problem(self, path: tuple[str | int, ...], message: str, line: int) -> None:
        self.problems.append(ConfigProblem(self.file, format_path(path), message, line))


def parse_yaml(text: str, file: str) -> tuple[Node | None, list[ConfigProblem]]:
    """The document in ``text`` as a Node tree (None if empty), and the problems found."""
    loader = ConfigLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, []
        builder = _Builder(loader, file)
        return builder.build(root, ()), builder.problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        described = ", ".join(part for part in (exc.context, exc.problem) if part)
        return None, [ConfigProblem(file, "", f"invalid YAML: {described}", line)]
    except yaml.YAMLError as exc:
        return None, [ConfigProblem(file, "", f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
