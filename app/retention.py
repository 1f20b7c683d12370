"""Retention of raw customer text: after PLS_RAW_RETENTION_DAYS only the masked text remains.

The live flow keeps a message's raw text (and the webhook payload it came in) because
answering the customer may need it; learning, the index and decisions only ever see masked
text. Once a message is older than the retention period nothing needs the raw form, so the
purge masks it in place and marks the row, so each row is visited once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import col, select

from app.db import session_scope
from app.models import Message, WebhookEvent, utcnow
from app.privacy import mask_pii, mask_value

# Messages the worker has not finished with keep their text until it has.
_UNFINISHED = ("pending", "processing")


@dataclass(frozen=True)
class PurgeResult:
    """How many rows had their raw text masked."""

    messages: int
    events: int
    cutoff: datetime


def purge_raw(
    engine: Engine, retention_days: int, *, now: datetime | None = None, batch_size: int = 500
) -> PurgeResult:
    """Mask raw text older than `retention_days` in messages and stored webhook payloads."""
    stamp = now or utcnow()
    cutoff = stamp - timedelta(days=retention_days)
    messages = events = 0
    while True:
        with session_scope(engine) as session:
            rows = session.exec(
                select(Message)
                .where(
                    col(Message.redacted_at).is_(None),
                    col(Message.created_at) < cutoff,
                    (col(Message.state).is_(None)) | (col(Message.state).not_in(_UNFINISHED)),
                )
                .order_by(col(Message.id))
                .limit(batch_size)
            ).all()
            for row in rows:
                row.text, row.redacted_at = mask_pii(row.text), stamp
            messages += len(rows)
        if len(rows) < batch_size:
            break
    while True:
        with session_scope(engine) as session:
            found = session.exec(
                select(WebhookEvent)
                .where(col(WebhookEvent.redacted_at).is_(None), col(WebhookEvent.received_at) < cutoff)
                .order_by(col(WebhookEvent.id))
                .limit(batch_size)
            ).all()
            for event in found:
                event.payload, event.redacted_at = mask_value(event.payload), stamp
            events += len(found)
        if len(found) < batch_size:
            break
    return PurgeResult(messages, events, cutoff)
