"""Datastore snapshots: one row per tracked file of a watched folder.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from triggerd.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datastore_entries",
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("fired_size", sa.BigInteger(), nullable=True),
        sa.Column("fired_version", sa.String(200), nullable=True),
        sa.Column("candidate_size", sa.BigInteger(), nullable=True),
        sa.Column("candidate_version", sa.String(200), nullable=True),
        sa.Column("candidate_seen_at", UTCDateTime(), nullable=True),
        sa.Column("candidate_polls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("schedule", "path", name="pk_datastore_entries"),
    )


def downgrade() -> None:
    op.drop_table("datastore_entries")
