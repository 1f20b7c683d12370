"""Storing a verified delivery: the event once, the message once, filed into its conversation.

Everything for one delivery is one transaction (event row, message row, conversation), so a
failure stores nothing and the platform's retry starts clean. Deciding happens later, in the
worker: the webhook only stores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.conversations.boundaries import Rhythm
from app.conversations.threads import file_message, key_lock
from app.db import session_scope
from app.errors import InvalidInput
from app.models import Message, Outbound, PhoneLine, WebhookEvent
from app.text import clean_text, fingerprint
from app.webhooks.envelope import Envelope, MessageEvent
from app.webhooks.signature import decode_secret

log = logging.getLogger(__name__)

PENDING = "pending"


@dataclass(frozen=True)
class Ingested:
    """What became of a delivery."""

    status: str  # accepted | duplicate | duplicate_message | ignored | unknown_line
    event_id: str
    detail: str
    tenant: str | None = None
    message_id: int | None = None


def find_line(session: Session, message: MessageEvent) -> PhoneLine | None:
    """Our line for a message: by the platform's line id, else by its number."""
    if message.phone_number_id:
        line = session.exec(select(PhoneLine).where(PhoneLine.external_id == message.phone_number_id)).first()
        if line is not None:
            return line
    return session.exec(select(PhoneLine).where(PhoneLine.number == message.line_number)).first()


class Ingestor:
    """Stores deliveries; `keys` gives the signing keys to verify one with."""

    def __init__(self, engine: Engine, rhythm: Rhythm, global_secret: str | None, max_chars: int) -> None:
        self.engine = engine
        self.rhythm = rhythm
        self.max_chars = max_chars
        self._global = [decode_secret(global_secret)] if global_secret else []

    def keys(self, payload: Any) -> list[bytes]:
        """Signing keys for a delivery: the named line's own secret, if any, and the global one.

        The body is not trusted yet: it only chooses which keys to try.
        """
        keys = list(self._global)
        line_ref = _line_ref(payload)
        if line_ref:
            with Session(self.engine) as session:
                secret = session.exec(
                    select(PhoneLine.webhook_secret).where(
                        (PhoneLine.external_id == line_ref) | (PhoneLine.number == line_ref)
                    )
                ).first()
            if secret:
                try:
                    keys.insert(0, decode_secret(secret))
                except ValueError:
                    log.error("phone line %s has a webhook secret that is not base64", line_ref)
        return keys

    def ingest(self, envelope: Envelope, payload: dict[str, Any]) -> Ingested:
        """Store one verified delivery (idempotent on the event id and the message id)."""
        with Session(self.engine) as session:
            if session.exec(
                select(WebhookEvent.id).where(WebhookEvent.event_id == envelope.event_id)
            ).first():
                return Ingested("duplicate", envelope.event_id, "event already received")
            message = envelope.message
            line = find_line(session, message) if message is not None else None
        if message is None:
            return self._record(
                envelope, payload, "ignored", None, f"event type {envelope.event_type!r} is not used"
            )
        if line is None:
            return self._record(
                envelope,
                payload,
                "unknown_line",
                None,
                f"no phone line {message.phone_number_id or message.line_number!r} is configured",
            )
        try:
            text = clean_text(message.text, "body", self.max_chars)
        except InvalidInput as error:  # media-only or oversized: kept in the event, never matched
            return self._record(envelope, payload, "ignored", line.tenant, f"message not usable: {error}")
        try:
            return self._store(envelope, payload, message, line, text)
        except IntegrityError:
            # A concurrent delivery of the same event or message won the race: nothing of ours stayed.
            with Session(self.engine) as session:
                if session.exec(
                    select(WebhookEvent.id).where(WebhookEvent.event_id == envelope.event_id)
                ).first():
                    return Ingested("duplicate", envelope.event_id, "event already received")
            return self._record(envelope, payload, "duplicate_message", line.tenant, "message already stored")

    def _record(
        self, envelope: Envelope, payload: dict[str, Any], status: str, tenant: str | None, detail: str
    ) -> Ingested:
        try:
            with session_scope(self.engine) as session:
                session.add(
                    WebhookEvent(
                        event_id=envelope.event_id,
                        event_type=envelope.event_type,
                        tenant=tenant,
                        status=status,
                        payload=payload,
                    )
                )
        except IntegrityError:
            return Ingested("duplicate", envelope.event_id, "event already received")
        return Ingested(status, envelope.event_id, detail, tenant)

    def _store(
        self, envelope: Envelope, payload: dict[str, Any], message: MessageEvent, line: PhoneLine, text: str
    ) -> Ingested:
        tenant, customer = line.tenant, message.customer_number
        assert line.id is not None
        with key_lock(tenant, line.id, customer), session_scope(self.engine) as session:
            existing = session.exec(
                select(Message.id).where(Message.tenant == tenant, Message.external_id == message.message_id)
            ).first()
            if existing is not None:
                session.add(
                    WebhookEvent(
                        event_id=envelope.event_id,
                        event_type=envelope.event_type,
                        tenant=tenant,
                        status="duplicate_message",
                        message_id=existing,
                        payload=payload,
                    )
                )
                return Ingested(
                    "duplicate_message", envelope.event_id, "message already stored", tenant, existing
                )
            author = (
                "customer"
                if message.direction == "incoming"
                else self._outgoing_author(session, tenant, message)
            )
            conversation = file_message(
                session,
                tenant=tenant,
                line_id=line.id,
                customer=customer,
                at=message.created_at,
                text=text,
                author=author,
                rhythm=self.rhythm,
            )
            row = Message(
                tenant=tenant,
                direction=message.direction,
                text=text,
                text_hash=fingerprint(text),
                external_id=message.message_id,
                line_id=line.id,
                conversation_id=conversation.id,
                customer_number=customer,
                author=author,
                sent_at=message.created_at,
                state=PENDING if author != "pls" else "own",
            )
            session.add(row)
            session.flush()
            session.add(
                WebhookEvent(
                    event_id=envelope.event_id,
                    event_type=envelope.event_type,
                    tenant=tenant,
                    status="accepted",
                    message_id=row.id,
                    payload=payload,
                )
            )
            if message.direction == "incoming":
                # A reply that came before this (late) message could not be paired: try again.
                session.exec(  # type: ignore[call-overload]
                    update(Message)
                    .where(
                        col(Message.conversation_id) == conversation.id,
                        col(Message.state) == "unpaired",
                        col(Message.sent_at) > message.created_at,
                    )
                    .values(state=PENDING)
                )
            return Ingested("accepted", envelope.event_id, "stored", tenant, row.id)

    def _outgoing_author(self, session: Session, tenant: str, message: MessageEvent) -> str:
        """'pls' when this is the platform echoing one of our own automatic replies."""
        ours = session.exec(
            select(Outbound.id).where(Outbound.tenant == tenant, Outbound.external_id == message.message_id)
        ).first()
        return "pls" if ours is not None else "operator"


def _line_ref(payload: Any) -> str | None:
    try:
        data = payload["data"]
        obj = data.get("object") or data.get("resource")
        ref = obj.get("phoneNumberId") or (obj["to"] if obj.get("direction") == "incoming" else obj["from"])
    except (KeyError, TypeError, AttributeError):
        return None
    if isinstance(ref, list) and ref:
        ref = ref[0]
    return ref if isinstance(ref, str) else None
