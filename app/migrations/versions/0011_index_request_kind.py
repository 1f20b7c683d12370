"""index requests: a `pls index verify` can be asked of the running service too

Revision ID: 0011_index_request_kind
Revises: 0010_reindex_request
Create Date: 2026-11-25 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011_index_request_kind"
down_revision = "0010_reindex_request"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reindexrequest", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="reindex"
            )
        )
        batch_op.add_column(sa.Column("options", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("report", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reindexrequest", schema=None) as batch_op:
        batch_op.drop_column("report")
        batch_op.drop_column("options")
        batch_op.drop_column("kind")
