"""a revision per tenant, moved by every commit that changes what matching keeps in memory

Revision ID: 0009_memory_revision
Revises: 0008_decision_stages
Create Date: 2026-11-25 01:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_memory_revision"
down_revision = "0008_decision_stages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("memory_revision", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.drop_column("memory_revision")
