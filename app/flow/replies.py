"""Learning from what operators send: each reply becomes an example, and a verdict on PLS.

A reply is paired with the customer turn right before it in the conversation's own order, so a
reply delivered before the message it answers waits ("unpaired") until that message arrives.
PLS's own automatic replies are recognised and never learned (no self-reinforcement).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.config import Settings
from app.conversations.threads import aware
from app.conversations.turns import has_earlier_outgoing, thread, turn_answered_by
from app.db import session_scope
from app.errors import InvalidInput
from app.flow.live import LiveHub
from app.learning.decision_log import DecisionLog
from app.learning.feedback import FeedbackRecorder
from app.learning.learner import Interaction, Learner
from app.models import Decision, DecisionKind, Message, Outbound, utcnow
from app.text import normalise_for_hash

log = logging.getLogger(__name__)

# An echo of our own reply comes back within minutes; older identical texts were typed by people.
OWN_ECHO_WINDOW = timedelta(hours=1)


class ReplyLearner:
    """Turns an operator's outgoing message into an example and, if PLS had proposed, feedback."""

    def __init__(
        self,
        engine: Engine,
        learner: Learner,
        feedback: FeedbackRecorder,
        decisions: DecisionLog,
        hub: LiveHub,
        settings: Settings,
    ) -> None:
        self.engine = engine
        self.learner = learner
        self.feedback = feedback
        self.decisions = decisions
        self.hub = hub
        self.settings = settings

    def learn(self, message_id: int) -> str:
        """Learn one outgoing message; returns its new state."""
        with Session(self.engine) as session:
            message = session.get(Message, message_id)
            assert message is not None and message.conversation_id is not None
            tenant = message.tenant
            if message.author == "pls" or self._is_own_echo(session, message):
                return self._finish(message_id, "own", author="pls")
            messages = thread(session, tenant, message.conversation_id)
            if has_earlier_outgoing(messages, message_id):
                return self._finish(message_id, "followup")
            turn = turn_answered_by(messages, message_id, self.settings.burst_window_s)
            if turn is None:
                return self._finish(message_id, "unpaired")
            decided = [m.decision_id for m in turn.messages if m.decision_id]
        try:
            learned = self.learner.learn(
                tenant,
                Interaction(
                    text=turn.text,
                    reply=message.text,
                    context=tuple(turn.context),
                    message_id=turn.message_ids[-1],
                ),
                source="operator",
            )
        except InvalidInput as error:  # e.g. a reply over the length limit: kept, not learned
            log.info("reply %s not learned: %s", message_id, error)
            return self._finish(message_id, "not_learned")
        verdict = None
        if decided:
            self.decisions.flush()  # the decision row may still sit in the write buffer
            with Session(self.engine) as session:
                decision = session.get(Decision, decided[-1])
            if decision is not None and decision.tenant == tenant:
                verdict = self.feedback.record(
                    decision,
                    message.text,
                    shown=decision.decision in (DecisionKind.suggest, DecisionKind.auto),
                    reply_message_id=message_id,
                )
        self.hub.publish(
            tenant,
            {
                "type": "learned",
                "tenant": tenant,
                "message_id": message_id,
                "conversation_id": message.conversation_id,
                "text": turn.text,
                "reply": message.text,
                "example_id": learned.example_id,
                "pattern_id": learned.pattern_id,
                "new_pattern": learned.new_pattern,
                "feedback": verdict.verdict if verdict else None,
                "feedback_pattern_id": verdict.pattern_id if verdict else None,
                "posterior_mean": verdict.posterior_mean if verdict else None,
                "at": utcnow().isoformat(),
            },
        )
        return self._finish(message_id, "learned")

    def _is_own_echo(self, session: Session, message: Message) -> bool:
        """The platform's copy of an automatic reply we are sending or have sent."""
        sent_at = aware(message.sent_at) if message.sent_at else utcnow()
        candidates = session.exec(
            select(Outbound).where(
                Outbound.tenant == message.tenant,
                Outbound.conversation_id == message.conversation_id,
                col(Outbound.state).in_(("sending", "sent")),
            )
        ).all()
        wanted = normalise_for_hash(message.text)
        for out in candidates:
            if out.external_id and out.external_id == message.external_id:
                return True
            if (
                normalise_for_hash(out.text) == wanted
                and abs(sent_at - aware(out.created_at)) <= OWN_ECHO_WINDOW
            ):
                return True
        return False

    def _finish(self, message_id: int, state: str, author: str | None = None) -> str:
        with session_scope(self.engine) as session:
            message = session.get(Message, message_id)
            assert message is not None
            message.state = state
            if author:
                message.author = author
        return state
