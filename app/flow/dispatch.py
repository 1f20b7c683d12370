"""Sending automatic replies: each at most once, retried only when it surely did not go out.

An Outbound row is claimed (queued -> sending) before the request, so two workers never send
the same reply. A send that fails in a way that proves nothing went out is retried with a
doubling delay; after `send_max_attempts`, or on any failure that leaves the outcome unknown,
the turn is handed to a human instead.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.config import Settings
from app.conversations.boundaries import Rhythm
from app.conversations.threads import file_message, key_lock
from app.db import session_scope
from app.flow.live import LiveHub
from app.models import Message, Outbound, PhoneLine, utcnow
from app.sending.base import Sender, SendError
from app.text import fingerprint

log = logging.getLogger(__name__)


class Dispatcher:
    """Sends queued automatic replies through a Sender."""

    def __init__(
        self, engine: Engine, sender: Sender, hub: LiveHub, settings: Settings, rhythm: Rhythm
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.hub = hub
        self.settings = settings
        self.rhythm = rhythm

    def recover(self) -> int:
        """After a restart: a send that was in flight may have gone out, so a human checks it."""
        with session_scope(self.engine) as session:
            result = session.exec(  # type: ignore[call-overload]
                update(Outbound)
                .where(col(Outbound.state) == "sending")
                .values(
                    state="handed_off",
                    last_error="send outcome unknown after a restart: check before replying",
                )
            )
            return int(result.rowcount or 0)

    def due(self, limit: int = 50) -> list[int]:
        """Queued replies whose time has come."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(Outbound.id)
                .where(Outbound.state == "queued", col(Outbound.next_attempt_at) <= utcnow())
                .order_by(col(Outbound.id))
                .limit(limit)
            ).all()
        return [int(r) for r in rows if r is not None]

    def send(self, outbound_id: int) -> str | None:
        """Claim and send one reply; returns its new state (None if another worker has it)."""
        with session_scope(self.engine) as session:
            claimed = session.exec(  # type: ignore[call-overload]
                update(Outbound)
                .where(col(Outbound.id) == outbound_id, col(Outbound.state) == "queued")
                .values(state="sending", attempts=Outbound.attempts + 1, sender=self.sender.name)
            )
            if claimed.rowcount != 1:
                return None
        with Session(self.engine) as session:
            out = session.get(Outbound, outbound_id)
            line = session.get(PhoneLine, out.line_id) if out else None
        assert out is not None and line is not None
        try:
            result = self.sender.send(
                line_id=line.external_id, line_number=line.number, to_number=out.to_number, text=out.text
            )
        except SendError as error:
            return self._failed(out, str(error), error.retryable)
        except Exception as error:  # an unexpected failure: the outcome is unknown, never resend
            log.exception("sender crashed")
            return self._failed(out, f"sender error ({error.__class__.__name__})", False)
        with session_scope(self.engine) as session:
            row = session.get(Outbound, outbound_id)
            assert row is not None
            row.state, row.external_id, row.sent_at, row.last_error = (
                "sent",
                result.external_id,
                utcnow(),
                None,
            )
        self._store_sent(out, result.external_id)
        self._publish(out, "sent", None)
        return "sent"

    def _failed(self, out: Outbound, error: str, retryable: bool) -> str:
        attempts = out.attempts  # already counts this attempt
        retry = retryable and attempts < self.settings.send_max_attempts
        state = "queued" if retry else "handed_off"
        with session_scope(self.engine) as session:
            row = session.get(Outbound, out.id)
            assert row is not None
            row.state, row.last_error = state, error
            if retry:
                delay = self.settings.send_retry_s * 2 ** (attempts - 1)
                row.next_attempt_at = utcnow() + timedelta(seconds=delay)
        log.warning("send of reply %s failed (attempt %d): %s -> %s", out.id, attempts, error, state)
        if not retry:
            self._publish(out, "handed_off", error)
        return state

    def _store_sent(self, out: Outbound, external_id: str | None) -> None:
        """Our reply joins the conversation as PLS's message (never an operator example)."""
        with Session(self.engine) as session:
            line = session.get(PhoneLine, out.line_id)
        assert line is not None and line.id is not None
        now = utcnow()
        try:
            with key_lock(out.tenant, line.id, out.to_number), session_scope(self.engine) as session:
                if external_id:
                    echo = session.exec(
                        select(Message).where(
                            Message.tenant == out.tenant, Message.external_id == external_id
                        )
                    ).first()
                    if echo is not None:  # the platform's copy got here first
                        echo.author, echo.state = "pls", "own"
                        return
                conv = file_message(
                    session,
                    tenant=out.tenant,
                    line_id=line.id,
                    customer=out.to_number,
                    at=now,
                    text=out.text,
                    author="pls",
                    rhythm=self.rhythm,
                )
                session.add(
                    Message(
                        tenant=out.tenant,
                        direction="outgoing",
                        text=out.text,
                        text_hash=fingerprint(out.text),
                        external_id=external_id,
                        line_id=line.id,
                        conversation_id=conv.id,
                        customer_number=out.to_number,
                        author="pls",
                        sent_at=now,
                        state="own",
                    )
                )
        except IntegrityError:
            log.info("reply %s was already stored from the platform's echo", out.id)

    def _publish(self, out: Outbound, state: str, error: str | None) -> None:
        self.hub.publish(
            out.tenant,
            {
                "type": "send",
                "tenant": out.tenant,
                "outbound_id": out.id,
                "decision_id": out.decision_id,
                "message_id": out.message_id,
                "conversation_id": out.conversation_id,
                "state": state,
                "error": error,
                "reply": out.text,
                "at": utcnow().isoformat(),
            },
        )
