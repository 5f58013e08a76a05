"""YAML to a tree of values that remember their line numbers.

PyYAML's safe loader, changed so that a config file means what it says (``yamlrules``):

- plain scalars are read with YAML 1.2 rules, as the Azure ML SDK (ruamel.yaml) reads them:
  ``010`` is 10, ``yes`` is refused (YAML 1.1 read it as true);
- no implicit timestamps: ``start_time: 2019-11-01T09:00:00`` stays a string (we parse it, and an
  offset is an error instead of a silent conversion to UTC);
- no base-60 numbers: ``time_of_day: 18:30`` stays the string ``"18:30"`` (not 1110);
- a key given twice in one mapping is a problem, not "the last one wins";
- a file that would build too much (an alias bomb) or nest too deep is refused before anything
  is built (``yamllimits``).

Every mapping key and sequence item keeps its line, so each problem can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from triggerd.config.yamllimits import MAX_DEPTH, TREE_MAX_CHARS, measure, measure_tree
from triggerd.config.yamlrules import (
    MERGE,
    YAML11_BOOL,
    ConfigLoader,
    Unreadable,
)
from triggerd.errors import ConfigProblem

_TAG_NAMES = {
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:timestamp": "a date",
}


def yaml11_bool_problem(word: str) -> str:
    """The problem of an unquoted ``yes``/``no``/``on``/``off`` (one of twelve fixed words)."""
    meaning = "true" if word.lower() in ("yes", "on") else "false"
    return (
        f"{word} is a boolean ({meaning}) in YAML 1.1 but the text '{word}' in YAML 1.2, which "
        f"triggerd and the Azure ML SDK read: write {meaning} for the boolean, or quote it "
        f"('{word}') for the text"
    )


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
        # Nodes are never changed once built, so an alias reuses the Node of its anchor: its
        # problems are reported once, where the anchored value is written.
        self._built: dict[int, Node] = {}
        self._scalars: dict[str | None, Any] = type(loader).yaml_constructors  # tag -> constructor

    def build(self, node: yaml.Node, path: tuple[str | int, ...]) -> Node:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):  # most nodes: no recursion, no caching needed
            return Node(self._scalar(node, path, line), line)
        built = self._built.get(id(node))
        if built is not None:  # an alias of a list or mapping built before: share it
            return built
        if id(node) in self._active:
            self._problem(path, "an alias refers to itself; YAML recursion is not supported", line)
            return Node(None, line)
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                built = self._mapping(node, path)
            elif isinstance(node, yaml.SequenceNode):
                items = [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
                built = Node(items, line)
            else:
                built = Node(self.loader.construct_object(node, deep=True), line)
        finally:
            self._active.discard(id(node))
        self._built[id(node)] = built
        return built

    def _scalar(self, node: yaml.ScalarNode, path: tuple[str | int, ...], line: int) -> Any:
        if node.tag == YAML11_BOOL:
            self._problem(path, yaml11_bool_problem(str(node.value)), line)
            return str(node.value)
        construct = self._scalars.get(node.tag)
        if construct is None:  # a tag without a constructor: a ConstructorError
            return self.loader.construct_object(node, deep=True)
        try:
            return construct(self.loader, node)
        except Unreadable as exc:
            self._problem(path, f"this value {exc}", line)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            what = _TAG_NAMES.get(node.tag, f"'{node.tag}'")
            self._problem(path, f"this value cannot be read as {what}", line)
        return None

    def _mapping(self, node: yaml.MappingNode, path: tuple[str | int, ...]) -> Node:
        result = Node({}, node.start_mark.line + 1)
        merged: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == MERGE:
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
    """The document in ``text`` as a Node tree (None if empty), and the problems found.

    Whatever ``text`` holds, the only exceptions are the problems returned.
    """
    try:
        if len(text) <= TREE_MAX_CHARS and not any(c in text for c in "&*%"):  # no aliases
            built = _compose_first(text, file)
            if built is not None:
                return built
        refused = measure(text)
        if refused is not None:
            return None, [ConfigProblem(file, "", refused.message, refused.line)]
        return _build(text, file)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        described = ", ".join(part for part in (exc.context, exc.problem) if part)
        return None, [ConfigProblem(file, "", f"invalid YAML: {described}", line)]
    except yaml.YAMLError as exc:
        return None, [ConfigProblem(file, "", f"invalid YAML: {exc}")]
    except RecursionError:  # not expected below MAX_DEPTH; never let it out
        message = f"lists and mappings are nested too deeply (the limit is {MAX_DEPTH} levels)"
        return None, [ConfigProblem(file, "", message)]


def _compose_first(text: str, file: str) -> tuple[Node | None, list[ConfigProblem]] | None:
    """A text without anchors, aliases or directives, read in one pass: composed, its tree
    measured (``measure_tree``: the limits and lines of ``measure``), then built. None when it
    does not compose: the two passes then say what is wrong, as they would have (a limit that
    is passed before the error is reported first)."""
    loader = ConfigLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError:
            return None
        if root is None:
            return None, []
        refused = measure_tree(root)
        if refused is not None:
            return None, [ConfigProblem(file, "", refused.message, refused.line)]
        builder = _Builder(loader, file)
        return builder.build(root, ()), builder.problems
    finally:
        loader.dispose()


def _build(text: str, file: str) -> tuple[Node | None, list[ConfigProblem]]:
    loader = ConfigLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, []
        builder = _Builder(loader, file)
        return builder.build(root, ()), builder.problems
    finally:
        loader.dispose()
