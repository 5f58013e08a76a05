"""Bulk statements through the driver's own ``executemany``: a planning pass's thousand fires
(the run INSERTs, and the cursor UPDATE of each schedule)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.dml import UpdateBase


@dataclass(frozen=True)
class BulkStatement:
    """An INSERT (or UPDATE) run once per row through the DBAPI's own ``executemany``.

    SQLAlchemy's executemany builds and processes a parameter dict per row (~15 us), most of a
    1,000-fire planning pass. Here the statement is compiled once, and each value goes through
    its bind parameter's type processor (the conversion SQLAlchemy itself would apply: UTC
    datetimes, JSON) straight into the tuple (positional paramstyle) or dict (named) the driver
    takes. Same SQL, same stored values; contract-tested on SQLite and PostgreSQL.
    """

    sql: str
    positional: bool
    names: tuple[str, ...]  # the parameters, in the order of a positional statement
    plan: tuple[tuple[str, Any, Any], ...]  # (row key or "", processor, converted constant)

    @classmethod
    def compile(
        cls, stmt: UpdateBase, dialect: Dialect, keys: list[str], *, columns: bool = True
    ) -> BulkStatement:
        """``keys``: what each row gives; for an INSERT (``columns``), its columns, for an
        UPDATE with ``bindparam``s of their own names, those names (``columns=False``)."""
        compiled = stmt.compile(dialect=dialect, column_keys=keys if columns else None)
        constants = compiled.params  # the statement's own values (the SET clause, LIKE pattern)
        binds = {rendered: bind for bind, rendered in compiled.bind_names.items()}
        names = tuple(compiled.positiontup or binds)
        plan = []
        for name in names:
            processor = binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if name in keys:
                plan.append((name, processor, None))
            else:
                value = constants[name]
                plan.append(("", None, processor(value) if processor else value))
        return cls(compiled.string, compiled.positiontup is not None, names, tuple(plan))

    def run(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
        """Insert ``rows`` (all with the compiled keys); the number of rows changed."""
        return self.execute(conn, self.params(rows))

    def params(self, rows: list[dict[str, Any]]) -> list[Any]:
        """The driver's parameters for ``rows``, converted: no database needed, so a pass
        prepared before its slot does this before the slot, not on the commit's clock."""
        plan = [(key, proc and _remembering(proc), const) for key, proc, const in self.plan]

        def values(row: dict[str, Any]) -> list[Any]:
            return [
                (proc(row[key]) if proc else row[key]) if key else const
                for key, proc, const in plan
            ]

        if self.positional:
            return [tuple(values(row)) for row in rows]
        return [dict(zip(self.names, values(row), strict=True)) for row in rows]

    def execute(self, conn: Connection, params: list[Any]) -> int:
        """Run the statement once per row of ``params`` (from ``params``); the rows changed."""
        result = conn.exec_driver_sql(self.sql, params)
        return len(params) if result.rowcount < 0 else int(result.rowcount)


def _remembering(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``processor`` converting each distinct hashable value once (the rows of a pass share
    their ``created_at`` and, schedule by schedule, their slot)."""
    done: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return done[value]
        except KeyError:
            converted = done[value] = processor(value)
            return converted
        except TypeError:  # unhashable: a JSON dict
            return processor(value)

    return convert


def alike(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by their columns: one executemany needs the same keys in every row."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return list(groups.values())
