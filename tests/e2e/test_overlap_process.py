"""Overlap policies with a slow command: three files arrive at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import cli, runs_json
from tests.support.inbox import Inbox, stop

pytestmark = pytest.mark.e2e

FILES = ["a.csv", "b.csv", "c.csv"]


def burst(tmp_path: Path, options: str) -> tuple[Inbox, list[dict[str, Any]]]:
    """Drop three files at once under ``options``; wait until each is decided; the runs."""
    inbox = Inbox(tmp_path, sleep=1.5, options=options)
    daemon = inbox.start()
    try:
        daemon.wait_event("poll.completed", baseline=True)
        for name in FILES:
            inbox.write(name, name)

        def decided() -> list[dict[str, Any]] | None:
            runs = runs_json(inbox.state, inbox.config)
            final = [r for r in runs if r["status"] in ("succeeded", "skipped")]
            return runs if len(runs) == 3 and len(final) == 3 else None

        runs: list[dict[str, Any]] = daemon.wait_for(decided, timeout=60, what="3 decided runs")
        stop(daemon)
    finally:
        daemon.kill()
    return inbox, runs


def spans(inbox: Inbox) -> list[tuple[float, float]]:
    """(start, end) of each command, from what the commands wrote."""
    started: dict[str, float] = {}
    result = []
    for line in inbox.out.read_text().splitlines():
        entry = json.loads(line)
        if entry["phase"] == "started":
            started[entry["fire_key"]] = entry["time"]
        else:
            result.append((started[entry["fire_key"]], entry["time"]))
    return sorted(result)


def test_allow_runs_them_at_the_same_time(tmp_path: Path) -> None:
    inbox, runs = burst(tmp_path, "")
    assert {r["status"] for r in runs} == {"succeeded"}
    (_, e1), (s2, _), (s3, _) = spans(inbox)
    assert s2 < e1 and s3 < e1  # all three overlap


def test_queue_runs_them_one_after_another(tmp_path: Path) -> None:
    inbox, runs = burst(tmp_path, "    overlap: queue\n")
    assert {r["status"] for r in runs} == {"succeeded"}
    ordered = spans(inbox)
    assert all(ordered[i][1] <= ordered[i + 1][0] for i in range(2))


def test_skip_runs_one_and_records_why_the_others_did_not(tmp_path: Path) -> None:
    inbox, runs = burst(tmp_path, "    overlap: skip\n")
    assert sorted(r["status"] for r in runs) == ["skipped", "skipped", "succeeded"]
    listed = cli("runs", "list", "--status", "skipped", state_dir=inbox.state, config=inbox.config)
    assert listed.returncode == 0
    assert listed.stdout.count("skipped: 1 run(s) of this schedule still running") == 2
    assert len(spans(inbox)) == 1
