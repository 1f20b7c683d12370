"""Deciding for a stored customer message: its turn, the match, the rules, the switch.

Order of authority: the matcher's decision (confidence, pattern status and mode), then the
business rules (an escalation hands the turn to a human; any other "no" turns an automatic
reply into a draft), then the global shadow switch (record only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.config import Settings
from app.conversations.threads import aware
from app.conversations.turns import Turn, customer_turn, thread
from app.db import session_scope
from app.flow.live import LiveHub
from app.learning.calibration import NEVER
from app.learning.decision_log import DecisionLog
from app.learning.matcher import Matcher, MatchResult, abstention
from app.models import Conversation, DecisionKind, Message, Outbound, TenantPolicy, utcnow
from app.policy import TurnFacts, Verdict, evaluate
from app.privacy import mask_pii
from app.template_values import apply_template, values_for

log = logging.getLogger(__name__)


def load_policy(session: Session, tenant: str) -> TenantPolicy:
    """The tenant's rules, or the defaults when none were set."""
    return session.get(TenantPolicy, tenant) or TenantPolicy(tenant=tenant)


def shadow_for(policy: TenantPolicy, default: bool) -> bool:
    """The tenant's own shadow switch, or the service default when it has not set one."""
    return default if policy.shadow is None else policy.shadow


@dataclass(frozen=True)
class Final:
    """The decision after rules and the shadow switch."""

    decision: str
    reason: str


def finalise(result: MatchResult, verdict: Verdict, shadow: bool) -> Final:
    """Apply the business rules and the global shadow switch to the matcher's decision."""
    decision, reason = str(result.decision), result.reason
    if verdict.escalated:
        decision = DecisionKind.abstain
        reason = "; ".join(r for r in verdict.reasons if r.startswith("escalated"))
    elif decision == DecisionKind.auto and not verdict.allowed:
        decision = DecisionKind.suggest
        reason = f"auto-reply not allowed: {'; '.join(verdict.reasons)} (draft offered)"
    if shadow and decision in (DecisionKind.auto, DecisionKind.suggest):
        reason = f"shadow mode: recorded only (would {decision}: {reason})"
        decision = DecisionKind.shadow
    return Final(str(decision), reason)


class Decider:
    """Decides for one customer message and queues the automatic reply when there is one."""

    def __init__(
        self, engine: Engine, matcher: Matcher, decisions: DecisionLog, hub: LiveHub, settings: Settings
    ) -> None:
        self.engine = engine
        self.matcher = matcher
        self.decisions = decisions
        self.hub = hub
        self.settings = settings

    def decide(self, message_id: int) -> str:
        """Decide (or fold into a later turn); returns the message's new state."""
        with Session(self.engine) as session:
            message = session.get(Message, message_id)
            assert message is not None and message.conversation_id is not None
            tenant = message.tenant
            conversation = session.get(Conversation, message.conversation_id)
            assert conversation is not None
            messages = thread(session, tenant, conversation.id)  # type: ignore[arg-type]
            turn, superseded, answered = customer_turn(messages, message_id, self.settings.burst_window_s)
            if superseded or answered:
                # A later message of the burst carries the turn; or a person already answered it.
                state = "folded" if superseded else "answered"
                self._set_state(message_id, state, None)
                return state
            facts = self._facts(session, conversation, messages, turn)
            policy = load_policy(session, tenant)
            values = values_for(session, tenant, conversation.line_id)
        verdict = evaluate(policy, facts)
        result = apply_template(self._match(tenant, turn), values)
        masked_text = mask_pii(turn.text)  # decision rows and the live feed never hold raw PII
        final = finalise(result, verdict, shadow_for(policy, self.settings.shadow))
        explanation: dict[str, Any] = {
            **result.explanation,
            "policy": verdict.as_dict(),
            "turn": turn.message_ids,
            "matched_text": masked_text,
            "matcher_decision": str(result.decision),
        }
        # The matcher's row, with what the policy decided, and why, in place of its own verdict.
        row = {
            **result.decision_row(),
            "decision": final.decision,
            "reason": final.reason,
            "explanation": explanation,
        }
        decision_id = self.decisions.record(**row, message_id=message_id, text=masked_text)
        with session_scope(self.engine) as session:
            message = session.get(Message, message_id)
            assert message is not None
            message.state, message.decision_id = "decided", decision_id
            if final.decision == DecisionKind.auto and result.reply:
                conv = session.get(Conversation, message.conversation_id)
                assert conv is not None
                conv.auto_reply_count += 1
                session.add(
                    Outbound(
                        tenant=tenant,
                        decision_id=decision_id,
                        message_id=message_id,
                        conversation_id=conv.id,  # type: ignore[arg-type]
                        line_id=conv.line_id,
                        to_number=conv.customer_number,
                        text=result.reply,
                        sender="pending",
                        state="queued",
                    )
                )
        self.hub.publish(
            tenant,
            {
                "type": "decision",
                "tenant": tenant,
                "decision_id": decision_id,
                "message_id": message_id,
                "conversation_id": facts_conversation(messages),
                "text": masked_text,
                "pattern_id": result.pattern_id,
                "reply": result.reply,
                "confidence": result.confidence,
                "action": str(result.action),
                "decision": final.decision,
                "reason": final.reason,
                "policy": verdict.as_dict(),
                "at": utcnow().isoformat(),
            },
        )
        return "decided"

    def _match(self, tenant: str, turn: Turn) -> MatchResult:
        try:
            return self.matcher.match(tenant, turn.text[: self.settings.max_text_chars], record=False)
        except Exception as error:  # fail safe: the message is stored, a human answers it
            log.warning("matching failed for tenant %s: %s", tenant, error)
            return abstention(
                tenant,
                f"matching failed ({error.__class__.__name__}): a human answers",
                {"suggest": NEVER, "auto": NEVER},
            )

    def _facts(self, session: Session, conv: Conversation, messages: list[Message], turn: Turn) -> TurnFacts:
        now = utcnow()
        last_reply = max((i for i, m in enumerate(messages) if m.direction == "outgoing"), default=-1)
        recent = [(aware(m.sent_at), m.text) for m in messages[last_reply + 1 :] if m.sent_at is not None]
        per_customer = session.exec(
            select(func.count(col(Outbound.id))).where(
                Outbound.tenant == conv.tenant,
                Outbound.to_number == conv.customer_number,
                col(Outbound.created_at) >= now - timedelta(hours=24),
            )
        ).one()
        return TurnFacts(
            now=now,
            text=turn.text,
            customer_number=conv.customer_number,
            recent_customer=recent,
            auto_replies_customer_day=int(per_customer),
            auto_replies_conversation=conv.auto_reply_count,
            last_operator_at=aware(conv.last_operator_at) if conv.last_operator_at else None,
        )

    def _set_state(self, message_id: int, state: str, decision_id: str | None) -> None:
        with session_scope(self.engine) as session:
            message = session.get(Message, message_id)
            assert message is not None
            message.state, message.decision_id = state, decision_id


def facts_conversation(messages: list[Message]) -> int | None:
    """The conversation id of a thread's messages."""
    return messages[0].conversation_id if messages else None
