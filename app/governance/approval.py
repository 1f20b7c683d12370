"""The approval queue: candidate patterns ranked by the operator time they would save."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models import Action, Decision, Example, Pattern, PatternCandidate, PatternStatus, utcnow

# The window over which frequency and would-have-answered counts are measured.
WINDOW_DAYS = 30


def approval_queue(
    session: Session, tenant: str, *, seconds_per_reply: float, limit: int = 100
) -> list[dict[str, Any]]:
    """Candidate patterns, the most valuable first, with the numbers behind their value."""
    since = utcnow() - timedelta(days=WINDOW_DAYS)
    candidates = session.exec(
        select(Pattern).where(Pattern.tenant == tenant, Pattern.status == PatternStatus.candidate)
    ).all()
    rows: list[dict[str, Any]] = _discovered(session, tenant, seconds_per_reply)
    ids = [p.id for p in candidates]
    answered = dict(
        session.exec(  # type: ignore[arg-type]
            select(Decision.pattern_id, func.count())
            .where(
                Decision.tenant == tenant,
                col(Decision.pattern_id).in_(ids),
                Decision.created_at >= since,
                col(Decision.action).in_([Action.suggest, Action.auto]),
            )
            .group_by(col(Decision.pattern_id))
        ).all()
    )
    recent = dict(
        session.exec(  # type: ignore[arg-type]
            select(Example.pattern_id, func.count())
            .where(
                Example.tenant == tenant,
                col(Example.pattern_id).in_(ids),
                func.coalesce(Example.occurred_at, Example.created_at) >= since,
            )
            .group_by(col(Example.pattern_id))
        ).all()
    )
    for pattern in candidates:
        per_day = recent.get(pattern.id or 0, 0) / WINDOW_DAYS
        would_answer = answered.get(pattern.id or 0, 0)
        # Value: replies it could have written, measured where it was asked, else how often
        # operators wrote this reply themselves.
        replies_per_day = max(would_answer / WINDOW_DAYS, per_day)
        rows.append(
            {
                "kind": "pattern",
                "pattern_id": pattern.id,
                "response_text": pattern.response_text,
                "version": pattern.version,
                "mode": pattern.mode,
                "example_count": pattern.example_count,
                "per_day": round(per_day, 3),
                "would_have_answered": would_answer,
                "minutes_saved_per_day": round(replies_per_day * seconds_per_reply / 60, 2),
            }
        )
    rows.sort(key=lambda r: (-r["minutes_saved_per_day"], -r["example_count"], r["kind"]))
    return rows[:limit]


def _discovered(session: Session, tenant: str, seconds_per_reply: float) -> list[dict[str, Any]]:
    """Open candidates found by discovery, valued by how often operators send their reply."""
    return [
        {
            "kind": "discovery",
            "candidate_id": c.id,
            "pattern_ids": c.pattern_ids,
            "response_text": c.reply,
            "example_count": c.size,
            "per_day": round(c.per_day, 3),
            "would_have_answered": None,
            "minutes_saved_per_day": round(c.per_day * seconds_per_reply / 60, 2),
        }
        for c in session.exec(
            select(PatternCandidate).where(
                PatternCandidate.tenant == tenant, PatternCandidate.status == "open"
            )
        ).all()
    ]
