"""merge the live flow, import/discovery, governance and privacy branches into one head

Revision ID: 0006_merge_features
Revises: 0003_import_discovery, 0004_governance, 0005_privacy
Create Date: 2026-11-24 04:45:00
"""

from __future__ import annotations

revision = "0006_merge_features"
down_revision = ("0003_import_discovery", "0004_governance", "0005_privacy")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: this revision only joins the branches."""


def downgrade() -> None:
    """Nothing to undo."""
