"""Snapshot rows (``store/snapshots.py``) on SQLite and PostgreSQL: the new rows go in through
the driver's own ``executemany`` (a narrow INSERT for a row without a candidate, the full one
for a candidate), in batches, and read back exactly as written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triggerd.datastores.settle import Tracked
from triggerd.datastores.snapshot import Entry
from triggerd.store import Store, open_store, snapshots, states

T0 = datetime(2026, 12, 1, 12, 0, 30, 123456, tzinfo=UTC)
ROWS: dict[str, Tracked] = {
    "in/baseline.csv": Tracked(fired=Entry(1, "100")),
    "in/waiting.csv": Tracked(None, Entry(2, "200"), T0, 1),
    "in/newer.csv": Tracked(Entry(3, "300"), Entry(4, "400"), T0 + timedelta(hours=1), 2),
    "in/fired.csv": Tracked(fired=Entry(5, "500")),
    "in/zero.csv": Tracked(fired=Entry(0, "0")),
    "in/é ünïcode.csv": Tracked(fired=Entry(2**40, "1700000000123456789")),
}


def origins(store: Store) -> dict[str, int]:
    return store.read(snapshots.count_by_origin, "watch")


@pytest.mark.parametrize("per_statement", [2, 5_000])
def test_new_rows_read_back_as_written(
    store: Store, monkeypatch: pytest.MonkeyPatch, per_statement: int
) -> None:
    monkeypatch.setattr(snapshots, "_ROWS_PER_STATEMENT", per_statement)  # several batches
    store.write(states.ensure, "watch", T0)

    with store.writing() as conn:
        snapshots.write(
            conn, "watch", inserts=ROWS, updates={}, removals=[], fired={"in/fired.csv"}
        )

    assert store.read(snapshots.load, "watch") == ROWS
    assert origins(store) == {"settling": 2, "unknown": 3, "fired": 1}


def test_a_baseline_is_marked_as_such(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots, "_ROWS_PER_STATEMENT", 3)  # 7 rows: 3 statements
    store.write(states.ensure, "watch", T0)
    baseline = {f"in/{n:03d}.csv": Tracked(fired=Entry(n, str(n))) for n in range(7)}

    with store.writing() as conn:
        snapshots.write(conn, "watch", inserts=baseline, updates={}, removals=[], baseline=True)

    assert store.read(snapshots.load, "watch") == baseline
    assert store.read(snapshots.baseline, "watch", limit=3) == [
        ("in/000.csv", 0),
        ("in/001.csv", 1),
        ("in/002.csv", 2),
    ]


def test_a_row_already_there_is_kept_and_the_others_go_in(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blob event recorded a file (it fired) while the listing ran: its row stays."""
    monkeypatch.setattr(snapshots, "_ROWS_PER_STATEMENT", 2)
    store.write(states.ensure, "watch", T0)
    event = {"in/waiting.csv": Tracked(fired=Entry(9, "event"))}
    with store.writing() as conn:
        snapshots.write(
            conn, "watch", inserts=event, updates={}, removals=[], fired={"in/waiting.csv"}
        )

    with store.writing() as conn:
        snapshots.write(conn, "watch", inserts=ROWS, updates={}, removals=[], baseline=True)

    assert store.read(snapshots.load, "watch") == {**ROWS, **event}
    assert origins(store)["fired"] == 1


def _migrate(store_url: str, revision: str, *, down: bool = False) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import create_engine

    from triggerd.store.db import MIGRATIONS

    engine = create_engine(store_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    engine.dispose()


def _table_sql(store_url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(store_url)
    with engine.connect() as conn:
        sql = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'datastore_entries'")
        ).scalar_one()
    engine.dispose()
    return str(sql)


def test_snapshots_kept_before_migration_0008_are_kept_by_it_and_back(store_url: str) -> None:
    """0008 rebuilds the SQLite table without its rowid (PostgreSQL: nothing to do); the rows a
    daemon of 0007 kept come through it, and through its downgrade, unchanged."""
    from sqlalchemy import create_engine

    _migrate(store_url, "0007")
    engine = create_engine(store_url)
    with engine.begin() as conn:
        states.ensure(conn, "watch", T0)
        snapshots.write(conn, "watch", inserts=ROWS, updates={}, removals=[], baseline=True)
    engine.dispose()

    store = open_store(store_url)  # migrates to the head
    try:
        assert store.read(snapshots.load, "watch") == ROWS
        assert origins(store) == {"baseline": 4, "settling": 2}
    finally:
        store.close()
    if store_url.startswith("sqlite"):
        assert _table_sql(store_url).rstrip().endswith("WITHOUT ROWID")

    _migrate(store_url, "0007", down=True)
    if store_url.startswith("sqlite"):
        assert "WITHOUT ROWID" not in _table_sql(store_url)
    store = open_store(store_url)
    try:
        assert store.read(snapshots.load, "watch") == ROWS
    finally:
        store.close()
