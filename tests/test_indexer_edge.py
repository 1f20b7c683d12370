"""Edge-engine behaviour beyond the contract: off-process optimize, generations on disk, crashes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from indexer import (
    EdgeStore,
    EdgeTuning,
    ExactNeighbours,
    HeldElsewhereStore,
    IndexBusy,
    IndexHeldElsewhere,
    IndexPoint,
    SubprocessOptimizer,
    build_store,
    edge_files,
    optimize_in_process,
)
from indexer.edge_optimize import OptimizeCancelled

DIM = 32
# The production shape (a graph per tenant, no global graph) with thresholds low enough that a
# few thousand 32-dim points get a real graph and searches walk it.
SMALL = EdgeTuning(m=0, payload_m=8, ef_construct=32, indexing_threshold_kb=10, full_scan_threshold_kb=10)


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_points(vectors: np.ndarray, first_id: int = 0, pattern_id: int = 1) -> list[IndexPoint]:
    return [IndexPoint(first_id + i, pattern_id, "acme", "active", v) for i, v in enumerate(vectors)]


def generation_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("gen-"))


class GatedOptimizer:
    """The real subprocess optimizer, started only once the test opens the gate."""

    def __init__(self) -> None:
        self.inner = SubprocessOptimizer()
        self.started = threading.Event()
        self.gate = threading.Event()

    def __call__(self, shard_dir: Path) -> bool:
        self.started.set()
        assert self.gate.wait(60)
        return self.inner(shard_dir)

    def cancel(self) -> None:
        self.inner.cancel()
        self.gate.set()


def test_searches_and_writes_go_on_while_optimize_runs(fast_dir: Path) -> None:
    optimizer = GatedOptimizer()
    store = EdgeStore(fast_dir / "idx", DIM, tuning=SMALL, optimizer=optimizer)
    vectors, extra = unit_vectors(3000), unit_vectors(5, seed=1)
    store.upsert(make_points(vectors))
    future = store.optimize_in_background()
    assert optimizer.started.wait(30)
    # The copy is waiting to be optimized: the live shard answers and takes writes.
    assert store.search(vectors[10], "acme", 1)[0].example_id == 10
    store.upsert(make_points(extra, first_id=5000))
    store.set_payload([10], pattern_id=9)
    store.delete([11])
    optimizer.gate.set()
    searched = 0
    while not future.done():
        assert store.search(vectors[12], "acme", 1)[0].example_id == 12
        searched += 1
        time.sleep(0.002)  # a steady search load, not a busy loop starving the niced child
    assert future.result() is True
    assert searched > 0  # the child process built the graph while this thread kept searching
    stats = store.stats()
    assert stats["indexed_vectors"] >= 3000 and stats["points"] == 3004
    assert store.generation == 2 and generation_dirs(fast_dir / "idx") == ["gen-000002"]
    # Writes made during the build were replayed onto the optimized copy.
    assert store.retrieve([10])[0].pattern_id == 9 and store.retrieve([11]) == []
    assert store.search(extra[2], "acme", 1)[0].example_id == 5002
    store.close()


def test_optimize_with_nothing_to_build_keeps_generation(fast_dir: Path) -> None:
    store = EdgeStore(fast_dir / "idx", DIM, optimizer=optimize_in_process)
    store.upsert(make_points(unit_vectors(20)))
    assert store.optimize() is False
    assert store.generation == 1 and generation_dirs(fast_dir / "idx") == ["gen-000001"]
    store.close()


def test_rebuild_commit_goes_live_already_indexed(fast_dir: Path) -> None:
    store = EdgeStore(fast_dir / "idx", DIM, tuning=SMALL)
    store.upsert(make_points(unit_vectors(10)))
    new = unit_vectors(2000, seed=4)
    rebuild = store.begin_rebuild()
    rebuild.upsert(make_points(new, first_id=100))
    rebuild.commit()
    assert store.stats()["indexed_vectors"] >= 2000
    assert store.search(new[5], "acme", 1)[0].example_id == 105
    assert generation_dirs(fast_dir / "idx") == ["gen-000002"]
    store.close()


def test_optimize_is_refused_while_a_rebuild_runs(fast_dir: Path) -> None:
    store = EdgeStore(fast_dir / "idx", DIM, optimize_rebuilds=False)
    rebuild = store.begin_rebuild()
    with pytest.raises(IndexBusy):
        store.optimize_in_background().result(timeout=30)
    rebuild.abort()
    store.close()


def test_close_stops_a_running_optimize_and_leaves_old_generation(fast_dir: Path) -> None:
    optimizer = GatedOptimizer()
    store = EdgeStore(fast_dir / "idx", DIM, tuning=SMALL, optimizer=optimizer)
    store.upsert(make_points(unit_vectors(500)))
    future = store.optimize_in_background()
    assert optimizer.started.wait(30)
    store.close()
    with pytest.raises(OptimizeCancelled):
        future.result(timeout=30)
    assert generation_dirs(fast_dir / "idx") == ["gen-000001"]
    reopened = EdgeStore(fast_dir / "idx", DIM)
    assert reopened.count() == 500
    reopened.close()


def test_a_rebuild_killed_half_way_is_kept_to_resume_and_dropped_if_not(fast_dir: Path) -> None:
    root = fast_dir / "idx"
    store = EdgeStore(root, DIM)
    store.upsert(make_points(unit_vectors(30)))
    store.close()
    # A process that dies (no cleanup at all) in the middle of a rebuild.
    crash = (
        "import os, sys, numpy as np\n"
        "from indexer import EdgeStore, IndexPoint\n"
        f"store = EdgeStore(sys.argv[1], {DIM}, optimize_rebuilds=False)\n"
        "rebuild = store.begin_rebuild()\n"
        f"rebuild.upsert([IndexPoint(900, 1, 'acme', 'active', np.ones({DIM}, np.float32))])\n"
        "rebuild.checkpoint()\n"
        "os._exit(3)\n"
    )
    assert subprocess.run([sys.executable, "-c", crash, str(root)], timeout=60).returncode == 3
    reopened = EdgeStore(root, DIM, optimize_rebuilds=False)
    # The live generation is untouched; the half-built one waits for a resume.
    assert generation_dirs(root) == ["gen-000001", "gen-000002"]
    assert reopened.example_ids() == set(range(30))
    rebuild = reopened.begin_rebuild(resume="gen-000002")
    assert rebuild.count() == 1
    rebuild.suspend()
    # A rebuild that does not resume it drops it.
    fresh = reopened.begin_rebuild()
    assert fresh.count() == 0
    assert generation_dirs(root) == ["gen-000001", fresh.name]
    fresh.abort()
    assert generation_dirs(root) == ["gen-000001"]
    reopened.close()


def test_second_store_on_the_same_directory_is_refused(fast_dir: Path) -> None:
    store = EdgeStore(fast_dir / "idx", DIM)
    with pytest.raises(IndexHeldElsewhere, match="already open"):
        EdgeStore(fast_dir / "idx", DIM)
    with pytest.raises(IndexHeldElsewhere, match="already open"):
        build_store(url=None, api_key=None, path=fast_dir / "idx", dim=DIM)
    store.close()


def test_a_held_index_can_be_left_to_its_holder(fast_dir: Path) -> None:
    assert not edge_files.held_elsewhere(fast_dir / "idx")  # nothing there yet
    holder = EdgeStore(fast_dir / "idx", DIM)
    assert edge_files.held_elsewhere(fast_dir / "idx")
    stand_in = build_store(url=None, api_key=None, path=fast_dir / "idx", dim=DIM, held_elsewhere_ok=True)
    assert isinstance(stand_in, HeldElsewhereStore) and stand_in.held_elsewhere and not holder.held_elsewhere
    calls = [
        lambda: stand_in.upsert(make_points(unit_vectors(1))),
        lambda: stand_in.set_payload([0], status="voided"),
        lambda: stand_in.delete([0]),
        lambda: stand_in.search(unit_vectors(1)[0], "t", 3),
        lambda: stand_in.retrieve([0]),
        lambda: stand_in.count(),
        lambda: stand_in.example_ids(),
        lambda: stand_in.begin_rebuild(),
    ]
    for call in calls:
        with pytest.raises(IndexHeldElsewhere, match="already open"):
            call()
    assert not stand_in.optimize_due() and not stand_in.optimize_if_due()
    # Given the examples (as the service layer gives them from SQL), it searches them exactly.
    vectors = unit_vectors(5, seed=9)
    asked: list[tuple[str, tuple[str, ...]]] = []

    def neighbours(tenant: str, statuses: object) -> ExactNeighbours:
        asked.append((tenant, tuple(statuses)))  # type: ignore[arg-type]
        return ExactNeighbours(vectors, range(10, 15), [1, 1, 2, 2, 3])

    stand_in.serve_searches_from(neighbours)
    hits = stand_in.search(vectors[3], "t", 2)
    assert hits[0].example_id == 13 and hits[0].pattern_id == 2 and asked == [("t", ("active", "gold"))]
    stand_in.close()
    holder.upsert(make_points(unit_vectors(2)))  # the holder is untouched
    assert holder.count() == 2
    holder.close()
    assert not edge_files.held_elsewhere(fast_dir / "idx")
    # Once the holder is gone, the directory opens normally again.
    reopened = build_store(url=None, api_key=None, path=fast_dir / "idx", dim=DIM, held_elsewhere_ok=True)
    assert isinstance(reopened, EdgeStore) and reopened.count() == 2
    reopened.close()


def test_exact_neighbours_give_the_engine_s_hits(fast_dir: Path) -> None:
    vectors = unit_vectors(300, seed=3)
    rng = np.random.default_rng(4)
    patterns = rng.integers(1, 9, len(vectors))
    statuses = rng.choice(["active", "gold"], len(vectors))
    qualities = rng.uniform(0.5, 1.0, len(vectors)).round(3)
    ids = np.arange(1000, 1000 + len(vectors))
    store = EdgeStore(fast_dir / "idx", DIM)
    store.upsert(
        [
            IndexPoint(int(i), int(p), "t", str(s), v, float(q))
            for i, p, s, v, q in zip(ids, patterns, statuses, vectors, qualities, strict=True)
        ]
    )
    queries = unit_vectors(20, seed=5)
    engine_hits = store.search_batch(queries, "t", 10)
    store.close()
    exact_hits = ExactNeighbours(vectors, ids, patterns, list(statuses), qualities).search_batch(queries, 10)
    for mine, theirs in zip(exact_hits, engine_hits, strict=True):
        assert [h.example_id for h in mine] == [h.example_id for h in theirs]
        assert [(h.pattern_id, h.status, h.quality) for h in mine] == [
            (h.pattern_id, h.status, h.quality) for h in theirs
        ]
        assert np.allclose([h.score for h in mine], [h.score for h in theirs], atol=1e-4)


def test_searches_from_other_threads_survive_generation_switches(fast_dir: Path) -> None:
    store = EdgeStore(fast_dir / "idx", DIM, optimize_rebuilds=False)
    vectors = unit_vectors(200)
    store.upsert(make_points(vectors))
    errors: list[BaseException] = []
    stop = threading.Event()

    def search_forever() -> None:
        try:
            while not stop.is_set():
                assert len(store.search(vectors[0], "acme", 5)) == 5
                # Searches hold the GIL; without a pause three of them starve the committing thread.
                time.sleep(0.001)
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)

    searchers = [threading.Thread(target=search_forever) for _ in range(3)]
    for thread in searchers:
        thread.start()
    for round_ in range(5):
        rebuild = store.begin_rebuild()
        rebuild.upsert(make_points(vectors, pattern_id=round_))
        rebuild.commit()
        time.sleep(0.02)
    stop.set()
    for thread in searchers:
        thread.join()
    assert errors == []
    assert store.generation == 6 and store.search(vectors[0], "acme", 1)[0].pattern_id == 4
    store.close()


def test_quantized_graph_returns_exact_scores_and_neighbours(fast_dir: Path) -> None:
    """The default shard searches an int8 graph but rescores: hits carry exact cosines."""
    assert EdgeTuning().quantize
    store = EdgeStore(fast_dir / "idx", DIM, tuning=SMALL, optimizer=optimize_in_process)
    vectors = unit_vectors(3000, seed=11)
    store.upsert(make_points(vectors))
    assert store.optimize() is True
    assert store.stats()["indexed_vectors"] >= 3000
    queries = unit_vectors(40, seed=12)
    exact = queries @ vectors.T
    found = store.search_batch(queries, "acme", 10)
    overlap = []
    for row, hits in enumerate(found):
        for hit in hits:
            assert hit.score == pytest.approx(float(exact[row, hit.example_id]), abs=1e-5)
        best = set(np.argsort(-exact[row])[:10].tolist())
        overlap.append(len(best & {h.example_id for h in hits}) / 10)
    assert float(np.mean(overlap)) >= 0.95
    store.close()


def test_optimize_falls_due_once_a_segments_worth_of_points_waits(fast_dir: Path) -> None:
    store = EdgeStore(fast_dir / "idx", DIM, tuning=SMALL, optimizer=optimize_in_process)
    per_segment = SMALL.indexing_threshold_kb * 1024 // (DIM * 4)  # 80 points of 32 dims
    store.upsert(make_points(unit_vectors(per_segment - 1)))
    assert store.unindexed_points() == per_segment - 1 and not store.optimize_due()
    store.upsert(make_points(unit_vectors(1, seed=1), first_id=per_segment - 1))
    assert store.optimize_due()
    assert store.optimize_if_due() is True
    assert store.unindexed_points() == 0 and not store.optimize_due()
    store.close()


def test_optimize_that_builds_nothing_waits_for_more_points(fast_dir: Path) -> None:
    """An engine that leaves the points outside a graph must not be asked again every round."""
    calls: list[Path] = []

    def refuses(shard_dir: Path) -> bool:
        calls.append(shard_dir)
        return False

    store = EdgeStore(fast_dir / "idx", DIM, tuning=SMALL, optimizer=refuses)
    store.upsert(make_points(unit_vectors(100)))
    assert store.optimize_if_due() is False and len(calls) == 1
    assert not store.optimize_due() and store.optimize_if_due() is False and len(calls) == 1
    store.upsert(make_points(unit_vectors(80, seed=1), first_id=100))
    assert store.optimize_due()
    store.close()


def test_optimize_if_due_leaves_the_graph_to_a_rebuild_under_way(fast_dir: Path) -> None:
    store = EdgeStore(fast_dir / "idx", DIM, tuning=SMALL, optimizer=optimize_in_process)
    store.upsert(make_points(unit_vectors(100)))
    rebuild = store.begin_rebuild()
    assert store.optimize_due() and store.optimize_if_due() is False
    rebuild.abort()
    assert store.optimize_if_due() is True
    store.close()


def test_exact_neighbours_score_a_few_queries_at_a_time_on_large_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vectors, queries = unit_vectors(400, seed=6), unit_vectors(25, seed=7)
    index = ExactNeighbours(vectors, range(400), [i % 7 for i in range(400)])
    whole = index.search_batch(queries, 5)
    monkeypatch.setattr("indexer.exact._MAX_SCORES", 1200)  # three queries per pass
    chunked = index.search_batch(queries, 5)
    assert len(chunked) == len(whole) == 25
    for mine, theirs in zip(chunked, whole, strict=True):
        assert [h.example_id for h in mine] == [h.example_id for h in theirs]
        assert np.allclose([h.score for h in mine], [h.score for h in theirs], atol=1e-5)
