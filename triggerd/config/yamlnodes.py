"""The Node tree of a config file, built in one pass over libyaml's events (``OnePass``).

As the events come, the tree is built and the limits counted (``yamllimits``: the same counts as
``measure``, so the same refusal at the same event); no node objects are composed, and each
plain scalar's text is resolved and read once a file (``yamlrules.read_plain``). What it builds
is what the two passes it replaced build (``yamltree``: ``measure``, then the composed nodes
built): the same Nodes and lines, the same problems in the same order, the same invalid YAML.
A file it would not read the same way raises ``Elsewhere`` and the two passes read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from triggerd.config import yamllimits
from triggerd.config.yamlrules import MERGE, ConfigLoader, construct, read_plain
from triggerd.errors import ConfigProblem

_Scalar, _MapStart, _SeqStart = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
_MapEnd, _SeqEnd = yaml.MappingEndEvent, yaml.SequenceEndEvent

SELF_ALIAS = "an alias refers to itself; YAML recursion is not supported"
MERGES = "'<<' merges a mapping or a list of mappings"
STRING_KEY = "a mapping key must be a plain string"


@dataclass(slots=True)
class Node:
    """A YAML value and its line (1-based). Mappings hold Nodes by key, sequences a list."""

    value: Any
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)

    def plain(self) -> Any:
        """The value as plain Python data (dicts, lists, scalars)."""
        return _plain(self.value)

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


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _plain(node.value) for key, node in value.items()}
    if kind is list:
        return [_plain(node.value) for node in value]
    return value


def format_path(path: tuple[str | int, ...], prefix: str = "") -> str:
    """``("schedules", 0, "recurrence")`` -> ``schedules[0].recurrence``."""
    text = prefix
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def merge_into(result: Node, source: Node) -> None:
    for key, value in source.value.items():
        if key not in result.value:
            result.value[key] = value
            result.key_lines[key] = source.key_lines[key]


class Elsewhere(Exception):
    """A file the one pass leaves to the two passes: a second document, an anchor given twice
    or not at all, a tag no constructor builds, ``<<`` but as a key or of an alias of a list, an
    alias of a list or mapping they would build there first (written in a ``<<`` value whose
    mapping has not ended, or in a value left unbuilt: of a key given twice or not a string)."""


_MAP, _SEQ, _SKIP, _SOURCES, _ROOT = 1, 2, 3, 4, 5  # unbuilt; a ``<<`` list; the document
_KEY, _MERGED, _UNBUILT = object(), object(), object()  # what a mapping reads next


class _Open:
    """A list or mapping being read: its Node (an empty one if unbuilt), where it goes (``into``,
    as ``part``: a key, an index, or _MERGED), what it reads next, and its measure (``start``:
    the values counted before it; ``height``: its levels). Most keep the class's defaults."""

    part: Any = None
    part_line = key_line = 0
    next: Any = _KEY
    height = 1
    done = False
    size = 1  # (once it ended) its values, aliases expanded
    merges: tuple[Node, ...] = ()  # what its ``<<`` keys merge, and the problems of building
    later: tuple[ConfigProblem, ...] = ()  # those, reported after its own keys' problems
    saved: list[ConfigProblem] | None = None  # (a ``<<`` value) the problems before it
    owner: _Open | None = None  # (a ``<<`` value) the outermost one's mapping before it
    mapped = True  # (a ``<<`` list) every item is a mapping

    def __init__(self, kind: int, node: Node, path: tuple[str | int, ...], start: int) -> None:
        self.kind, self.node, self.path, self.start = kind, node, path, start
        self.into = self

    @property
    def built(self) -> bool:
        return self.kind != _SKIP and self.kind != _SOURCES


class _Anchor(NamedTuple):
    """What ``&name`` marks: a scalar event, or an _Open (``owner``: see ``OnePass.owner``)."""

    scalar: Any
    open: _Open | None
    line: int
    owner: _Open | None


class OnePass:
    """The tree of ``text`` from its events, or its refusal; raises Elsewhere or YAMLError."""

    def __init__(self, text: str, file: str) -> None:
        self.loader = ConfigLoader(text)
        self.file = file
        self.problems: list[ConfigProblem] = []
        self.anchors: dict[str, _Anchor] = {}
        self.plain: dict[str, tuple[str, Any, str | None]] = {}  # text -> read_plain(text)
        self.values = 0
        self.aliased = False
        self.owner: _Open | None = None  # the outermost mapping whose ``<<`` value is read

    def read(self) -> tuple[Node | None, list[ConfigProblem]]:
        try:
            root = _Open(_ROOT, Node([], 0), (), 0)
            refused = self._events([root])
        finally:
            self.loader.dispose()
        if refused is not None:
            return None, [ConfigProblem(self.file, "", refused.message, refused.line)]
        return (root.node.value[0] if root.node.value else None), self.problems

    def _events(self, stack: list[_Open]) -> yamllimits.Refusal | None:
        """Read every event, building the tree; the refusal, if one is due (as ``measure``)."""
        get, most, deepest = self.loader.get_event, yamllimits.MAX_VALUES, yamllimits.MAX_DEPTH
        documents = 0
        while True:
            event = get()
            kind = type(event)
            if kind is _Scalar:  # most events
                self.values += 1
                if self.values > most:
                    return _refusal(event, yamllimits.too_many(self.aliased))
                if event.anchor is not None:
                    self._anchor(event.anchor, event, None, event.start_mark.line + 1)
                top = stack[-1]
                if top.next is not _KEY or top.kind != _MAP:
                    self._value(top, event)
                elif (
                    event.tag is None
                    and not event.implicit[0]
                    and event.value not in top.node.value
                ):
                    top.next, top.key_line = event.value, event.start_mark.line + 1  # quoted
                else:
                    self._key(top, event, event.value, event.start_mark.line + 1)
            elif kind is _MapEnd or kind is _SeqEnd:
                self._end(stack.pop(), stack[-1])
            elif kind is _MapStart or kind is _SeqStart:
                self.values += 1
                stack.append(self._start(stack[-1], event, kind is _MapStart))
                if self.values > most:
                    return _refusal(event, yamllimits.too_many(self.aliased))
                if len(stack) - 1 > deepest:
                    return _refusal(event, yamllimits.too_deep(self.aliased))
            elif kind is yaml.AliasEvent:
                self.aliased = True
                height = self._alias(stack[-1], event)
                if self.values > most:
                    return _refusal(event, yamllimits.too_many(True))
                if len(stack) - 1 + height > deepest:
                    return _refusal(event, yamllimits.too_deep(True))
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise Elsewhere("a second document")
                message = yamllimits.directive_refusal(event.version)
                if message is not None:
                    return _refusal(event, message)
            elif kind is yaml.StreamEndEvent:
                return None

    def _place(self, top: _Open) -> Any:
        """Where the next value of ``top`` goes: a key, an index, None (the document), or
        _UNBUILT (nowhere: also after a problem of ``<<``); _MERGED for a ``<<`` value."""
        at = top.kind
        if at == _MAP:
            part = top.next
            top.next = _KEY
            return part
        if at == _SEQ:
            return len(top.node.value)
        return None if at == _ROOT else _UNBUILT

    def _value(self, top: _Open, event: Any) -> None:
        """A scalar value: of a mapping's key, a list's item, the document, or not built."""
        at = top.kind
        if at == _MAP:
            part = top.next
            top.next = _KEY
            if type(part) is not str:
                if part is _MERGED:  # ``<<`` of a scalar
                    self._problem(top.path, "<<", MERGES, top.key_line)
                return
        elif at == _SEQ:
            part = len(top.node.value)
        elif at == _ROOT:
            part = None
        else:
            top.mapped = top.mapped and at != _SOURCES  # ``<<`` of a list with a scalar
            return
        line = event.start_mark.line + 1
        if event.tag is None and not event.implicit[0]:  # quoted: the text
            node = Node(event.value, line)
        else:
            node = Node(self._scalar(event, top.path, part, line), line)
        if at == _MAP:
            top.node.value[part] = node
            top.node.key_lines[part] = top.key_line
        else:
            top.node.value.append(node)

    def _put(self, top: _Open, part: Any, node: Node, key_line: int) -> None:
        if top.kind == _MAP:
            top.node.value[part] = node
            top.node.key_lines[part] = key_line
        else:
            top.node.value.append(node)

    def _scalar(self, event: Any, path: tuple[str | int, ...], part: Any, line: int) -> Any:
        """The value of a scalar event (``!`` leaves a plain scalar resolved, as PyYAML does)."""
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:  # quoted
                return event.value
            tag, value, problem = self.plain.get(event.value) or self._plain(event.value)
        else:
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
            try:
                value, problem = construct(self.loader, node)
            except yaml.YAMLError:
                raise Elsewhere("a tag without a constructor") from None
        if tag == MERGE:
            raise Elsewhere("'<<' as a value")
        if problem is not None:
            self._problem(path, part, problem, line)
        return value

    def _plain(self, text: str) -> tuple[str, Any, str | None]:
        read = self.plain[text] = read_plain(self.loader, text)
        return read

    def _key(self, top: _Open, event: Any, text: str, line: int) -> None:
        """A scalar key of the mapping ``top`` (or an alias of one: its anchor's event, line)."""
        tag = event.tag
        if tag is None or tag == "!":
            merge = event.implicit[0] and (self.plain.get(text) or self._plain(text))[0] == MERGE
        else:
            merge = tag == MERGE
        top.key_line = line
        if merge:
            top.next = _MERGED
        elif text in top.node.value:
            first = top.node.key_lines[text]
            message = f"key '{text}' is defined twice (lines {first} and {line})"
            self._problem(top.path, text, message, line)
            top.next = _UNBUILT
        else:
            top.next = text

    def _start(self, top: _Open, event: Any, mapping: bool) -> _Open:
        """The _Open of a list or mapping that starts in ``top``."""
        part: Any
        if event.tag == MERGE:
            raise Elsewhere("a list or mapping tagged as '<<'")
        line, start = event.start_mark.line + 1, self.values - 1
        if top.kind == _MAP and top.next is _KEY:
            self._problem(top.path, None, STRING_KEY, line)
            top.key_line, top.next = line, _UNBUILT  # its value is not built either
            part = _UNBUILT
        elif top.kind == _SOURCES:
            part = _MERGED if mapping else _UNBUILT
            top.mapped = top.mapped and mapping
        else:
            part = self._place(top)
        if part is _UNBUILT:
            opened = _Open(_SKIP, Node(None, line), (), start)
        elif part is _MERGED:
            owner = top.into if top.kind == _SOURCES else top
            opened = _Open(_MAP if mapping else _SOURCES, Node({}, line), owner.path, start)
            opened.into, opened.part = owner, _MERGED
            if top.kind == _MAP:  # the ``<<`` value itself: its problems come after the mapping's
                opened.saved, self.problems = self.problems, []
                opened.owner, self.owner = self.owner, self.owner or top
        else:
            path = top.path if part is None else (*top.path, part)
            node = Node({} if mapping else [], line)
            opened = _Open(_MAP if mapping else _SEQ, node, path, start)
            opened.into, opened.part, opened.part_line = top, part, top.key_line
        if event.anchor is not None:
            self._anchor(event.anchor, None, opened, line)
        return opened

    def _end(self, done: _Open, top: _Open) -> None:
        done.done = True
        top.height = max(top.height, done.height + 1)
        done.size = self.values - done.start
        for source in done.merges:  # ``<<: *defaults``: keys given here win over merged ones
            merge_into(done.node, source)
        self.problems.extend(done.later)
        if done.saved is not None:  # the end of a ``<<`` value
            done.into.later += tuple(self.problems)
            self.problems, self.owner = done.saved, done.owner
            if not done.mapped:
                self._problem(done.into.path, "<<", MERGES, done.into.key_line)
        if done.part is _MERGED:
            if done.kind == _MAP:
                done.into.merges += (done.node,)
        elif done.built:
            self._put(done.into, done.part, done.node, done.part_line)

    def _alias(self, top: _Open, event: Any) -> int:
        """Place an alias; measure it (its values counted here), and return its levels."""
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            raise Elsewhere("an alias of no anchor")
        scalar, opened = anchor.scalar, anchor.open
        inside = opened is not None and not opened.done  # an alias of itself
        size, height = (1, 0) if inside or opened is None else (opened.size, opened.height)
        self.values += size
        top.height = max(top.height, height + 1)
        if top.kind == _MAP and top.next is _KEY:
            if scalar is not None:
                self._key(top, scalar, scalar.value, anchor.line)
            else:
                self._problem(top.path, None, STRING_KEY, anchor.line)
                top.key_line, top.next = anchor.line, _UNBUILT
            return height
        part = _MERGED if top.kind == _SOURCES else self._place(top)
        if part is _MERGED:  # ``<<: *name`` or an item of ``<<: [...]``
            if opened is not None and (opened.kind == _MAP or opened.kind == _SKIP):
                owner = top.into if top.kind == _SOURCES else top
                owner.merges += (self._shared(anchor, merged=True),)
            elif top.kind == _SOURCES:
                top.mapped = False
            elif scalar is not None:
                self._problem(top.path, "<<", MERGES, top.key_line)
            else:
                raise Elsewhere("'<<' of an alias of a list")
        elif part is not _UNBUILT:
            if scalar is not None:
                node = Node(self._scalar(scalar, top.path, part, anchor.line), anchor.line)
            elif inside and opened is not None and opened.built:
                self._problem(top.path, part, SELF_ALIAS, anchor.line)
                node = Node(None, anchor.line)
            else:
                node = self._shared(anchor, merged=False)
            self._put(top, part, node, top.key_line)
        return height

    def _shared(self, anchor: _Anchor, merged: bool) -> Node:
        """The Node of an anchored list or mapping, built where it is written."""
        opened = anchor.open
        if opened is None or not opened.done or not opened.built:
            raise Elsewhere("an alias of a list or mapping not built (yet)")
        if anchor.owner is not None and not anchor.owner.done:
            raise Elsewhere("an alias of a list or mapping in a '<<' not merged yet")
        if merged and opened.kind != _MAP:
            raise Elsewhere("'<<' of an alias of a list")
        return opened.node

    def _anchor(self, name: str, scalar: Any, opened: _Open | None, line: int) -> None:
        if name in self.anchors:
            raise Elsewhere("an anchor given twice")
        self.anchors[name] = _Anchor(scalar, opened, line, self.owner)

    def _problem(self, path: tuple[str | int, ...], part: Any, message: str, line: int) -> None:
        where = format_path(path if part is None else (*path, part))
        self.problems.append(ConfigProblem(self.file, where, message, line))


def _refusal(event: Any, message: str) -> yamllimits.Refusal:
    return yamllimits.Refusal(message, event.start_mark.line + 1)
