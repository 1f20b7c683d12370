"""Storing interactions whose quality is too low: kept for audit, never used for matching.

A voided example is written to SQL with status `voided` and indexed with that status (the
index mirrors SQL, and every search filters on searchable statuses). It is filed under the
pattern its reply would join, without being added to that pattern's statistics, or under a
disabled pattern of its own, so it never reaches the approval queue or the matcher.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlmodel import Session, col, select

from app.db import session_scope
from app.importers.records import Turn
from app.indexing import enqueue
from app.learning.facts import key_facts, reply_key
from app.learning.learner import Interaction
from app.learning.quality import Quality
from app.models import Example, ExampleStatus, Pattern, PatternStatus
from app.services import Services
from app.text import fingerprint


def store_voided(
    services: Services,
    tenant: str,
    items: Sequence[tuple[Interaction, Turn, Quality]],
    source: str,
) -> list[bool]:
    """Write voided examples; for each item, True if it was new (False: already known)."""
    if not items:
        return []
    hashes = [fingerprint(i.text, i.reply) for i, _, _ in items]
    vectors = services.embedder.embed([i.text for i, _, _ in items] + [i.reply for i, _, _ in items])
    message_vecs, reply_vecs = vectors[: len(items)], vectors[len(items) :]
    memory = services.memories.get(tenant)
    fresh: list[Example] = []
    fresh_vecs: list[np.ndarray] = []
    stored: list[bool] = []
    # The memory lock keeps the grouper still while we read it (learning holds it too).
    with memory.lock, session_scope(services.engine) as session:
        known = set(
            session.exec(
                select(Example.text_hash).where(
                    Example.tenant == tenant, col(Example.text_hash).in_(set(hashes))
                )
            ).all()
        )
        for (interaction, turn, quality), text_hash, message_vec, reply_vec in zip(
            items, hashes, message_vecs, reply_vecs, strict=True
        ):
            stored.append(text_hash not in known)
            if text_hash in known:
                continue
            known.add(text_hash)
            pattern_id = memory.grouper.assign(
                interaction.reply, reply_vec, message_vec, message=interaction.text
            ) or _holding_pattern(session, tenant, interaction)
            example = Example(
                tenant=tenant,
                pattern_id=pattern_id,
                text=interaction.text,
                reply=interaction.reply,
                context=list(interaction.context),
                quality=quality.score,
                status=ExampleStatus.voided,
                void_reason=quality.reason,
                text_hash=text_hash,
                source=source,
                occurred_at=turn.occurred_at,
            )
            session.add(example)
            fresh.append(example)
            fresh_vecs.append(message_vec)
        session.flush()
        enqueue(session, [example.id for example in fresh if example.id is not None])
    if fresh:
        services.index_writer.write_now(fresh, fresh_vecs)
    return stored


def _holding_pattern(session: Session, tenant: str, interaction: Interaction) -> int:
    """A disabled pattern for a voided reply nothing else says (one per distinct reply)."""
    key = reply_key(interaction.reply)
    existing = session.exec(
        select(Pattern.id).where(Pattern.tenant == tenant, Pattern.reply_key == key).limit(1)
    ).first()
    if existing is not None:
        return existing
    pattern = Pattern(
        tenant=tenant,
        response_text=interaction.reply,
        reply_key=key,
        key_facts=sorted(key_facts(interaction.reply, interaction.text)),
        status=PatternStatus.disabled,
    )
    session.add(pattern)
    session.flush()
    assert pattern.id is not None
    return pattern.id
