"""An operator's verdict on a live decision, given in the console rather than by sending a reply.

The live flow judges a proposal from the reply an operator sends through the phone platform.
In the console an operator may instead accept the draft, send an edited one, or say the
proposal was wrong; the verdict moves the pattern's Beta posterior exactly as the live flow's
would (same steps, same calibration row, one verdict per decision), and the reply the customer
should have got is learned as an example of the customer's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from app.errors import InvalidInput, NotFound
from app.learning.feedback import (
    ACCEPTED,
    EDITED,
    REJECTED,
    FeedbackRecorder,
    classify,
    similarity,
)
from app.learning.learner import Interaction
from app.models import Decision, DecisionKind, utcnow
from app.services import Services

VERDICTS = (ACCEPTED, EDITED, REJECTED)


@dataclass(frozen=True)
class VerdictRequest:
    """What the operator said: a verdict (or None: judge `reply` as the live flow would) and a reply."""

    decision_id: str
    verdict: str | None
    reply: str | None


def _decision(services: Services, tenant: str, decision_id: str) -> Decision:
    services.decisions.flush()  # a decision made a moment ago may still sit in the write buffer
    with Session(services.engine) as session:
        decision = session.get(Decision, decision_id)
    if decision is None or decision.tenant != tenant:
        raise NotFound("decision", decision_id)
    if decision.pattern_id is None:
        raise InvalidInput(
            "decision_id", "PLS proposed no pattern for this message: there is nothing to judge"
        )
    return decision


def _verdict(pattern_reply: str, request: VerdictRequest) -> tuple[str, float]:
    """The verdict to store and the reply's similarity to the proposal."""
    reply = (request.reply or "").strip()
    if request.verdict is None:
        if not reply:
            raise InvalidInput("reply", "required when no verdict is given")
        return classify(pattern_reply, reply)
    if request.verdict not in VERDICTS:
        raise InvalidInput("verdict", f"must be one of {', '.join(VERDICTS)}")
    if request.verdict == EDITED and not reply:
        raise InvalidInput("reply", "an edited verdict needs the reply that was sent")
    score = similarity(pattern_reply, reply) if reply else (1.0 if request.verdict == ACCEPTED else 0.0)
    return request.verdict, score


def record_verdict(services: Services, tenant: str, request: VerdictRequest) -> dict[str, Any]:
    """Store one verdict on a decision (409 if it already has one) and learn the right reply."""
    decision = _decision(services, tenant, request.decision_id)
    stored = FeedbackRecorder(services.engine, services.memories).store(
        decision,
        lambda proposed: _verdict(proposed, request),
        shown=decision.decision in (DecisionKind.suggest, DecisionKind.auto),
    )
    result: dict[str, Any] = {
        "verdict": stored.verdict,
        "similarity": stored.similarity,
        "pattern_id": stored.pattern_id,
        "posterior_mean": None if stored.posterior_mean is None else round(stored.posterior_mean, 4),
        "learned": None,
    }
    # What the customer should have got is a training example, as the live flow learns every
    # reply an operator sends: the accepted draft itself, or the edited / corrected reply.
    reply = (request.reply or "").strip()
    if not reply and stored.verdict == ACCEPTED:
        reply = stored.proposed
    if reply:
        learned = services.learner.learn(
            tenant,
            Interaction(text=decision.text, reply=reply, message_id=decision.message_id),
            source="operator",
        )
        result["learned"] = learned.__dict__
    services.live.publish(
        tenant,
        {
            "type": "verdict",
            "tenant": tenant,
            "decision_id": decision.id,
            **result,
            "at": utcnow().isoformat(),
        },
    )
    return result
