"""Tables of the live message flow: phone lines, conversations, webhooks, feedback, sends, rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.core import utcnow


class PhoneLine(SQLModel, table=True):
    """A business phone number on the SMS platform: maps its webhooks to a tenant."""

    __table_args__ = (UniqueConstraint("external_id", name="uq_phoneline_external"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    external_id: str = Field(max_length=64, description="The platform's id of the line (PN...).")
    number: str = Field(max_length=32, description="The line's own number, E.164.")
    name: str = Field(default="", max_length=200)
    # Overrides PLS_OPENPHONE_WEBHOOK_SECRET for this line (a business with its own workspace).
    webhook_secret: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(default_factory=utcnow)


class Conversation(SQLModel, table=True):
    """A thread between one customer number and one line, bounded by its own rhythm."""

    __table_args__ = (Index("ix_conversation_key", "tenant", "line_id", "customer_number"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", max_length=64)
    line_id: int = Field(foreign_key="phoneline.id")
    customer_number: str = Field(max_length=32)
    started_at: datetime
    last_message_at: datetime
    closed_at: datetime | None = None  # when the customer said goodbye
    message_count: int = 0
    # Sum of log(seconds) over the gaps between its messages: the conversation's own rhythm.
    gap_count: int = 0
    gap_log_sum: float = 0.0
    auto_reply_count: int = 0
    last_operator_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class WebhookEvent(SQLModel, table=True):
    """Every authenticated delivery, once: the event id makes retries harmless."""

    __table_args__ = (UniqueConstraint("event_id", name="uq_webhookevent_event"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=128)
    event_type: str = Field(max_length=64)
    tenant: str | None = Field(default=None, foreign_key="tenant.id", index=True, max_length=64)
    status: str = Field(max_length=32)  # accepted | ignored | unknown_line | duplicate_message
    message_id: int | None = Field(default=None, foreign_key="message.id")
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(default_factory=utcnow)
    redacted_at: datetime | None = None  # the payload's personal data masked after retention


class Feedback(SQLModel, table=True):
    """An operator's reply held against what PLS proposed for the same customer turn."""

    __table_args__ = (UniqueConstraint("decision_id", name="uq_feedback_decision"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    pattern_id: int = Field(foreign_key="pattern.id", index=True)
    decision_id: str = Field(max_length=32)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    reply_message_id: int | None = Field(default=None, foreign_key="message.id")
    verdict: str = Field(max_length=16)  # accepted | edited | rejected
    similarity: float = 0.0
    action: str = Field(max_length=16)  # what the confidence supported: suggest | auto | abstain
    shown: bool = False  # the operator saw the draft (not shadow)
    features: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Outbound(SQLModel, table=True):
    """An automatic reply: queued, sent once, or handed to a human when sending keeps failing."""

    __table_args__ = (
        UniqueConstraint("decision_id", name="uq_outbound_decision"),
        UniqueConstraint("message_id", name="uq_outbound_message"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(foreign_key="tenant.id", index=True, max_length=64)
    decision_id: str = Field(max_length=32)
    message_id: int = Field(foreign_key="message.id")  # the customer message it answers
    conversation_id: int = Field(foreign_key="conversation.id")
    line_id: int = Field(foreign_key="phoneline.id")
    to_number: str = Field(max_length=32)
    text: str
    sender: str = Field(max_length=32)
    state: str = Field(max_length=16, index=True)  # queued | sending | sent | handed_off
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_error: str | None = None
    external_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class TenantPolicy(SQLModel, table=True):
    """A tenant's business rules for automatic replies (absent row: the defaults)."""

    tenant: str = Field(foreign_key="tenant.id", primary_key=True, max_length=64)
    timezone: str = Field(default="UTC", max_length=64)
    # {"mon": [["09:00", "18:00"]], ...}: when auto-replies may go out; empty = any time.
    hours: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    holidays: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    vip_numbers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    max_auto_per_customer_day: int = 3
    max_auto_per_conversation: int = 2
    operator_lockout_hours: float = 4.0
    escalation_phrases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    repeat_window_s: int = 120
    repeat_limit: int = 4
    # This tenant's shadow switch; None follows the service default (PLS_SHADOW).
    shadow: bool | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class TemplateValues(SQLModel, table=True):
    """A tenant's values for the response-template placeholders it sets itself (booking link, ...)."""

    tenant: str = Field(foreign_key="tenant.id", primary_key=True, max_length=64)
    entries: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
