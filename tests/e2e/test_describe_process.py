"""`triggerd schedules describe` from another process while a real daemon polls a folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import cli
from tests.support.inbox import Inbox, stop, wait_polls

pytestmark = pytest.mark.e2e


def describe(inbox: Inbox, *extra: str) -> Any:
    result = cli(
        "schedules", "describe", "new-files", *extra, state_dir=inbox.state, config=inbox.config
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in extra else result.stdout


def test_describe_shows_the_daemons_polls_the_fired_file_and_an_excluded_one(
    tmp_path: Path,
) -> None:
    inbox = Inbox(tmp_path)
    inbox.write("existing.csv", "was here first")
    daemon = inbox.start()
    try:
        daemon.wait_event("poll.completed", baseline=True)
        inbox.write("upload.tmp", "half written")
        inbox.write("new.csv", "a,b\n")
        daemon.wait_for(lambda: inbox.fired(), what="the run of new.csv")
        view = describe(inbox, "--json")
        text = describe(inbox)
        wait_polls(daemon, 2)  # nothing new: at debug
        stop(daemon)
    finally:
        daemon.kill()
    polls = view["polls"]
    assert polls[-1]["baseline"] and polls[-1]["listed"] == 1
    assert any(p["fired"] == 1 for p in polls)
    assert [p["started_at"] for p in polls] == sorted(
        (p["started_at"] for p in polls), reverse=True
    )
    not_fired = {f["path"]: (f["reason"], f["detail"]) for f in view["not_fired"]}
    assert not_fired == {
        "incoming/existing.csv": ("baseline", None),
        "incoming/upload.tmp": ("excluded", "*.tmp"),
    }
    [run] = [r for r in view["runs"] if r["data_path"]]
    assert run["data_path"]["relative_path"] == "incoming/new.csv"
    assert view["status"] == {
        "status": "Active",
        "source": "config",
        "config": "Active",
        "override": None,
    }
    assert view["entries"] == 2 and view["last_poll"] is not None
    assert "incoming/upload.tmp" in text and "*.tmp" in text
    completed = daemon.named("poll.completed")
    assert completed[0]["baseline"] and completed[0]["level"] == "info"
    assert completed[-1]["level"] == "debug" and completed[-1]["changes"] == 0
    watches = daemon.named("watch.started")
    assert {(w.get("schedule"), w.get("watching")) for w in watches} == {
        ("new-files", None),
        (None, "config"),
    }
