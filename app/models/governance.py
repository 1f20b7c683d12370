"""Tables of governance: pattern versions, the audit log, API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.core import utcnow


class PatternVersion(SQLModel, table=True):
    """The editable state of a pattern after one change: who made it, why."""

    __table_args__ = (UniqueConstraint("pattern_id", "version", name="uq_patternversion"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    pattern_id: int = Field(foreign_key="pattern.id", index=True)
    version: int
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    author: str = Field(max_length=200)
    reason: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """One write: who, when, what, and the rows before and after it (so it can be reverted)."""

    __table_args__ = (Index("ix_audit_object", "tenant", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    actor: str = Field(max_length=200, index=True)
    action: str = Field(max_length=64)
    object_type: str = Field(max_length=32)
    object_id: str = Field(max_length=64)
    reason: str = ""
    # {"pattern": {"12": {...fields} | null}, "example": {...}}: null = the row did not exist.
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reverts: int | None = Field(default=None, description="The audit event this one undid.")
    reverted_by: int | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)


class ApiKey(SQLModel, table=True):
    """A key for the API: one tenant, one role; only a hash of the secret is kept."""

    __table_args__ = (UniqueConstraint("prefix", name="uq_apikey_prefix"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)  # viewer | operator | admin
    prefix: str = Field(max_length=16, description="Public part of the key, used to find the row.")
    secret_hash: str = Field(max_length=64, description="sha256 of the whole key.")
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
