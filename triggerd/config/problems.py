"""Turning validation failures into ConfigProblems that name the file, the key path and the line.

Validators raise :class:`Invalid` with our own message (and, if the problem is inside the value,
the key path below the field, e.g. ``("hours", 0)`` under ``recurrence``), or several at once
(``Invalid.every``). Errors pydantic raises itself get a plain message here. Text values are
never echoed (``show`` names their kind), so no secret can leak into a message, even one put
under the wrong key; names, keys, numbers and enumerated words (``kind``) may appear.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from triggerd.config.yamltree import Node, format_path
from triggerd.errors import ConfigProblem

Path_ = tuple[str | int, ...]

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class Invalid(ValueError):
    """A validation failure with its own message, optionally located below the field.

    ``also`` holds further, independent failures of the same value (each with its own key), so
    that one validator can report every problem it finds at once.
    """

    def __init__(self, message: str, *key: str | int, also: tuple[Invalid, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.key: Path_ = key
        self.also = also

    @classmethod
    def every(cls, found: list[Invalid]) -> Invalid:
        """One Invalid carrying all of ``found`` (not empty), in order."""
        first, *rest = found
        return cls(first.message, *first.key, also=(*first.also, *rest))

    def each(self) -> tuple[Invalid, ...]:
        """This failure and the ones it carries."""
        return (Invalid(self.message, *self.key), *self.also)


# Names are keys in the store: schedule_state.name, runs.schedule, datastore_entries.schedule
# and leases.name are String(200), and a poll's lease is named "poll:<schedule>". 150 leaves
# room for such prefixes (tests/unit/test_config_limits.py checks the columns).
MAX_NAME_LENGTH = 150


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a datastore, pipeline or schedule (None if it can)."""
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"name is {len(name)} characters long: at most {MAX_NAME_LENGTH} "
            "(it is a key in the database)"
        )
    if NAME_RE.fullmatch(name):
        return None
    return (
        f"name {name!r} is not valid: use letters, digits, '.', '_' and '-', "
        "starting with a letter or digit"
    )


def show(value: Any) -> str:
    """What a value is, for messages: numbers, booleans and null as written in YAML, anything
    else by its kind. Text is never echoed (it may be a secret put under the wrong key)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def unknown_key(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, [k for k in known if k != key], n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key '{key}'{hint}"


_PLAIN: dict[str, str] = {
    "string_type": "must be a string (quote numbers, booleans and dates)",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
    "path_type": "must be a path (a string)",
    "too_short": "must not be empty",
}


def _message(error: Any, path: Path_, known_keys: Iterable[str]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "value_error" and isinstance(ctx.get("error"), Invalid):
        return str(ctx["error"].message)
    if kind == "extra_forbidden":
        return unknown_key(str(path[-1]), known_keys)
    if kind == "missing":
        return f"missing required key '{path[-1]}'"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "union_tag_not_found":
        return "missing required key 'kind'"
    if kind == "union_tag_invalid":
        return f"unknown kind '{ctx.get('tag')}' (one of: {ctx.get('expected_tags')})"
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])


def _user_path(loc: tuple[Any, ...], data: Any) -> Path_:
    """The key path in the user's data: drops the union tags pydantic puts into ``loc``, and
    the ``trigger`` (with its kind and ``ignored``) that a schedule's flat keys are gathered
    into on load (``config/triggers.py``): the user wrote them beside the others."""
    if loc[:1] == ("trigger",) and isinstance(data, Mapping) and "trigger" not in data:
        loc = loc[2:]  # ("trigger", <kind>, key, ...) -> (key, ...)
        if loc[:1] == ("ignored",):
            loc = loc[1:]
    path: list[str | int] = []
    current = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(current, Mapping) and part not in current and current.get("kind") == part:
            continue  # the member of a union chosen by ``kind``
        path.append(part)
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            current = None
    return tuple(path)


def problems_from(
    exc: ValidationError,
    *,
    file: str,
    root: Node,
    prefix: Path_,
    data: Any,
    known_keys: Iterable[str] = (),
    rename: Callable[[Path_], Path_] = lambda path: path,
) -> list[ConfigProblem]:
    """One ConfigProblem per error of ``exc``, raised while validating ``data``, found at
    ``prefix`` in ``file`` (whose tree is ``root``). ``rename`` maps field names to the file's keys.
    """
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        at = _user_path(tuple(error["loc"]), data)
        ctx = error.get("ctx") or {}
        found = ctx.get("error")
        located: list[tuple[Path_, str]] = []
        if isinstance(found, Invalid):
            located = [(rename((*at, *each.key)), each.message) for each in found.each()]
        else:
            path = (*at, "kind") if error["type"].startswith("union_tag_") else at
            path = rename(path)
            located = [(path, _message(error, path, known_keys))]
        for path, message in located:
            line = root.line_at((*prefix, *path))
            problems.append(ConfigProblem(file, format_path((*prefix, *path)), message, line))
    return problems
