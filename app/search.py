"""'How did we answer this before?': the nearest past customer messages and their replies."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.errors import InvalidInput
from app.models import Example
from app.privacy import mask_pii
from app.tenants import require_tenant
from app.text import clean_text
from embeddings.base import Embedder
from indexer.store import VectorStore


@dataclass(frozen=True)
class SearchHit:
    """One past interaction similar to the query."""

    example_id: int
    pattern_id: int
    text: str
    reply: str
    similarity: float
    status: str


class SearchService:
    """Semantic search over a tenant's learned examples."""

    def __init__(self, engine: Engine, embedder: Embedder, store: VectorStore, max_chars: int) -> None:
        self.engine = engine
        self.embedder = embedder
        self.store = store
        self.max_chars = max_chars

    def search(self, tenant: str, query: str, limit: int = 10) -> list[SearchHit]:
        """The `limit` most similar past customer messages, best first, with their replies."""
        if not 1 <= limit <= 100:
            raise InvalidInput("limit", "must be between 1 and 100")
        query = mask_pii(clean_text(query, "q", self.max_chars))  # never embedded raw
        with Session(self.engine) as session:
            require_tenant(session, tenant)
            hits = self.store.search(self.embedder.embed_one(query), tenant, limit)
            ids = [hit.example_id for hit in hits]
            rows = session.exec(
                select(Example).where(col(Example.id).in_(ids), Example.tenant == tenant)
            ).all()
        by_id = {row.id: row for row in rows}
        return [
            SearchHit(
                example_id=hit.example_id,
                pattern_id=by_id[hit.example_id].pattern_id,
                text=by_id[hit.example_id].text,
                reply=by_id[hit.example_id].reply,
                similarity=round(hit.score, 4),
                status=by_id[hit.example_id].status,
            )
            for hit in hits
            if hit.example_id in by_id
        ]
