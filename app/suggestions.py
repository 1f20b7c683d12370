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

from app.learning.facts import fact_kinds
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
        ids = [p.id for p in patterns if p.id is not None]
        accepted = _last_accepted(session, tenant, ids)
        texts = _example_texts(session, tenant, ids)
    out = _idle(patterns, accepted, rules, now)
    out.extend(_pairs(embedder, [p for p in patterns if texts.get(p.id or 0)], texts, rules))
    return out


def _last_accepted(session: Session, tenant: str, pattern_ids: list[int]) -> dict[int, datetime]:
    if not pattern_ids:
        return {}
    # Only the loaded patterns: a tenant's other patterns' verdicts would be read for nothing.
    rows = session.exec(
        select(Feedback.pattern_id, func.max(Feedback.created_at))
        .where(
            Feedback.tenant == tenant,
            col(Feedback.pattern_id).in_(pattern_ids),
            col(Feedback.verdict).in_(ACCEPTING),
        )
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


def _similarities(
    embedder: Embedder, patterns: Sequence[Pattern], texts: dict[int, list[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of every two patterns' message centroids, and of their replies."""
    ids = [p.id or 0 for p in patterns]
    flat = [text for pid in ids for text in texts[pid]]
    vectors = _unit(embedder.embed(flat + [p.response_text for p in patterns]))
    message_vecs, reply_vecs = vectors[: len(flat)], vectors[len(flat) :]
    centroids, start = [], 0
    for pid in ids:
        count = len(texts[pid])
        centroids.append(message_vecs[start : start + count].mean(axis=0))
        start += count
    unit_centroids = _unit(np.stack(centroids))
    return unit_centroids @ unit_centroids.T, reply_vecs @ reply_vecs.T


def _close_pairs(
    message_sim: np.ndarray, reply_sim: np.ndarray, rules: SuggestionRules
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs i < j close enough for a merge or a duplicate, in row-major order."""
    duplicate = (reply_sim >= rules.duplicate_similarity) & (
        message_sim >= rules.duplicate_message_similarity
    )
    close = np.triu(duplicate | (message_sim >= rules.merge_similarity), k=1)
    rows, cols = np.nonzero(close)
    return rows, cols


def _fact_codes(facts: Sequence[Sequence[str]]) -> np.ndarray:
    """Per pattern and fact kind, a number naming the set of values it states (-1: none)."""
    grouped = [fact_kinds(f) for f in facts]
    kinds = sorted({kind for by_kind in grouped for kind in by_kind})
    codes = np.full((len(grouped), len(kinds)), -1, dtype=np.int64)
    numbers: dict[frozenset[str], int] = {}  # values carry their kind, so sets never collide across kinds
    for row, by_kind in enumerate(grouped):
        for column, kind in enumerate(kinds):
            if kind in by_kind:
                codes[row, column] = numbers.setdefault(by_kind[kind], len(numbers))
    return codes


def fact_conflicts(facts: Sequence[Sequence[str]], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """`facts_conflict` for many pairs at once: a kind both state, with different values."""
    codes = _fact_codes(facts)
    a, b = codes[rows], codes[cols]
    return np.asarray(((a >= 0) & (b >= 0) & (a != b)).any(axis=1), dtype=bool)


def _pair_suggestion(a: Pattern, b: Pattern, m: float, r: float, rules: SuggestionRules) -> Suggestion:
    duplicate = r >= rules.duplicate_similarity and m >= rules.duplicate_message_similarity
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
    return Suggestion("duplicate" if duplicate else "merge", [a.id or 0, b.id or 0], reason, numbers)


def _pairs(
    embedder: Embedder, patterns: Sequence[Pattern], texts: dict[int, list[str]], rules: SuggestionRules
) -> list[Suggestion]:
    if len(patterns) < 2:
        return []
    message_sim, reply_sim = _similarities(embedder, patterns, texts)
    # Thresholds and fact checks run on whole matrices: a Python loop over every pair of the
    # MAX_PATTERNS largest patterns was most of this request's time.
    rows, cols = _close_pairs(message_sim, reply_sim, rules)
    apart = fact_conflicts([p.key_facts for p in patterns], rows, cols)
    out = [
        _pair_suggestion(patterns[i], patterns[j], float(message_sim[i, j]), float(reply_sim[i, j]), rules)
        for i, j in zip(rows[~apart].tolist(), cols[~apart].tolist(), strict=True)
    ]
    out.sort(key=lambda s: -float(s.numbers["message_similarity"]))
    return out
