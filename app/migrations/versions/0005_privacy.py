"""privacy and templates: raw-text retention marks, tenant template values

Revision ID: 0005_privacy
Revises: 0002_live_flow
Create Date: 2026-11-24 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005_privacy"
down_revision = "0002_live_flow"
branch_labels = None
# Builds on the live flow: it adds a column to its webhookevent table.
depends_on = None


def upgrade() -> None:
    op.create_table(
        "templatevalues",
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("tenant"),
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redacted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table("webhookevent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redacted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhookevent", schema=None) as batch_op:
        batch_op.drop_column("redacted_at")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("redacted_at")
    op.drop_table("templatevalues")
