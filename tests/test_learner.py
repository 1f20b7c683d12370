"""The learner: SQL first, then the index; patterns by reply; key facts never merge; nothing lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.errors import InvalidInput, TenantNotFound
from app.learning.learner import Interaction
from app.models import Example, IndexOutbox, Pattern
from app.services import Services, build_services
from indexer.edge import EdgeStore
from indexer.store import VectorStore
from tests.conftest import FakeEmbedder


class FlakyStore(VectorStore):
    """Delegates to a real store but can be switched off, like a Qdrant outage."""

    def __init__(self, inner: VectorStore) -> None:
        self.inner = inner
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("index is down")

    def upsert(self, points):  # type: ignore[no-untyped-def]
        self._check()
        self.inner.upsert(points)

    def set_payload(self, example_ids, **kwargs):  # type: ignore[no-untyped-def]
        self._check()
        self.inner.set_payload(example_ids, **kwargs)

    def delete(self, example_ids):  # type: ignore[no-untyped-def]
        self._check()
        self.inner.delete(example_ids)

    def search_batch(self, vectors, tenant, k, statuses=("active", "gold")):  # type: ignore[no-untyped-def]
        self._check()
        return self.inner.search_batch(vectors, tenant, k, statuses)

    def retrieve(self, example_ids, with_vectors=False):  # type: ignore[no-untyped-def]
        return self.inner.retrieve(example_ids, with_vectors)

    def count(self, tenant=None):  # type: ignore[no-untyped-def]
        self._check()
        return self.inner.count(tenant)

    def example_ids(self, tenant=None):  # type: ignore[no-untyped-def]
        return self.inner.example_ids(tenant)

    def begin_rebuild(self):  # type: ignore[no-untyped-def]
        return self.inner.begin_rebuild()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def store(tmp_path: Path, fake_embedder: FakeEmbedder) -> FlakyStore:
    return FlakyStore(EdgeStore(tmp_path / "qdrant", dim=fake_embedder.dim))


@pytest.fixture
def services(
    settings: Settings, engine: Engine, store: FlakyStore, fake_embedder: FakeEmbedder
) -> Iterator[Services]:
    built = build_services(settings, embedder=fake_embedder, store=store, engine=engine)
    yield built
    built.close()


def learn(services: Services, text: str, reply: str, tenant: str = "default"):  # type: ignore[no-untyped-def]
    return services.learner.learn(tenant, Interaction(text=text, reply=reply))


def test_identical_replies_share_a_pattern_after_normalising(services: Services) -> None:
    a = learn(services, "door code bedford", "The door code for Bedford is 4512.")
    b = learn(services, "bedford code?", "  the door code for BEDFORD is 4512. ")
    assert a.new_pattern and not b.new_pattern and a.pattern_id == b.pattern_id


def test_replies_differing_in_a_key_fact_never_merge(services: Services) -> None:
    a = learn(services, "what's the door code for bedford", "The door code for Bedford is 4512")
    b = learn(services, "what's the door code for dartmouth", "The door code for Dartmouth is 7788")
    c = learn(services, "what's the door code", "The door code is 7788")
    d = learn(services, "what's the door code", "The door code is 4512")
    assert len({a.pattern_id, b.pattern_id}) == 2
    assert c.pattern_id != d.pattern_id


def test_every_example_is_stored_and_indexed(services: Services, engine: Engine) -> None:
    result = learn(services, "are you open sunday", "Yes, 7am to 11pm.")
    with Session(engine) as session:
        example = session.get(Example, result.example_id)
        assert example is not None and example.text_hash
        assert session.exec(select(IndexOutbox)).all() == []
    assert services.store.count("default") == 1


def test_index_outage_loses_nothing_and_the_outbox_catches_up(
    services: Services, store: FlakyStore, engine: Engine
) -> None:
    store.down = True
    result = learn(services, "are you open sunday", "Yes, 7am to 11pm.")
    with Session(engine) as session:
        assert session.get(Example, result.example_id) is not None
        pending = session.exec(select(IndexOutbox)).all()
        assert [row.example_id for row in pending] == [result.example_id]
        assert pending[0].attempts == 1 and "down" in (pending[0].last_error or "")
    assert services.index_writer.flush_outbox() == 0  # still down: kept for later
    store.down = False
    assert services.index_writer.flush_outbox() == 1
    assert services.index_writer.pending() == 0
    assert store.inner.example_ids("default") == {result.example_id}


def test_learning_is_idempotent(services: Services, engine: Engine) -> None:
    first = learn(services, "hi there", "Hello!")
    again = learn(services, "Hi   there", "hello!")
    assert again.duplicate and again.example_id == first.example_id
    with Session(engine) as session:
        assert len(session.exec(select(Example)).all()) == 1
        assert session.get(Pattern, first.pattern_id).example_count == 1  # type: ignore[union-attr]


def test_bulk_learning_matches_one_by_one(services: Services) -> None:
    pairs = [("code bedford", "Code is 4512"), ("code bedford?", "Code is 4512"), ("hours", "7am-11pm")] * 2
    summary = services.learner.learn_many("default", [Interaction(t, r) for t, r in pairs], chunk_size=2)
    assert summary.read == 6 and summary.learned == 3 and summary.duplicates == 3
    assert summary.new_patterns == 2
    assert [r.pattern_id for r in summary.results[:3]] == [r.pattern_id for r in summary.results[3:]]


def test_bad_input_stores_nothing(services: Services, engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="text"):
        learn(services, "   ", "reply")
    with pytest.raises(InvalidInput, match="reply"):
        learn(services, "text", "x" * 5000)
    with pytest.raises(InvalidInput, match="quality"):
        services.learner.learn("default", Interaction("a", "b", quality=2.0))
    with pytest.raises(TenantNotFound):
        learn(services, "text", "reply", tenant="ghost")
    bulk = [Interaction("fine", "ok"), Interaction("", "empty text")]
    with pytest.raises(InvalidInput):
        services.learner.learn_many("default", bulk)
    with Session(engine) as session:
        assert session.exec(select(Example)).all() == []
        assert session.exec(select(Pattern)).all() == []


def test_memory_rebuilt_from_sql_keeps_patterns(
    services: Services, settings: Settings, engine: Engine, store: FlakyStore, fake_embedder: FakeEmbedder
) -> None:
    first = learn(services, "door code bedford", "The door code for Bedford is 4512.")
    restarted = build_services(settings, embedder=fake_embedder, store=store.inner, engine=engine)
    again = restarted.learner.learn(
        "default", Interaction("bedford door?", "The door code for Bedford is 4512.")
    )
    assert again.pattern_id == first.pattern_id and not again.new_pattern
    state = restarted.memories.get("default").patterns[first.pattern_id]
    assert state.support == 2
    assert np.isclose(np.linalg.norm(state.stats().centroid), np.linalg.norm(state.centroid_sum))


def test_a_long_import_updates_the_memory_matching_uses_even_after_a_reload(services: Services) -> None:
    reloaded: list[object] = []

    def another_process_changed_the_tenant(_: int) -> None:
        if not reloaded:  # after the first chunk: dropped, and reloaded by a concurrent match
            services.memories.forget("default")
            reloaded.append(services.memories.get("default"))

    interactions = [Interaction(text=f"is bay {i} free", reply="Yes, book online.") for i in range(6)]
    services.learner.learn_many(
        "default", interactions, chunk_size=3, progress=another_process_changed_the_tenant
    )

    memory = services.memories.get("default")
    assert memory is reloaded[0]
    assert sum(state.support for state in memory.patterns.values()) == 6  # both chunks, not just the first


def test_a_learn_whose_memory_was_reloaded_before_it_committed_is_not_lost(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    learn(services, "is bay 1 free", "Yes, book online.")
    bump_counts = services.learner._bump_counts

    def reload_mid_transaction(session, fresh):  # type: ignore[no-untyped-def]
        # Another process changed the tenant; a concurrent match reloads from SQL before this
        # learn has committed.
        services.memories.forget("default")
        services.memories.get("default")
        return bump_counts(session, fresh)

    monkeypatch.setattr(services.learner, "_bump_counts", reload_mid_transaction)
    learned = learn(services, "is bay 2 free", "Yes, book online.")

    memory = services.memories.get("default")
    assert memory.patterns[learned.pattern_id].support == 2


def test_merges_reach_a_memory_reloaded_while_they_were_applied(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep = learn(services, "is bay 1 free", "Yes, book online.").pattern_id
    drop = learn(services, "any bays open now", "Yes: you can book online.").pattern_id
    assert keep != drop
    memory = services.memories.get("default")
    monkeypatch.setattr(memory.grouper, "consolidate", lambda: {drop: keep})
    apply_merges = services.learner._apply_merges

    def reload_midway(tenant, mapping):  # type: ignore[no-untyped-def]
        services.memories.forget("default")  # another process changed the tenant ...
        services.memories.get("default")  # ... and a match reloads it before the merges commit
        return apply_merges(tenant, mapping)

    monkeypatch.setattr(services.learner, "_apply_merges", reload_midway)
    assert services.learner.consolidate("default") == {drop: keep}

    patterns = services.memories.get("default").patterns
    assert drop not in patterns and patterns[keep].support == 2


def test_a_memory_loaded_from_sql_equals_the_one_kept_in_step(services: Services) -> None:
    replies = ["The door code for Bedford is 4512.", "We open at 9am.", "Refunds take 5 days."]
    interactions = [
        Interaction(f"question {i} about {replies[i % 3][:12]}", replies[i % 3], quality=0.5 + (i % 5) / 10)
        for i in range(40)
    ]
    services.learner.learn_many("default", interactions)
    in_step = services.memories.get("default")
    loaded = services.memories.load("default")

    assert loaded.patterns.keys() == in_step.patterns.keys()
    for pattern_id, kept in in_step.patterns.items():
        fresh = loaded.patterns[pattern_id]
        assert (fresh.support, fresh.status) == (kept.support, kept.status)
        assert np.isclose(fresh.quality_sum, kept.quality_sum)
        np.testing.assert_allclose(fresh.centroid_sum, kept.centroid_sum, atol=1e-9)
    rows = len(in_step.grouper.pattern_ids)
    assert sorted(loaded.grouper.pattern_ids) == sorted(in_step.grouper.pattern_ids)
    by_row = {pid: in_step.grouper._patterns[pid].row for pid in in_step.grouper.pattern_ids}
    for pattern_id in loaded.grouper.pattern_ids:
        a, b = loaded.grouper._patterns[pattern_id], in_step.grouper._patterns[pattern_id]
        assert (a.count, a.facts, a.replies) == (b.count, b.facts, b.replies)
        np.testing.assert_allclose(
            loaded.grouper._reply_sum[a.row], in_step.grouper._reply_sum[by_row[pattern_id]]
        )
    assert rows == len(loaded.grouper.pattern_ids)
