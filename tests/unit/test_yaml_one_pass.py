"""A config file is read in one pass over libyaml's events (``yamlnodes.OnePass``): the tree
built and the limits counted as the events come. What it reads is defined by the two passes it
replaced (``yamllimits.measure`` over the events, then the composed nodes built), which still
read the files it leaves: the same tree, lines, problems in the same order, the same refusal at
the same line, the same invalid YAML."""

from __future__ import annotations

from typing import Any

import pytest

from triggerd.config import yamllimits, yamlnodes, yamltree
from triggerd.config.yamllimits import MAX_DEPTH, measure


class _Left:
    """A one pass that leaves every file to the two passes."""

    def __init__(self, text: str, file: str) -> None:
        pass

    def read(self) -> Any:
        raise yamlnodes.Elsewhere("left on purpose")


def _read(text: str) -> str:
    """``parse_yaml``'s tree and problems (repr: ``.nan`` is not equal to itself)."""
    root, problems = yamltree.parse_yaml(text, "c.yaml")
    return repr((root, [(p.key, p.message, p.line) for p in problems]))


def two_passes(text: str) -> str:
    """What the reading was before the one pass: measure the events, then compose and build."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yamltree, "OnePass", _Left)
        return _read(text)


def _never(text: str) -> None:
    raise AssertionError("the one pass left this file to the two passes")


def one_pass(text: str) -> str:
    """The reading by the one pass alone (an AssertionError if it leaves the file)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yamltree, "measure", _never)
        return _read(text)


def left(text: str) -> bool:
    try:
        yamlnodes.OnePass(text, "c.yaml").read()
    except yamlnodes.Elsewhere:
        return True
    except Exception:  # invalid YAML: parse_yaml reports it
        return False
    return False


DEEP_FLOW = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
PLAIN_CONFIG = (
    "pipelines:\n  p: {kind: command, argv: [echo, hi]}\nschedules:\n"
    '  - {"name": "s", "pipeline": "p", "recurrence": {"frequency": "Day", "interval": 1}}\n'
)
# Every one of these is read by the one pass itself.
READ_IN_ONE_PASS = {
    "a plain config": PLAIN_CONFIG,
    "scalars of every kind": (
        "a: [on, yes, 'yes', 0o17, 1_000, 010, .inf, -.inf, .nan, 2024-01-01, 18:30, ~, null,\n"
        "    '', 1e3, 0x1F, 0b101, +.5, -_, TRUE, =, !!str 10, ! 12, !!int 0x10, !!int abc,\n"
        "    !!bool yes, !!float 1, !!timestamp x, " + "1" * 4100 + "]\n"
    ),
    "an empty document": "---\n",
    "only comments": "# nothing\n",
    "a scalar document": "just text\n",
    "a key given twice": "a: 1\nb: [yes]\na: {c: on}\n",
    "keys that are not strings": "? [a]\n: &x {b: yes}\n? {c: 1}\n: 2\n",
    "an alias of a scalar, with its problem again": "a: &x yes\nb: [*x, *x]\n",
    "an alias of a mapping, shared": "a: &x {b: on}\nc: *x\nd: [*x]\n",
    "an alias of itself": "a: &x [1, *x, {b: *x}]\n",
    "merge keys": "d: &d {a: 1, b: off}\ns:\n  b: 2\n  <<: [*d, {c: yes}]\n  <<: {e: on}\n",
    "merges of what is not a mapping": "a: &s [1]\nb: {<<: 5}\nc: {<<: [1, [2], *s, {x: on}]}\n",
    "keys given twice on one line with a merge": "{<<: {a: yes}, b: yes}\n",
    "a key given twice in a merged mapping": "s:\n  <<: {a: 1, a: 2, c: [on]}\n  b: 3\n",
    "an alias as a key": "a: &k name\n*k : 2\n",
    "at the depth limit": "a: " + "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH + "\n",
    "one level deeper, flow": "x: 1\nschedules: " + DEEP_FLOW + "\n",
    "one level deeper, block": "".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)),
    "deeper through an alias": "a: &a "
    + "[" * 60
    + "]" * 60
    + "\nb: "
    + "[" * 41
    + "*a"
    + "]" * 41,
    "a limit passed before a syntax error": "a: " + DEEP_FLOW + "\nb: [never closed\n",
    "a syntax error": "a: [1, 2\nb: 3\n",
    "a tab": "a:\n\tb: 1\n",
    "a YAML 1.1 directive": "%YAML 1.1\n---\na: 1\n",
    "a YAML 1.2 directive": "%YAML 1.2\n---\na: yes\n",
}
# These the one pass leaves to the two passes (and they read them as before).
READ_ELSEWHERE = {
    "an undefined alias": "a: *x\n",
    "an anchor given twice": "a: &x 1\nb: &x 2\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "a tag without a constructor": "a: !foo x\n",
    "'<<' as a value": "a: <<\n",
    "a merged mapping aliased before its mapping ends": "s:\n  <<: &b {x: yes}\n  y: *b\n",
    "an alias of a value left unbuilt": "? [a]\n: &x {b: yes}\nc: *x\n",
    "a merge of an alias of a list": "a: &l [{x: 1}]\nb: {<<: *l}\n",
    "a merge of itself": "a: &a {<<: *a}\n",
}


@pytest.mark.parametrize("text", list(READ_IN_ONE_PASS.values()), ids=list(READ_IN_ONE_PASS))
def test_the_one_pass_reads_a_file_as_the_two_passes_did(text: str) -> None:
    assert one_pass(text) == two_passes(text)


@pytest.mark.parametrize("text", list(READ_ELSEWHERE.values()), ids=list(READ_ELSEWHERE))
def test_what_the_one_pass_leaves_is_read_by_the_two_passes(text: str) -> None:
    assert left(text)
    if text == READ_ELSEWHERE["a merge of itself"]:  # a problem, not a crash (it raised)
        _, problems = yamltree.parse_yaml(text, "c.yaml")
        assert [p.message for p in problems] == [yamltree.SELF_ALIAS]
        return
    assert _read(text) == two_passes(text)


@pytest.mark.parametrize("limit", [1, 5, 17, 40])
def test_too_many_values_are_refused_at_the_same_line(
    limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamllimits, "MAX_VALUES", limit)
    text = "a: &r 1\nb: [x, y,\n  z]\nc:\n  d: &m {e: f}\n  g:\n    - *m\n    - *r\n" * 1
    text += "h: [i, j]\nk: {l: m, n: o}\n" * 3
    refused = measure(text)
    assert refused is not None
    assert one_pass(text) == repr((None, [("", refused.message, refused.line)]))


def test_a_plain_file_is_not_passed_over_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(yamltree, "measure", lambda text: seen.append(text))
    for text in (PLAIN_CONFIG, "a: &x {b: [1, 2]}\nc: *x\nd: {<<: *x}\n"):
        assert yamltree.parse_yaml(text, "c.yaml")[0] is not None
    assert seen == []


def test_plain_scalars_are_read_as_before_in_one_pass() -> None:
    text = "a: [on, 'yes', 0o17, 1_000, 010, .inf, -.inf, 2024-01-01, 18:30, ~, '', TRUE, 1e3]\n"
    root, problems = yamltree.parse_yaml(text, "c.yaml")
    assert root is not None
    inf = float("inf")
    read = ["on", "yes", 15, 1000, 10, inf, -inf, "2024-01-01", "18:30", None, "", True, 1000.0]
    assert root.plain() == {"a": read}
    assert [(p.key, p.line) for p in problems] == [("a[0]", 1)]  # on: YAML 1.1's true
