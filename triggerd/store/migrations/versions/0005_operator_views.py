"""What the operator views need: overrides with a note, attempt history, the config each daemon
runs, why a file did not fire, the poll history, and the last valid config.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from triggerd.store.tables import RunId, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schedule_state") as batch:
        batch.add_column(sa.Column("override_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("override_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("override_by", sa.String(200), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("history", sa.JSON(), nullable=True))
    with op.batch_alter_table("daemon_instances") as batch:
        batch.add_column(sa.Column("version", sa.String(50), nullable=True))
        batch.add_column(sa.Column("config", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("reload", sa.JSON(), nullable=True))
    with op.batch_alter_table("datastore_entries") as batch:
        batch.add_column(sa.Column("origin", sa.String(16), nullable=True))
    op.create_table(
        "datastore_ignored",
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("schedule", "path", name="pk_datastore_ignored"),
    )
    op.create_table(
        "poll_history",
        sa.Column("id", RunId, nullable=False),
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("listed", sa.Integer(), nullable=True),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("fired", sa.Integer(), nullable=False),
        sa.Column("settling", sa.Integer(), nullable=False),
        sa.Column("excluded", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_poll_history"),
    )
    op.create_index("ix_poll_history_schedule_id", "poll_history", ["schedule", "id"])
    op.create_table(
        "config_files",
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.Column("loaded_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("path", name="pk_config_files"),
    )


def downgrade() -> None:
    op.drop_table("config_files")
    op.drop_index("ix_poll_history_schedule_id", table_name="poll_history")
    op.drop_table("poll_history")
    op.drop_table("datastore_ignored")
    with op.batch_alter_table("datastore_entries") as batch:
        batch.drop_column("origin")
    with op.batch_alter_table("daemon_instances") as batch:
        batch.drop_column("reload")
        batch.drop_column("config")
        batch.drop_column("version")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("history")
    with op.batch_alter_table("schedule_state") as batch:
        batch.drop_column("override_by")
        batch.drop_column("override_at")
        batch.drop_column("override_note")
