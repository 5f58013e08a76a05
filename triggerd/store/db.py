"""Opening the store: engine, SQLite pragmas, migrations, and the one-daemon-per-SQLite lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from triggerd.errors import StoreLocked, TriggerdError
from triggerd.store.repository import Store

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 7_470_131  # the PostgreSQL advisory lock key of triggerd's migrations


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock up front (IMMEDIATE), so two writers never deadlock
        # upgrading a read transaction to a write one; a reader (Store.reading) takes no lock.
        if conn.get_execution_options().get("triggerd_read_only"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_store_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_pragmas(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


class SchemaTooNew(TriggerdError):
    """The database was migrated by a newer triggerd than this one."""


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already).

    A database already at a revision this triggerd does not know (a newer version migrated it)
    is refused: running old code on a newer schema could lose data.
    """
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(cfg)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Replicas started together migrate one after the other (released at commit).
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
            raise SchemaTooNew(
                f"the database schema is at revision {current!r}, newer than this triggerd "
                f"knows (up to {scripts.get_current_head()!r}); upgrade triggerd, or restore "
                "the backup taken before the upgrade"
            )
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class SqliteLock:
    """An exclusive lock next to the SQLite file: SQLite supports one daemon at a time."""

    def __init__(self, database: str) -> None:
        self.path = Path(database + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StoreLocked(
                f"another triggerd daemon (pid {holder}) is already running on "
                f"{self.path.with_suffix('')}; SQLite supports one daemon at a time — "
                "use PostgreSQL (TRIGGERD_DATABASE_URL) to run several replicas"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` for the block (waits for other processes and threads)."""
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def open_store(url: str, *, daemon: bool = False) -> Store:
    """Open (and migrate) the store. ``daemon=True`` also takes the SQLite single-daemon lock."""
    parsed = make_url(url)
    lock: SqliteLock | None = None
    if daemon and parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise TriggerdError("the daemon needs a SQLite file, not an in-memory database")
        lock = SqliteLock(parsed.database)
        lock.acquire()
    engine = create_store_engine(url)
    try:
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            # As on PostgreSQL, stores opened together migrate one after the other: the first
            # connection switches the file to WAL, which SQLite refuses at once ("database is
            # locked", no busy wait) while another connection opens the file.
            with _file_lock(parsed.database + ".migrate.lock"):
                migrate(engine)
        else:
            migrate(engine)
    except Exception:
        engine.dispose()
        if lock is not None:
            lock.release()
        raise
    return Store(engine, on_close=lock.release if lock else None)
