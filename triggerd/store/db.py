"""Opening the store: engine, SQLite pragmas, migrations, and the one-daemon-per-SQLite lock.

Every failure to reach, open or create the database becomes one :class:`StoreUnavailable`
whose message is one line: the URL without its password, and the cause (``connection refused``,
``database "x" does not exist``, ``no driver for bogus://``, ``permission denied creating
/root/x``). A URL that does not parse is never echoed: it may be a password.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from triggerd.errors import (
    DatabaseMissing,
    SchemaTooNew,
    StoreLocked,
    StoreUnavailable,
    TriggerdError,
)
from triggerd.redact import scrub
from triggerd.store.sql import read_only
from triggerd.store.store import Store

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


def sqlite_file(url: str | URL) -> str | None:
    """The absolute path of a SQLite database file; None for another database, an in-memory
    one, or a ``uri=true`` URL (whose file name is SQLite's business)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("uri"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return str(Path(parsed.database).absolute())


def _never_creating(parsed: URL) -> URL:
    """The same SQLite database opened with ``mode=rw``: SQLite refuses, rather than creates,
    a file that does not exist (no check-then-open race)."""
    if parsed.query.get("uri"):
        return parsed if "mode" in parsed.query else parsed.update_query_dict({"mode": "rw"})
    path = sqlite_file(parsed)
    if path is None:
        return parsed
    uri = "file:" + quote(path, safe="/")
    return parsed.set(database=uri).update_query_dict({"uri": "true", "mode": "rw"})


def create_store_engine(url: str | URL, *, create: bool = True) -> Engine:
    """An engine for ``url``. ``create=False``: a SQLite file (and its folder) is never created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None and create:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        target = parsed if create else _never_creating(parsed)
        engine = create_engine(target, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_pragmas(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


# The newest migration in migrations/versions (tests/contract/test_store.py checks it against
# alembic's own answer). A start on a database already there reads one row and never imports
# alembic, with mako and pygments (~0.1 s of every start).
SCHEMA_HEAD = "0008"


def _current_revision(conn: Connection) -> str | None:
    """The revision the database is at (None: never migrated), as alembic keeps it."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return None if revision is None else str(revision)


def schema_is_current(engine: Engine) -> bool:
    """True when the schema is at the newest revision; reads only (no SQLite write lock)."""
    with read_only(engine) as conn:
        return _current_revision(conn) == SCHEMA_HEAD


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already).

    A database already at a revision this triggerd does not know (a newer version migrated it)
    is refused: running old code on a newer schema could lose data.
    """
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(cfg)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Replicas started together migrate one after the other (released at commit).
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        current = _current_revision(conn)
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
def _file_lock(path: str, *, create: bool = True) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` for the block (waits for other processes and threads).

    ``create=False``: a lock file that does not exist is not created, and the block runs
    without it.
    """
    flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o666)
    except FileNotFoundError:
        if create:
            raise
        fd = None
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def open_store(url: str, *, daemon: bool = False, create: bool = True) -> Store:
    """Open the store and bring its schema up to date.

    ``daemon=True`` also takes the SQLite single-daemon lock. ``create=False`` (commands that
    only read, or that cannot succeed on an empty database) creates nothing: a SQLite file that
    does not exist raises :class:`DatabaseMissing`, and a schema that is already current is not
    written to (nor is ``<db>.migrate.lock`` created). Raises :class:`StoreUnavailable` with a
    one-line message when the database cannot be reached, opened or created.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise StoreUnavailable(UNPARSABLE) from None
    try:
        return _open(parsed, daemon=daemon, create=create)
    except TriggerdError:
        raise
    except (SQLAlchemyError, OSError, ImportError) as exc:
        path = sqlite_file(parsed)
        if not create and path is not None and not Path(path).exists():
            raise DatabaseMissing(path) from exc  # deleted while it was being opened
        raise store_error(url, exc, opening=True) from exc


def _open(parsed: URL, *, daemon: bool, create: bool) -> Store:
    path = sqlite_file(parsed)
    if not create and path is not None and not Path(path).exists():
        raise DatabaseMissing(path)
    lock: SqliteLock | None = None
    if daemon and parsed.get_backend_name() == "sqlite":
        if path is None:
            raise TriggerdError("the daemon needs a SQLite file, not an in-memory database")
        lock = SqliteLock(path)
        lock.acquire()
    try:
        engine = create_store_engine(parsed, create=create)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    try:
        _bring_up_to_date(engine, path, create=create)
    except BaseException:
        engine.dispose()
        if lock is not None:
            lock.release()
        raise
    return Store(engine, on_close=lock.release if lock else None)


def _bring_up_to_date(engine: Engine, path: str | None, *, create: bool) -> None:
    new_file = create and path is not None and not Path(path).exists()
    if not new_file and schema_is_current(engine):
        return  # nothing to migrate: a reader writes nothing, a daemon imports no alembic
    if path is None:
        migrate(engine)
        return
    # As on PostgreSQL, stores opened together migrate one after the other: the first
    # connection switches the file to WAL, which SQLite refuses at once ("database is
    # locked", no busy wait) while another connection opens the file.
    with _file_lock(path + ".migrate.lock", create=create):
        migrate(engine)


# -- one-line, password-free reasons -----------------------------------------------------------

UNPARSABLE = (
    "cannot open the database: the URL given (--database or TRIGGERD_DATABASE_URL) is not a "
    "SQLAlchemy URL such as postgresql+psycopg://user@host/triggerd or "
    "sqlite:////var/lib/triggerd/triggerd.db (it is not shown: it may hold a password)"
)
_SECRET_QUERY = re.compile(r"pass|secret|token|key", re.IGNORECASE)
_PG_CONNECT = re.compile(
    r'connection to server (?:at "[^"]*", port \d+|on socket "(?P<socket>[^"]*)") failed: '
)


def shown_url(url: str) -> str | None:
    """``url`` as it may be shown: password and secret-like query values as ``***``; None for a
    string that does not parse as a URL (not shown at all)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        return None
    hidden = {k: "***" for k in parsed.query if _SECRET_QUERY.search(k)}
    return parsed.update_query_dict(hidden).render_as_string(hide_password=True)


def store_error(url: str, exc: BaseException, *, opening: bool = False) -> StoreUnavailable:
    """The one-line StoreUnavailable for ``exc`` raised opening or using the database ``url``."""
    shown = shown_url(url)
    if shown is None:
        return StoreUnavailable(UNPARSABLE)
    cause = _cause(exc, make_url(url))
    if opening:
        return StoreUnavailable(f"cannot open the database {shown}: {cause}")
    return StoreUnavailable(f"the database {shown} failed: {cause}")


def _cause(exc: BaseException, parsed: URL) -> str:
    if isinstance(exc, NoSuchModuleError):
        return f"no driver for {parsed.drivername}://"
    if isinstance(exc, ImportError):
        missing = f" (module {exc.name!r} is not installed)" if exc.name else ""
        return f"no driver for {parsed.drivername}://{missing}"
    if isinstance(exc, OSError):
        return _os_cause(exc)
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = _first_line(exc.orig)
        if text == "unable to open database file" and sqlite_file(parsed):
            return _sqlite_open_cause(str(sqlite_file(parsed)))
        return _without_secrets(_driver_cause(text), parsed)
    return _without_secrets(_first_line(exc), parsed)


def _os_cause(exc: OSError) -> str:
    what = "permission denied" if isinstance(exc, PermissionError) else None
    what = what or (exc.strerror or type(exc).__name__).lower()
    return f"{what} creating {exc.filename}" if exc.filename else what


def _driver_cause(text: str) -> str:
    """psycopg's ``connection failed: connection to server at "h", port 1 failed: Connection
    refused`` -> ``connection refused``; ``FATAL:  database "x" does not exist`` -> the rest."""
    found = None
    for found in _PG_CONNECT.finditer(text):  # noqa: B007 - the last one
        continue
    if found is not None:
        socket = found.group("socket")
        text = text[found.end() :] + (f" (socket {socket})" if socket else "")
    text = re.sub(r"^(?:FATAL|ERROR):\s+", "", text.strip())
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return text


def _sqlite_open_cause(path: str) -> str:
    folder = Path(path).parent
    if not folder.is_dir():
        return f"folder {folder} does not exist"
    if not Path(path).exists() and not os.access(folder, os.W_OK):
        return f"permission denied creating {path}"
    if not os.access(path, os.R_OK):
        return f"permission denied opening {path}"
    return f"unable to open the database file {path}"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def _without_secrets(text: str, parsed: URL) -> str:
    """A driver's message should never repeat the password; make sure it does not."""
    secrets = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if _SECRET_QUERY.search(key):
            secrets.extend([value] if isinstance(value, str) else value)
    return scrub(text, [str(secret) for secret in secrets])
