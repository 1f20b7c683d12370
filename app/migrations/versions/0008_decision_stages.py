"""where each decision's time went: embedding, search, scoring

Revision ID: 0008_decision_stages
Revises: 0007_tenant_shadow
Create Date: 2026-11-24 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_decision_stages"
down_revision = "0007_tenant_shadow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stages_ms", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_column("stages_ms")
