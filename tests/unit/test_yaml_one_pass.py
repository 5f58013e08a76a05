"""A config text without anchors, aliases or directives is read in one pass: composed, then its
tree measured (``measure_tree``) instead of a pass over its events first (``measure``). Both
must refuse the same files for the same reason at the same line, and a file that does not
compose must be reported as the two passes report it."""

from __future__ import annotations

import pytest

from triggerd.config import yamllimits, yamltree
from triggerd.config.yamllimits import MAX_DEPTH, measure, measure_tree
from triggerd.config.yamlrules import ConfigLoader


def _tree_measure(text: str) -> yamllimits.Refusal | None:
    loader = ConfigLoader(text)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    assert root is not None
    return measure_tree(root)


DEEP_FLOW = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
TEXTS = {
    "at the depth limit": "a: " + "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH + "\n",
    "one level deeper, flow": "x: 1\nschedules: " + DEEP_FLOW + "\n",
    "one level deeper, block": "".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)),
    "deeper inside a later item": "a: [1, 2]\nb:\n  - c: 1\n  - " + DEEP_FLOW + "\n",
    "a plain config": (
        "pipelines:\n  p: {kind: command, argv: [echo, hi]}\nschedules:\n"
        "  - {name: s, pipeline: p, recurrence: {frequency: Day, interval: 1}}\n"
    ),
    "merge of an inline mapping": "a:\n  <<: {x: 1, y: [2, 3]}\n  z: 4\n",
}


@pytest.mark.parametrize("text", list(TEXTS.values()), ids=list(TEXTS))
def test_the_tree_is_refused_as_the_events_are(text: str) -> None:
    assert _tree_measure(text) == measure(text)


@pytest.mark.parametrize("limit", [1, 5, 17, 40])
def test_too_many_values_are_refused_at_the_same_line(
    limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamllimits, "MAX_VALUES", limit)
    text = "a: 1\nb: [x, y,\n  z]\nc:\n  d: {e: f}\n  g:\n    - h\n    - i\n" * 3
    refused = measure(text)
    assert refused is not None
    assert _tree_measure(text) == refused


def test_a_limit_passed_before_a_syntax_error_is_still_what_is_reported() -> None:
    text = "a: " + DEEP_FLOW + "\nb: [never closed\n"
    node, problems = yamltree.parse_yaml(text, "c.yaml")
    assert node is None
    assert [(p.line, p.message) for p in problems] == [
        (1, f"lists and mappings are nested more than {MAX_DEPTH} levels deep (the limit)")
    ]


def test_only_a_text_without_anchors_aliases_or_directives_skips_the_event_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(yamltree, "measure", lambda text: seen.append(text))
    plain = "a: {b: [1, 2]}\n"
    referring = "a: &x {b: [1, 2]}\nc: *x\n"
    assert yamltree.parse_yaml(plain, "c.yaml")[0] is not None
    assert seen == []
    assert yamltree.parse_yaml(referring, "c.yaml")[0] is not None
    assert seen == [referring]
