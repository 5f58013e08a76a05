"""The ``store_meta`` table: facts about the database itself (functions over a Connection)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.engine import Connection

from triggerd.store.sql import insert
from triggerd.store.tables import store_meta

_STORE_ID = select(store_meta.c.value).where(store_meta.c.key == "store_id")


def store_id(conn: Connection) -> str | None:
    """This database's id (made with its schema): tells its runs from another database's.
    None for a schema made without migration 0004's row (see ``make_store_id``)."""
    found = conn.execute(_STORE_ID).scalar()
    return None if found is None else str(found)


def make_store_id(conn: Connection) -> str:
    """Give a database that has no id one (whoever asks first makes it); the id."""
    stmt = insert(conn.dialect, store_meta).values(key="store_id", value=uuid.uuid4().hex)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
    return str(conn.execute(_STORE_ID).scalar_one())
