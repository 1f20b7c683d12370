"""`pls reindex`: rebuild the vector index from SQL beside the live one, then switch over."""

from __future__ import annotations

from sqlmodel import Session, col, func, select
from tqdm import tqdm

from app.indexing import to_points
from app.models import Example
from app.services import Services

BATCH = 1000


def _examples_after(services: Services, after_id: int, limit: int) -> list[Example]:
    with Session(services.engine) as session:
        return list(
            session.exec(
                select(Example).where(col(Example.id) > after_id).order_by(col(Example.id)).limit(limit)
            ).all()
        )


def reindex_all(services: Services, progress: bool = False) -> int:
    """Re-embed (through the cache) and re-upsert every example; matching serves throughout."""
    with Session(services.engine) as session:
        total = int(session.exec(select(func.count()).select_from(Example)).one())
    rebuild = services.store.begin_rebuild()
    written = 0
    last_id = 0
    bar = tqdm(total=total, unit="ex", disable=not progress, desc="reindex")
    try:
        # Loop until no newer rows: examples learned during the rebuild are picked up too.
        while batch := _examples_after(services, last_id, BATCH):
            vectors = services.embedder.embed([example.text for example in batch])
            rebuild.upsert(to_points(batch, list(vectors)))
            last_id = batch[-1].id or last_id
            written += len(batch)
            bar.update(len(batch))
        rebuild.commit()
    except BaseException:
        rebuild.abort()
        raise
    finally:
        bar.close()
    # Anything committed between the last read and the switch went to the old collection.
    while late := _examples_after(services, last_id, BATCH):
        services.store.upsert(to_points(late, list(services.embedder.embed([e.text for e in late]))))
        last_id = late[-1].id or last_id
        written += len(late)
    return written
