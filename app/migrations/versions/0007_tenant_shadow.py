"""a shadow switch per tenant (null follows PLS_SHADOW)

Revision ID: 0007_tenant_shadow
Revises: 0006_merge_features
Create Date: 2026-11-24 05:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_tenant_shadow"
down_revision = "0006_merge_features"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenantpolicy", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shadow", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenantpolicy", schema=None) as batch_op:
        batch_op.drop_column("shadow")
