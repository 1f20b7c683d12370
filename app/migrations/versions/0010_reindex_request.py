"""reindex requests: a `pls reindex` asked of the running service that holds the embedded index

Revision ID: 0010_reindex_request
Revises: 0009_memory_revision
Create Date: 2026-11-25 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010_reindex_request"
down_revision = "0009_memory_revision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reindexrequest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fresh", sa.Boolean(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("written", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("heartbeat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reindexrequest", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reindexrequest_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reindexrequest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reindexrequest_status"))
    op.drop_table("reindexrequest")
