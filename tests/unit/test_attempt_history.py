"""With the attempt history, a run's ``started_at`` is its current attempt's; the retries'
``max_elapsed`` still counts from the first attempt (or the first after `runs retry`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.unit.test_dispatcher import NOW, FakeQueue, dispatch_one, run_record
from triggerd.config.pipelines import RetryPolicy
from triggerd.errors import TransientSubmitError


def entry(started: datetime | None, **extra: Any) -> dict[str, Any]:
    at = started.isoformat() if started else None
    return {"attempt": 1, "started_at": at, "finished_at": None, "exit_code": None} | extra


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        (None, NOW),  # a first attempt
        ([entry(NOW - 2 * H)], NOW - 2 * H),
        ([entry(NOW - 3 * H), entry(NOW - 2 * H)], NOW - 3 * H),
        ([entry(NOW - 3 * H, retried=True)], NOW),  # `runs retry`: a new window
        ([entry(NOW - 3 * H, retried=True), entry(NOW - H)], NOW - H),
        ([entry(None, retried=True)], NOW),  # failed before it started, then retried
        ([entry(None), entry(NOW - H)], NOW - H),
    ],
)
def test_the_first_attempt_the_retries_count_from(
    history: list[dict[str, Any]] | None, expected: datetime
) -> None:
    run = replace(run_record(), history=history)
    assert run.first_attempt_started_at() == expected


def test_max_elapsed_counts_from_the_first_attempt_not_the_current_one() -> None:
    run = replace(run_record(attempts=2), started_at=NOW, history=[entry(NOW - 2 * H)])
    policy = RetryPolicy(max_attempts=5, max_elapsed=H)
    queue, _ = dispatch_one(
        TransientSubmitError("HTTP 503: busy"), queue=FakeQueue([run]), retry=policy
    )
    [(what, _, status, error)] = queue.told
    assert (what, status) == ("finish", "failed")
    assert error == "retries exhausted: max_elapsed 1h reached: HTTP 503: busy"


def test_a_run_retried_by_hand_gets_retries_again() -> None:
    history = [entry(NOW - 2 * H, retried=True)]
    run = replace(run_record(attempts=2), started_at=NOW, history=history)
    policy = RetryPolicy(max_attempts=5, max_elapsed=H)
    queue, _ = dispatch_one(
        TransientSubmitError("HTTP 503: busy"), queue=FakeQueue([run]), retry=policy
    )
    [told] = queue.told
    assert told[0] == "retry"
