"""The approval queue: candidate patterns ranked by the operator time they would save."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as sql_select  # more columns than sqlmodel's select is typed for
from sqlmodel import Session, col, select

from app.models import Action, Decision, Example, Pattern, PatternCandidate, PatternStatus, utcnow

# The window over which frequency and would-have-answered counts are measured.
WINDOW_DAYS = 30


def approval_queue(
    session: Session, tenant: str, *, seconds_per_reply: float, limit: int = 100
) -> list[dict[str, Any]]:
    """Candidate patterns, the most valuable first, with the numbers behind their value.

    Ranked in SQL so a tenant with many candidates costs one query that returns `limit` rows.
    """
    since = utcnow() - timedelta(days=WINDOW_DAYS)
    answered = (
        select(Decision.pattern_id, func.count().label("n"))
        .where(
            Decision.tenant == tenant,
            Decision.created_at >= since,
            col(Decision.action).in_([Action.suggest, Action.auto]),
        )
        .group_by(col(Decision.pattern_id))
        .subquery()
    )
    recent = (
        select(Example.pattern_id, func.count().label("n"))
        .where(Example.tenant == tenant, func.coalesce(Example.occurred_at, Example.created_at) >= since)
        .group_by(col(Example.pattern_id))
        .subquery()
    )
    would_answer = func.coalesce(answered.c.n, 0)
    sent = func.coalesce(recent.c.n, 0)
    # Value: replies it could have written where it was asked, else how often operators wrote it.
    value = case((would_answer > sent, would_answer), else_=sent)
    query = (
        sql_select(
            col(Pattern.id),
            col(Pattern.response_text),
            col(Pattern.version),
            col(Pattern.mode),
            col(Pattern.example_count),
            would_answer,
            sent,
        )
        .outerjoin(answered, answered.c.pattern_id == Pattern.id)
        .outerjoin(recent, recent.c.pattern_id == Pattern.id)
        .where(col(Pattern.tenant) == tenant, col(Pattern.status) == PatternStatus.candidate)
        .order_by(value.desc(), col(Pattern.example_count).desc(), col(Pattern.id))
        .limit(limit)
    )
    rows = _discovered(session, tenant, seconds_per_reply)
    for pattern_id, response, version, mode, example_count, n_answered, n_sent in session.execute(
        query
    ).all():
        rows.append(
            {
                "kind": "pattern",
                "pattern_id": pattern_id,
                "response_text": response,
                "version": version,
                "mode": mode,
                "example_count": example_count,
                "per_day": round(n_sent / WINDOW_DAYS, 3),
                "would_have_answered": n_answered,
                "minutes_saved_per_day": round(
                    max(n_answered, n_sent) / WINDOW_DAYS * seconds_per_reply / 60, 2
                ),
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
