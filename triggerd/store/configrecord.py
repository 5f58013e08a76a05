"""The ``config_files`` table: the last valid config a daemon loaded on this database, file by
file, so that the commands that read or change state still work when a file on disk is broken
(functions over a Connection).

The set is replaced as a whole, in one transaction, and only when it differs from the one
recorded: a daemon restarted on the same config writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from triggerd.config.digest import ConfigFiles, config_digest
from triggerd.store.tables import config_files

RECORD_LOCK = 7_470_132  # the PostgreSQL advisory lock key of the record (replicas take turns)


@dataclass(frozen=True)
class RecordedConfig:
    """The files of the last valid config: their texts by path, when and by whom loaded."""

    texts: dict[str, str]
    loaded_at: datetime
    loaded_by: str


def recorded_digest(conn: Connection) -> str | None:
    """The digest of the recorded files (None when none are)."""
    rows = conn.execute(select(config_files.c.path, config_files.c.sha256)).all()
    return config_digest({path: sha256 for path, sha256 in rows}) if rows else None


def record(conn: Connection, files: ConfigFiles, now: datetime, loaded_by: str) -> bool:
    """Record ``files`` as the last valid config, unless they are the ones recorded already.
    True if they were written."""
    if conn.dialect.name == "postgresql":  # two replicas starting together: one writes
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({RECORD_LOCK})")
    if recorded_digest(conn) == files.digest:
        return False
    conn.execute(delete(config_files))
    if not files.texts:
        return True
    conn.execute(
        config_files.insert(),
        [
            {
                "path": path,
                "content": text,
                "sha256": files.sha256s[path],
                "loaded_at": now,
                "loaded_by": loaded_by,
            }
            for path, text in sorted(files.texts.items())
        ],
    )
    return True


def recorded(conn: Connection) -> RecordedConfig | None:
    """The last valid config recorded, or None."""
    rows = conn.execute(
        select(
            config_files.c.path,
            config_files.c.content,
            config_files.c.loaded_at,
            config_files.c.loaded_by,
        ).order_by(config_files.c.path)
    ).all()
    if not rows:
        return None
    texts = {row.path: row.content for row in rows}
    return RecordedConfig(texts, rows[0].loaded_at, rows[0].loaded_by)
