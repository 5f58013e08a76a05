"""Runs: ``runs list --json`` and ``runs show --json`` (documented contracts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from triggerd.errors import RunNotFound
from triggerd.runs import RunRecord
from triggerd.store import Store, queries

LIST_LIMIT = 50  # runs listed when no limit is given


def run_records(
    store: Store,
    *,
    schedule: str | None = None,
    status: str | None = None,
    trigger: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    file: str | None = None,
    limit: int = LIST_LIMIT,
) -> list[RunRecord]:
    """The newest runs first: of one schedule, with one status, made by one trigger kind,
    recorded at or after ``since`` and before ``until``, for a datastore file whose relative
    path contains ``file``; at most ``limit``. A filter left None lets every run through."""
    return store.read(
        queries.list_runs,
        schedule=schedule,
        statuses=[status] if status else None,
        triggers=[trigger] if trigger else None,
        since=since,
        until=until,
        file=file,
        limit=limit,
    )


def run_items(
    store: Store,
    *,
    schedule: str | None = None,
    status: str | None = None,
    trigger: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    file: str | None = None,
    limit: int = LIST_LIMIT,
) -> list[dict[str, Any]]:
    """``runs list --json`` for the same filters (:func:`run_records`)."""
    records = run_records(
        store,
        schedule=schedule,
        status=status,
        trigger=trigger,
        since=since,
        until=until,
        file=file,
        limit=limit,
    )
    return [run_item(record) for record in records]


def run_item(record: RunRecord) -> dict[str, Any]:
    """One run as ``runs list --json`` shows it."""
    return record.as_json()


def run_json(record: RunRecord) -> dict[str, Any]:
    """One run as ``runs show --json`` shows it: with its earlier attempts and the tail of
    its output."""
    return {**run_item(record), "history": record.history or [], "output": record.output}


def run_view(store: Store, run_id: int) -> dict[str, Any] | None:
    """``runs show --json`` of run ``run_id``; None if there is no such run."""
    try:
        record = store.read(queries.get_run, run_id)
    except RunNotFound:
        return None
    return run_json(record)
