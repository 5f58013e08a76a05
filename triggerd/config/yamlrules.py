"""How a plain (unquoted) YAML scalar is read: YAML 1.2, as the Azure ML SDK reads it.

The SDK loads schedule files with ruamel.yaml, whose default is YAML 1.2. triggerd reads both
file shapes (native and ``Schedule:``) with the same rules, on PyYAML's safe loader with its
implicit resolvers replaced. The rules below are ruamel.yaml's (0.19.1, read from its source:
``ruamel/yaml/resolver.py``, the ``implicit_resolvers`` entries for ``(1, 2)``, and
``SafeConstructor.construct_yaml_int`` in ``ruamel/yaml/constructor.py``) and were checked by
loading each example with ``YAML(typ="safe")``:

- integers: ``010`` -> 10 and ``08`` -> 8 (decimal: YAML 1.1 read ``010`` as octal 8 and
  ``08`` as text); ``0o10`` -> 8, ``0x10`` -> 16, ``0b101`` -> 5; ``_`` between digits is
  ignored (``1_000`` -> 1000). ruamel accepts ``0b`` and ``_`` in YAML 1.2 although the 1.2
  core schema does not; triggerd reads them as the SDK does. Only ASCII digits are digits.
- floats: as in 1.1, plus an exponent without a dot or sign (``1e3`` -> 1000.0, which YAML 1.1
  read as text) and a signed leading dot (``+.5``).
- booleans: ``true``/``True``/``TRUE`` and ``false``/``False``/``FALSE`` only. YAML 1.1 also
  read ``yes``/``no``/``on``/``off`` as booleans, YAML 1.2 reads them as text: a file written for
  either reading would silently mean something else, so these words, unquoted, are refused with
  what to write instead (tag ``YAML11_BOOL``). ``y`` and ``n`` stay text (PyYAML never read
  them as booleans either).
- null: ``~``, ``null``, ``Null``, ``NULL`` and nothing.
- kept from triggerd's own rules: no implicit timestamps (``start_time`` stays text, so an offset
  is an error, not a silent conversion to UTC), no base-60 numbers (``18:30`` stays text, as in
  YAML 1.2), and ``=`` is text (YAML 1.1's "value" key type, which neither loader can build).

A ``%YAML 1.1`` directive would switch ruamel.yaml back to YAML 1.1; ``yamllimits`` refuses it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

BOOL = "tag:yaml.org,2002:bool"
FLOAT = "tag:yaml.org,2002:float"
INT = "tag:yaml.org,2002:int"
MERGE = "tag:yaml.org,2002:merge"
NULL = "tag:yaml.org,2002:null"
TIMESTAMP = "tag:yaml.org,2002:timestamp"
YAML11_BOOL = "tag:triggerd,2024:yaml11-bool"
YAML11_BOOL_WORDS = frozenset(
    ("yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF")
)
MAX_DIGITS = 4000  # Python refuses to read an int of more than 4300 digits

# ruamel.yaml's YAML 1.2 patterns; each alternative of INT requires at least one digit, so that
# ``-_`` or ``0b_`` stay text (ruamel resolves them as int, then fails to build them).
_INT_RE = re.compile(
    r"""^(?:[-+]?0b_*[0-1][0-1_]*
    |[-+]?0o?_*[0-7][0-7_]*
    |[-+]?_*[0-9][0-9_]*
    |[-+]?0x_*[0-9a-fA-F][0-9a-fA-F_]*)$""",
    re.X,
)
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
# (tag, pattern, first characters), in the order they are tried.
_IMPLICIT: list[tuple[str, re.Pattern[str], str]] = [
    (BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    (YAML11_BOOL, re.compile("^(?:" + "|".join(sorted(YAML11_BOOL_WORDS)) + ")$"), "yYnNoO"),
    (FLOAT, _FLOAT_RE, "-+0123456789."),
    (INT, _INT_RE, "-+0123456789"),
    (MERGE, re.compile(r"^(?:<<)$"), "<"),
    (NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), "~nN"),
]


def _resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    table: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for tag, pattern, first in _IMPLICIT:
        for char in first:
            table.setdefault(char, []).append((tag, pattern))
    table.setdefault("", []).append((NULL, _IMPLICIT[-1][1]))  # an empty plain scalar
    return table


class Unreadable(ValueError):
    """A scalar whose tag says what it is, but whose text is not that (``!!int abc``)."""


def _sign_and_digits(text: str) -> tuple[int, str]:
    text = text.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    return sign, text[1:] if text[:1] in "+-" else text


def read_int(text: str) -> int:
    """ruamel.yaml's YAML 1.2 integer: no octal without ``0o``, no base 60, ASCII digits only."""
    sign, digits = _sign_and_digits(text)
    base = {"0b": 2, "0o": 8, "0x": 16}.get(digits[:2], 10)
    if base != 10:
        digits = digits[2:]
    if not digits.isascii() or not digits.isalnum():
        raise Unreadable("is not an integer")
    if len(digits) > MAX_DIGITS:
        raise Unreadable(f"is an integer of more than {MAX_DIGITS} digits")
    try:
        return sign * int(digits, base)
    except ValueError:
        raise Unreadable("is not an integer") from None


def read_float(text: str) -> float:
    """A float as PyYAML and ruamel.yaml build it (``_`` ignored), ASCII digits only."""
    text = text.replace("_", "")
    if text.lower().lstrip("+-") in (".inf", ".nan"):
        text = text.replace(".", "")  # "-.inf" -> "-inf", which float() reads
    if not text.isascii():
        raise Unreadable("is not a number")
    try:
        return float(text)
    except ValueError:
        raise Unreadable("is not a number") from None


def construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    return read_int(str(loader.construct_scalar(node)))


def construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    return read_float(str(loader.construct_scalar(node)))


def yaml11_bool_problem(word: str) -> str:
    """The problem of an unquoted ``yes``/``no``/``on``/``off`` (one of twelve fixed words)."""
    meaning = "true" if word.lower() in ("yes", "on") else "false"
    return (
        f"{word} is a boolean ({meaning}) in YAML 1.1 but the text '{word}' in YAML 1.2, which "
        f"triggerd and the Azure ML SDK read: write {meaning} for the boolean, or quote it "
        f"('{word}') for the text"
    )


_TAG_NAMES = {INT: "an integer", FLOAT: "a number", BOOL: "a boolean", TIMESTAMP: "a date"}


def construct(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> tuple[Any, str | None]:
    """The value of a scalar ``node``, and the problem that made it None (or a refused word's
    text). A tag that no constructor builds raises the loader's ConstructorError."""
    if node.tag == YAML11_BOOL:
        return str(node.value), yaml11_bool_problem(str(node.value))
    build = type(loader).yaml_constructors.get(node.tag)  # tag -> constructor
    if build is None:
        return loader.construct_object(node, deep=True), None
    try:
        return build(loader, node), None
    except Unreadable as exc:
        return None, f"this value {exc}"
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        what = _TAG_NAMES.get(node.tag, f"'{node.tag}'")
        return None, f"this value cannot be read as {what}"


def read_plain(loader: yaml.SafeLoader, text: str) -> tuple[str, Any, str | None]:
    """The tag of the plain (unquoted, untagged) scalar ``text``, as the loader's resolver
    gives it, with ``construct``'s value and problem for it."""
    tag: str = loader.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag == MERGE:  # built only as a key: no constructor
        return tag, None, None
    return (tag, *construct(loader, yaml.ScalarNode(tag, text)))


class ConfigLoader(_Base):  # type: ignore[valid-type,misc]
    """SafeLoader (the C one when available) with the YAML 1.2 scalar rules above."""

    yaml_implicit_resolvers = _resolvers()


ConfigLoader.add_constructor(INT, construct_int)
ConfigLoader.add_constructor(FLOAT, construct_float)
