"""Configuring the live flow: phone lines, a tenant's rules, and reading conversations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import session_scope
from app.errors import Conflict, InvalidInput, NotFound
from app.flow.decide import load_policy
from app.governance.rows import ChangeSet
from app.models import (
    Conversation,
    Message,
    PhoneLine,
    TenantPolicy,
    utcnow,
)
from app.policy import POLICY_FIELDS, validate_policy
from app.tenants import require_tenant
from app.webhooks.signature import decode_secret


def line_view(line: PhoneLine) -> dict[str, Any]:
    """A line without its secret."""
    return {
        "id": line.id,
        "tenant": line.tenant,
        "external_id": line.external_id,
        "number": line.number,
        "name": line.name,
        "has_own_secret": bool(line.webhook_secret),
    }


def create_line(
    engine: Engine,
    tenant: str,
    external_id: str,
    number: str,
    name: str = "",
    webhook_secret: str | None = None,
) -> dict[str, Any]:
    """Register a phone line for a tenant (Conflict if the platform id or number is taken)."""
    if webhook_secret:
        try:
            decode_secret(webhook_secret)
        except ValueError as error:
            raise InvalidInput("webhook_secret", str(error)) from None
    with session_scope(engine) as session:
        require_tenant(session, tenant)
        taken = session.exec(
            select(PhoneLine).where((PhoneLine.external_id == external_id) | (PhoneLine.number == number))
        ).first()
        if taken is not None:
            raise Conflict(f"phone line {external_id!r} / {number!r} is already registered")
        line = PhoneLine(
            tenant=tenant,
            external_id=external_id,
            number=number,
            name=name,
            webhook_secret=webhook_secret or None,
        )
        session.add(line)
        session.flush()
        return line_view(line)


def list_lines(engine: Engine, tenant: str) -> list[dict[str, Any]]:
    """A tenant's phone lines."""
    with Session(engine) as session:
        require_tenant(session, tenant)
        lines = session.exec(
            select(PhoneLine).where(PhoneLine.tenant == tenant).order_by(col(PhoneLine.id))
        ).all()
        return [line_view(line) for line in lines]


def policy_view(policy: TenantPolicy) -> dict[str, Any]:
    return {"tenant": policy.tenant, **{name: getattr(policy, name) for name in POLICY_FIELDS}}


def get_policy(engine: Engine, tenant: str) -> dict[str, Any]:
    """A tenant's rules (the defaults until set)."""
    with Session(engine) as session:
        require_tenant(session, tenant)
        return policy_view(load_policy(session, tenant))


def apply_policy(session: Session, changes: ChangeSet, tenant: str, values: dict[str, Any]) -> dict[str, Any]:
    """Replace the given rules (audited by the caller); InvalidInput names a bad one."""
    require_tenant(session, tenant)
    policy = changes.tenant_row(session, TenantPolicy, tenant)
    for name, value in values.items():
        if name in POLICY_FIELDS:
            setattr(policy, name, value)
    validate_policy(policy)
    policy.updated_at = utcnow()
    session.flush()
    return policy_view(policy)


def _conversation_view(conv: Conversation) -> dict[str, Any]:
    return {
        "id": conv.id,
        "line_id": conv.line_id,
        "customer_number": conv.customer_number,
        "started_at": conv.started_at,
        "last_message_at": conv.last_message_at,
        "closed_at": conv.closed_at,
        "message_count": conv.message_count,
        "auto_reply_count": conv.auto_reply_count,
    }


def list_conversations(engine: Engine, tenant: str, limit: int = 50) -> list[dict[str, Any]]:
    """A tenant's most recent conversations."""
    with Session(engine) as session:
        require_tenant(session, tenant)
        rows = session.exec(
            select(Conversation)
            .where(Conversation.tenant == tenant)
            .order_by(col(Conversation.last_message_at).desc())
            .limit(limit)
        ).all()
        return [_conversation_view(c) for c in rows]


def get_conversation(engine: Engine, tenant: str, conversation_id: int) -> dict[str, Any]:
    """One conversation with its messages in sent order; another tenant's is not found."""
    with Session(engine) as session:
        require_tenant(session, tenant)
        conv = session.get(Conversation, conversation_id)
        if conv is None or conv.tenant != tenant:
            raise NotFound("conversation", conversation_id)
        messages = session.exec(
            select(Message)
            .where(Message.tenant == tenant, Message.conversation_id == conversation_id)
            .order_by(col(Message.sent_at), col(Message.id))
        ).all()
        return {
            **_conversation_view(conv),
            "messages": [
                {
                    "id": m.id,
                    "direction": m.direction,
                    "author": m.author,
                    "text": m.text,
                    "sent_at": m.sent_at,
                    "state": m.state,
                    "decision_id": m.decision_id,
                }
                for m in messages
            ],
        }
