"""The edge store's census: searches ask the engine only for the conditions some point fails."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import indexer.edge as edge_module
from indexer import EdgeStore, optimize_in_process
from indexer.edge_census import MAX_OVERFETCH, PointCensus, SearchPlan
from tests.test_indexer_contract import make_points, unit_vectors
from tests.test_indexer_edge import SMALL

DIM = 32  # as in test_indexer_contract
ALL = frozenset({"active", "gold"})


def counted_from_the_engine(store: EdgeStore) -> dict[tuple[str, str], int]:
    """What the shard holds, read back point by point (independent of the census)."""
    stored = store.retrieve(sorted(store.example_ids()))
    return dict(Counter((p.tenant, p.status) for p in stored))


def test_plan_leaves_out_conditions_every_point_meets() -> None:
    census = PointCensus()
    census.add([("acme", "active")] * 100)
    assert census.plan("acme", ALL, 20) == SearchPlan(False, False, 20)
    census.add([("acme", "voided")] * 3)
    # A few voided points: fetched past k and dropped, no status condition.
    assert census.plan("acme", ALL, 20) == SearchPlan(False, False, 23)
    census.add([("acme", "voided")] * MAX_OVERFETCH)
    assert census.plan("acme", ALL, 20) == SearchPlan(False, True, 20)
    census.remove([("acme", "voided")] * MAX_OVERFETCH)
    census.add([("beta", "active")])
    assert census.plan("acme", ALL, 20) == SearchPlan(True, False, 23)
    assert census.plan("beta", ALL, 20) == SearchPlan(True, False, 20)
    # A search for voided examples excludes the active ones.
    assert census.plan("acme", frozenset({"voided"}), 5) == SearchPlan(True, True, 5)


def test_census_stays_exact_through_writes_optimize_rebuild_and_reopen(fast_dir: Path) -> None:
    store = EdgeStore(fast_dir / "idx", DIM, tuning=SMALL, optimizer=optimize_in_process)
    vectors = unit_vectors(400)
    store.upsert(make_points(vectors[:300]) + make_points(vectors[300:], first_id=300, tenant="beta"))
    store.upsert(make_points(vectors[:5], status="voided"))  # replaced, not added
    store.set_payload([5, 6, 999_999], status="gold")  # an unknown id changes nothing
    store.set_payload([7, 8], pattern_id=4)
    store.delete([9, 310, 888_888])
    expected = {("acme", "active"): 292, ("acme", "voided"): 5, ("acme", "gold"): 2, ("beta", "active"): 99}
    assert store.point_counts() == counted_from_the_engine(store) == expected
    assert store.optimize() is True
    assert store.point_counts() == expected
    store.close()

    store = EdgeStore(fast_dir / "idx", DIM, tuning=SMALL, optimizer=optimize_in_process)
    assert store.point_counts() == expected  # counted again on open
    rebuild = store.begin_rebuild()
    rebuild.upsert(make_points(vectors[:50]))
    assert store.point_counts() == expected  # the live generation is untouched
    rebuild.commit()
    assert store.point_counts() == counted_from_the_engine(store) == {("acme", "active"): 50}
    store.close()


def test_one_tenant_alone_is_searched_without_a_filter(
    fast_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[object, object]] = []
    real = edge_module.searchable_filter

    def spy(tenant: str | None, statuses: object) -> object:
        asked.append((tenant, statuses))
        return real(tenant, statuses)  # type: ignore[arg-type]

    monkeypatch.setattr(edge_module, "searchable_filter", spy)
    store = EdgeStore(fast_dir / "idx", DIM)
    vectors = unit_vectors(50)
    store.upsert(make_points(vectors))
    assert store.search(vectors[3], "acme", 5)[0].example_id == 3
    store.upsert(make_points(vectors[:1], first_id=100, tenant="beta"))
    assert store.search(vectors[3], "acme", 5)[0].example_id == 3
    assert asked == [(None, None), ("acme", None)]
    store.close()


def test_a_census_that_is_wrong_still_never_leaks_another_tenants_points(
    fast_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = EdgeStore(fast_dir / "idx", DIM)
    vectors = unit_vectors(40)
    store.upsert(make_points(vectors[:20]) + make_points(vectors[20:], first_id=20, tenant="beta"))
    store.upsert(make_points(vectors[:2], status="voided"))
    # As if a write beside the search had not been counted yet: no condition at all.
    monkeypatch.setattr(PointCensus, "plan", lambda self, tenant, statuses, k: SearchPlan(False, False, k))
    hits = store.search(vectors[25], "acme", 10)  # beta's own vector, asked as acme
    assert hits and all(2 <= h.example_id < 20 and h.status == "active" for h in hits)
    store.close()
