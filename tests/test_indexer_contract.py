"""The VectorStore contract, run over both engines: edge (embedded) and qdrant-client local mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from indexer import EdgeStore, IndexBusy, IndexPoint, ServerStore, VectorStore, build_store

DIM = 32

# Local mode warns that payload indexes and search parameters are no-ops there; the server
# path sends them anyway.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning"),
    pytest.mark.filterwarnings("ignore:Local mode performs exact:UserWarning"),
]

Opener = Callable[[], VectorStore]


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    """Seeded random unit vectors."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_points(
    vectors: np.ndarray,
    *,
    first_id: int = 0,
    tenant: str = "acme",
    pattern_id: int = 1,
    status: str = "active",
    quality: float = 1.0,
) -> list[IndexPoint]:
    """One point per vector with consecutive example ids."""
    return [
        IndexPoint(first_id + i, pattern_id, tenant, status, vector, quality)
        for i, vector in enumerate(vectors)
    ]


@pytest.fixture(params=["edge", "qdrant-local"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(engine: str, fast_dir: Path) -> Iterator[VectorStore]:
    """A fresh store; local mode in memory, since its on-disk mode commits SQLite per batch."""
    opened: VectorStore
    if engine == "edge":
        opened = EdgeStore(fast_dir / "edge", DIM, optimize_rebuilds=False)
    else:
        opened = ServerStore(QdrantClient(":memory:"), DIM, owns_client=True)
    yield opened
    opened.close()


@pytest.fixture
def open_store(engine: str, fast_dir: Path) -> Iterator[Opener]:
    """Opens the engine on the same on-disk storage each time it is called (reopen tests)."""
    opened: list[VectorStore] = []

    def opener() -> VectorStore:
        store: VectorStore
        if engine == "edge":
            store = EdgeStore(fast_dir / "edge", DIM, optimize_rebuilds=False)
        else:
            store = ServerStore(QdrantClient(path=str(fast_dir / "qdrant")), DIM, owns_client=True)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


def ids_of(hits: Sequence) -> list[int]:
    return [h.example_id for h in hits]


def test_search_returns_nearest_first_with_cosine_scores(store: VectorStore) -> None:
    vectors = unit_vectors(60)
    store.upsert(make_points(vectors))
    query = vectors[7]
    hits = store.search(query, "acme", 5)
    expected = np.argsort(-(vectors @ query))[:5]
    assert ids_of(hits) == expected.tolist()
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == pytest.approx((vectors @ query)[expected].tolist(), abs=1e-4)
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_search_never_returns_another_tenants_points(store: VectorStore) -> None:
    vectors = unit_vectors(40)
    store.upsert(make_points(vectors[:20], tenant="a"))
    store.upsert(make_points(vectors[20:], first_id=20, tenant="b"))
    hits = store.search(vectors[25], "a", 10)  # B's own vector, asked as tenant A
    assert len(hits) == 10
    assert all(h.example_id < 20 for h in hits)
    assert store.search(vectors[25], "c", 10) == []


def test_search_skips_voided_and_returns_gold(store: VectorStore) -> None:
    vectors = unit_vectors(30)
    store.upsert(make_points(vectors))
    store.upsert(
        make_points(vectors[:1], status="voided") + make_points(vectors[1:2], first_id=1, status="gold")
    )
    assert 0 not in ids_of(store.search(vectors[0], "acme", 30))
    gold = store.search(vectors[1], "acme", 1)[0]
    assert (gold.example_id, gold.status) == (1, "gold")
    assert ids_of(store.search(vectors[0], "acme", 5, statuses=["voided"])) == [0]


@pytest.mark.parametrize("voided", [5, 30])
def test_search_skips_voided_neighbours_however_many(store: VectorStore, voided: int) -> None:
    query = unit_vectors(1, seed=9)[0]
    # The voided points sit right on the query, the active ones further away.
    near = query + np.random.default_rng(3).normal(0, 0.01, (voided, DIM))
    near = (near / np.linalg.norm(near, axis=1, keepdims=True)).astype(np.float32)
    far = unit_vectors(200, seed=2)
    store.upsert(make_points(near, status="voided") + make_points(far, first_id=voided))
    expected = voided + np.argsort(-(far @ query))[:10]
    assert ids_of(store.search(query, "acme", 10)) == expected.tolist()
    found = store.search(query, "acme", 3, statuses=["voided"])
    assert len(found) == 3 and all(h.example_id < voided for h in found)


def test_search_with_no_statuses_or_zero_k_finds_nothing(store: VectorStore) -> None:
    vectors = unit_vectors(5)
    store.upsert(make_points(vectors))
    assert store.search(vectors[0], "acme", 0) == []
    assert store.search(vectors[0], "acme", 3, statuses=[]) == []


def test_upsert_again_replaces_payload_without_duplicating(store: VectorStore) -> None:
    vectors = unit_vectors(10)
    store.upsert(make_points(vectors, pattern_id=1, quality=0.5))
    store.upsert(make_points(vectors[:4], pattern_id=2, quality=0.9))
    assert store.count() == 10
    assert [(p.pattern_id, p.quality) for p in store.retrieve([0, 3, 4])] == [(2, 0.9), (2, 0.9), (1, 0.5)]


def test_set_payload_moves_example_to_another_pattern_keeping_its_vector(store: VectorStore) -> None:
    vectors = unit_vectors(10)
    store.upsert(make_points(vectors, pattern_id=1))
    before = store.retrieve([4], with_vectors=True)[0].vector
    store.set_payload([4, 999], pattern_id=77)  # 999 was never indexed: ignored
    after = store.retrieve([4], with_vectors=True)[0]
    assert after.pattern_id == 77 and after.tenant == "acme" and after.status == "active"
    assert after.vector is not None and before is not None
    np.testing.assert_allclose(after.vector, before, atol=1e-6)
    assert store.search(vectors[4], "acme", 1)[0].pattern_id == 77
    assert store.count() == 10


def test_set_payload_voiding_an_example_hides_it_from_search(store: VectorStore) -> None:
    vectors = unit_vectors(10)
    store.upsert(make_points(vectors))
    store.set_payload([2], status="voided", quality=0.1)
    assert 2 not in ids_of(store.search(vectors[2], "acme", 10))
    assert (store.retrieve([2])[0].status, store.retrieve([2])[0].quality) == ("voided", 0.1)
    store.set_payload([2])  # nothing to change
    assert store.retrieve([2])[0].status == "voided"


def test_delete_removes_points_and_ignores_unknown_ids(store: VectorStore) -> None:
    vectors = unit_vectors(10)
    store.upsert(make_points(vectors))
    store.delete([1, 2, 12345])
    store.delete([])
    assert store.count() == 8
    assert store.retrieve([1, 2]) == []
    assert {1, 2}.isdisjoint(ids_of(store.search(vectors[1], "acme", 10)))


def test_retrieve_returns_requested_order_with_optional_vectors(store: VectorStore) -> None:
    vectors = unit_vectors(10)
    store.upsert(make_points(vectors, tenant="t1", pattern_id=5, quality=0.75))
    plain = store.retrieve([6, 424242, 2])
    assert [p.example_id for p in plain] == [6, 2]
    assert plain[0].vector is None
    first = plain[0]
    assert (first.tenant, first.pattern_id, first.status, first.quality) == ("t1", 5, "active", 0.75)
    with_vectors = store.retrieve([6, 2], with_vectors=True)
    stacked = np.stack([p.vector for p in with_vectors if p.vector is not None])
    np.testing.assert_allclose(stacked, vectors[[6, 2]], atol=1e-6)


def test_count_and_example_ids_per_tenant(store: VectorStore) -> None:
    vectors = unit_vectors(2100, seed=3)  # more than one scroll page (2048)
    store.upsert(make_points(vectors[:2000], tenant="big"))
    store.upsert(make_points(vectors[2000:], first_id=2000, tenant="small"))
    counts = [store.count(), store.count("big"), store.count("small"), store.count("none")]
    assert counts == [2100, 2000, 100, 0]
    assert store.example_ids() == set(range(2100))
    assert store.example_ids("small") == set(range(2000, 2100))
    assert store.example_ids("none") == set()


def test_search_batch_answers_each_query_row_in_order(store: VectorStore) -> None:
    vectors = unit_vectors(50)
    store.upsert(make_points(vectors))
    results = store.search_batch(vectors[[3, 30, 11]], "acme", 2)
    assert [ids_of(hits)[0] for hits in results] == [3, 30, 11]
    assert all(len(hits) == 2 for hits in results)


def test_wrong_dimension_is_rejected(store: VectorStore) -> None:
    with pytest.raises(ValueError):
        store.upsert([IndexPoint(1, 1, "acme", "active", np.ones(DIM + 1, dtype=np.float32))])
    with pytest.raises(ValueError):
        store.search(np.ones(DIM - 1, dtype=np.float32), "acme", 3)


def test_rebuild_serves_old_data_until_commit_then_switches(store: VectorStore) -> None:
    old, new = unit_vectors(20, seed=1), unit_vectors(15, seed=2)
    store.upsert(make_points(old, pattern_id=1))
    rebuild = store.begin_rebuild()
    rebuild.upsert(make_points(new, first_id=100, pattern_id=2))
    assert rebuild.count() == 15
    # Searches during the rebuild answer from the old generation only.
    assert ids_of(store.search(new[0], "acme", 20)) != [] and store.count() == 20
    assert all(h.example_id < 100 for h in store.search(new[0], "acme", 20))
    rebuild.commit()
    assert store.count() == 15
    assert store.example_ids() == set(range(100, 115))
    assert store.search(new[0], "acme", 1)[0].example_id == 100
    # The store stays writable and rebuildable after the switch.
    store.upsert(make_points(old[:1], first_id=500))
    assert store.count() == 16
    store.begin_rebuild().abort()


def test_rebuild_abort_leaves_old_collection_live(store: VectorStore) -> None:
    old = unit_vectors(12)
    store.upsert(make_points(old))
    rebuild = store.begin_rebuild()
    rebuild.upsert(make_points(unit_vectors(5, seed=9), first_id=100))
    rebuild.abort()
    rebuild.abort()  # twice is harmless
    assert store.example_ids() == set(range(12))
    assert store.search(old[3], "acme", 1)[0].example_id == 3
    with pytest.raises(RuntimeError):
        rebuild.upsert(make_points(old[:1]))


def test_only_one_rebuild_runs_at_a_time(store: VectorStore) -> None:
    rebuild = store.begin_rebuild()
    with pytest.raises(IndexBusy):
        store.begin_rebuild()
    rebuild.abort()
    store.begin_rebuild().abort()


def test_reopen_keeps_points_and_payload_changes(open_store: Opener) -> None:
    vectors = unit_vectors(30)
    store = open_store()
    store.upsert(make_points(vectors[:20], tenant="a") + make_points(vectors[20:], first_id=20, tenant="b"))
    store.set_payload([5], pattern_id=9)
    store.delete([6])
    store.close()
    reopened = open_store()
    assert (reopened.count(), reopened.count("b")) == (29, 10)
    assert reopened.retrieve([5])[0].pattern_id == 9
    assert reopened.search(vectors[21], "b", 1)[0].example_id == 21


def test_reopen_after_rebuild_commit_sees_new_data(open_store: Opener) -> None:
    store = open_store()
    store.upsert(make_points(unit_vectors(10, seed=1)))
    rebuild = store.begin_rebuild()
    new = unit_vectors(4, seed=2)
    rebuild.upsert(make_points(new, first_id=50, pattern_id=3))
    rebuild.commit()
    store.close()
    reopened = open_store()
    assert reopened.example_ids() == {50, 51, 52, 53}
    assert reopened.search(new[2], "acme", 1)[0].example_id == 52


def test_build_store_picks_the_engine_from_the_url(fast_dir: Path) -> None:
    edge = build_store(url=None, api_key=None, path=fast_dir / "edge", dim=DIM)
    memory = build_store(url=":memory:", api_key=None, path=fast_dir / "unused", dim=DIM)
    local = build_store(url=f"local:{fast_dir / 'qdrant'}", api_key=None, path=fast_dir / "unused", dim=DIM)
    assert isinstance(edge, EdgeStore)
    assert isinstance(memory, ServerStore) and isinstance(local, ServerStore)
    for store in (edge, memory, local):
        store.upsert(make_points(unit_vectors(3)))
        assert store.count() == 3
        store.close()


def test_a_suspended_rebuild_resumes_with_what_it_holds(store: VectorStore) -> None:
    store.upsert(make_points(unit_vectors(10)))
    new = unit_vectors(8, seed=3)
    rebuild = store.begin_rebuild()
    rebuild.upsert(make_points(new[:5], first_id=100))
    rebuild.checkpoint()
    rebuild.suspend()
    # Suspended: the live collection is untouched and maintenance is free again.
    assert store.example_ids() == set(range(10))
    resumed = store.begin_rebuild(resume=rebuild.name)
    assert (resumed.name, resumed.count()) == (rebuild.name, 5)
    resumed.upsert(make_points(new[5:], first_id=105))
    resumed.commit()
    assert store.example_ids() == set(range(100, 108))
    assert store.search(new[6], "acme", 1)[0].example_id == 106


class RecordingClient(QdrantClient):
    """Local mode that remembers how collections were created and how searches were asked."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.created: list[dict] = []
        self.searches: list[list] = []

    def create_collection(self, collection_name: str, **kwargs):  # type: ignore[no-untyped-def, override]
        self.created.append(kwargs)
        return super().create_collection(collection_name, **kwargs)

    def query_batch_points(self, collection_name: str, requests, **kwargs):  # type: ignore[no-untyped-def, override]
        self.searches.append(list(requests))
        return super().query_batch_points(collection_name, requests, **kwargs)


def test_server_collections_are_quantized_and_their_hits_rescored() -> None:
    # Local mode accepts quantization but neither keeps nor applies it: the calls tell.
    client = RecordingClient()
    store = ServerStore(client, DIM)
    store.upsert(make_points(unit_vectors(5)))
    store.begin_rebuild().abort()  # a rebuild's collection is created the same way
    assert len(client.created) == 2
    for kwargs in client.created:
        quantization = kwargs["quantization_config"]
        assert isinstance(quantization, models.ScalarQuantization)
        assert quantization.scalar.type == models.ScalarType.INT8 and quantization.scalar.always_ram
    hits = store.search(unit_vectors(5)[2], "acme", 3)
    assert hits[0].example_id == 2 and hits[0].score == pytest.approx(1.0, abs=1e-5)
    (request,) = client.searches[-1]
    assert request.params.quantization.rescore is True
    store.close()
