"""Runs: ``runs list --json`` and ``runs show --json`` (documented contracts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict, Unpack

from triggerd.errors import RunNotFound
from triggerd.runs import RunRecord
from triggerd.store import Store, queries

LIST_LIMIT = 50  # runs listed when no limit is given


class RunFilters(TypedDict, total=False):
    """The filters of ``runs list`` (each left out, or None, lets every run through)."""

    schedule: str | None
    status: str | None
    trigger: str | None
    since: datetime | None
    until: datetime | None
    file: str | None
    limit: int


def run_records(store: Store, **filters: Unpack[RunFilters]) -> list[RunRecord]:
    """The newest runs first: of one schedule, with one status, made by one trigger kind,
    recorded at or after ``since`` and before ``until``, for a datastore file whose relative
    path contains ``file``; at most ``limit`` (default ``LIST_LIMIT``)."""
    status, trigger = filters.get("status"), filters.get("trigger")
    return store.read(
        queries.list_runs,
        schedule=filters.get("schedule"),
        statuses=[status] if status else None,
        triggers=[trigger] if trigger else None,
        since=filters.get("since"),
        until=filters.get("until"),
        file=filters.get("file"),
        limit=filters.get("limit", LIST_LIMIT),
    )


def run_items(store: Store, **filters: Unpack[RunFilters]) -> list[dict[str, Any]]:
    """``runs list --json`` for the same filters (:func:`run_records`)."""
    return [run_item(record) for record in run_records(store, **filters)]


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
