"""Operator feedback: the reply a person actually sent, held against what PLS proposed.

The verdict (accepted / edited / rejected) moves the pattern's Beta posterior and becomes a
calibration row with the features the proposal was made with, so confidence learns from
what operators do rather than only from PLS's own leave-one-out replays.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.db import session_scope
from app.errors import Conflict, PatternNotFound
from app.learning.calibration import FeedbackRow
from app.learning.facts import facts_conflict, key_facts, normalise_reply
from app.learning.memory import MemoryRegistry
from app.learning.scoring import FEATURE_NAMES
from app.models import Action, Decision, Feedback, Pattern, utcnow

log = logging.getLogger(__name__)

ACCEPTED, EDITED, REJECTED = "accepted", "edited", "rejected"
# Similarity of the sent text to the proposal: at or above ACCEPT the operator sent it (give or
# take punctuation or a name), at or above EDIT they reworked it, below they wrote another answer.
ACCEPT_SIMILARITY = 0.95
EDIT_SIMILARITY = 0.5
# How a verdict moves the Beta posterior of "this pattern's reply is right": an edit is half
# right, so it pulls the mean towards 0.5 without the weight of a clean verdict either way.
POSTERIOR_STEP = {ACCEPTED: (1.0, 0.0), EDITED: (0.5, 0.5), REJECTED: (0.0, 1.0)}
# Weight of a verdict as a calibration row ("was the matched pattern the right answer?").
CALIBRATION_WEIGHT = {ACCEPTED: 1.0, EDITED: 0.5, REJECTED: 1.0}
_WORD = re.compile(r"\w+")


def similarity(proposed: str, actual: str) -> float:
    """0-1 closeness of two replies: the better of character alignment and word overlap."""
    a, b = normalise_reply(proposed), normalise_reply(actual)
    if a == b:
        return 1.0
    ratio = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    wa, wb = set(_WORD.findall(a)), set(_WORD.findall(b))
    jaccard = len(wa & wb) / len(wa | wb) if wa | wb else 0.0
    return max(ratio, jaccard)


def classify(proposed: str, actual: str) -> tuple[str, float]:
    """The verdict on a proposal given the reply that was sent, and their similarity."""
    score = similarity(proposed, actual)
    if facts_conflict(key_facts(proposed), key_facts(actual)):
        # Same wording with another door code or price is a different answer.
        return REJECTED, score
    if score >= ACCEPT_SIMILARITY:
        return ACCEPTED, score
    if score >= EDIT_SIMILARITY:
        return EDITED, score
    return REJECTED, score


def feature_row(explanation: dict[str, Any]) -> list[float] | None:
    """The full feature row a decision was made with, in FEATURE_NAMES order (None if absent)."""
    features = explanation.get("features")
    if not isinstance(features, dict) or any(name not in features for name in FEATURE_NAMES):
        return None
    return [float(features[name]) for name in FEATURE_NAMES]


@dataclass(frozen=True)
class Verdict:
    feedback_id: int
    pattern_id: int
    verdict: str
    similarity: float
    posterior_mean: float | None
    proposed: str  # the pattern's reply the verdict was given on


class FeedbackRecorder:
    """Records one verdict per decision and moves the pattern's posterior (SQL and memory)."""

    def __init__(self, engine: Engine, memories: MemoryRegistry) -> None:
        self.engine = engine
        self.memories = memories

    def record(
        self,
        decision: Decision,
        actual_reply: str,
        *,
        shown: bool,
        reply_message_id: int | None = None,
    ) -> Verdict | None:
        """Judge `actual_reply` against the decision's pattern; None if there is nothing to judge."""
        if decision.pattern_id is None:
            return None
        try:
            return self.store(
                decision,
                lambda proposed: classify(proposed, actual_reply),
                shown=shown,
                reply_message_id=reply_message_id,
            )
        except (PatternNotFound, Conflict):  # the pattern is gone, or the turn was judged already
            return None

    def store(
        self,
        decision: Decision,
        judge: Callable[[str], tuple[str, float]],
        *,
        shown: bool,
        reply_message_id: int | None = None,
    ) -> Verdict:
        """Store the verdict `judge` gives on the decision's proposed reply; move the posterior.

        One verdict per decision (Conflict after that). Only a proposal PLS could have made
        (suggest or auto confidence) moves the posterior: a verdict on a low-confidence guess
        says little about the pattern.
        """
        assert decision.pattern_id is not None
        tenant = decision.tenant
        moves_posterior = decision.action in (Action.suggest, Action.auto)
        memory = self.memories.get(tenant)
        with memory.lock, session_scope(self.engine) as session:
            pattern = session.get(Pattern, decision.pattern_id)
            if pattern is None or pattern.tenant != tenant:
                raise PatternNotFound(decision.pattern_id)
            verdict, score = judge(pattern.response_text)
            row = Feedback(
                tenant=tenant,
                pattern_id=decision.pattern_id,
                decision_id=decision.id,
                message_id=decision.message_id,
                reply_message_id=reply_message_id,
                verdict=verdict,
                similarity=round(score, 4),
                action=decision.action,
                shown=shown,
                features=feature_row(decision.explanation) or [],
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise Conflict(f"decision {decision.id} already has a verdict") from None
            posterior = None
            if moves_posterior:
                d_alpha, d_beta = POSTERIOR_STEP[verdict]
                pattern.feedback_alpha += d_alpha
                pattern.feedback_beta += d_beta
                pattern.accepted_count += int(verdict != REJECTED)
                pattern.rejected_count += int(verdict == REJECTED)
                pattern.updated_at = utcnow()
                posterior = pattern.feedback_alpha / (pattern.feedback_alpha + pattern.feedback_beta)
            alpha, beta, proposed = pattern.feedback_alpha, pattern.feedback_beta, pattern.response_text
            feedback_id = row.id
        state = memory.patterns.get(decision.pattern_id)
        if state is not None and moves_posterior:
            state.set_posterior(alpha, beta)
            self.memories.settle(tenant, memory)
        assert feedback_id is not None
        return Verdict(feedback_id, decision.pattern_id, verdict, round(score, 4), posterior, proposed)


def calibration_rows(engine: Engine, tenant: str) -> list[FeedbackRow]:
    """A tenant's verdicts as calibration rows (those recorded with their features)."""
    with Session(engine) as session:
        rows = session.exec(select(Feedback).where(Feedback.tenant == tenant)).all()
    return [
        FeedbackRow(
            features=np.asarray(row.features, dtype=np.float64),
            accepted=row.verdict != REJECTED,
            weight=CALIBRATION_WEIGHT.get(row.verdict, 1.0),
        )
        for row in rows
        if len(row.features) == len(FEATURE_NAMES)
    ]
