"""Limits on one config file, checked on the YAML event stream before anything is built by it:
``measure`` here is a pass over the events; ``yamlnodes.OnePass`` counts the same as it
builds, so it is refused at the same event (``tests/unit/test_yaml_one_pass.py``).

An alias (``*name``) repeats its anchored value wherever it appears, so nine levels of
``&a [*b, *b, ...]`` (about 300 bytes) would build hundreds of millions of values. Before a
file that may hold aliases is composed, one pass over the parser's events measures what
building it would make:

- ``MAX_VALUES``: every scalar, list and mapping (keys included), counted with each alias
  expanded. The expanded size of each anchor is remembered when its value ends, so an alias
  costs one lookup and the bomb is refused after reading its 300 bytes. 10,000 schedules that
  share a recurrence through ``*alias`` or ``<<: *defaults`` need about 400,000.
- ``MAX_DEPTH``: lists and mappings inside each other (aliases included), so that building and
  validating never run out of Python stack.
- a ``%YAML`` directive other than ``1.2`` (``%YAML 1.1`` makes ruamel.yaml, and so the Azure ML
  SDK, read ``010`` as 8 and ``yes`` as true; triggerd reads YAML 1.2 only).

``MAX_BYTES`` is checked by the loader before it reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from triggerd.config.yamlrules import ConfigLoader

MAX_BYTES = 64 * 1024 * 1024
MAX_VALUES = 1_000_000
MAX_DEPTH = 100


@dataclass(frozen=True)
class Refusal:
    """Why a file is not built, and the line (1-based) where that became clear."""

    message: str
    line: int


@dataclass
class _Open:
    """A list or mapping whose end has not been read yet."""

    anchor: str | None
    size: int = 1
    height: int = 1  # levels of lists and mappings, this one included


@dataclass
class _Measure:
    anchors: dict[str, tuple[int, int]] = field(default_factory=dict)  # -> (size, height)
    stack: list[_Open] = field(default_factory=list)
    values: int = 0
    aliases: bool = False

    def add(self, size: int, height: int, anchor: str | None) -> None:
        """A value of ``size`` values and ``height`` levels ended (or was an alias)."""
        if anchor is not None:
            self.anchors[anchor] = (size, height)
        if self.stack:
            parent = self.stack[-1]
            parent.size += size
            parent.height = max(parent.height, height + 1)

    def refusal(self, height: int) -> str | None:
        if self.values > MAX_VALUES:
            return too_many(self.aliases)
        if len(self.stack) + height > MAX_DEPTH:
            return too_deep(self.aliases)
        return None

    def event(self, event: yaml.Event) -> str | None:
        """Take one event into account; why the file is refused, if it now is."""
        if isinstance(event, yaml.ScalarEvent):  # most events: kept short
            self.values += 1
            if event.anchor is not None:
                self.anchors[event.anchor] = (1, 0)
            if self.stack:
                self.stack[-1].size += 1
            return self.refusal(0) if self.values > MAX_VALUES else None
        if isinstance(event, yaml.CollectionStartEvent):
            self.values += 1
            self.stack.append(_Open(event.anchor))
            return self.refusal(0)
        if isinstance(event, yaml.CollectionEndEvent):
            done = self.stack.pop()
            self.add(done.size, done.height, done.anchor)
            return None
        if isinstance(event, yaml.AliasEvent):
            self.aliases = True
            # An alias of a value that has not ended refers to itself: the builder reports it.
            inside = any(entry.anchor == event.anchor for entry in self.stack)
            size, height = (1, 0) if inside else self.anchors.get(str(event.anchor), (1, 0))
            self.values += size
            self.add(size, height, None)
            return self.refusal(height)
        if isinstance(event, yaml.DocumentStartEvent):
            return directive_refusal(event.version)
        return None


def directive_refusal(version: tuple[int, int] | None) -> str | None:
    """Why a document of this ``%YAML`` version is refused (None: none given, or 1.2)."""
    if version is None or version == (1, 2):
        return None
    major, minor = version
    return (
        f"the '%YAML {major}.{minor}' directive is not supported: triggerd reads "
        "YAML 1.2, as the Azure ML SDK does; remove the directive"
    )


def too_many(aliases: bool) -> str:
    if aliases:
        return (
            f"aliases (*name) expand this file to more than {MAX_VALUES:,} values, "
            "the limit for one file (is it an alias bomb?): repeat less through aliases"
        )
    return (
        f"the file holds more than {MAX_VALUES:,} values, the limit for one file: "
        "split it into several files"
    )


def too_deep(aliases: bool) -> str:
    return (
        f"lists and mappings are nested more than {MAX_DEPTH} levels deep "
        f"(the limit{', aliases included' if aliases else ''})"
    )


def measure(text: str) -> Refusal | None:
    """Why ``text`` must not be built, or None. Raises yaml.YAMLError if it is not YAML."""
    measured = _Measure()
    loader = ConfigLoader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            message = measured.event(event)
            if message is not None:
                return Refusal(message, event.start_mark.line + 1)
    finally:
        loader.dispose()
    return None
