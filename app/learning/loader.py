"""Rebuilding a tenant's in-memory state from SQL (on first use after a start)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from sqlalchemy import ColumnElement, Engine
from sqlmodel import Session, col, select

from app.learning.grouping import PatternGrouper
from app.learning.memory import PatternState, TenantMemory
from app.learning.model import ConfidenceModel
from app.models import Calibration, Example, ExampleStatus, Pattern
from app.models.revisions import revision_of
from app.tenants import require_tenant
from embeddings.base import Embedder

SEARCHABLE = (ExampleStatus.active, ExampleStatus.gold)


def active_examples(session: Session, tenant: str) -> list[Example]:
    """A tenant's examples that take part in matching, oldest first."""
    return list(session.exec(select(Example).where(*_active(tenant)).order_by(col(Example.id))).all())


def active_example_rows(session: Session, tenant: str) -> Sequence[tuple[int, str, str, float]]:
    """What a memory needs of each active example (pattern, texts, quality), oldest first.

    Plain rows rather than ORM objects: building 100,000 of those took half of a large
    tenant's load.
    """
    columns = select(Example.pattern_id, Example.text, Example.reply, Example.quality)
    return session.exec(columns.where(*_active(tenant)).order_by(col(Example.id))).all()


def _active(tenant: str) -> tuple[ColumnElement[bool], ...]:
    """The conditions of a tenant's examples that take part in matching."""
    return (col(Example.tenant) == tenant, col(Example.status).in_(SEARCHABLE))


def latest_calibration(session: Session, tenant: str) -> Calibration | None:
    """The calibration run currently in force for a tenant."""
    return session.exec(
        select(Calibration)
        .where(Calibration.tenant == tenant, Calibration.active == True)  # noqa: E712
        .order_by(col(Calibration.id).desc())
        .limit(1)
    ).first()


_paused = 0
_paused_lock = threading.Lock()


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic garbage collection while a memory loads (nested and concurrent loads allowed).

    A load allocates about ten objects per example, which sets off the collector's full pass
    again and again, and each pass holds the interpreter lock for 0.1-0.15 s at 100,000
    examples: every match running beside the load stalled that long.
    """
    global _paused
    with _paused_lock:
        _paused += 1
        gc.disable()
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0:
                gc.enable()


def _counts_per_pattern(
    pattern_ids: Sequence[int], qualities: Sequence[float]
) -> dict[int, tuple[int, float]]:
    """Per pattern: how many of the examples are its, and their summed quality."""
    patterns, rows = np.unique(np.asarray(pattern_ids, dtype=np.int64), return_inverse=True)
    counts = np.bincount(rows, minlength=len(patterns))
    quality_sums = np.bincount(rows, weights=np.asarray(qualities, dtype=np.float64), minlength=len(patterns))
    return {int(p): (int(counts[i]), float(quality_sums[i])) for i, p in enumerate(patterns.tolist())}


class MemoryLoader:
    """Builds a TenantMemory; vectors come through the embedder's cache, not a re-embed."""

    def __init__(self, engine: Engine, embedder: Embedder) -> None:
        self.engine = engine
        self.embedder = embedder

    def __call__(self, tenant: str) -> TenantMemory:
        with collection_paused(), Session(self.engine) as session:
            return self.load(session, tenant)

    def load(self, session: Session, tenant: str) -> TenantMemory:
        """The memory as `session` sees the tables (a dry run passes uncommitted changes)."""
        require_tenant(session, tenant)
        # Read before the rows: a change committed in between is then seen as newer than this
        # memory, and reloaded again, rather than taken as already included.
        revision = revision_of(session, tenant)
        patterns = session.exec(select(Pattern).where(Pattern.tenant == tenant)).all()
        examples = active_example_rows(session, tenant)
        calibration = latest_calibration(session, tenant)
        memory = TenantMemory(tenant=tenant, grouper=PatternGrouper(dim=self.embedder.dim), revision=revision)
        for pattern in patterns:
            assert pattern.id is not None
            memory.patterns[pattern.id] = PatternState(
                pattern.id,
                pattern.status,
                pattern.mode,
                pattern.response_text,
                alpha=pattern.feedback_alpha,
                beta=pattern.feedback_beta,
                threshold_override=pattern.threshold_override,
            )
        if examples:
            n = len(examples)
            # Column by column: zip(*examples) would hold the interpreter lock for all rows at once.
            pattern_ids = [row[0] for row in examples]
            messages = [row[1] for row in examples]
            replies = [row[2] for row in examples]
            qualities = [row[3] for row in examples]
            vectors = self.embedder.embed(messages + replies)
            memory.grouper.add_many(pattern_ids, replies, vectors[n:], vectors[:n], messages)
            # The grouper has just summed each pattern's message vectors: the centroid is that sum.
            for pattern_id, (count, quality_sum) in _counts_per_pattern(pattern_ids, qualities).items():
                memory.patterns[pattern_id].add_examples(
                    memory.grouper.message_sum(pattern_id), count, quality_sum
                )
        if calibration is not None:
            memory.model = ConfidenceModel.from_record(calibration)
        return memory
