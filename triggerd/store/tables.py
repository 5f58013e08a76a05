"""Table definitions (SQLAlchemy Core). Alembic migrations create them; see migrations/versions."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite stores it naive, PostgreSQL timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; use UTC-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Integer primary keys: BIGINT on PostgreSQL, INTEGER (rowid alias) on SQLite.
RunId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

schedule_state = Table(
    "schedule_state",
    metadata,
    Column("name", String(200), primary_key=True),
    # When the daemon first saw the schedule: the anchor of a recurrence without start_time.
    Column("first_seen_at", UTCDateTime(), nullable=False),
    # The latest slot already decided (fired or skipped); planning continues after it.
    Column("cursor_at", UTCDateTime(), nullable=True),
    # Operator override from `triggerd schedules enable|disable`; NULL = as configured.
    Column("enabled", Boolean(), nullable=True),
    Column("last_poll_at", UTCDateTime(), nullable=True),
    Column("entries", Integer(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Who set the override, when and why (`schedules disable NAME --note TEXT`); NULL with it.
    Column("override_note", Text(), nullable=True),
    Column("override_at", UTCDateTime(), nullable=True),
    Column("override_by", String(200), nullable=True),
    # When a blob event (a queue message) last reached this datastore schedule's folder.
    Column("last_event_at", UTCDateTime(), nullable=True),
)

runs = Table(
    "runs",
    metadata,
    Column("id", RunId, primary_key=True, autoincrement=True),
    Column("schedule", String(200), nullable=False, index=True),
    Column("trigger", String(16), nullable=False),  # time | datastore | manual
    Column("fire_key", String(1000), nullable=False, unique=True),
    Column("scheduled_for", UTCDateTime(), nullable=True),
    # pending -> running -> succeeded | failed (| submitted for remote targets, then
    # succeeded | failed | canceled when followed); skipped
    Column("status", String(16), nullable=False),
    Column("reason", Text(), nullable=True),  # why a fire was skipped
    Column("parameters", JSON(), nullable=False),
    Column("data_path", JSON(), nullable=True),
    Column("attempts", Integer(), nullable=False, default=0),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("claimed_by", String(100), nullable=True),
    # A claim is the claiming daemon's while this is in the future; it renews it while the run
    # is in flight, and another replica may take the run over once it has expired.
    Column("claim_expires_at", UTCDateTime(), nullable=True),
    Column("external_id", String(500), nullable=True),
    Column("exit_code", Integer(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("output", Text(), nullable=True),
    # The process group of the command attempt in flight: its leader's pid and start time, the
    # host and boot (see triggerd/submitters/processgroup.py), and the attempt. Set right after
    # the command starts; cleared when the attempt's end is recorded, so a run still holding
    # one when it is claimed again had a daemon die under it.
    Column("process", JSON(), nullable=True),
    # What happened to an earlier attempt's processes (ended before the next attempt, or not
    # checkable from here); shown by `triggerd runs show`.
    Column("note", Text(), nullable=True),
    # The earlier attempts of the run, oldest first: [{attempt, started_at, finished_at,
    # exit_code, error}]; the columns above describe the current (or last) attempt only.
    Column("history", JSON(), nullable=True),
    # A remote run followed to its end (store/follows.py; migration 0006). While a `submitted`
    # run is followed, ``follow_next_at`` is its next status check and ``follow_until`` the
    # deadline (follow_timeout); both NULL when it is not followed (any more). A check is
    # claimed with ``claimed_by``/``claim_expires_at``, as an attempt is.
    Column("remote_status", String(64), nullable=True),  # as the target says it: Running, ...
    Column("remote_url", Text(), nullable=True),  # a link to the run in Azure ML studio
    Column("remote_id", Text(), nullable=True),  # what the status is read by (v2: an ARM id)
    Column("follow_next_at", UTCDateTime(), nullable=True),
    Column("follow_until", UTCDateTime(), nullable=True),
    Column("follow_checks", Integer(), nullable=True),
    Index("ix_runs_status_id", "status", "id"),
    # Only the followed runs: the follower looks every second, and finished `http` runs stay
    # `submitted` for ever, so a look through the status index would grow with the history.
    Index(
        "ix_runs_followed",
        "follow_next_at",
        sqlite_where=text("follow_next_at IS NOT NULL"),
        postgresql_where=text("follow_next_at IS NOT NULL"),
    ),
)

daemon_instances = Table(
    "daemon_instances",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("heartbeat_at", UTCDateTime(), nullable=False),
    Column("stopped_at", UTCDateTime(), nullable=True),
    Column("version", String(50), nullable=True),
    # The config this daemon runs on: {"digest", "loaded_at", "files": [{"path", "sha256"}]}.
    Column("config", JSON(), nullable=True),
    # The last reload: {"at", "result": "ok" | "refused" | "unchanged", "problems": [str]}.
    Column("reload", JSON(), nullable=True),
)

# The persisted snapshot of a watched folder (see triggerd/datastores/settle.py): per path, the
# version that fired (or was the baseline) and a newer candidate version waiting to settle.
datastore_entries = Table(
    "datastore_entries",
    metadata,
    Column("schedule", String(200), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("fired_size", BigInteger(), nullable=True),
    Column("fired_version", String(200), nullable=True),
    Column("candidate_size", BigInteger(), nullable=True),
    Column("candidate_version", String(200), nullable=True),
    Column("candidate_seen_at", UTCDateTime(), nullable=True),
    Column("candidate_polls", Integer(), nullable=False),
    # Why the fired version is there: "baseline" (present at the first poll, not fired) or
    # "fired"; NULL for rows written before migration 0005.
    Column("origin", String(16), nullable=True),
    sqlite_with_rowid=False,  # migration 0008: the primary key is the table
)

# Files a poll saw and will not fire for a reason other than the snapshot (excluded by a
# pattern, not a regular file, a name the store cannot hold), while they are present. Written
# only when that set changes, so a steady poll writes nothing.
datastore_ignored = Table(
    "datastore_ignored",
    metadata,
    Column("schedule", String(200), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("reason", String(32), nullable=False),  # excluded | not_regular | unrepresentable
    Column("detail", Text(), nullable=True),  # the pattern, the file type, ...
    Column("seen_at", UTCDateTime(), nullable=False),
)

# The last polls of each datastore schedule that did something (listed a change, fired, made
# the baseline, or failed), newest last, bounded per schedule. A poll that found nothing new is
# not written (it only moves schedule_state.last_poll_at, at most once a minute).
poll_history = Table(
    "poll_history",
    metadata,
    Column("id", RunId, primary_key=True, autoincrement=True),
    Column("schedule", String(200), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("duration_ms", Integer(), nullable=False),
    Column("listed", Integer(), nullable=True),
    Column("new", Integer(), nullable=False),
    Column("changed", Integer(), nullable=False),
    Column("fired", Integer(), nullable=False),
    Column("settling", Integer(), nullable=False),
    Column("excluded", Integer(), nullable=False),
    Column("baseline", Boolean(), nullable=False),
    Column("error", Text(), nullable=True),
    Index("ix_poll_history_schedule_id", "schedule", "id"),
)

# The last valid config a daemon loaded on this database, file by file, so that the commands
# that read or change state still work when a file on disk is broken.
config_files = Table(
    "config_files",
    metadata,
    Column("path", String(1024), primary_key=True),
    Column("content", Text(), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("loaded_at", UTCDateTime(), nullable=False),
    Column("loaded_by", String(100), nullable=False),
)

# A lease: which daemon polls a datastore schedule until when. ``token`` grows each time the
# lease changes hands; writes made under a lease check it (fencing), so a daemon that lost its
# lease while it was busy cannot overwrite its successor's snapshot.
leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(100), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("token", BigInteger(), nullable=False),
)

# Facts about the database itself. ``store_id``: a random id made when the schema was created,
# which tells this database's runs from another's (in TRIGGERD_RUN_MARKER) on a shared host.
store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text(), nullable=False),
)
