"""Keeping the vector index in step with SQL through an outbox.

SQL is the system of record. Every example write adds an outbox row in the same transaction;
the index write happens after the commit and removes the row only once the store confirmed
it. If the store is down the rows stay and `flush_outbox` retries them later, so an index
outage loses nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np
from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from app.db import session_scope
from app.models import Example, IndexOutbox, OutboxOp
from app.models.revisions import revision_of
from embeddings.base import Embedder
from indexer.exact import ExactNeighbours
from indexer.store import IndexPoint, VectorStore

log = logging.getLogger(__name__)


def enqueue(session: Session, example_ids: Sequence[int], op: OutboxOp = OutboxOp.upsert) -> None:
    """Record pending index writes inside the caller's transaction."""
    session.add_all(IndexOutbox(example_id=example_id, op=op) for example_id in example_ids)


def to_points(examples: Sequence[Example], vectors: Sequence[np.ndarray]) -> list[IndexPoint]:
    """Index points of examples with their message vectors."""
    return [
        IndexPoint(
            example_id=example.id,  # type: ignore[arg-type]
            pattern_id=example.pattern_id,
            tenant=example.tenant,
            status=example.status,
            quality=example.quality,
            vector=vector,
        )
        for example, vector in zip(examples, vectors, strict=True)
    ]


class SqlNeighbours:
    """Exact search over a tenant's examples as SQL holds them, for a process without the index.

    A tenant's examples are read and embedded (through the cache) once per memory revision of
    the tenant, which every change to its examples moves: a calibration's repeated searches
    reuse them, and what this process itself has just learned is found too.
    """

    def __init__(self, engine: Engine, embedder: Embedder) -> None:
        self.engine = engine
        self.embedder = embedder
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, tuple[str, ...]], tuple[int, ExactNeighbours]] = {}

    def __call__(self, tenant: str, statuses: Sequence[str]) -> ExactNeighbours:
        key = (tenant, tuple(statuses))
        with self._lock, Session(self.engine) as session:
            # Read before the rows: a change committed in between only makes the next call reload.
            revision = revision_of(session, tenant)
            loaded = self._loaded.get(key)
            if loaded is not None and loaded[0] == revision:
                return loaded[1]
            examples = session.exec(
                select(Example)
                .where(Example.tenant == tenant, col(Example.status).in_(list(statuses)))
                .order_by(col(Example.id))
            ).all()
            vectors = (
                self.embedder.embed([e.text for e in examples])
                if examples
                else np.zeros((0, self.embedder.dim))
            )
            neighbours = ExactNeighbours(
                vectors,
                np.array([e.id for e in examples], dtype=np.int64),
                [e.pattern_id for e in examples],
                [e.status for e in examples],
                [e.quality for e in examples],
            )
            self._loaded[key] = (revision, neighbours)
            return neighbours


class IndexWriter:
    """Applies pending outbox rows to the vector store."""

    def __init__(self, engine: Engine, store: VectorStore, embedder: Embedder) -> None:
        self.engine = engine
        self.store = store
        self.embedder = embedder

    def write_now(self, examples: Sequence[Example], vectors: Sequence[np.ndarray]) -> bool:
        """Try the index write for freshly committed examples; False leaves it to the outbox."""
        ids = [example.id for example in examples if example.id is not None]
        if self.store.held_elsewhere:  # the process holding the index flushes the outbox
            return False
        try:
            self.store.upsert(to_points(examples, vectors))
        except Exception as error:  # the store is down or refused: the outbox keeps the work
            log.warning("index write of %d examples deferred: %s", len(ids), error)
            self._record_failure(ids, error)
            return False
        self.clear(ids)
        return True

    def move_now(self, moved: dict[int, list[int]]) -> bool:
        """Try the payload update for examples just moved to other patterns ({pattern: example
        ids}); False leaves it to the outbox rows written with the move."""
        if self.store.held_elsewhere:  # the process holding the index flushes the outbox
            return False
        try:
            for pattern_id, example_ids in moved.items():
                self.store.set_payload(example_ids, pattern_id=pattern_id)
            self.clear(sum(moved.values(), []))
        except Exception as error:
            log.warning("index payload update after merge deferred: %s", error)
            return False
        return True

    def flush_outbox(self, batch_size: int = 500) -> int:
        """Retry pending index writes, oldest first; returns how many were applied."""
        if self.store.held_elsewhere:
            return 0
        applied = 0
        while True:
            with Session(self.engine) as session:
                rows = session.exec(select(IndexOutbox).order_by(col(IndexOutbox.id)).limit(batch_size)).all()
                if not rows:
                    return applied
                upsert_ids = sorted({r.example_id for r in rows if r.op == OutboxOp.upsert})
                delete_ids = sorted({r.example_id for r in rows if r.op == OutboxOp.delete})
                examples = (
                    session.exec(select(Example).where(col(Example.id).in_(upsert_ids))).all()
                    if upsert_ids
                    else []
                )
            row_ids = [r.id for r in rows if r.id is not None]
            try:
                if examples:
                    self.store.upsert(
                        to_points(examples, list(self.embedder.embed([e.text for e in examples])))
                    )
                # An example deleted from SQL after its upsert was queued must leave the index too.
                gone = set(upsert_ids) - {e.id for e in examples}
                if delete_ids or gone:
                    self.store.delete(sorted(set(delete_ids) | gone))
            except Exception as error:
                log.warning("outbox flush failed, will retry: %s", error)
                self._record_failure([r.example_id for r in rows], error)
                return applied
            with session_scope(self.engine) as session:
                session.exec(delete(IndexOutbox).where(col(IndexOutbox.id).in_(row_ids)))  # type: ignore[call-overload]
            applied += len(row_ids)

    def pending(self) -> int:
        """Number of index writes not yet confirmed."""
        with Session(self.engine) as session:
            return int(session.exec(select(func.count()).select_from(IndexOutbox)).one())

    def clear(self, example_ids: Sequence[int]) -> None:
        """Drop pending upserts of examples whose index write has been confirmed."""
        if not example_ids:
            return
        with session_scope(self.engine) as session:
            session.exec(  # type: ignore[call-overload]
                delete(IndexOutbox).where(
                    col(IndexOutbox.example_id).in_(list(example_ids)),
                    col(IndexOutbox.op) == OutboxOp.upsert,
                )
            )

    def _record_failure(self, example_ids: Sequence[int], error: Exception) -> None:
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(IndexOutbox).where(col(IndexOutbox.example_id).in_(list(example_ids)))
            ).all()
            for row in rows:
                row.attempts += 1
                row.last_error = str(error)[:500]
