"""Remote runs followed to their end: the remote status, a link, the id the status is read by,
the next check, the deadline and the checks made.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from triggerd.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("remote_status", sa.String(64), nullable=True))
        batch.add_column(sa.Column("remote_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("remote_id", sa.Text(), nullable=True))
        batch.add_column(sa.Column("follow_next_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("follow_until", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("follow_checks", sa.Integer(), nullable=True))
    followed = sa.text("follow_next_at IS NOT NULL")
    op.create_index(
        "ix_runs_followed",
        "runs",
        ["follow_next_at"],
        sqlite_where=followed,
        postgresql_where=followed,
    )


def downgrade() -> None:
    op.drop_index("ix_runs_followed", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        for column in (
            "follow_checks",
            "follow_until",
            "follow_next_at",
            "remote_id",
            "remote_url",
            "remote_status",
        ):
            batch.drop_column(column)
