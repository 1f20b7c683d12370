"""Learn from an operator's reply; match a customer's message."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import ServicesDep
from app.api.schemas import LearnIn, LearnOut, MatchIn, MatchOut
from app.learning.learner import Interaction

router = APIRouter(prefix="/api", tags=["learning"])


@router.post("/learn", response_model=LearnOut, status_code=status.HTTP_201_CREATED)
def learn(body: LearnIn, services: ServicesDep) -> LearnOut:
    """Store a customer message and the operator's reply as an example, filed under a pattern."""
    learned = services.learner.learn(
        body.tenant,
        Interaction(text=body.text, reply=body.reply, context=tuple(body.context), quality=body.quality),
    )
    return LearnOut(**learned.__dict__)


@router.post("/match", response_model=MatchOut)
def match(body: MatchIn, services: ServicesDep) -> MatchOut:
    """Match a message against what was learned: pattern, calibrated confidence, decision, why."""
    result = services.matcher.match(body.tenant, body.text, record=body.record)
    return MatchOut(**result.as_dict())
