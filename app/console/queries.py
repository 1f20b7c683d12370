"""Read models the console needs beyond the resource APIs: the inbox, a pattern's history,
a filtered pattern list and the service-wide switches. Every query is scoped to one tenant."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, case, func, or_
from sqlmodel import Session, col, select

from app.errors import InvalidInput, PatternNotFound
from app.flow.decide import load_policy, shadow_for
from app.models import Action, Decision, Feedback, Message, Pattern, utcnow
from app.patterns import pattern_view
from app.services import Services
from app.tenants import require_tenant

# Sort orders of the pattern list: the column and whether the largest comes first.
SORTS: dict[str, tuple[Any, bool]] = {
    "examples": (Pattern.example_count, True),
    "matches": (Pattern.match_count, True),
    "accepted": (Pattern.accepted_count, True),
    "rejected": (Pattern.rejected_count, True),
    "updated": (Pattern.updated_at, True),
    "id": (Pattern.id, False),
}


def inbox(engine: Engine, tenant: str, limit: int, before: datetime | None = None) -> list[dict[str, Any]]:
    """The newest live-flow decisions (one per customer turn) with the verdict each got."""
    with Session(engine) as session:
        require_tenant(session, tenant)
        query = select(Decision, Message.conversation_id, Pattern.response_text).where(
            Decision.tenant == tenant, col(Decision.message_id).is_not(None)
        )
        query = query.join(Message, col(Message.id) == col(Decision.message_id)).outerjoin(
            Pattern, col(Pattern.id) == col(Decision.pattern_id)
        )
        if before is not None:
            query = query.where(col(Decision.created_at) < before)
        rows = session.exec(query.order_by(col(Decision.created_at).desc()).limit(limit)).all()
        ids = [d.id for d, _, _ in rows]
        verdicts = dict(
            session.exec(  # type: ignore[arg-type]
                select(Feedback.decision_id, Feedback.verdict).where(
                    Feedback.tenant == tenant, col(Feedback.decision_id).in_(ids)
                )
            ).all()
        )
    return [
        {
            "decision_id": d.id,
            "message_id": d.message_id,
            "conversation_id": conversation_id,
            "text": d.text,
            "pattern_id": d.pattern_id,
            "reply": reply,
            "confidence": d.confidence,
            "action": d.action,
            "decision": d.decision,
            "reason": d.reason,
            "threshold": d.threshold,
            "latency_ms": d.latency_ms,
            "stages_ms": d.stages_ms,
            "at": d.created_at,
            "verdict": verdicts.get(d.id),
        }
        for d, conversation_id, reply in rows
    ]


def _day(value: object) -> str:
    # SQLite's date() gives a string, PostgreSQL's a date: one shape for the chart.
    return value.isoformat() if isinstance(value, date) else str(value)


def pattern_history(engine: Engine, tenant: str, pattern_id: int, days: int) -> dict[str, Any]:
    """Per day: how often the pattern was the best match, its mean confidence, and verdicts."""
    since = utcnow() - timedelta(days=days)
    with Session(engine) as session:
        require_tenant(session, tenant)
        pattern = session.get(Pattern, pattern_id)
        if pattern is None or pattern.tenant != tenant:
            raise PatternNotFound(pattern_id)
        day = func.date(Decision.created_at)
        answerable = case((col(Decision.action).in_([Action.suggest, Action.auto]), 1), else_=0)
        decided = session.exec(
            select(day, func.count(), func.avg(Decision.confidence), func.sum(answerable))  # type: ignore[call-overload]
            .where(
                Decision.tenant == tenant,
                Decision.pattern_id == pattern_id,
                col(Decision.created_at) >= since,
            )
            .group_by(day)
        ).all()
        fday = func.date(Feedback.created_at)
        judged = session.exec(
            select(fday, Feedback.verdict, func.count())  # type: ignore[call-overload]
            .where(
                Feedback.tenant == tenant,
                Feedback.pattern_id == pattern_id,
                col(Feedback.created_at) >= since,
            )
            .group_by(fday, Feedback.verdict)
        ).all()
    by_day: dict[str, dict[str, Any]] = {}

    def row(key: object) -> dict[str, Any]:
        name = _day(key)
        return by_day.setdefault(
            name,
            {"day": name, "matches": 0, "answerable": 0, "mean_confidence": None,
             "accepted": 0, "edited": 0, "rejected": 0},
        )  # fmt: skip

    for key, count, mean, answered in decided:
        entry = row(key)
        entry.update(matches=int(count), answerable=int(answered or 0), mean_confidence=round(float(mean), 4))
    for key, verdict, count in judged:
        entry = row(key)
        if verdict in ("accepted", "edited", "rejected"):
            entry[verdict] += int(count)
    return {"pattern_id": pattern_id, "days": days, "per_day": [by_day[k] for k in sorted(by_day)]}


def find_patterns(
    engine: Engine,
    tenant: str,
    *,
    q: str = "",
    status: str | None = None,
    mode: str | None = None,
    sort: str = "examples",
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of patterns whose reply (or id) matches `q`, by status and mode, with the total."""
    if sort not in SORTS:
        raise InvalidInput("sort", f"must be one of {', '.join(SORTS)}")
    with Session(engine) as session:
        require_tenant(session, tenant)
        where: list[Any] = [col(Pattern.tenant) == tenant, col(Pattern.merged_into).is_(None)]
        if status:
            where.append(Pattern.status == status)
        if mode:
            where.append(Pattern.mode == mode)
        text = q.strip()
        if text:
            needle = f"%{text.lower().replace('%', '').replace('_', '')}%"
            by_text = func.lower(Pattern.response_text).like(needle)
            where.append(or_(by_text, col(Pattern.id) == int(text)) if text.isdigit() else by_text)
        total = session.exec(select(func.count()).select_from(Pattern).where(*where)).one()
        column, descending = SORTS[sort]
        order = col(column).desc() if descending else col(column)
        rows = session.exec(
            select(Pattern).where(*where).order_by(order, col(Pattern.id)).offset(offset).limit(limit)
        ).all()
        items = [
            {**pattern_view(p), "alternatives": list(p.alternatives or []),
             "threshold_override": p.threshold_override}
            for p in rows
        ]  # fmt: skip
    return {"total": int(total), "offset": offset, "limit": limit, "items": items}


def runtime(services: Services, tenant: str) -> dict[str, Any]:
    """The switches in force for the tenant (its shadow switch, the service's sender) and its thresholds."""
    settings = services.settings
    model = services.memories.get(tenant).model
    with Session(services.engine) as session:
        policy = load_policy(session, tenant)
    return {
        "tenant": tenant,
        "shadow": shadow_for(policy, settings.shadow),
        "tenant_shadow": policy.shadow,
        "service_shadow": settings.shadow,
        "shadow_source": "this tenant's setting"
        if policy.shadow is not None
        else "PLS_SHADOW (service default)",
        "sender": settings.sender,
        "operator_seconds_per_reply": settings.operator_seconds_per_reply,
        "suggest_precision": settings.suggest_precision,
        "auto_precision": settings.auto_precision,
        "thresholds": ({"suggest": model.suggest_threshold, "auto": model.auto_threshold} if model else None),
    }
