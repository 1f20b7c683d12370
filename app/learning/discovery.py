"""Pattern discovery: group a tenant's examples by meaning into candidates for the approval queue.

The online grouper files one example at a time and must decide at once; discovery looks at
everything learned so far and asks "which answers do operators keep giving?". Each example is
one vector joining its reply and its message (the dot product of two joint vectors is
`w * reply similarity + (1 - w) * message similarity`), and average-linkage agglomeration merges
groups while their members stay, on average, at least `discovery_similarity` alike; a group whose
replies state different key facts (door codes, prices) is split. Groups with enough members
become candidates, with their size, how many a day operators send, the reply that
best represents them (the medoid) and their most typical examples.

Agglomeration is exact up to `discovery_max_examples` examples (O(n^2) time and memory); beyond
that, examples are first pre-grouped with k-means into half that many tight groups, and the
groups' centroids are agglomerated instead.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sqlalchemy import delete
from sqlmodel import Session, col, select

from app.config import Settings
from app.db import session_scope
from app.learning.facts import facts_conflict, key_facts
from app.learning.loader import active_examples
from app.models import Example, PatternCandidate
from app.services import Services
from app.tenants import require_tenant
from embeddings.base import Embedder, normalise

# A candidate needs at least this many examples however large the history (a share of 100k
# examples would otherwise demand hundreds).
MAX_MIN_SIZE = 20
TYPICAL_EXAMPLES = 5


@dataclass(frozen=True)
class Candidate:
    """A group of examples that say the same thing."""

    size: int
    per_day: float
    cohesion: float
    reply: str
    example_ids: list[int]
    pattern_ids: list[int]


def min_size(n: int, settings: Settings) -> int:
    """Fewest examples a candidate needs among `n`."""
    by_share = math.ceil(settings.discovery_min_share * n)
    return min(MAX_MIN_SIZE, max(settings.discovery_min_size, by_share))


def joint_vectors(message_vecs: np.ndarray, reply_vecs: np.ndarray, reply_weight: float) -> np.ndarray:
    """Unit vectors whose dot products weigh reply and message similarity as configured."""
    joined = np.hstack([np.sqrt(reply_weight) * reply_vecs, np.sqrt(1.0 - reply_weight) * message_vecs])
    return normalise(joined)


def cluster(vectors: np.ndarray, similarity: float, max_exact: int, seed: int = 0) -> np.ndarray:
    """A group label per row: average linkage cut where mean similarity falls below `similarity`."""
    n = vectors.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    if n <= max_exact:
        tree = linkage(vectors.astype(np.float64), method="average", metric="cosine")
        return np.asarray(fcluster(tree, t=1.0 - similarity, criterion="distance"), dtype=np.int64)
    from sklearn.cluster import MiniBatchKMeans

    k = max(2, max_exact // 2)
    micro = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1, batch_size=4096).fit_predict(vectors)
    centroids = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    np.add.at(centroids, micro, vectors)
    used = np.unique(micro)
    macro = cluster(normalise(centroids[used].astype(np.float32)), similarity, max_exact, seed)
    lookup = np.zeros(k, dtype=np.int64)
    lookup[used] = macro
    return lookup[micro]


def discover(examples: list[Example], embedder: Embedder, settings: Settings) -> list[Candidate]:
    """Candidates among `examples` (active ones), largest first."""
    n = len(examples)
    needed = min_size(n, settings)
    if n < needed:
        return []
    vectors = embedder.embed([e.text for e in examples] + [e.reply for e in examples])
    message_vecs, reply_vecs = vectors[:n], vectors[n:]
    joint = joint_vectors(message_vecs, reply_vecs, settings.discovery_reply_weight)
    labels = cluster(joint, settings.discovery_similarity, settings.discovery_max_examples)
    days = _span_days(examples)
    candidates: list[Candidate] = []
    groups = [
        part
        for label, size in Counter(labels.tolist()).items()
        if size >= needed
        for part in split_by_facts(np.flatnonzero(labels == label), examples)
    ]
    for rows in groups:
        size = len(rows)
        if size < needed:
            continue
        centre = normalise(joint[rows].sum(axis=0, keepdims=True))[0]
        closeness = joint[rows] @ centre
        typical = rows[np.argsort(-closeness)]
        replies = reply_vecs[rows]
        medoid = rows[int(np.argmax(replies @ replies.mean(axis=0)))]
        patterns = Counter(examples[i].pattern_id for i in rows.tolist())
        candidates.append(
            Candidate(
                size=int(size),
                per_day=round(size / days, 2),
                cohesion=round(float(closeness.mean()), 4),
                reply=examples[int(medoid)].reply,
                example_ids=[int(examples[i].id or 0) for i in typical.tolist()],
                pattern_ids=[pid for pid, _ in patterns.most_common()],
            )
        )
    candidates.sort(key=lambda c: (-c.size, c.reply))
    return candidates


def split_by_facts(rows: np.ndarray, examples: list[Example]) -> list[np.ndarray]:
    """Split a group whose replies state different key facts ("code 4512" vs "code 7788").

    Alike in meaning is not the same answer: like the online grouper, a candidate never mixes
    replies that give different values of the same kind of fact.
    """
    parts: list[tuple[set[str], list[int]]] = []
    for row in rows.tolist():
        facts = key_facts(examples[row].reply, examples[row].text)
        for known, members in parts:
            if not facts_conflict(facts, known):
                known |= facts
                members.append(row)
                break
        else:
            parts.append((set(facts), [row]))
    return [np.asarray(members, dtype=np.int64) for _, members in parts]


def _span_days(examples: list[Example]) -> float:
    """Days the history covers (at least one, so a day's import is not a thousand a day)."""
    times = [_aware(e.occurred_at or e.created_at) for e in examples]
    return max(1.0, (max(times) - min(times)).total_seconds() / 86400.0)


def _aware(value: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def discover_and_store(services: Services, tenant: str) -> list[PatternCandidate]:
    """Discover a tenant's candidates and replace its open ones with them."""
    with Session(services.engine) as session:
        require_tenant(session, tenant)
        examples = active_examples(session, tenant)
    found = discover(examples, services.embedder, services.settings)
    with session_scope(services.engine) as session:
        session.exec(  # type: ignore[call-overload]
            delete(PatternCandidate).where(
                col(PatternCandidate.tenant) == tenant, col(PatternCandidate.status) == "open"
            )
        )
        rows = [
            PatternCandidate(
                tenant=tenant,
                size=c.size,
                per_day=c.per_day,
                cohesion=c.cohesion,
                reply=c.reply,
                example_ids=c.example_ids,
                pattern_ids=c.pattern_ids,
            )
            for c in found
        ]
        session.add_all(rows)
    return rows


def list_candidates(
    services: Services, tenant: str, status: str | None = "open", examples: int = TYPICAL_EXAMPLES
) -> list[dict[str, Any]]:
    """A tenant's candidates, largest first, each with its most typical examples."""
    with Session(services.engine) as session:
        require_tenant(session, tenant)
        query = select(PatternCandidate).where(PatternCandidate.tenant == tenant)
        if status is not None:
            query = query.where(PatternCandidate.status == status)
        rows = session.exec(query.order_by(col(PatternCandidate.size).desc(), col(PatternCandidate.id))).all()
        wanted = {i for row in rows for i in row.example_ids[:examples]}
        texts = {
            e.id: (e.text, e.reply)
            for e in session.exec(select(Example).where(col(Example.id).in_(wanted))).all()
        }
    return [
        {
            "id": row.id,
            "size": row.size,
            "per_day": row.per_day,
            "cohesion": row.cohesion,
            "reply": row.reply,
            "pattern_ids": row.pattern_ids,
            "status": row.status,
            "created_at": row.created_at,
            "examples": [
                {"id": i, "text": texts[i][0], "reply": texts[i][1]}
                for i in row.example_ids[:examples]
                if i in texts
            ],
        }
        for row in rows
    ]
