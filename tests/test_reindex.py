"""`pls reindex`: a fresh index built from SQL beside the live one; matching serves throughout.

Resumable after a kill; a changed model re-embeds everything while unchanged texts come from
the cache; `pls index verify` finds and repairs what differs between SQL and the index.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient
from sqlmodel import Session, select

import app.reindex as reindex_module
from app.config import Settings
from app.index_check import verify
from app.learning.learner import Interaction
from app.models import Example, IndexRebuild
from app.reindex import reindex_all
from app.services import Services, build_services
from embeddings.cache import CachedEmbedder, EmbeddingCache
from indexer.edge import EdgeStore
from indexer.server import ServerStore
from indexer.store import IndexPoint, VectorStore
from tests.conftest import FakeEmbedder

# Local mode warns that payload indexes are no-ops there; the server path creates them anyway.
pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")

PAIRS = [(f"question number {i} about topic {i % 7}", f"Answer for topic {i % 7}") for i in range(60)]


class HookedEmbedder(FakeEmbedder):
    """Runs a callback the first time a batch of `trigger` texts is embedded (mid-rebuild)."""

    def __init__(self) -> None:
        super().__init__()
        self.hook: tuple[int, object] | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.hook and len(texts) == self.hook[0]:
            _, callback = self.hook
            self.hook = None
            callback()  # type: ignore[operator]
        return super().embed(texts)


@pytest.fixture(params=["edge", "server"])
def services(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[Services]:
    embedder = HookedEmbedder()
    store: VectorStore = (
        EdgeStore(tmp_path / "q", dim=embedder.dim)
        if request.param == "edge"
        # qdrant-client's local mode: collections behind an alias, switched as on a server.
        else ServerStore(QdrantClient(":memory:"), embedder.dim, owns_client=True)
    )
    built = build_services(settings, embedder=embedder, store=store)
    built.learner.learn_many("default", [Interaction(t, r) for t, r in PAIRS])
    yield built
    built.close()


def test_reindex_rebuilds_the_same_index(services: Services) -> None:
    before = services.store.example_ids("default")
    query = services.embedder.embed_one("question number 3 about topic 3")
    # Bag-of-words vectors tie often, so compare similarities rather than tie order.
    hits_before = [round(h.score, 5) for h in services.store.search(query, "default", 5)]
    assert reindex_all(services) == len(PAIRS)
    assert services.store.example_ids("default") == before
    assert [round(h.score, 5) for h in services.store.search(query, "default", 5)] == hits_before


def test_matching_keeps_answering_and_late_examples_are_kept(services: Services) -> None:
    answers: list[int | None] = []

    def during_rebuild() -> None:
        # Matching answers from the old collection while the new one is being filled...
        result = services.matcher.match("default", "question number 5 about topic 5", record=False)
        answers.append(len(result.explanation["neighbours"]))
        # ...and an example learned now must survive the switch.
        worker = threading.Thread(
            target=services.learner.learn, args=("default", Interaction("a brand new question", "New answer"))
        )
        worker.start()
        worker.join()

    services.embedder.hook = (len(PAIRS), during_rebuild)  # type: ignore[attr-defined]
    reindex_all(services)
    assert answers and answers[0] > 0
    assert services.store.count("default") == len(PAIRS) + 1
    hits = services.search.search("default", "a brand new question", 1)
    assert hits[0].reply == "New answer"


def test_a_killed_reindex_continues_where_it_stopped(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reindex_module, "BATCH", 10)
    monkeypatch.setattr(reindex_module, "CHECKPOINT_EVERY", 1)
    embed = services.embedder.embed
    seen: list[list[str]] = []

    def dies_on_third_batch(texts: Sequence[str]) -> np.ndarray:
        seen.append(list(texts))
        if len(seen) == 3:
            raise KeyboardInterrupt("killed mid-reindex")
        return embed(texts)

    monkeypatch.setattr(services.embedder, "embed", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        reindex_all(services)
    with Session(services.engine) as session:
        row = session.exec(select(IndexRebuild)).one()
    assert (row.status, row.written) == ("running", 20)
    # The live index was never touched: matching still answers from it.
    assert services.store.count("default") == len(PAIRS)
    assert services.search.search("default", PAIRS[40][0], 1)[0].reply == PAIRS[40][1]

    seen.clear()
    monkeypatch.setattr(services.embedder, "embed", lambda texts: seen.append(list(texts)) or embed(texts))
    assert reindex_all(services) == len(PAIRS) - 20
    # The first two batches were not written again.
    assert not {text for batch in seen for text in batch} & {t for t, _ in PAIRS[:20]}
    assert services.store.example_ids("default") == {e.id for e in all_examples(services)}
    with Session(services.engine) as session:
        assert [r.status for r in session.exec(select(IndexRebuild)).all()] == ["done"]


def all_examples(services: Services) -> list[Example]:
    with Session(services.engine) as session:
        return list(session.exec(select(Example)).all())


class RenamedModel(FakeEmbedder):
    model_id = "fake-bow-v2"


def test_a_changed_model_re_embeds_everything_unchanged_texts_come_from_the_cache(
    settings: Settings, tmp_path: Path
) -> None:
    inner = FakeEmbedder()
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    built = build_services(
        settings, embedder=CachedEmbedder(inner, cache), store=EdgeStore(tmp_path / "q", dim=inner.dim)
    )
    try:
        built.learner.learn_many("default", [Interaction(t, r) for t, r in PAIRS])
        before = inner.texts_embedded
        reindex_all(built)
        assert inner.texts_embedded == before  # every message vector came from the cache
        renamed = RenamedModel()
        built.embedder = CachedEmbedder(renamed, cache)
        assert verify(built, sample=5).model_changed
        lines: list[str] = []
        reindex_all(built, log_line=lines.append)
        assert renamed.texts_embedded == len(PAIRS)
        assert lines[0] == "embedding model changed from fake-bow to fake-bow-v2: every example is embedded again"
        assert verify(built, sample=len(PAIRS)).ok
    finally:
        built.close()


def test_verify_finds_what_differs_and_repair_fixes_it(services: Services) -> None:
    assert verify(services, payloads="all").ok
    ids = sorted(services.store.example_ids("default"))
    services.store.delete([ids[0]])
    services.store.set_payload([ids[1]], status="voided")
    vector = services.embedder.embed_one("something else entirely")
    services.store.upsert([IndexPoint(ids[2], 1, "default", "active", vector)])
    services.store.upsert([IndexPoint(9999, 1, "default", "active", vector)])
    report = verify(services, payloads="all", sample=len(ids))
    assert (report.missing, report.extra) == ([ids[0]], [9999])
    assert report.payload_mismatch == [ids[1], ids[2]]
    assert report.vector_mismatch == [ids[2]]
    assert report.tenants["default"] == {"sql": len(ids), "index": len(ids)}
    assert not report.ok
    repaired = verify(services, payloads="all", sample=len(ids), repair=True)
    assert repaired.repaired == {"upserted": 3, "deleted": 1}
    assert verify(services, payloads="all", sample=len(ids)).ok
