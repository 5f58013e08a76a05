"""What every store module shares: the dialect's INSERT, the batch size of ``IN (...)`` lists,
the read-only connection."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from sqlalchemy import Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect

T = TypeVar("T")

BATCH = 500  # values per ``... IN (...)`` statement (names, fire keys, paths)


def insert(dialect: Dialect, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's own INSERT, which has ``ON CONFLICT``."""
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    if dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database {dialect.name!r} (use SQLite or PostgreSQL)")


def chunks(items: Sequence[T], size: int = BATCH) -> Iterator[list[T]]:
    """``items`` in slices of ``size``, in order (one statement each)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def read_only(engine: Engine) -> Connection:
    """A connection for reads only: it never holds SQLite's write lock (see db._on_begin)."""
    return engine.execution_options(triggerd_read_only=True).connect()
