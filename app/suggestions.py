"""Smart suggestions: what an admin might want to change about a tenant's patterns.

- "disable": an approved pattern nobody has used (matched) or accepted for `stale_days`;
- "merge": two patterns whose customer messages are near each other but whose replies differ
  (the same question answered two ways: one of them, or one merged reply, should win);
- "duplicate": two patterns whose replies say the same thing (near-duplicate candidates).
Pairs whose replies state different key facts (door codes per location) are apart on purpose,
as in learning, and never suggested. Every suggestion carries the numbers it was based on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.learning.facts import facts_conflict
from app.models import Example, ExampleStatus, Feedback, Pattern, PatternStatus, utcnow
from app.tenants import require_tenant
from embeddings.base import Embedder

# Bounds on the work one request does: the largest patterns, their newest examples.
MAX_PATTERNS = 500
EXAMPLES_PER_PATTERN = 20
ACCEPTING = ("accepted", "edited")


@dataclass(frozen=True)
class SuggestionRules:
    """Thresholds (from settings)."""

    stale_days: int = 14
    merge_similarity: float = 0.8
    duplicate_similarity: float = 0.9
    duplicate_message_similarity: float = 0.5


@dataclass
class Suggestion:
    """One proposed change, why, and the numbers behind it."""

    kind: str  # disable | merge | duplicate
    pattern_ids: list[int]
    reason: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


def suggest(
    engine: Engine, embedder: Embedder, tenant: str, rules: SuggestionRules, now: datetime | None = None
) -> list[Suggestion]:
    """Every suggestion for a tenant: disable first (oldest idle first), then pairs (closest first)."""
    now = now or utcnow()
    with Session(engine) as session:
        require_tenant(session, tenant)
        patterns = list(
            session.exec(
                select(Pattern)
                .where(Pattern.tenant == tenant, Pattern.status != PatternStatus.disabled)
                .order_by(col(Pattern.example_count).desc(), col(Pattern.id))
                .limit(MAX_PATTERNS)
            ).all()
        )
        accepted = _last_accepted(session, tenant)
        texts = _example_texts(session, tenant, [p.id for p in patterns if p.id is not None])
    out = _idle(patterns, accepted, rules, now)
    out.extend(_pairs(embedder, [p for p in patterns if texts.get(p.id or 0)], texts, rules))
    return out


def _last_accepted(session: Session, tenant: str) -> dict[int, datetime]:
    rows = session.exec(
        select(Feedback.pattern_id, func.max(Feedback.created_at))
        .where(Feedback.tenant == tenant, col(Feedback.verdict).in_(ACCEPTING))
        .group_by(col(Feedback.pattern_id))
    ).all()
    return {pattern_id: at for pattern_id, at in rows if at is not None}


def _example_texts(session: Session, tenant: str, pattern_ids: list[int]) -> dict[int, list[str]]:
    if not pattern_ids:
        return {}
    rows = session.exec(
        select(Example.pattern_id, Example.text)
        .where(
            Example.tenant == tenant,
            col(Example.pattern_id).in_(pattern_ids),
            col(Example.status).in_((ExampleStatus.active, ExampleStatus.gold)),
        )
        .order_by(col(Example.id).desc())
    ).all()
    texts: dict[int, list[str]] = {}
    for pattern_id, text in rows:
        bucket = texts.setdefault(pattern_id, [])
        if len(bucket) < EXAMPLES_PER_PATTERN:
            bucket.append(text)
    return texts


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands datetimes back naive; they were stored as UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=utcnow().tzinfo)
    return moment


def _idle(
    patterns: Sequence[Pattern], accepted: dict[int, datetime], rules: SuggestionRules, now: datetime
) -> list[Suggestion]:
    cutoff = now - timedelta(days=rules.stale_days)
    out: list[Suggestion] = []
    for pattern in patterns:
        created = _aware(pattern.created_at)
        if (
            pattern.status != PatternStatus.approved
            or pattern.id is None
            or created is None
            or created > cutoff
        ):
            continue  # too new to judge, or not live
        matched = _aware(pattern.last_matched_at)
        last_accept = _aware(accepted.get(pattern.id))
        used = [moment for moment in (matched, last_accept) if moment is not None]
        last_use = max(used) if used else None
        if last_use is not None and last_use > cutoff:
            continue
        idle_days = (now - (last_use or created)).days
        since = f"for {idle_days} days" if last_use else f"since it was created {idle_days} days ago"
        out.append(
            Suggestion(
                "disable",
                [pattern.id],
                f"disable? not matched or accepted {since}",
                {
                    "idle_days": idle_days,
                    "last_matched_at": matched.isoformat() if matched else None,
                    "last_accepted_at": last_accept.isoformat() if last_accept else None,
                    "match_count": pattern.match_count,
                    "accepted_count": pattern.accepted_count,
                    "stale_days": rules.stale_days,
                },
            )
        )
    out.sort(key=lambda s: -int(s.numbers["idle_days"]))
    return out


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return np.asarray(rows / np.where(norms == 0, 1.0, norms), dtype=np.float64)


def _pairs(
    embedder: Embedder, patterns: Sequence[Pattern], texts: dict[int, list[str]], rules: SuggestionRules
) -> list[Suggestion]:
    if len(patterns) < 2:
        return []
    ids = [p.id or 0 for p in patterns]
    flat = [text for pid in ids for text in texts[pid]]
    vectors = _unit(embedder.embed(flat + [p.response_text for p in patterns]))
    message_vecs, reply_vecs = vectors[: len(flat)], vectors[len(flat) :]
    centroids, start = [], 0
    for pid in ids:
        count = len(texts[pid])
        centroids.append(message_vecs[start : start + count].mean(axis=0))
        start += count
    message_sim = _unit(np.stack(centroids)) @ _unit(np.stack(centroids)).T
    reply_sim = reply_vecs @ reply_vecs.T
    out: list[Suggestion] = []
    for i in range(len(patterns)):
        for j in range(i + 1, len(patterns)):
            a, b = patterns[i], patterns[j]
            m, r = float(message_sim[i, j]), float(reply_sim[i, j])
            duplicate = r >= rules.duplicate_similarity and m >= rules.duplicate_message_similarity
            merge = m >= rules.merge_similarity and not duplicate
            if not (duplicate or merge) or facts_conflict(a.key_facts, b.key_facts):
                continue
            numbers = {
                "message_similarity": round(m, 4),
                "reply_similarity": round(r, 4),
                "examples": [a.example_count, b.example_count],
                "statuses": [a.status, b.status],
            }
            if duplicate:
                reason = (
                    f"duplicate? patterns {a.id} ({a.status}) and {b.id} ({b.status}) give nearly "
                    f"the same reply (reply similarity {r:.2f})"
                )
            else:
                reason = (
                    f"merge? patterns {a.id} and {b.id} answer the same messages (message similarity "
                    f"{m:.2f}) with different replies (reply similarity {r:.2f})"
                )
            out.append(
                Suggestion("duplicate" if duplicate else "merge", [a.id or 0, b.id or 0], reason, numbers)
            )
    out.sort(key=lambda s: -float(s.numbers["message_similarity"]))
    return out
