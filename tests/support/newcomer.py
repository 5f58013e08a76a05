"""What the README tells a newcomer to copy: its config snippet, saved where it says.

The README's "A config file" section holds the YAML snippet; the text after it says to save it as
``myconfig/triggerd.yaml`` in the checkout with a copy of ``config/jobs`` beside it. ``try_it``
builds exactly that in a fresh folder (with the ``data/inbox`` a checkout has), so the tests run
the snippet as pasted, not a tidied copy of it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.support.daemon import REPO

README = REPO / "README.md"
HEADING = "## A config file"
# The README's instructions for trying the snippet; the tests fail if they change without us.
SAVE_AS = "myconfig/triggerd.yaml"
COPY_JOBS = "mkdir myconfig && cp -r config/jobs myconfig/"


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced code block of a Markdown text, in order."""
    return [
        (m["info"].strip(), m["body"])
        for m in re.finditer(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", text, re.M | re.S)
    ]


def section(text: str, heading: str) -> str:
    """The Markdown from ``heading`` to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n")
    rest = text[start + len(heading) :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def config_snippet() -> str:
    """The first ``yaml`` block of the README's "A config file" section, exactly as written."""
    text = section(README.read_text("utf-8"), HEADING)
    yaml_blocks = [body for info, body in fenced_blocks(text) if info == "yaml"]
    assert yaml_blocks, f"no ```yaml block under {HEADING!r} in README.md"
    return yaml_blocks[0]


def try_it(root: Path) -> Path:
    """A checkout-like folder with the snippet saved as the README says; its config folder."""
    text = section(README.read_text("utf-8"), HEADING)
    assert f"`{SAVE_AS}`" in text, f"README.md no longer says to save the snippet as {SAVE_AS}"
    assert COPY_JOBS in text, f"README.md no longer says `{COPY_JOBS}`"
    (root / "data" / "inbox").mkdir(parents=True)  # in every checkout (data/inbox/.gitkeep)
    shutil.copytree(REPO / "config" / "jobs", root / "config" / "jobs")
    config = root / Path(SAVE_AS).parent
    config.mkdir()
    shutil.copytree(root / "config" / "jobs", config / "jobs")  # cp -r config/jobs myconfig/
    (config / Path(SAVE_AS).name).write_text(config_snippet(), encoding="utf-8")
    return config
