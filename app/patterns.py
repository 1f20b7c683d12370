"""Read access to patterns, always scoped to one tenant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.errors import PatternNotFound
from app.models import Example, Pattern
from app.tenants import require_tenant


def pattern_view(pattern: Pattern) -> dict[str, Any]:
    """The public fields of a pattern, with its feedback posterior mean."""
    return {
        "id": pattern.id,
        "tenant": pattern.tenant,
        "response_text": pattern.response_text,
        "key_facts": pattern.key_facts,
        "status": pattern.status,
        "mode": pattern.mode,
        "version": pattern.version,
        "example_count": pattern.example_count,
        "accepted_count": pattern.accepted_count,
        "rejected_count": pattern.rejected_count,
        "match_count": pattern.match_count,
        "feedback_mean": round(pattern.feedback_alpha / (pattern.feedback_alpha + pattern.feedback_beta), 4),
        "created_at": pattern.created_at,
        "updated_at": pattern.updated_at,
    }


def list_patterns(
    engine: Engine, tenant: str, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """A page of a tenant's patterns, the largest first."""
    with Session(engine) as session:
        require_tenant(session, tenant)
        query = select(Pattern).where(Pattern.tenant == tenant)
        if status is not None:
            query = query.where(Pattern.status == status)
        query = query.order_by(col(Pattern.example_count).desc(), col(Pattern.id)).offset(offset).limit(limit)
        return [pattern_view(p) for p in session.exec(query).all()]


def get_pattern(
    engine: Engine, tenant: str, pattern_id: int, n_examples: int = 50
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A pattern and its newest examples; another tenant's pattern is simply not found."""
    with Session(engine) as session:
        require_tenant(session, tenant)
        pattern = session.get(Pattern, pattern_id)
        if pattern is None or pattern.tenant != tenant:
            raise PatternNotFound(pattern_id)
        examples = session.exec(
            select(Example)
            .where(Example.pattern_id == pattern_id, Example.tenant == tenant)
            .order_by(col(Example.id).desc())
            .limit(n_examples)
        ).all()
        return pattern_view(pattern), [
            {
                "id": e.id,
                "text": e.text,
                "reply": e.reply,
                "context": e.context,
                "quality": e.quality,
                "status": e.status,
                "created_at": e.created_at,
            }
            for e in examples
        ]


def recount(session: Session, pattern_ids: set[int]) -> None:
    """Bring the example counts of the given patterns back in line with their examples."""
    if not pattern_ids:
        return
    session.flush()
    counts = dict(
        session.exec(  # type: ignore[arg-type]
            select(Example.pattern_id, func.count())
            .where(col(Example.pattern_id).in_(pattern_ids))
            .group_by(col(Example.pattern_id))
        ).all()
    )
    for pattern in session.exec(select(Pattern).where(col(Pattern.id).in_(pattern_ids))).all():
        pattern.example_count = int(counts.get(pattern.id or 0, 0))
