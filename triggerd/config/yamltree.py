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

A file is read in one pass over libyaml's events (``yamlnodes.OnePass``). What that pass builds
is defined by the two passes it replaced, which still read the few files it leaves
(``yamlnodes.Elsewhere``): ``yamllimits.measure`` over the events, then the composed nodes
built (``_Composed`` below).
"""

from __future__ import annotations

import yaml

from triggerd.config.yamllimits import MAX_DEPTH, measure
from triggerd.config.yamlnodes import (
    MERGES,
    SELF_ALIAS,
    STRING_KEY,
    Elsewhere,
    Node,
    OnePass,
    format_path,
    merge_into,
)
from triggerd.config.yamlrules import MERGE, ConfigLoader, construct
from triggerd.config.yamlrules import yaml11_bool_problem as yaml11_bool_problem
from triggerd.errors import ConfigProblem

__all__ = ["Node", "format_path", "parse_yaml", "yaml11_bool_problem"]


def parse_yaml(text: str, file: str) -> tuple[Node | None, list[ConfigProblem]]:
    """The document in ``text`` as a Node tree (None if empty), and the problems found.

    Whatever ``text`` holds, the only exceptions are the problems returned.
    """
    try:
        try:
            return OnePass(text, file).read()
        except Elsewhere:
            pass
        refused = measure(text)
        if refused is not None:
            return None, [ConfigProblem(file, "", refused.message, refused.line)]
        return _Composed(text, file).read()
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


class _Composed:
    """The two passes' builder, over composed nodes (after ``measure`` let the file through)."""

    def __init__(self, text: str, file: str) -> None:
        self.loader = ConfigLoader(text)
        self.file = file
        self.problems: list[ConfigProblem] = []
        self._active: set[int] = set()
        # Nodes are never changed once built, so an alias reuses the Node of its anchor: its
        # problems are reported once, where the anchored value is written.
        self._built: dict[int, Node] = {}

    def read(self) -> tuple[Node | None, list[ConfigProblem]]:
        try:
            root = self.loader.get_single_node()
            return (None if root is None else self.build(root, ())), self.problems
        finally:
            self.loader.dispose()

    def build(self, node: yaml.Node, path: tuple[str | int, ...]) -> Node:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):  # most nodes: no recursion, no caching needed
            value, problem = construct(self.loader, node)
            if problem is not None:
                self._problem(path, problem, line)
            return Node(value, line)
        built = self._built.get(id(node))
        if built is not None:  # an alias of a list or mapping built before: share it
            return built
        if id(node) in self._active:
            self._problem(path, SELF_ALIAS, line)
            return Node(None, line)
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                built = self._mapping(node, path)
            else:
                built = Node(
                    [self.build(item, (*path, i)) for i, item in enumerate(node.value)], line
                )
        finally:
            self._active.discard(id(node))
        self._built[id(node)] = built
        return built

    def _mapping(self, node: yaml.MappingNode, path: tuple[str | int, ...]) -> Node:
        result = Node({}, node.start_mark.line + 1)
        merged: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == MERGE:
                many = isinstance(value_node, yaml.SequenceNode)
                sources = value_node.value if many else [value_node]
                if not all(isinstance(source, yaml.MappingNode) for source in sources):
                    self._problem((*path, "<<"), MERGES, key_line)
                merged.extend(s for s in sources if isinstance(s, yaml.MappingNode))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(path, STRING_KEY, key_line)
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
            if isinstance(built.value, dict):  # else a merge of itself, reported as SELF_ALIAS
                merge_into(result, built)
        return result

    def _problem(self, path: tuple[str | int, ...], message: str, line: int) -> None:
        self.problems.append(ConfigProblem(self.file, format_path(path), message, line))
