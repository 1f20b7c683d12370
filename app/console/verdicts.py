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

from sqlmodel import Session, select

from app.db import session_scope
from app.errors import Conflict, InvalidInput, NotFound
from app.learning.feedback import (
    ACCEPTED,
    EDITED,
    POSTERIOR_STEP,
    REJECTED,
    classify,
    feature_row,
    similarity,
)
from app.learning.learner import Interaction
from app.models import Action, Decision, DecisionKind, Feedback, Pattern, utcnow
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
    # Only a proposal PLS could have made (suggest or auto confidence) moves the posterior,
    # as in the live flow: a verdict on a low-confidence guess says little about the pattern.
    moves_posterior = decision.action in (Action.suggest, Action.auto)
    memory = services.memories.get(tenant)
    with memory.lock, session_scope(services.engine) as session:
        if session.exec(select(Feedback).where(Feedback.decision_id == decision.id)).first() is not None:
            raise Conflict(f"decision {decision.id} already has a verdict")
        pattern = session.get(Pattern, decision.pattern_id)
        if pattern is None or pattern.tenant != tenant:
            raise NotFound("pattern", decision.pattern_id)
        verdict, score = _verdict(pattern.response_text, request)
        session.add(
            Feedback(
                tenant=tenant,
                pattern_id=pattern.id,  # type: ignore[arg-type]
                decision_id=decision.id,
                message_id=decision.message_id,
                verdict=verdict,
                similarity=round(score, 4),
                action=decision.action,
                shown=decision.decision in (DecisionKind.suggest, DecisionKind.auto),
                features=feature_row(decision.explanation) or [],
            )
        )
        if moves_posterior:
            d_alpha, d_beta = POSTERIOR_STEP[verdict]
            pattern.feedback_alpha += d_alpha
            pattern.feedback_beta += d_beta
            pattern.accepted_count += int(verdict != REJECTED)
            pattern.rejected_count += int(verdict == REJECTED)
            pattern.updated_at = utcnow()
        alpha, beta, proposed = pattern.feedback_alpha, pattern.feedback_beta, pattern.response_text
        pattern_id = pattern.id
    state = memory.patterns.get(pattern_id)  # type: ignore[arg-type]
    if state is not None and moves_posterior:
        state.set_posterior(alpha, beta)
    result: dict[str, Any] = {
        "verdict": verdict,
        "similarity": round(score, 4),
        "pattern_id": pattern_id,
        "posterior_mean": round(alpha / (alpha + beta), 4) if moves_posterior else None,
        "learned": None,
    }
    # What the customer should have got is a training example, as the live flow learns every
    # reply an operator sends: the accepted draft itself, or the edited / corrected reply.
    reply = (request.reply or "").strip()
    if not reply and verdict == ACCEPTED:
        reply = proposed
    if reply:
        learned = services.learner.learn(
            tenant, Interaction(text=decision.text, reply=reply, message_id=decision.message_id), source="operator"
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
