"""Core tables: tenants, messages, patterns, examples, decisions, calibration, the index outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Timezone-aware now; stored as UTC everywhere."""
    return datetime.now(UTC)


class ExampleStatus(StrEnum):
    active = "active"
    voided = "voided"
    gold = "gold"


class PatternStatus(StrEnum):
    candidate = "candidate"
    approved = "approved"
    disabled = "disabled"


class PatternMode(StrEnum):
    shadow = "shadow"
    suggest = "suggest"
    auto = "auto"


class Action(StrEnum):
    """What the confidence alone supports, before a pattern's mode is applied."""

    auto = "auto"
    suggest = "suggest"
    abstain = "abstain"


class DecisionKind(StrEnum):
    """What PLS did: reply, offer a draft, only record, or leave it to a human."""

    auto = "auto"
    suggest = "suggest"
    shadow = "shadow"
    abstain = "abstain"


class OutboxOp(StrEnum):
    upsert = "upsert"
    delete = "delete"


class Tenant(SQLModel, table=True):
    """One business; every other row belongs to exactly one tenant."""

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    # Moved by every commit that changes what matching keeps in memory (app/models/revisions.py),
    # so a running service notices changes made by another process.
    memory_revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Message(SQLModel, table=True):
    """A message as it reached us, stored before anything else happens to it."""

    __table_args__ = (UniqueConstraint("tenant", "external_id", name="uq_message_external"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    direction: str = Field(max_length=16)  # incoming | outgoing
    text: str
    text_hash: str = Field(max_length=64, index=True)
    external_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    # The live flow (webhooks): where the message belongs and how far its processing got.
    line_id: int | None = Field(default=None, foreign_key="phoneline.id")
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    customer_number: str | None = Field(default=None, max_length=32)
    author: str | None = Field(default=None, max_length=16)  # customer | operator | pls
    sent_at: datetime | None = None  # the platform's time: conversations are ordered by it
    state: str | None = Field(default=None, max_length=16, index=True)
    decision_id: str | None = Field(default=None, max_length=32)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # When the raw text was masked after the retention period (PLS_RAW_RETENTION_DAYS).
    redacted_at: datetime | None = None


class Pattern(SQLModel, table=True):
    """A kind of customer message and the reply that answers it."""

    __table_args__ = (Index("ix_pattern_tenant_reply", "tenant", "reply_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    response_text: str
    reply_key: str = Field(max_length=64, description="Hash of the normalised reply.")
    key_facts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=PatternStatus.candidate, max_length=16)
    mode: str = Field(default=PatternMode.shadow, max_length=16)
    version: int = 1
    # Beta posterior of "this pattern's reply is right", moved by operator feedback.
    feedback_alpha: float = 1.0
    feedback_beta: float = 1.0
    example_count: int = 0
    accepted_count: int = 0
    rejected_count: int = 0
    match_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_matched_at: datetime | None = None
    # Governance: other wordings of the reply, a per-pattern auto threshold, and where it went.
    alternatives: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    threshold_override: float | None = None
    merged_into: int | None = None


class Example(SQLModel, table=True):
    """One customer message (with context) and the operator reply that answered it."""

    __table_args__ = (
        UniqueConstraint("tenant", "text_hash", name="uq_example_text"),
        Index("ix_example_tenant_pattern", "tenant", "pattern_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", max_length=64)
    pattern_id: int = Field(foreign_key="pattern.id")
    message_id: int | None = Field(default=None, foreign_key="message.id")
    text: str
    reply: str
    context: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    quality: float = 1.0
    status: str = Field(default=ExampleStatus.active, max_length=16)
    void_reason: str | None = None
    text_hash: str = Field(max_length=64, description="Hash of the normalised message + reply.")
    source: str = Field(default="api", max_length=32)
    # When the customer sent the message (imports keep the original time); None = created_at.
    occurred_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Decision(SQLModel, table=True):
    """What PLS decided for one message, with everything needed to explain it."""

    # Issued by the matcher before the row is written, so a decision is referable at once.
    id: str = Field(primary_key=True, max_length=32)
    tenant: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    text: str
    pattern_id: int | None = Field(default=None, foreign_key="pattern.id", index=True)
    confidence: float = 0.0
    action: str = Field(max_length=16)
    decision: str = Field(max_length=16)
    reason: str
    threshold: float | None = None
    explanation: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    calibration_id: int | None = Field(default=None, foreign_key="calibration.id")
    latency_ms: float = 0.0
    # Where the time went (`MatchResult.stages_ms`); None on decisions recorded before it was kept.
    stages_ms: dict[str, float] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Calibration(SQLModel, table=True):
    """A fitted confidence model for one tenant and the thresholds derived from it."""

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    active: bool = True
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    head: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    suggest_threshold: float
    auto_threshold: float
    n_rows: int = 0
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class IndexOutbox(SQLModel, table=True):
    """An index write not yet confirmed by the vector store; retried until it is."""

    id: int | None = Field(default=None, primary_key=True)
    example_id: int = Field(index=True)
    op: str = Field(max_length=16)
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ImportRun(SQLModel, table=True):
    """One import of a history file: where it got to, so a killed import resumes there."""

    __table_args__ = (Index("ix_importrun_file", "tenant", "kind", "fingerprint"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", max_length=64)
    kind: str = Field(max_length=16)  # pairs | openphone
    path: str
    fingerprint: str = Field(max_length=64, description="sha256 of the file and the import options.")
    position: int = 0  # records (lines, or customer turns) committed so far
    total: int | None = None
    status: str = Field(default="running", max_length=16)  # running | done
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class PatternCandidate(SQLModel, table=True):
    """A group of examples that say the same thing, found by discovery, awaiting approval."""

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    size: int
    per_day: float
    cohesion: float
    reply: str = Field(description="The representative reply (the group's medoid).")
    example_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    pattern_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="open", max_length=16)  # open | approved | dismissed
    created_at: datetime = Field(default_factory=utcnow)


class IndexRequest(SQLModel, table=True):
    """A `pls reindex` or `pls index verify` asked of the running service that holds the
    embedded index.

    requested -> running (claimed by one service's upkeep loop) -> done | failed; a request
    no service claims in time is cancelled by the command that made it.
    """

    __tablename__ = "reindexrequest"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="reindex", max_length=16, sa_column_kwargs={"server_default": "reindex"})
    fresh: bool = False  # reindex: start over instead of resuming a suspended rebuild
    # verify: its options ({"sample", "payloads", "repair"}) and, once done, its report (JSON).
    options: str | None = None
    report: str | None = None
    status: str = Field(default="requested", max_length=16, index=True)
    written: int = 0
    error: str | None = Field(default=None, max_length=500)
    requested_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    # Moved by the running service's upkeep loop while it rebuilds: a stale one means it died.
    heartbeat_at: datetime | None = None
    finished_at: datetime | None = None


class IndexRebuild(SQLModel, table=True):
    """A `pls reindex` run: its target collection and how far it got, so a killed one resumes."""

    id: int | None = Field(default=None, primary_key=True)
    target: str = Field(max_length=128)
    model_id: str = Field(max_length=200)
    last_example_id: int = 0
    written: int = 0
    status: str = Field(default="running", max_length=16)  # running | done | abandoned
    started_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
