"""governance: pattern versions, audit events, API keys

Revision ID: 0004_governance
Revises: 0001
Create Date: 2026-11-24 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004_governance"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "apikey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("secret_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefix", name="uq_apikey_prefix"),
    )
    with op.batch_alter_table("apikey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_apikey_tenant"), ["tenant"], unique=False)

    op.create_table(
        "auditevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("object_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("reverts", sa.Integer(), nullable=True),
        sa.Column("reverted_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.create_index("ix_audit_object", ["tenant", "object_type", "object_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_auditevent_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_auditevent_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_auditevent_tenant"), ["tenant"], unique=False)

    op.create_table(
        "patternversion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("pattern_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pattern_id"],
            ["pattern.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pattern_id", "version", name="uq_patternversion"),
    )
    with op.batch_alter_table("patternversion", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patternversion_pattern_id"), ["pattern_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_patternversion_tenant"), ["tenant"], unique=False)

    with op.batch_alter_table("pattern", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alternatives", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("threshold_override", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("pattern", schema=None) as batch_op:
        batch_op.drop_column("merged_into")
        batch_op.drop_column("threshold_override")
        batch_op.drop_column("alternatives")

    with op.batch_alter_table("patternversion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patternversion_tenant"))
        batch_op.drop_index(batch_op.f("ix_patternversion_pattern_id"))

    op.drop_table("patternversion")
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auditevent_tenant"))
        batch_op.drop_index(batch_op.f("ix_auditevent_created_at"))
        batch_op.drop_index(batch_op.f("ix_auditevent_actor"))
        batch_op.drop_index("ix_audit_object")

    op.drop_table("auditevent")
    with op.batch_alter_table("apikey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_apikey_tenant"))

    op.drop_table("apikey")
