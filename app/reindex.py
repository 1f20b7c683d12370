"""`pls reindex`: rebuild the vector index from SQL beside the live one, then switch over.

Resumable: the rebuild's target and the last example written are kept in SQL (`IndexRebuild`)
at every checkpoint, and an interrupted rebuild is suspended, not dropped, so the next
`pls reindex` continues it. Vectors come through the embedding cache, so unchanged texts are not
embedded again; a changed embedding model misses the cache (it is keyed by model) and every text
is embedded afresh, and a rebuild begun under another model is never continued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlmodel import Session, col, func, select
from tqdm import tqdm

from app.db import session_scope
from app.indexing import to_points
from app.models import Example, IndexRebuild, utcnow
from app.services import Services

log = logging.getLogger(__name__)

BATCH = 1000
CHECKPOINT_EVERY = 10  # batches between durable progress records


def _examples_after(services: Services, after_id: int, limit: int) -> list[Example]:
    with Session(services.engine) as session:
        return list(
            session.exec(
                select(Example).where(col(Example.id) > after_id).order_by(col(Example.id)).limit(limit)
            ).all()
        )


def index_model(services: Services) -> str | None:
    """The embedding model the live index was last rebuilt with (None: never rebuilt)."""
    with Session(services.engine) as session:
        return session.exec(
            select(IndexRebuild.model_id)
            .where(IndexRebuild.status == "done")
            .order_by(col(IndexRebuild.id).desc())
            .limit(1)
        ).first()


def _pending(services: Services) -> IndexRebuild | None:
    with Session(services.engine) as session:
        return session.exec(
            select(IndexRebuild)
            .where(IndexRebuild.status == "running")
            .order_by(col(IndexRebuild.id).desc())
            .limit(1)
        ).first()


def _save(services: Services, row_id: int, **fields: object) -> None:
    with session_scope(services.engine) as session:
        row = session.get(IndexRebuild, row_id)
        assert row is not None
        for name, value in fields.items():
            setattr(row, name, value)
        row.updated_at = utcnow()


def reindex_all(
    services: Services,
    progress: bool = False,
    fresh: bool = False,
    log_line: Callable[[str], None] | None = None,
) -> int:
    """Re-embed (through the cache) and re-upsert every example; matching serves throughout.

    Continues a suspended rebuild of the same model unless `fresh`. Returns examples written
    by this call.
    """
    say = log_line or log.info
    model_id = services.embedder.model_id
    previous = index_model(services)
    if previous is not None and previous != model_id:
        say(f"embedding model changed from {previous} to {model_id}: every example is embedded again")
    pending = _pending(services)
    resume = pending.target if pending and pending.model_id == model_id and not fresh else None
    if pending is not None and resume is None:
        _save(services, pending.id or 0, status="abandoned", finished_at=utcnow())
    rebuild = services.store.begin_rebuild(resume=resume)
    if pending is not None and resume is not None and rebuild.name == resume:
        row_id, last_id, done = pending.id or 0, pending.last_example_id, pending.written
        say(f"resuming rebuild {resume} after example {last_id} ({done} written)")
    else:
        if pending is not None and resume is not None:
            _save(services, pending.id or 0, status="abandoned", finished_at=utcnow())
        with session_scope(services.engine) as session:
            row = IndexRebuild(target=rebuild.name, model_id=model_id)
            session.add(row)
            session.flush()
            row_id = row.id or 0
        last_id, done = 0, 0
    with Session(services.engine) as session:
        total = int(session.exec(select(func.count()).select_from(Example)).one())
    written = 0
    bar = tqdm(total=total, initial=done, unit="ex", disable=not progress, desc="reindex")
    try:
        batches = 0
        # Loop until no newer rows: examples learned during the rebuild are picked up too.
        while batch := _examples_after(services, last_id, BATCH):
            vectors = services.embedder.embed([example.text for example in batch])
            rebuild.upsert(to_points(batch, list(vectors)))
            last_id = batch[-1].id or last_id
            written += len(batch)
            bar.update(len(batch))
            batches += 1
            if batches % CHECKPOINT_EVERY == 0:
                rebuild.checkpoint()
                _save(services, row_id, last_example_id=last_id, written=done + written)
        rebuild.commit()
    except BaseException:
        # Keep what was written: the next `pls reindex` continues from the last checkpoint.
        rebuild.suspend()
        raise
    finally:
        bar.close()
    _save(services, row_id, last_example_id=last_id, written=done + written, status="done", finished_at=utcnow())
    # Anything committed between the last read and the switch went to the old collection.
    while late := _examples_after(services, last_id, BATCH):
        services.store.upsert(to_points(late, list(services.embedder.embed([e.text for e in late]))))
        last_id = late[-1].id or last_id
        written += len(late)
    # Payload changes made during the rebuild (merges, voids) went to the old collection too.
    from app.index_check import verify

    verify(services, sample=0, payloads="all", repair=True)
    return written
