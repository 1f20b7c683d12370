"""The live flow's worker: stored messages are decided or learned, queued replies are sent.

SQL is the queue: a message waits in state "pending" until a worker claims it with a
conditional update (pending -> processing), so a message is processed once even with several
workers, and nothing is lost across a restart (claimed-but-unfinished messages go back to
pending on start).
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine, update
from sqlmodel import Session, col, func, select

from app.config import Settings
from app.conversations.boundaries import Rhythm
from app.db import session_scope
from app.flow.decide import Decider
from app.flow.dispatch import Dispatcher
from app.flow.ingest import Ingestor
from app.flow.live import LiveHub
from app.flow.replies import ReplyLearner
from app.learning.decision_log import DecisionLog
from app.learning.feedback import FeedbackRecorder
from app.learning.learner import Learner
from app.learning.matcher import Matcher
from app.learning.memory import MemoryRegistry
from app.models import Message, Outbound, utcnow
from app.sending.base import Sender

log = logging.getLogger(__name__)

# A message whose processing crashed this often is left to a human rather than retried forever.
MAX_PROCESS_ATTEMPTS = 3
POLL_S = 0.5


def rhythm_from(settings: Settings) -> Rhythm:
    """The conversation boundary settings."""
    return Rhythm(
        settings.conversation_gap_min_s, settings.conversation_gap_max_s, settings.conversation_gap_factor
    )


class LiveFlow:
    """Ingest (from the webhook), then decide/learn/send (on the worker thread)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        matcher: Matcher,
        learner: Learner,
        decisions: DecisionLog,
        memories: MemoryRegistry,
        sender: Sender,
        hub: LiveHub,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.hub = hub
        self.sender = sender
        rhythm = rhythm_from(settings)
        self.ingestor = Ingestor(engine, rhythm, settings.openphone_webhook_secret, settings.max_text_chars)
        self.decider = Decider(engine, matcher, decisions, hub, settings)
        self.replies = ReplyLearner(
            engine, learner, FeedbackRecorder(engine, memories), decisions, hub, settings
        )
        self.dispatcher = Dispatcher(engine, sender, hub, settings, rhythm)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Rounds running now in any thread: a claimed message or send is still in flight.
        self._rounds = 0
        self._rounds_lock = threading.Lock()

    def notify(self) -> None:
        """Something was stored: wake the worker now rather than at the next poll."""
        self._wake.set()

    def pending(self) -> int:
        """Messages stored but not processed yet."""
        with Session(self.engine) as session:
            return int(
                session.exec(
                    select(func.count(col(Message.id))).where(
                        col(Message.state).in_(("pending", "processing"))
                    )
                ).one()
            )

    def run_once(self, limit: int = 100) -> int:
        """Process what is pending and send what is due; returns how many items were handled."""
        with self._rounds_lock:
            self._rounds += 1
        try:
            return self._round(limit)
        finally:
            with self._rounds_lock:
                self._rounds -= 1

    def _round(self, limit: int) -> int:
        done = 0
        with Session(self.engine) as session:
            ids = session.exec(
                select(Message.id).where(Message.state == "pending").order_by(col(Message.id)).limit(limit)
            ).all()
        for message_id in ids:
            if message_id is not None and self._claim(message_id):
                self._process(message_id)
                done += 1
        for outbound_id in self.dispatcher.due():
            if self.dispatcher.send(outbound_id) is not None:
                done += 1
        return done

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Process until nothing is pending or in flight (tests, CLI); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            # Another thread's round may hold a claimed message or a send half-way through.
            if self.run_once() == 0 and self.pending() == 0 and not self._sends_due() and self._rounds == 0:
                return True
            time.sleep(0.01)
        return False

    def recover(self) -> None:
        """On start: claimed-but-unfinished messages go back to the queue; in-flight sends to a human."""
        with session_scope(self.engine) as session:
            session.exec(  # type: ignore[call-overload]
                update(Message).where(col(Message.state) == "processing").values(state="pending")
            )
        self.dispatcher.recover()

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self.recover()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="pls-live-flow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the worker thread and close the sender."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_S)
            self._wake.clear()
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
            except Exception:  # the database may be down: keep the thread, try again later
                log.exception("live flow round failed")

    def _sends_due(self) -> bool:
        with Session(self.engine) as session:
            return (
                session.exec(
                    select(Outbound.id).where(
                        Outbound.state == "queued", col(Outbound.next_attempt_at) <= utcnow()
                    )
                ).first()
                is not None
            )

    def _claim(self, message_id: int) -> bool:
        with session_scope(self.engine) as session:
            result = session.exec(  # type: ignore[call-overload]
                update(Message)
                .where(col(Message.id) == message_id, col(Message.state) == "pending")
                .values(state="processing", attempts=Message.attempts + 1)
            )
            return bool(result.rowcount == 1)

    def _process(self, message_id: int) -> None:
        tenant, attempts = "", MAX_PROCESS_ATTEMPTS
        try:
            with Session(self.engine) as session:
                message = session.get(Message, message_id)
                assert message is not None
                direction, tenant, attempts = message.direction, message.tenant, message.attempts
            if direction == "incoming":
                self.decider.decide(message_id)
            else:
                self.replies.learn(message_id)
        except Exception as error:
            log.exception("processing message %s failed", message_id)
            state = "pending" if attempts < MAX_PROCESS_ATTEMPTS else "failed"
            with session_scope(self.engine) as session:
                row = session.get(Message, message_id)
                if row is not None:
                    row.state = state
            if state == "failed":  # degrade to a human, never drop the message
                self.hub.publish(
                    tenant,
                    {
                        "type": "needs_human",
                        "tenant": tenant,
                        "message_id": message_id,
                        "reason": f"processing failed ({error.__class__.__name__})",
                        "at": utcnow().isoformat(),
                    },
                )
