"""Filing a message into its conversation, keyed by (phone line, customer number).

Deliveries come out of order, so a message is placed by the platform's own time: inside an
existing thread's span, just after its end (within the thread's silence limit), or just before
its start (a late delivery); otherwise it opens a new conversation.
"""

from __future__ import annotations

import threading
import zlib
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from app.conversations.boundaries import Rhythm, is_closing, log_gap
from app.models import Conversation

# Two deliveries for the same customer may race; a striped lock keeps one thread per key at a
# time in this process (enough for one service process; the key index keeps the query cheap).
_LOCKS = [threading.Lock() for _ in range(64)]


def key_lock(tenant: str, line_id: int, customer: str) -> threading.Lock:
    """The lock serialising filing for one (tenant, line, customer)."""
    return _LOCKS[zlib.crc32(f"{tenant}\x1f{line_id}\x1f{customer}".encode()) % len(_LOCKS)]


def aware(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; every time here is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _choose(candidates: list[Conversation], at: datetime, rhythm: Rhythm) -> Conversation | None:
    for conv in candidates:  # inside a thread's span
        if aware(conv.started_at) <= at <= aware(conv.last_message_at):
            return conv
    before = [c for c in candidates if aware(c.started_at) <= at]
    if before:
        latest = max(before, key=lambda c: aware(c.last_message_at))
        if (at - aware(latest.last_message_at)).total_seconds() <= rhythm.limit(latest):
            return latest
    after = [c for c in candidates if aware(c.started_at) > at]
    if after:
        earliest = min(after, key=lambda c: aware(c.started_at))
        if (aware(earliest.started_at) - at).total_seconds() <= rhythm.limit(earliest):
            return earliest
    return None


def file_message(
    session: Session,
    *,
    tenant: str,
    line_id: int,
    customer: str,
    at: datetime,
    text: str,
    author: str,
    rhythm: Rhythm,
) -> Conversation:
    """The conversation a message sent at `at` belongs to, updated for it (caller holds key_lock)."""
    at = aware(at)
    candidates = list(
        session.exec(
            select(Conversation)
            .where(
                Conversation.tenant == tenant,
                Conversation.line_id == line_id,
                Conversation.customer_number == customer,
            )
            .order_by(col(Conversation.started_at).desc())
            .limit(5)
        ).all()
    )
    conv = _choose(candidates, at, rhythm)
    if conv is None:
        conv = Conversation(
            tenant=tenant, line_id=line_id, customer_number=customer, started_at=at, last_message_at=at
        )
    elif at > aware(conv.last_message_at):
        # Only gaps at the live end count towards the rhythm; a late delivery adds none.
        conv.gap_count += 1
        conv.gap_log_sum += log_gap((at - aware(conv.last_message_at)).total_seconds())
        conv.last_message_at = at
        conv.closed_at = None  # something was said after the goodbye
    elif at < aware(conv.started_at):
        conv.started_at = at
    conv.message_count += 1
    if author == "customer" and is_closing(text) and at >= aware(conv.last_message_at):
        conv.closed_at = at
    if author == "operator" and (conv.last_operator_at is None or at > aware(conv.last_operator_at)):
        conv.last_operator_at = at
    session.add(conv)
    session.flush()
    return conv
